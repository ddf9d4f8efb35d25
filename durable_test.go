package inmem_test

import (
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openDir(t testing.TB, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open(dir, o)
	require.NoError(t, err)
	return db
}

func TestStrictReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	for i := range 100 {
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint("k", i), []byte(fmt.Sprint(i))))
	}
	_, err := db.KV().Delete(ctx, run, "k7")
	require.NoError(t, err)
	s := db.Stats()
	assert.Positive(t, s.Syncs)
	assert.Positive(t, s.WALBytes)
	require.NoError(t, db.Close())

	db = openDir(t, dir)
	defer db.Close()
	rec := db.LastRecovery()
	require.NotNil(t, rec)
	// From the snapshot Close took and/or the log after it (the default options: both paths).
	assert.Equal(t, 102, recoveredVersions(rec)) // BeginRun + 100 puts + delete
	assert.True(t, rec.Consistent)
	assert.Equal(t, "42", get(t, db, run, "k42"))
	_, err = db.KV().Get(run, "k7")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	resumeOrphaned(t, db, run) // the run was Active at Close
	require.NoError(t, db.KV().Put(ctx, run, "after", []byte("reopen")))
	require.NoError(t, db.Close())

	db = openDir(t, dir)
	assert.Equal(t, "reopen", get(t, db, run, "after"))
	// The 102, the orphan marking of the previous Open, ResumeRun and the put.
	assert.Equal(t, 105, recoveredVersions(db.LastRecovery()))
	require.NoError(t, db.Close())
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	_, err := inmem.Open(dir, nil)
	require.ErrorIs(t, err, inmem.ErrLocked)
	require.NoError(t, db.Close())
	db = openDir(t, dir)
	require.NoError(t, db.Close())
}

// syncCountingFS is a filesystem written outside the engine's packages, against the exported
// interface only: it counts directory syncs and passes everything on.
type syncCountingFS struct {
	inmem.FS
	dirSyncs int
}

func (f *syncCountingFS) SyncDir(dir string) error {
	f.dirSyncs++
	return f.FS.SyncDir(dir)
}

// Options.FS takes a filesystem implemented by the caller.
func TestOptionsFSImplementedOutside(t *testing.T) {
	fs := &syncCountingFS{FS: vfs.Default()}
	dir := t.TempDir()
	db := openDir(t, dir, func(o *inmem.Options) { o.FS = fs })
	require.NoError(t, db.KV().Put(ctx, newRun(t, db), "k", []byte("v")))
	require.NoError(t, db.Close())
	assert.Positive(t, fs.dirSyncs, "Open made the directory durable through it")
}
