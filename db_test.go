package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenInMemoryNeedsNoDirectory(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	require.NoError(t, err)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
	require.NoError(t, db.Close())
}

func TestOptionsValidation(t *testing.T) {
	bad := []func(*inmem.Options){
		func(o *inmem.Options) { o.Durability = 7 },
		func(o *inmem.Options) { o.Recovery.Mode = -1 },
		func(o *inmem.Options) { o.MaxBatchBytes = -1 },
		func(o *inmem.Options) { o.SegmentSize = -5 },
		func(o *inmem.Options) { o.Shards = -1 },
		func(o *inmem.Options) { o.Shards = 1 << 20 },
		func(o *inmem.Options) { o.FlushInterval = -time.Second },
		func(o *inmem.Options) { o.Snapshot.RetentionCount = -1 },
		func(o *inmem.Options) { o.Snapshot.Priority = -1 },
		func(o *inmem.Options) { o.Snapshot.Priority = 3 },
		func(o *inmem.Options) { o.Snapshot.DutyCycle = -0.5 },
		func(o *inmem.Options) { o.Snapshot.DutyCycle = 1.5 },
		func(o *inmem.Options) { o.Snapshot.DutyCycle = math.NaN() },
	}
	for i, mutate := range bad {
		o := inmem.DefaultOptions()
		o.Durability = inmem.InMemory
		mutate(o)
		_, err := inmem.Open("", o)
		assert.ErrorIs(t, err, inmem.ErrInvalidArgument, "case %d", i)
	}
	// Zero numeric fields take their defaults.
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory, Shards: 0, MaxBatchBytes: 0})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestClosedDatabase(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	require.NoError(t, err)
	run := newRun(t, db)
	tx, err := db.Begin(run, true)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")

	assert.ErrorIs(t, db.KV().Put(ctx, run, "k", nil), inmem.ErrClosed)
	_, err = db.KV().Get(run, "k")
	assert.ErrorIs(t, err, inmem.ErrClosed)
	_, err = db.Begin(run, false)
	assert.ErrorIs(t, err, inmem.ErrClosed)
	assert.ErrorIs(t, db.Update(ctx, run, func(*inmem.Tx) error { return nil }), inmem.ErrClosed)
	assert.ErrorIs(t, db.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{}), inmem.ErrClosed)
	assert.ErrorIs(t, tx.KV().Put("k", nil), inmem.ErrClosed)
	assert.ErrorIs(t, tx.Commit(ctx), inmem.ErrClosed)
}

// Close while many goroutines commit: every commit either lands (nil) or is refused with
// ErrClosed; none hangs, none is half done, and no goroutine outlives Close (goleak).
func TestCloseUnderLoad(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	require.NoError(t, err)
	run := newRun(t, db)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	loaded := make(chan struct{}) // closed once the load is real: 500 commits acknowledged
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("%d-%d", g, i)
				err := db.KV().Put(ctx, run, key, []byte("v"))
				if errors.Is(err, inmem.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[key] = true
				if len(acked) == 500 {
					close(loaded)
				}
				mu.Unlock()
			}
		}()
	}
	<-loaded
	require.NoError(t, db.Close())
	wg.Wait()
	assert.NotEmpty(t, acked)
	assert.EqualValues(t, len(acked)+1, db.Stats().Commits, "every acknowledged commit was published (+1: BeginRun)")
}

func TestContextCancelledBeforeCommit(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, db.KV().Put(cctx, run, "k", []byte("v")), context.Canceled)
	_, err := db.KV().Get(run, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound, "a context done before the commit hands nothing over")
}

func TestStatsCountBatches(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := db.KV().Put(ctx, run, string(rune('A'+g)), []byte("v")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s := db.Stats()
	assert.EqualValues(t, 64*20+1, s.Commits)
	assert.LessOrEqual(t, s.Batches, s.Commits)
	assert.Positive(t, s.Batches)
}
