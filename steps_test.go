package inmem_test

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func initialState(tx *inmem.Tx) error {
	if err := tx.KV().Put("goal", []byte("ship")); err != nil {
		return err
	}
	if err := tx.Events().Append("started", []byte(`{"by":"test"}`)); err != nil {
		return err
	}
	return tx.State().Set("phase", []byte(`"plan"`))
}

func TestBeginRunWithIsStepZero(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{Name: "with"}, initialState))
	assert.Equal(t, "ship", get(t, db, run, "goal"))
	meta, err := db.Run(run)
	require.NoError(t, err)
	assert.Equal(t, 0, meta.Steps, "the initial state is step 0, not a step of the run's own")

	step0, err := db.ReplayRunUntil(run, 0)
	require.NoError(t, err)
	assert.Equal(t, liveImage(t, db, run), viewImage(step0))
	assert.Contains(t, viewImage(step0), `kv "goal"="ship"`)

	info, err := db.Step(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("goal", []byte("test")) })
	require.NoError(t, err)
	assert.Equal(t, 1, info.Step)
	assert.Equal(t, 1, info.Attempts)
	assert.Equal(t, 1, info.Ops)
	assert.Equal(t, []inmem.PrimitiveKind{inmem.KindKV}, info.Kinds)

	steps, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	assert.Equal(t, 0, steps[0].Step)
	assert.Equal(t, 3, steps[0].Ops, "step 0 holds the initial state's three writes")
	assert.Equal(t, []inmem.PrimitiveKind{inmem.KindKV, inmem.KindEvent, inmem.KindState}, steps[0].Kinds)
	assert.Equal(t, meta.StartedAt, steps[0].Time, "step 0 is committed with the begin")
	assert.Equal(t, info.Version, steps[1].Version)
	assert.Equal(t, info.Time, steps[1].Time)
	assert.Less(t, steps[0].Version, steps[1].Version)
}

func TestBeginRunWithRefusals(t *testing.T) {
	db := openMem(t)
	boom := errors.New("boom")
	run := inmem.NewRunID()
	err := db.BeginRunWith(ctx, run, inmem.RunInfo{}, func(tx *inmem.Tx) error {
		require.NoError(t, tx.KV().Put("k", []byte("v")))
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(run), "a failed function begins nothing")

	err = db.BeginRunWith(ctx, run, inmem.RunInfo{Parent: inmem.NewRunID()}, initialState)
	assert.ErrorIs(t, err, inmem.ErrRunNotFound, "the parent must exist")
	assert.ErrorIs(t, db.BeginRun(ctx, run, inmem.RunInfo{Parent: inmem.NewRunID()}), inmem.ErrRunNotFound)
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(run))

	existing := newRun(t, db)
	err = db.BeginRunWith(ctx, existing, inmem.RunInfo{}, initialState)
	assert.ErrorIs(t, err, inmem.ErrRunExists)
	_, err = db.KV().Get(existing, "goal")
	assert.ErrorIs(t, err, inmem.ErrNotFound, "a refused begin writes nothing")

	child := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, child, inmem.RunInfo{Parent: existing}, initialState))
	meta, err := db.Run(child)
	require.NoError(t, err)
	assert.Equal(t, existing, meta.Info.Parent)
}

func TestStepWithoutWritesMakesNoStep(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	_, err := db.Step(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("a", []byte("1")) })
	require.NoError(t, err)
	info, err := db.Step(ctx, run, func(tx *inmem.Tx) error { _, err := tx.KV().Get("a"); return err })
	require.NoError(t, err)
	assert.Equal(t, inmem.StepInfo{Step: 1, Attempts: 1}, info)
	_, err = db.Step(ctx, inmem.GlobalRun, func(*inmem.Tx) error { return nil })
	assert.ErrorIs(t, err, inmem.ErrNotReplayable)
}

