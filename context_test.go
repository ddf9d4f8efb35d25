package inmem_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A context bounds admission only. Once a commit is accepted its real outcome is reported, so
// an error always means "not committed": many committers with deadlines shorter than an fsync,
// and afterwards every key is present exactly when its call returned nil.
func TestContextErrorMeansNotCommitted(t *testing.T) {
	db := openDir(t, t.TempDir())
	defer db.Close()
	run := newRun(t, db)
	const committers, each = 64, 40
	errs := make([][]error, committers)
	var wg sync.WaitGroup
	for g := range committers {
		errs[g] = make([]error, each)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range each {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(400))*time.Microsecond)
				key := fmt.Sprintf("%d/%d", g, i)
				if i%2 == 0 {
					errs[g][i] = db.Update(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put(key, []byte("v")) })
				} else {
					errs[g][i] = db.KV().Put(ctx, run, key, []byte("v"))
				}
				cancel()
			}
		})
	}
	wg.Wait()
	failed := 0
	for g := range committers {
		for i, err := range errs[g] {
			_, getErr := db.KV().Get(run, fmt.Sprintf("%d/%d", g, i))
			if err != nil {
				failed++
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.ErrorIs(t, getErr, inmem.ErrNotFound, "%d/%d: reported %v, but committed", g, i, err)
			} else {
				require.NoError(t, getErr, "%d/%d: reported committed, but missing", g, i)
			}
		}
	}
	t.Logf("%d of %d calls ran out of time before their commit was accepted", failed, committers*each)
}

// A context that is already done never runs fn and commits nothing.
func TestDoneContextNeverRunsFn(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.Update(ctx, run, func(tx *inmem.Tx) error { ran = true; return tx.KV().Put("k", nil) })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran, "fn ran with a done context")
	require.ErrorIs(t, db.KV().Put(ctx, run, "k", nil), context.Canceled)
	_, err = db.KV().Get(run, "k")
	require.ErrorIs(t, err, inmem.ErrNotFound)
}

// A nil context is ErrInvalidArgument from every call that takes one, never a panic, and
// changes nothing.
func TestNilContextIsInvalidArgument(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	_, err := db.State().Init(ctx, run, "c", []byte("1"))
	require.NoError(t, err)
	var nilCtx context.Context
	calls := map[string]func() error{
		"Update":         func() error { return db.Update(nilCtx, run, func(*inmem.Tx) error { return nil }) },
		"BeginRun":       func() error { return db.BeginRun(nilCtx, inmem.NewRunID(), inmem.RunInfo{}) },
		"EndRun":         func() error { return db.EndRun(nilCtx, run) },
		"AbortRun":       func() error { return db.AbortRun(nilCtx, run, "x") },
		"ResumeRun":      func() error { return db.ResumeRun(nilCtx, run) },
		"KV.Put":         func() error { return db.KV().Put(nilCtx, run, "k", nil) },
		"KV.Delete":      func() error { _, err := db.KV().Delete(nilCtx, run, "k"); return err },
		"JSON.Create":    func() error { return db.JSON().Create(nilCtx, run, "d", []byte(`{}`)) },
		"JSON.Set":       func() error { return db.JSON().Set(nilCtx, run, "d", "$.a", []byte(`1`)) },
		"JSON.Delete":    func() error { return db.JSON().Delete(nilCtx, run, "d", "$.a") },
		"JSON.DeleteDoc": func() error { return db.JSON().DeleteDoc(nilCtx, run, "d") },
		"JSON.Patch":     func() error { return db.JSON().Patch(nilCtx, run, "d", nil) },
		"Events.Append": func() error {
			_, err := db.Events().Append(nilCtx, run, "t", []byte(`{}`))
			return err
		},
		"State.Init":   func() error { _, err := db.State().Init(nilCtx, run, "n", []byte("1")); return err },
		"State.Set":    func() error { _, err := db.State().Set(nilCtx, run, "c", []byte("2")); return err },
		"State.CAS":    func() error { _, err := db.State().CAS(nilCtx, run, "c", 1, []byte("2")); return err },
		"State.Delete": func() error { return db.State().Delete(nilCtx, run, "c") },
		"State.Transition": func() error {
			_, err := db.State().Transition(nilCtx, run, "c", func(c inmem.Cell) ([]byte, error) { return c.Value, nil })
			return err
		},
		"Traces.Record": func() error {
			_, err := db.Traces().Record(nilCtx, run, inmem.Span{Kind: inmem.SpanThought, Name: "x"})
			return err
		},
		"Tx.Commit": func() error {
			tx, err := db.Begin(run, true)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := tx.KV().Put("k", nil); err != nil {
				return err
			}
			return tx.Commit(nilCtx)
		},
	}
	before := db.Stats().Commits
	for name, call := range calls {
		require.NotPanics(t, func() {
			require.ErrorIs(t, call(), inmem.ErrInvalidArgument, name)
		}, name)
	}
	assert.Equal(t, before, db.Stats().Commits, "nothing committed")
	assert.Equal(t, inmem.RunActive, db.RunStatus(run))
}
