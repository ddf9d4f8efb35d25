package inmem_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventsAppendAndRead(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	ev := db.Events()
	var prev [32]byte
	for i := range 3 {
		e, err := ev.Append(ctx, run, "tool_call", []byte(fmt.Sprintf(`{"n":%d}`, i)))
		require.NoError(t, err)
		assert.EqualValues(t, i, e.Seq)
		assert.Equal(t, prev, e.PrevHash, "event %d links to the one before", i)
		assert.NotEqual(t, [32]byte{}, e.Hash)
		assert.False(t, e.Timestamp.IsZero())
		prev = e.Hash
	}
	_, err := ev.Append(ctx, run, "decision", []byte(`"go"`))
	require.NoError(t, err)

	n, err := ev.Len(run)
	require.NoError(t, err)
	assert.EqualValues(t, 4, n)
	got, err := ev.Get(run, 1)
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, string(got.Payload))
	_, err = ev.Get(run, 4)
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	r, err := ev.Range(run, 1, 3)
	require.NoError(t, err)
	require.Len(t, r, 2)
	assert.EqualValues(t, 1, r[0].Seq)
	r, err = ev.Range(run, 2, 100)
	require.NoError(t, err)
	assert.Len(t, r, 2, "to past the end stops at the end")
	head, err := ev.Head(run)
	require.NoError(t, err)
	assert.Equal(t, "decision", head.Type)
	byType, err := ev.ByType(run, "tool_call")
	require.NoError(t, err)
	assert.Len(t, byType, 3)
	assert.NoError(t, ev.VerifyChain(run))

	got.Payload[0] = 'X' // a copy: the log is unchanged
	again, err := ev.Get(run, 1)
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, string(again.Payload))
}

// Appends never conflict: 4 goroutines × 25 appends to one run give sequences 0..99 with a valid
// chain, and recovery re-derives the identical chain.
func TestEventsConcurrentAppendsNeverConflict(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					return tx.Events().Append("step", []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)))
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, db.Stats().Conflicts, "appends never conflict")
	before, err := db.Events().Range(run, 0, 1000)
	require.NoError(t, err)
	require.Len(t, before, 100)
	for i, e := range before {
		require.EqualValues(t, i, e.Seq)
	}
	require.NoError(t, db.Events().VerifyChain(run))
	require.NoError(t, db.Close())

	db = openDir(t, dir)
	defer db.Close()
	after, err := db.Events().Range(run, 0, 1000)
	require.NoError(t, err)
	assert.Equal(t, before, after, "recovery re-derives identical sequences and hashes")
	require.NoError(t, db.Events().VerifyChain(run))
}

// An event append is part of its transaction: all or nothing with the transaction's other writes.
func TestEventsAreTransactional(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("k", "0")(db, run)
	tx := begin(t, db, run)
	_, err := tx.KV().Get("k")
	require.NoError(t, err)
	require.NoError(t, tx.KV().Put("k", []byte("1")))
	require.NoError(t, tx.Events().Append("changed", []byte(`{"k":1}`)))
	n, err := tx.Events().Len()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the transaction sees its own append")
	put("k", "other")(db, run) // a concurrent commit: tx will conflict
	require.ErrorIs(t, tx.Commit(ctx), inmem.ErrConflict)
	n, err = db.Events().Len(run)
	require.NoError(t, err)
	assert.Zero(t, n, "the conflicting transaction's event never happened")

	ro, err := db.Begin(run, false)
	require.NoError(t, err)
	defer ro.Rollback()
	assert.ErrorIs(t, ro.Events().Append("x", []byte(`1`)), inmem.ErrTxReadOnly)
}

func TestEventsBadInput(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	before := db.Stats()
	for name, c := range map[string]struct {
		typ     string
		payload string
		err     error
	}{
		"invalid JSON": {"t", `{"unterminated"`, inmem.ErrInvalidArgument},
		"empty type":   {"", `{}`, inmem.ErrInvalidArgument},
		"bad UTF-8":    {"\xff", `{}`, inmem.ErrInvalidArgument},
	} {
		_, err := db.Events().Append(ctx, run, c.typ, []byte(c.payload))
		assert.ErrorIs(t, err, c.err, name)
	}
	_, err := db.Events().Append(ctx, inmem.NewRunID(), "t", []byte(`{}`))
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	_, err = db.Events().Len(inmem.NewRunID())
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	n, err := db.Events().Len(run)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, before.Commits, db.Stats().Commits, "nothing reached the log")
}