// writeSteps makes n more steps of run, and returns the live image before them (index 0) and
// after each (index k: after the k-th of them).
func writeSteps(t testing.TB, db *inmem.DB, run inmem.RunID, n int) []string {
	t.Helper()
	images := []string{liveImage(t, db, run)}
	meta, err := db.Run(run)
	require.NoError(t, err)
	for k := 1; k <= n; k++ {
		info, err := db.Step(ctx, run, func(tx *inmem.Tx) error {
			if err := tx.KV().Put(fmt.Sprint("k", k%3), []byte(fmt.Sprint(k))); err != nil {
				return err
			}
			if k%2 == 0 {
				return tx.Events().Append("tick", []byte(fmt.Sprint(k)))
			}
			return tx.State().Set("n", []byte(fmt.Sprint(k)))
		})
		require.NoError(t, err)
		require.Equal(t, meta.Steps+k, info.Step)
		images = append(images, liveImage(t, db, run))
	}
	return images
}

func TestReplayCursorWalksEveryStep(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{}, initialState))
	images := writeSteps(t, db, run, 12)

	c, err := db.ReplayCursor(run)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, -1, c.Step())
	var views []*inmem.ReadOnlyView
	for c.Next() {
		require.Equal(t, len(views), c.Step())
		assert.Equal(t, images[c.Step()], viewImage(c.View()), "step %d", c.Step())
		views = append(views, c.View())
	}
	require.NoError(t, c.Err())
	require.Len(t, views, 13)
	for k, v := range views {
		assert.Equal(t, images[k], viewImage(v), "the view of step %d after the cursor moved on", k)
		until, err := db.ReplayRunUntil(run, k)
		require.NoError(t, err)
		assert.Equal(t, images[k], viewImage(until))
	}
	c.Close()
	assert.False(t, c.Next(), "a closed cursor stops")

	_, err = db.ReplayCursor(inmem.NewRunID())
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
}

func TestRunStepsPages(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	writeSteps(t, db, run, 5)
	all, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err)
	require.Len(t, all, 6)
	assert.Zero(t, all[0].Ops, "a run begun without a state has an empty step 0")
	page, err := db.RunSteps(run, 2, 2)
	require.NoError(t, err)
	assert.Equal(t, all[2:4], page)
	tail, err := db.RunSteps(run, 5, 10)
	require.NoError(t, err)
	assert.Equal(t, all[5:], tail)
	none, err := db.RunSteps(run, 9, 0)
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = db.RunSteps(run, -1, 0)
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	_, err = db.RunSteps(inmem.NewRunID(), 0, 0)
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
}

// Step 0 and the steps after it survive a reopen, from the log and from a snapshot.
func TestStepsDurable(t *testing.T) {
	fromLogAndSnapshot(t, func(t *testing.T, snapshot bool) {
		dir := t.TempDir()
		db := openDir(t, dir)
		run := inmem.NewRunID()
		require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{}, initialState))
		images := writeSteps(t, db, run, 4)
		steps, err := db.RunSteps(run, 0, 0)
		require.NoError(t, err)

		db = reopen(t, db, dir, snapshot)
		again, err := db.RunSteps(run, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, steps, again)
		for k, want := range images {
			v, err := db.ReplayRunUntil(run, k)
			require.NoError(t, err)
			assert.Equal(t, want, viewImage(v), "step %d", k)
		}
	})
}

// sameState is a view's image with state cell versions left out: a fork keeps values, not
// counters.
func sameState(image string) string {
	return regexp.MustCompile(`(?m)^(state "[^"]*") v\d+`).ReplaceAllString(image, "$1")
}

