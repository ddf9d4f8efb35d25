package inmem_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fmUmask returns the bits the process umask takes away from new files, found by creating one
// with every permission bit requested. It never sets the umask: that is process-wide, and
// changing it while parallel tests create files would make their modes depend on timing.
func fmUmask(t *testing.T) os.FileMode {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not Unix modes on Windows")
	}
	p := filepath.Join(t.TempDir(), "probe")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o777)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return 0o777 &^ fi.Mode().Perm()
}

// fmTree builds a database in a new directory (under a parent the database creates too) that
// has every kind of file the database creates: LOCK, wal/ and a segment, snapshots/ and snapshot
// files, and both quarantine directories with something in them (a torn tail copied out of
// the log, a damaged snapshot moved aside). It returns the parent directory.
func fmTree(t *testing.T, mode os.FileMode) string {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "parent")
	dir := filepath.Join(parent, "db")
	opts := func(o *inmem.Options) { o.FileMode = mode; o.Snapshot.OnClose = false }
	db := openDir(t, dir, opts)
	run := newRun(t, db)
	put := func(db *inmem.DB, n int) {
		for i := range n {
			require.NoError(t, db.KV().Put(ctx, run, "k"+strconv.Itoa(i), []byte("secret")))
		}
	}
	put(db, 20)
	snap, err := db.Snapshot()
	require.NoError(t, err)
	put(db, 20)
	require.NoError(t, db.Close())

	// Damage in place (the files keep their modes): a flipped bit in the snapshot, which is
	// then moved aside and the whole log replayed, and one in a transaction near the log's
	// end, whose bytes onwards are copied into the log's quarantine.
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	var txs [][2]int
	for start, off := commitlog.HeaderSize, commitlog.HeaderSize; off < len(data); {
		e, n, err := commitlog.DecodeEntry(data[off:])
		if err != nil {
			break // the zeros after the end
		}
		off += n
		if e.Type == commitlog.TypeTransactionCommit {
			txs = append(txs, [2]int{start, off})
			start = off
		}
	}
	require.Len(t, txs, 41)
	victim := txs[len(txs)-5]
	fmFlip(t, segs[0], int64(victim[0]+victim[1])/2)
	fi, err := os.Stat(snap.Path)
	require.NoError(t, err)
	fmFlip(t, snap.Path, fi.Size()/2)

	db = openDir(t, dir, opts, func(o *inmem.Options) { o.Snapshot.OnClose = true })
	rec := db.LastRecovery()
	var walQ, snapQ bool
	for _, q := range rec.Quarantined {
		walQ = walQ || strings.HasPrefix(q, filepath.Join(dir, "wal", "quarantine")+string(filepath.Separator))
		snapQ = snapQ || strings.HasPrefix(q, filepath.Join(dir, "snapshots", "quarantine")+string(filepath.Separator))
	}
	require.True(t, walQ && snapQ, "both quarantines used: %v", rec.Quarantined)
	resumeOrphaned(t, db, run)
	put(db, 20)
	_, err = db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.Close()) // and a snapshot at Close
	return parent
}

// fmFlip flips a bit of the file at off, in place.
func fmFlip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{b[0] ^ 0x10}, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// fmModes returns the permission bits of everything under root, root included, by path relative
// to root's parent, and checks that every kind of file is there.
func fmModes(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	modes := map[string]fs.FileMode{}
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(filepath.Dir(root), path)
		if err != nil {
			return err
		}
		modes[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	}))
	var segments, snapshots, walQ, snapQ int
	for p, m := range modes {
		switch {
		case strings.HasPrefix(p, "parent/db/wal/quarantine/"):
			walQ++
		case strings.HasPrefix(p, "parent/db/snapshots/quarantine/"):
			snapQ++
		case strings.HasPrefix(p, "parent/db/wal/") && strings.HasSuffix(p, ".wal"):
			segments++
		case strings.HasPrefix(p, "parent/db/snapshots/snapshot_"):
			snapshots++
		}
		require.Equal(t, m.IsRegular(), !m.IsDir(), "%s: only files and directories (%v)", p, m)
	}
	for _, d := range []string{"parent", "parent/db", "parent/db/wal", "parent/db/snapshots",
		"parent/db/wal/quarantine", "parent/db/snapshots/quarantine"} {
		require.True(t, modes[d].IsDir(), "%s is a directory", d)
	}
	require.True(t, modes["parent/db/LOCK"].IsRegular(), "LOCK")
	require.Positive(t, segments, "segments")
	require.GreaterOrEqual(t, snapshots, 2, "snapshots")
	require.Positive(t, walQ, "the torn tail set aside")
	require.Positive(t, snapQ, "the damaged snapshot set aside")
	return modes
}

