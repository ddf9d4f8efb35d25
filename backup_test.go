package inmem_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A backup taken while commits go on opens as a database holding every commit acknowledged
// before Backup was called, and a prefix of the commit order; the source goes on.
func TestBackupWhileCommitting(t *testing.T) {
	src := t.TempDir()
	db := openDir(t, src, func(o *inmem.Options) { o.SegmentSize = 16 << 10 })
	run := newRun(t, db)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.KV().Put(ctx, run, fmt.Sprintf("k%06d", i), make([]byte, 100)); err != nil {
				t.Error(err)
				return
			}
			acked.Store(int64(i + 1))
		}
	})
	for acked.Load() < 300 {
		require.NoError(t, db.View(run, func(*inmem.Tx) error { return nil }))
	}
	before := acked.Load()
	dst := filepath.Join(t.TempDir(), "backup")
	require.NoError(t, db.Backup(ctx, dst))
	close(stop)
	wg.Wait()
	require.NoError(t, db.KV().Put(ctx, run, "after", nil), "the source goes on")
	require.NoError(t, db.Close())

	copyDB := openDir(t, dst)
	defer copyDB.Close()
	keys, err := copyDB.KV().List(run, "k")
	require.NoError(t, err)
	require.GreaterOrEqual(t, int64(len(keys)), before, "every commit acknowledged before Backup")
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("k%06d", i), k, "a prefix of the commit order")
	}
	require.NotNil(t, copyDB.LastRecovery().SnapshotUsed)
	resumeOrphaned(t, copyDB, run)
	require.NoError(t, copyDB.KV().Put(ctx, run, "restored", nil), "the copy is a database")
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		info, err := d.Info()
		require.NoError(t, err)
		assert.Zero(t, info.Mode().Perm()&0o077, "%s is private", p)
		return nil
	})
}

func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	newRun(t, db)
	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "x"), nil, 0o600))
	require.ErrorIs(t, db.Backup(ctx, full), inmem.ErrInvalidArgument, "not empty")
	require.ErrorIs(t, db.Backup(ctx, filepath.Join(dir, "inside")), inmem.ErrInvalidArgument)
	require.ErrorIs(t, db.Backup(ctx, ""), inmem.ErrInvalidArgument)
	require.ErrorIs(t, db.Backup(nil, t.TempDir()), inmem.ErrInvalidArgument) //nolint:staticcheck // a nil context is refused
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Backup(ctx, t.TempDir()), inmem.ErrClosed)
	require.ErrorIs(t, openMem(t).Backup(ctx, t.TempDir()), inmem.ErrInMemory)
}

// A backup is durable once Backup returns: a power loss right after leaves a copy that opens
// with everything it had.
func TestBackupIsDurable(t *testing.T) {
	fs := cfsNewFS(t)
	db := cfsOpen(t, fs)
	run := newRun(t, db)
	for i := range 50 {
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprintf("k%02d", i), []byte("v")))
	}
	require.NoError(t, db.Backup(ctx, "/backup"))
	after := fs.CrashKeepNothing()
	require.NoError(t, db.Close())
	o := cfsOptions(after)
	restored, err := inmem.Open("/backup", o)
	require.NoError(t, err)
	defer restored.Close()
	keys, err := restored.KV().List(run, "k")
	require.NoError(t, err)
	require.Len(t, keys, 50)
}
