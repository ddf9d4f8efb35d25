package snapshotter

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFileTo writes data at path on fs, durably enough for a test.
func writeFileTo(t *testing.T, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func readAll(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	size, err := fs.Stat(path)
	require.NoError(t, err)
	f, err := fs.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

// The catalog validates each file whole once and remembers the verdict until the file's size
// or modification time changes.
func TestCatalogValidatesOnceAndRevalidatesChanges(t *testing.T) {
	h := start(t, nil)
	a, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	inject := vfs.NewInjectFS(h.fs)
	c := NewCatalog(inject, "db/snapshots")

	valid, rejected, err := c.Scan()
	require.NoError(t, err)
	assert.Equal(t, []Info{a}, valid)
	assert.Empty(t, rejected)
	opens := inject.Calls(vfs.OpOpen)
	require.Positive(t, opens, "the first scan reads the file")
	_, _, err = c.Scan()
	require.NoError(t, err)
	assert.Equal(t, opens, inject.Calls(vfs.OpOpen), "an unchanged file is not read again")

	data := readAll(t, h.fs, a.Path)
	data[len(data)/2] ^= 1 // same size, new content
	writeFileTo(t, h.fs, a.Path, data)
	valid, rejected, err = c.Scan()
	require.NoError(t, err)
	assert.Empty(t, valid, "a file that changed is validated again")
	require.Len(t, rejected, 1)
	assert.ErrorIs(t, rejected[0].Err, ErrInvalid)
}

// Header CRC and body CRC: any flipped bit, anywhere, makes the file invalid; so does a
// truncated file and one with a valid CRC but sections that do not fill it.
func TestVerifyRejectsEveryDamage(t *testing.T) {
	h := start(t, nil)
	a, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	orig := readAll(t, h.fs, a.Path)
	hdr, err := Verify(h.fs, a.Path)
	require.NoError(t, err)
	assert.Equal(t, a.Header, hdr)
	for i := range orig {
		for _, bit := range []byte{1, 0x80} {
			b := append([]byte(nil), orig...)
			b[i] ^= bit
			writeFileTo(t, h.fs, a.Path, b)
			_, err := Verify(h.fs, a.Path)
			require.ErrorIs(t, err, ErrInvalid, "byte %d bit %#x", i, bit)
		}
	}
	for _, n := range []int{0, 10, HeaderSize, len(orig) - 1} {
		writeFileTo(t, h.fs, a.Path, orig[:n])
		_, err := Verify(h.fs, a.Path)
		require.ErrorIs(t, err, ErrInvalid, "truncated to %d", n)
	}
}

// Retention counts only snapshots that validated: damaged files and junk with snapshot names
// are moved to quarantine/, never counted, never deleted, and the WAL is retired only below
// the older of two valid snapshots.
func TestRetentionCountsOnlyValidSnapshots(t *testing.T) {
	h := start(t, func(c *Config) { c.Retention = 1 })
	for _, base := range []uint64{0, 100, 200, 300} { // empty: only the bases matter here
		seg, err := commitlog.CreateSegment(h.fs, "db/wal", base)
		require.NoError(t, err)
		require.NoError(t, seg.Close())
	}
	h.src.set(1, 150)
	s1, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	bases, err := commitlog.ListSegments(h.fs, "db/wal")
	require.NoError(t, err)
	assert.Len(t, bases, 4, "one valid snapshot: nothing is retired")

	junk := filepath.Join("db/snapshots", fileName(9_000_000_000_000_000_000, fileSuffix))
	data := readAll(t, h.fs, s1.Path)
	data[22+7] ^= 0x40 // a plausible header, a bogus wal_offset, a failing CRC
	writeFileTo(t, h.fs, junk, data)

	h.src.set(2, 250)
	s2, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	valid, err := h.s.List()
	require.NoError(t, err)
	assert.Equal(t, []Info{s2, s1}, valid, "two valid kept whatever Retention says; the junk is not one")
	bases, err = commitlog.ListSegments(h.fs, "db/wal")
	require.NoError(t, err)
	assert.Equal(t, []uint64{100, 200, 300}, bases, "retired below the older valid snapshot's cut only")
	_, err = h.fs.Stat(filepath.Join("db/snapshots", "quarantine", filepath.Base(junk)))
	assert.NoError(t, err, "the junk is moved aside, not deleted")
}

// RetireSegments refuses a cut above the newest valid snapshot's: that is the segment replay
// from the newest snapshot starts in.
func TestRetireSegmentsAssertsTheNewestCut(t *testing.T) {
	fs := vfs.NewCrashFS()
	require.NoError(t, fs.MkdirAll("wal"))
	for _, base := range []uint64{0, 100} {
		seg, err := commitlog.CreateSegment(fs, "wal", base)
		require.NoError(t, err)
		require.NoError(t, seg.Close())
	}
	done, err := RetireSegments(fs, "wal", 1<<62, 100, nil)
	require.Error(t, err)
	assert.Zero(t, done)
	done, err = RetireSegments(fs, "wal", 100, 100, nil)
	require.NoError(t, err)
	assert.Equal(t, commitlog.Retired{Removed: 1}, done)
}