// By default every file the database creates is 0600 and every directory 0700: agent memory
// holds conversations, tool outputs and credentials. The umask can only take bits away.
func TestFilesArePrivateByDefault(t *testing.T) {
	mask := fmUmask(t)
	for p, m := range fmModes(t, fmTree(t, 0)) {
		assert.Zero(t, m.Perm()&0o077, "%s: %v has group or other bits", p, m)
		if m.IsDir() {
			assert.Equal(t, 0o700&^mask, m.Perm(), "%s: %v", p, m)
		} else {
			assert.Equal(t, 0o600&^mask, m.Perm(), "%s: %v", p, m)
		}
	}
	if mask&0o600 != 0 {
		t.Skipf("the umask %#o takes away owner read or write", mask)
	}
}

// FileMode 0640 gives the group read access: files 0640, directories 0750. The umask is read,
// not set (see fmUmask): where it takes away group read (umask 077, say) the modes are still
// checked exactly, but the group read check is skipped.
func TestFileModeGroupRead(t *testing.T) {
	mask := fmUmask(t)
	modes := fmModes(t, fmTree(t, 0o640))
	for p, m := range modes {
		if m.IsDir() {
			assert.Equal(t, 0o750&^mask, m.Perm(), "%s: %v", p, m)
		} else {
			assert.Equal(t, 0o640&^mask, m.Perm(), "%s: %v", p, m)
		}
		assert.Zero(t, m.Perm()&0o027, "%s: %v: group write or other bits", p, m)
	}
	if mask&0o050 != 0 {
		t.Skipf("the umask %#o takes away group read or search: group access not checked", mask)
	}
	for p, m := range modes {
		assert.NotZero(t, m.Perm()&0o040, "%s: %v: no group read", p, m)
		if m.IsDir() {
			assert.NotZero(t, m.Perm()&0o010, "%s: %v: no group search", p, m)
		}
	}
}

// FileMode applies to what the database creates: what exists keeps its mode, and a new file
// in an existing directory gets the new one.
func TestFileModeLeavesExistingFilesAlone(t *testing.T) {
	mask := fmUmask(t)
	dir := t.TempDir()
	db := openDir(t, dir) // private; a snapshot at Close
	newRun(t, db)
	require.NoError(t, db.Close())
	before := fmAll(t, dir)

	db = openDir(t, dir, func(o *inmem.Options) { o.FileMode = 0o640; o.Snapshot.OnClose = false })
	snap, err := db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.Close())
	after := fmAll(t, dir)
	for p, m := range before {
		assert.Equal(t, m, after[p], "%s changed mode", p)
	}
	rel, err := filepath.Rel(dir, snap.Path)
	require.NoError(t, err)
	require.NotContains(t, before, filepath.ToSlash(rel))
	assert.Equal(t, 0o640&^mask, after[filepath.ToSlash(rel)].Perm(), "the new snapshot file")
}

func fmAll(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	modes := map[string]fs.FileMode{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		modes[filepath.ToSlash(rel)] = fi.Mode()
		return err
	}))
	return modes
}

// A mode with bits outside 0777, or one that does not let the owner read and write, is
// rejected before anything is created.
func TestFileModeInvalid(t *testing.T) {
	for _, mode := range []os.FileMode{
		0o400, 0o200, 0o440, 0o060, 0o007, 0o1600, 0o2600, 0o4600,
		os.ModeDir | 0o600, os.ModeSetuid | 0o600, os.ModeSticky | 0o600, os.ModePerm + 1,
	} {
		t.Run(fmt.Sprintf("%#o", uint32(mode)), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			o := inmem.DefaultOptions()
			o.FileMode = mode
			_, err := inmem.Open(dir, o)
			require.ErrorIs(t, err, inmem.ErrInvalidArgument)
			assert.NoDirExists(t, dir)
			o.Durability = inmem.InMemory
			_, err = inmem.Open("", o)
			require.ErrorIs(t, err, inmem.ErrInvalidArgument)
		})
	}
	for _, mode := range []os.FileMode{0, 0o600, 0o640, 0o660, 0o644, 0o700, 0o777} {
		o := inmem.DefaultOptions()
		o.Durability, o.FileMode = inmem.InMemory, mode
		db, err := inmem.Open("", o)
		require.NoError(t, err, "%v", mode)
		require.NoError(t, db.Close())
	}
}
