package inmem_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// treeHash is every file of dir, by path, with its content's hash.
func treeHash(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[p] = sha256.Sum256(b)
		} else {
			out[p+"/"] = [32]byte{}
		}
		return nil
	}))
	return out
}

// A read-only open recovers everything and writes nothing: not the torn tail, not the
// orphan marking, not a snapshot; every write is ErrReadOnly.
func TestOpenReadOnlyWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, noCloseSnapshot)
	run := newRun(t, db)
	for i := range 50 {
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprintf("k%02d", i), []byte("v")))
	}
	_, err := db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.KV().Put(ctx, run, "after", []byte("the snapshot")))
	require.NoError(t, db.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{7, 0, 0, 0, 1, 2}) // a torn write: recovery would cut it off
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// What a writable Open would set aside or remove: a stray .tmp, and a newer snapshot that
	// does not validate (recovery falls back to the good one).
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshots", "snapshot_1.tmp"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshots", "snapshot_09000000000000000000.dat"),
		[]byte("INMEM_SNAP not really"), 0o600))
	before := treeHash(t, dir)

	ro, err := inmem.OpenReadOnly(dir, nil)
	require.NoError(t, err)
	keys, err := ro.KV().List(run, "")
	require.NoError(t, err)
	assert.Len(t, keys, 51)
	assert.Equal(t, inmem.RunActive, ro.RunStatus(run), "not marked Orphaned: that is a write")
	assert.Positive(t, ro.LastRecovery().TornTailBytes+ro.LastRecovery().PreallocatedBytes)
	assert.Equal(t, 1, ro.LastRecovery().SnapshotsRejected)
	assert.Empty(t, ro.LastRecovery().Quarantined, "nothing moved")
	_, err = ro.ReplayRun(run)
	require.NoError(t, err)
	snaps, err := ro.ListSnapshots()
	require.NoError(t, err)
	assert.Len(t, snaps, 1)
	for name, err := range map[string]error{
		"Put":      ro.KV().Put(ctx, run, "x", nil),
		"Update":   ro.Update(ctx, run, func(*inmem.Tx) error { return nil }),
		"BeginRun": ro.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{}),
		"Snapshot": func() error { _, err := ro.Snapshot(); return err }(),
		"Backup":   ro.Backup(ctx, t.TempDir()),
		"Begin":    func() error { _, err := ro.Begin(run, true); return err }(),
	} {
		assert.ErrorIs(t, err, inmem.ErrReadOnly, name)
	}
	require.NoError(t, ro.View(run, func(tx *inmem.Tx) error { _, err := tx.KV().Get("after"); return err }))
	require.NoError(t, ro.Close())
	assert.Equal(t, before, treeHash(t, dir), "not a byte changed, no file added or removed")
}

// Readers share the directory; a writer excludes them and they exclude it; IgnoreLock reads
// beside a writer.
func TestOpenReadOnlyLocks(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))

	_, err := inmem.OpenReadOnly(dir, nil)
	require.ErrorIs(t, err, inmem.ErrLocked, "a writer holds it")
	o := inmem.DefaultOptions()
	o.Recovery.IgnoreLock = true
	peek, err := inmem.OpenReadOnly(dir, o)
	require.NoError(t, err, "IgnoreLock reads beside the writer")
	v, err := peek.KV().Get(run, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
	require.NoError(t, peek.Close())
	require.NoError(t, db.Close())

	a, err := inmem.OpenReadOnly(dir, nil)
	require.NoError(t, err)
	b, err := inmem.OpenReadOnly(dir, nil)
	require.NoError(t, err, "readers share")
	_, err = inmem.Open(dir, nil)
	require.ErrorIs(t, err, inmem.ErrLocked, "readers exclude a writer")
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	w, err := inmem.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, w.Close())

	missing := filepath.Join(t.TempDir(), "none")
	_, err = inmem.OpenReadOnly(missing, nil)
	require.ErrorIs(t, err, inmem.ErrNotFound)
	assert.NoDirExists(t, missing, "nothing created")
}