func TestForkRun(t *testing.T) {
	db := openMem(t)
	src := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, src, inmem.RunInfo{Agent: "a"}, initialState))
	require.NoError(t, db.Update(ctx, src, func(tx *inmem.Tx) error {
		if err := tx.JSON().Create("doc", []byte(`{"a":[1,2],"b":"x"}`)); err != nil {
			return err
		}
		_, err := tx.Traces().Record(inmem.Span{ID: "root", Name: "plan", Kind: inmem.SpanThought, Start: time.Unix(5, 0)})
		return err
	}))
	writeSteps(t, db, src, 6) // steps 2–7
	for _, step := range []int{0, 1, 4, 7, 99} {
		dst := inmem.NewRunID()
		require.NoError(t, db.ForkRun(ctx, src, step, dst, inmem.RunInfo{Name: "fork"}))
		want, err := db.ReplayRunUntil(src, step)
		require.NoError(t, err)
		assert.Equal(t, sameState(viewImage(want)), sameState(liveImage(t, db, dst)), "fork at step %d", step)
		meta, err := db.Run(dst)
		require.NoError(t, err)
		assert.Equal(t, &inmem.ForkPoint{Run: src, Step: min(step, 7)}, meta.ForkedFrom)
		assert.Equal(t, src, meta.Info.Parent, "the parent defaults to the source")
		assert.Equal(t, inmem.RunActive, meta.Status)
		assert.Equal(t, 0, meta.Steps, "the forked state is step 0")
		require.NoError(t, db.Events().VerifyChain(dst))
		step0, err := db.ReplayRunUntil(dst, 0)
		require.NoError(t, err)
		assert.Equal(t, liveImage(t, db, dst), viewImage(step0))
	}
	srcMeta, err := db.Run(src)
	require.NoError(t, err)
	assert.Nil(t, srcMeta.ForkedFrom)

	// The fork goes on on its own.
	dst := inmem.NewRunID()
	require.NoError(t, db.ForkRun(ctx, src, 3, dst, inmem.RunInfo{}))
	require.NoError(t, db.KV().Put(ctx, dst, "k1", []byte("fork")))
	assert.Equal(t, "fork", get(t, db, dst, "k1"))
	assert.NotEqual(t, "fork", get(t, db, src, "k1"))

	assert.ErrorIs(t, db.ForkRun(ctx, src, 1, dst, inmem.RunInfo{}), inmem.ErrRunExists)
	assert.ErrorIs(t, db.ForkRun(ctx, inmem.NewRunID(), 1, inmem.NewRunID(), inmem.RunInfo{}), inmem.ErrRunNotFound)
	assert.ErrorIs(t, db.ForkRun(ctx, src, -1, inmem.NewRunID(), inmem.RunInfo{}), inmem.ErrInvalidArgument)
	require.NoError(t, db.EndRun(ctx, src))
	assert.NoError(t, db.ForkRun(ctx, src, 2, inmem.NewRunID(), inmem.RunInfo{}), "an ended run forks too")
}

// A fork survives a reopen, from the log and from a snapshot, fork point included; the toy
// primitive forks through its Materializer.
func TestForkRunDurable(t *testing.T) {
	fromLogAndSnapshot(t, func(t *testing.T, snapshot bool) {
		dir, toy := t.TempDir(), newTally()
		db := openDir(t, dir, withToy(toy))
		src, dst := inmem.NewRunID(), inmem.NewRunID()
		require.NoError(t, db.BeginRunWith(ctx, src, inmem.RunInfo{}, initialState))
		writeSteps(t, db, src, 3)
		require.NoError(t, db.Update(ctx, src, func(tx *inmem.Tx) error { return toy.Add(tx, "n", 5) }))
		require.NoError(t, db.ForkRun(ctx, src, 4, dst, inmem.RunInfo{}))
		assert.EqualValues(t, 5, toy.Value(dst, "n"))
		want := liveImage(t, db, dst)
		meta, err := db.Run(dst)
		require.NoError(t, err)

		toy = newTally()
		db = reopen(t, db, dir, snapshot, withToy(toy))
		assert.Equal(t, want, liveImage(t, db, dst))
		again, err := db.Run(dst)
		require.NoError(t, err)
		assert.Equal(t, meta.ForkedFrom, again.ForkedFrom)
		assert.EqualValues(t, 5, toy.Value(dst, "n"))
		step0, err := db.ReplayRunUntil(dst, 0)
		require.NoError(t, err)
		assert.Equal(t, want, viewImage(step0))
	})
}
