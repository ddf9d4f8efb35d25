package inmem_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
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
		"Tx.Commit (read-only)": func() error {
			tx, err := db.Begin(run, false)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			return tx.Commit(nilCtx)
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

// Every method of a closed database that can return an error returns ErrClosed, and changes
// nothing; the two that cannot (RunStatus, OrphanedRuns) report nothing.
func TestClosedDatabaseSaysSo(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	_, err := db.Snapshot()
	require.NoError(t, err)
	snaps, err := db.ListSnapshots()
	require.NoError(t, err)
	require.NoError(t, db.Close())
	id := inmem.NewRunID()
	second := func(_ any, err error) error { return err }
	calls := map[string]func() error{
		"BeginRun":       func() error { return db.BeginRun(ctx, id, inmem.RunInfo{}) },
		"EndRun":         func() error { return db.EndRun(ctx, run) },
		"AbortRun":       func() error { return db.AbortRun(ctx, run, "x") },
		"ResumeRun":      func() error { return db.ResumeRun(ctx, run) },
		"Run":            func() error { return second(db.Run(run)) },
		"ListRuns":       func() error { return second(db.ListRuns(inmem.RunFilter{})) },
		"Update":         func() error { return db.Update(ctx, run, func(*inmem.Tx) error { return nil }) },
		"View":           func() error { return db.View(run, func(*inmem.Tx) error { return nil }) },
		"Begin":          func() error { return second(db.Begin(run, true)) },
		"ReplayRun":      func() error { return second(db.ReplayRun(run)) },
		"ReplayRunUntil": func() error { return second(db.ReplayRunUntil(run, 1)) },
		"DiffRuns":       func() error { return second(db.DiffRuns(run, run)) },
		"Snapshot":       func() error { return second(db.Snapshot()) },
		"ListSnapshots":  func() error { return second(db.ListSnapshots()) },
		"DeleteSnapshot": func() error { return db.DeleteSnapshot(snaps[0]) },
		"Sync":           func() error { return db.Sync() },
		"KV.Put":         func() error { return db.KV().Put(ctx, run, "k", nil) },
		"KV.Get":         func() error { return second(db.KV().Get(run, "k")) },
		"KV.Delete":      func() error { return second(db.KV().Delete(ctx, run, "k")) },
		"KV.Exists":      func() error { return second(db.KV().Exists(run, "k")) },
		"KV.GetMany":     func() error { return second(db.KV().GetMany(run, []string{"k"})) },
		"KV.List":        func() error { return second(db.KV().List(run, "")) },
		"KV.Scan":        func() error { return second(db.KV().Scan(run, "", "", 0)) },
		"JSON.Create":    func() error { return db.JSON().Create(ctx, run, "d", []byte(`{}`)) },
		"JSON.Get":       func() error { return second(db.JSON().Get(run, "d", "$")) },
		"JSON.Set":       func() error { return db.JSON().Set(ctx, run, "d", "$.a", []byte(`1`)) },
		"JSON.Delete":    func() error { return db.JSON().Delete(ctx, run, "d", "$.a") },
		"JSON.DeleteDoc": func() error { return db.JSON().DeleteDoc(ctx, run, "d") },
		"JSON.Patch":     func() error { return db.JSON().Patch(ctx, run, "d", nil) },
		"JSON.Version":   func() error { return second(db.JSON().Version(run, "d")) },
		"JSON.Exists":    func() error { return second(db.JSON().Exists(run, "d")) },
		"JSON.List":      func() error { return second(db.JSON().List(run)) },
		"Events.Append":  func() error { return second(db.Events().Append(ctx, run, "t", []byte(`{}`))) },
		"Events.Get":     func() error { return second(db.Events().Get(run, 0)) },
		"Events.Range":   func() error { return second(db.Events().Range(run, 0, 1)) },
		"Events.Len":     func() error { return second(db.Events().Len(run)) },
		"Events.Head":    func() error { return second(db.Events().Head(run)) },
		"Events.ByType":  func() error { return second(db.Events().ByType(run, "t")) },
		"Events.Verify":  func() error { return db.Events().VerifyChain(run) },
		"State.Init":     func() error { return second(db.State().Init(ctx, run, "c", nil)) },
		"State.Get":      func() error { return second(db.State().Get(run, "c")) },
		"State.Set":      func() error { return second(db.State().Set(ctx, run, "c", nil)) },
		"State.CAS":      func() error { return second(db.State().CAS(ctx, run, "c", 1, nil)) },
		"State.Delete":   func() error { return db.State().Delete(ctx, run, "c") },
		"State.List":     func() error { return second(db.State().List(run)) },
		"State.Transition": func() error {
			return second(db.State().Transition(ctx, run, "c", func(c inmem.Cell) ([]byte, error) { return nil, nil }))
		},
		"Traces.Record": func() error {
			return second(db.Traces().Record(ctx, run, inmem.Span{Kind: inmem.SpanThought, Name: "s"}))
		},
		"Traces.Get":      func() error { return second(db.Traces().Get(run, "s")) },
		"Traces.Children": func() error { return second(db.Traces().Children(run, "s")) },
		"Traces.Tree":     func() error { return second(db.Traces().Tree(run, "s")) },
		"Traces.Roots":    func() error { return second(db.Traces().Roots(run)) },
		"Traces.ByKind":   func() error { return second(db.Traces().ByKind(run, inmem.SpanThought)) },
		"Traces.ByTag":    func() error { return second(db.Traces().ByTag(run, "t")) },
		"Traces.InTime":   func() error { return second(db.Traces().InTime(run, time.Time{}, time.Now())) },
		"Traces.List":     func() error { return second(db.Traces().List(run)) },
		"Traces.Count":    func() error { return second(db.Traces().Count(run)) },
	}
	for name, call := range calls {
		require.NotPanics(t, func() {
			assert.ErrorIs(t, call(), inmem.ErrClosed, name)
		}, name)
	}
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(run))
	assert.Nil(t, db.OrphanedRuns())
	assert.NoError(t, db.Close(), "a second Close is harmless")
}

// Error messages say each thing once, in units a person reads.
func TestErrorMessagesReadWell(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.JSON().Create(ctx, run, "d", []byte(`{"a":1}`)))
	err := db.JSON().Patch(ctx, run, "d", []inmem.PatchOp{{Op: "bogus", Path: "$.a"}})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	assert.Equal(t, 1, strings.Count(err.Error(), "patch op 0"), err.Error())

	now := time.Now()
	_, err = db.Traces().Record(ctx, run, inmem.Span{Kind: inmem.SpanThought, Name: "x", Start: now, End: now.Add(-time.Hour)})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	assert.Contains(t, err.Error(), now.UTC().Format("2006-01-02T15:04"), "span times as times, not microseconds")

	require.NoError(t, db.Close())
	_, err = db.DiffRuns(run, run)
	require.ErrorIs(t, err, inmem.ErrClosed)
	assert.Equal(t, inmem.ErrClosed.Error(), err.Error(), "said once")
}
