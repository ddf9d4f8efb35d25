package inmem_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillRun writes something of run into every primitive.
func fillRun(t testing.TB, db *inmem.DB, run inmem.RunID) {
	t.Helper()
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
	require.NoError(t, db.JSON().Create(ctx, run, "doc", []byte(`{"a":1}`)))
	_, err := db.Events().Append(ctx, run, "said", []byte(`"hi"`))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, run, "phase", []byte(`"plan"`))
	require.NoError(t, err)
	_, err = db.Traces().Record(ctx, run, inmem.Span{ID: "s1", Name: "step", Kind: inmem.SpanThought,
		Start: time.Unix(1, 0), End: time.Unix(2, 0)})
	require.NoError(t, err)
}

// sentinel names the error's sentinel, so that two runs' answers compare without their ids.
func sentinel(err error) string {
	for _, s := range []error{inmem.ErrRunNotFound, inmem.ErrNotFound, inmem.ErrRunNotActive,
		inmem.ErrNotReplayable, inmem.ErrInvalidArgument} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "nil"
}

// observe is what every read of the public API answers about run.
func observe(db *inmem.DB, run inmem.RunID) []string {
	var out []string
	note := func(what string, v any, err error) {
		out = append(out, fmt.Sprintf("%s: %v %s", what, v, sentinel(err)))
	}
	v, err := db.KV().Get(run, "k")
	note("kv", string(v), err)
	keys, err := db.KV().List(run, "")
	note("kv list", keys, err)
	doc, err := db.JSON().Get(run, "doc", "$")
	note("json", string(doc), err)
	n, err := db.Events().Len(run)
	note("events", n, err)
	c, err := db.State().Get(run, "phase")
	note("state", string(c.Value), err)
	spans, err := db.Traces().Count(run)
	note("traces", spans, err)
	_, err = db.Run(run)
	note("run", db.RunStatus(run), err)
	_, err = db.ReplayRun(run)
	note("replay", "", err)
	err = db.View(run, func(tx *inmem.Tx) error { _, err := tx.KV().Get("k"); return err })
	note("view", "", err)
	return out
}

func TestDeleteRunLeavesNoTrace(t *testing.T) {
	db := openMem(t)
	run, kept := newRun(t, db), newRun(t, db)
	fillRun(t, db, run)
	fillRun(t, db, kept)
	keptBefore := observe(db, kept)
	require.NoError(t, db.EndRun(ctx, run))

	require.NoError(t, db.DeleteRun(ctx, run))
	never := inmem.NewRunID()
	assert.Equal(t, observe(db, never), observe(db, run), "a deleted run is as one that never existed")
	assert.Equal(t, sentinel(db.KV().Put(ctx, never, "k", nil)), sentinel(db.KV().Put(ctx, run, "k", nil)))
	runs, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, kept, runs[0].ID)
	assert.Equal(t, keptBefore, observe(db, kept), "other runs are untouched")
	assert.ErrorIs(t, db.DeleteRun(ctx, run), inmem.ErrRunNotFound, "deleted twice")

	// The id may be begun again, and starts afresh: counters, sequences and versions restart.
	require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{Name: "again"}))
	cell, err := db.State().Set(ctx, run, "phase", []byte(`"act"`))
	require.NoError(t, err)
	assert.EqualValues(t, 1, cell, "a cell of the new run is at its first version")
	ev, err := db.Events().Append(ctx, run, "said", []byte(`"again"`))
	require.NoError(t, err)
	assert.EqualValues(t, 0, ev.Seq)
	assert.Equal(t, [32]byte{}, ev.PrevHash, "a new hash chain")
	_, err = db.KV().Get(run, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	meta, err := db.Run(run)
	require.NoError(t, err)
	assert.Equal(t, "again", meta.Info.Name)
	assert.Equal(t, 2, meta.TxCount, "only the new run's transactions are journaled")
	view, err := db.ReplayRun(run)
	require.NoError(t, err)
	assert.Empty(t, view.KVKeys())
	require.NoError(t, db.Events().VerifyChain(run))
}

func TestDeleteRunRefusals(t *testing.T) {
	db := openMem(t)
	active := newRun(t, db)
	assert.ErrorIs(t, db.DeleteRun(ctx, active), inmem.ErrRunActive)
	assert.ErrorIs(t, db.DeleteRun(ctx, inmem.NewRunID()), inmem.ErrRunNotFound)
	assert.ErrorIs(t, db.DeleteRun(ctx, inmem.GlobalRun), inmem.ErrInvalidArgument)
	assert.ErrorIs(t, db.DeleteRun(nil, active), inmem.ErrInvalidArgument) //nolint:staticcheck // a nil context is refused
	assert.Equal(t, inmem.RunActive, db.RunStatus(active), "a refused deletion changes nothing")

	failed := newRun(t, db)
	require.NoError(t, db.AbortRun(ctx, failed, "gave up"))
	assert.NoError(t, db.DeleteRun(ctx, failed), "a failed run is over too")
}

func TestDeleteRunOrphanedIsActive(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	require.NoError(t, db.Close())
	db = openDir(t, dir)
	defer db.Close()
	require.Equal(t, inmem.RunOrphaned, db.RunStatus(run))
	assert.ErrorIs(t, db.DeleteRun(ctx, run), inmem.ErrRunActive)
}

// A transaction that began before the deletion keeps reading what it saw.
func TestDeleteRunOlderReadersKeepTheirSnapshot(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	fillRun(t, db, run)
	require.NoError(t, db.EndRun(ctx, run))
	tx, err := db.Begin(run, false)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, db.DeleteRun(ctx, run))
	v, err := tx.KV().Get("k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
	c, err := tx.State().Get("phase")
	require.NoError(t, err)
	assert.Equal(t, `"plan"`, string(c.Value))
}

// The deletion is logged: it holds across a reopen, from the log alone and from a snapshot
// taken after it, and so does a run begun again under the same id.
func TestDeleteRunDurable(t *testing.T) {
	fromLogAndSnapshot(t, func(t *testing.T, snapshot bool) {
		dir := t.TempDir()
		db := openDir(t, dir)
		run, again := newRun(t, db), newRun(t, db)
		for _, r := range []inmem.RunID{run, again} {
			fillRun(t, db, r)
			require.NoError(t, db.EndRun(ctx, r))
			require.NoError(t, db.DeleteRun(ctx, r))
		}
		require.NoError(t, db.BeginRun(ctx, again, inmem.RunInfo{Name: "again"}))
		require.NoError(t, db.KV().Put(ctx, again, "new", []byte("1")))
		want, wantAgain := observe(db, run), observe(db, again)

		db = reopen(t, db, dir, snapshot)
		assert.Equal(t, want, observe(db, run))
		resumeOrphaned(t, db, again)
		assert.Equal(t, wantAgain, observe(db, again))
		assert.Equal(t, "1", get(t, db, again, "new"))
	})
}

func TestDeleteRunIsAChange(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.EndRun(ctx, run))
	sub, err := db.Subscribe(ctx, inmem.Filter{Runs: []inmem.RunID{run}, Lifecycle: true})
	require.NoError(t, err)
	defer sub.Close()
	require.NoError(t, db.DeleteRun(ctx, run))
	select {
	case c := <-sub.C():
		assert.Equal(t, inmem.OpDeleteRun, c.Op)
		assert.Equal(t, run, c.Run)
	case <-time.After(10 * time.Second):
		t.Fatal("no change for the deletion")
	}
}
