package inmem_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStateCells(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	st := db.State()

	v, err := st.Init(ctx, run, "phase", []byte("plan"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	_, err = st.Init(ctx, run, "phase", []byte("again"))
	assert.ErrorIs(t, err, inmem.ErrAlreadyExists)

	c, err := st.Get(run, "phase")
	require.NoError(t, err)
	assert.Equal(t, "plan", string(c.Value))
	assert.EqualValues(t, 1, c.Version)
	assert.False(t, c.UpdatedAt.IsZero())

	v, err = st.Set(ctx, run, "phase", []byte("act"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, v)
	v, err = st.CAS(ctx, run, "phase", 2, []byte("review"))
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)

	_, err = st.CAS(ctx, run, "phase", 2, []byte("stale"))
	var vm *inmem.VersionMismatchError
	require.ErrorAs(t, err, &vm)
	assert.EqualValues(t, 2, vm.Expected)
	assert.EqualValues(t, 3, vm.Actual)
	assert.ErrorIs(t, err, inmem.ErrVersionMismatch)

	v, err = st.Set(ctx, run, "fresh", []byte("x"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, v, "Set creates a missing cell")
	names, err := st.List(run)
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh", "phase"}, names)

	_, err = st.Get(run, "missing")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	_, err = st.Get(inmem.NewRunID(), "phase")
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
}

// Versions never go back: a cell deleted and created again continues its counter, so a CAS
// holding a version from before the delete can never succeed (no ABA).
func TestStateNoABA(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	st := db.State()
	_, err := st.Init(ctx, run, "lock", []byte("a"))
	require.NoError(t, err)
	v, err := st.Set(ctx, run, "lock", []byte("b"))
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
	require.NoError(t, st.Delete(ctx, run, "lock"))
	_, err = st.Get(run, "lock")
	require.ErrorIs(t, err, inmem.ErrNotFound)
	_, err = st.CAS(ctx, run, "lock", 2, []byte("stale"))
	require.ErrorIs(t, err, inmem.ErrVersionMismatch, "a deleted cell is not at its old version")

	v, err = st.Init(ctx, run, "lock", []byte("c"))
	require.NoError(t, err)
	assert.Greater(t, v, uint64(2), "re-creating continues the counter")
	_, err = st.CAS(ctx, run, "lock", 2, []byte("stale"))
	assert.ErrorIs(t, err, inmem.ErrVersionMismatch, "the pre-delete version never matches again")
}

// Transition retries on conflicts: N goroutines × k increments of one cell end at N×k.
func TestStateTransitionConverges(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.UpdateAttempts = 1000 })
	run := newRun(t, db)
	_, err := db.State().Init(ctx, run, "n", []byte("0"))
	require.NoError(t, err)
	const goroutines, each = 6, 30
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := db.State().Transition(ctx, run, "n", func(c inmem.Cell) ([]byte, error) {
					n, err := strconv.Atoi(string(c.Value))
					return []byte(strconv.Itoa(n + 1)), err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c, err := db.State().Get(run, "n")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(goroutines*each), string(c.Value))
	assert.EqualValues(t, goroutines*each+1, c.Version)
	_, err = db.State().Transition(ctx, run, "missing", func(inmem.Cell) ([]byte, error) { return nil, nil })
	assert.ErrorIs(t, err, inmem.ErrNotFound)
}

// A transaction over KV, events and state cells is all or nothing, live and after a reopen.
func TestStateInTransactionsAndReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.State().Init("step", []byte("1")); err != nil {
			return err
		}
		c, err := tx.State().Get("step")
		if err != nil {
			return err
		}
		assert.Equal(t, "1", string(c.Value), "read your own writes")
		if err := tx.KV().Put("k", []byte("v")); err != nil {
			return err
		}
		return tx.Events().Append("started", []byte(`{}`))
	})
	require.NoError(t, err)

	tx := begin(t, db, run)
	_, err = tx.State().Get("step")
	require.NoError(t, err)
	require.NoError(t, tx.State().Set("step", []byte("2")))
	require.NoError(t, tx.Events().Append("stepped", []byte(`{}`)))
	_, err = db.State().Set(ctx, run, "step", []byte("other")) // the cell tx read changes
	require.NoError(t, err)
	require.ErrorIs(t, tx.Commit(ctx), inmem.ErrConflict)
	n, err := db.Events().Len(run)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the failed transaction's event is not there")
	require.NoError(t, db.Close())

	db = openDir(t, dir)
	defer db.Close()
	c, err := db.State().Get(run, "step")
	require.NoError(t, err)
	assert.Equal(t, "other", string(c.Value))
	assert.EqualValues(t, 2, c.Version, "versions are recovered, not recomputed")
	assert.Equal(t, "v", get(t, db, run, "k"))
}

func TestStateBadInput(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	_, err := db.State().Init(ctx, run, "", []byte("x"))
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	_, err = db.State().Set(ctx, run, "big", make([]byte, 16<<20+1))
	assert.ErrorIs(t, err, inmem.ErrTooLarge)
	_, err = db.State().Transition(ctx, run, "x", nil)
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	names, err := db.State().List(run)
	require.NoError(t, err)
	assert.Empty(t, names)
}
