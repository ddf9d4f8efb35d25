package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedWait bounds every wait of these tests: a change that never comes fails, it does not hang.
const feedWait = 20 * time.Second

// next receives one change, failing the test if none comes.
func next(t *testing.T, sub *inmem.Subscription) inmem.Change {
	t.Helper()
	select {
	case c, ok := <-sub.C():
		require.True(t, ok, "the subscription ended: %v", sub.Err())
		return c
	case <-time.After(feedWait):
		t.Fatal("no change")
		return inmem.Change{}
	}
}

// Every primitive's changes, with their fields, in commit order; lifecycle changes only when
// asked for.
func TestSubscribeDescribesEveryChange(t *testing.T) {
	db := openMem(t)
	all, err := db.Subscribe(ctx, inmem.Filter{Lifecycle: true})
	require.NoError(t, err)
	data, err := db.Subscribe(ctx, inmem.Filter{})
	require.NoError(t, err)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.JSON().Create("doc", []byte(`{}`)); err != nil {
			return err
		}
		if err := tx.Events().Append("tool", []byte(`1`)); err != nil {
			return err
		}
		return tx.Events().Append("tool", []byte(`2`))
	}))
	_, err = db.State().Init(ctx, run, "phase", []byte("a"))
	require.NoError(t, err)
	id, err := db.Traces().Record(ctx, run, inmem.Span{Kind: inmem.SpanThought, Name: "think"})
	require.NoError(t, err)
	_, err = db.KV().Delete(ctx, run, "k")
	require.NoError(t, err)
	require.NoError(t, db.EndRun(ctx, run))

	type seen struct {
		kind inmem.PrimitiveKind
		key  string
		seq  uint64
		op   string
		step int
	}
	want := []seen{
		{inmem.KindRun, "", 0, "begin", 0},
		{inmem.KindKV, "k", 0, "put", 1},
		{inmem.KindJSON, "doc", 0, "create", 2},
		{inmem.KindEvent, "tool", 0, "append", 2},
		{inmem.KindEvent, "tool", 1, "append", 2},
		{inmem.KindState, "phase", 0, "create", 3},
		{inmem.KindTrace, id, 0, "record", 4},
		{inmem.KindKV, "k", 0, "delete", 5},
		{inmem.KindRun, "", 0, "end", 5},
	}
	var last uint64
	for i, w := range want {
		c := next(t, all)
		assert.Equal(t, w, seen{c.Kind, c.Key, c.Seq, c.Op.String(), c.Step}, "change %d", i)
		assert.Equal(t, run, c.Run)
		assert.GreaterOrEqual(t, c.Version, last, "commit order")
		assert.False(t, c.Time.IsZero())
		last = c.Version
		if c.Kind != inmem.KindRun {
			d := next(t, data)
			assert.Equal(t, c, d, "the same change, without the lifecycle ones")
		}
	}
	all.Close()
	data.Close()
	assert.NoError(t, all.Err())
}

func TestSubscribeFilters(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	onlyB, err := db.Subscribe(ctx, inmem.Filter{Runs: []inmem.RunID{b}})
	require.NoError(t, err)
	onlyState, err := db.Subscribe(ctx, inmem.Filter{Kinds: []inmem.PrimitiveKind{inmem.KindState}, KeyPrefix: "approval/"})
	require.NoError(t, err)
	require.NoError(t, db.KV().Put(ctx, a, "x", nil))
	require.NoError(t, db.KV().Put(ctx, b, "y", nil))
	_, err = db.State().Set(ctx, a, "other", []byte("1"))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, a, "approval/42", []byte("yes"))
	require.NoError(t, err)
	c := next(t, onlyB)
	assert.Equal(t, "y", c.Key)
	c = next(t, onlyState)
	assert.Equal(t, "approval/42", c.Key)
	require.NoError(t, db.Close())
	_, ok := <-onlyB.C()
	assert.False(t, ok, "nothing else for b")
	assert.ErrorIs(t, onlyB.Err(), inmem.ErrClosed, "Close ends every subscription")
	assert.ErrorIs(t, onlyState.Err(), inmem.ErrClosed)
}

// A subscriber that does not read is ended with ErrLagged, which says what it was given last;
// the commits never waited for it.
func TestSubscribeLagged(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	sub, err := db.Subscribe(ctx, inmem.Filter{Buffer: 2})
	require.NoError(t, err)
	const puts = 500 // far more than the buffer, however fast the reader drains it later
	for i := range puts {
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint(i), nil))
	}
	var got []inmem.Change
	for c := range sub.C() {
		got = append(got, c)
	}
	// At least the buffer's worth (more if the reader started while delivery went on), never
	// all: the subscriber did not read while the commits were made.
	require.GreaterOrEqual(t, len(got), 2)
	require.Less(t, len(got), puts)
	var lagged *inmem.LaggedError
	require.ErrorAs(t, sub.Err(), &lagged)
	assert.ErrorIs(t, sub.Err(), inmem.ErrLagged)
	assert.Equal(t, got[len(got)-1].Version, lagged.LastVersion, "the last version it was given")
	for i := 1; i < len(got); i++ {
		assert.Equal(t, got[i-1].Version+1, got[i].Version, "no change skipped before the lag")
	}
}

func TestSubscribeEndsWithItsContext(t *testing.T) {
	db := openMem(t)
	c, cancel := context.WithCancel(ctx)
	sub, err := db.Subscribe(c, inmem.Filter{})
	require.NoError(t, err)
	cancel()
	select {
	case _, ok := <-sub.C():
		assert.False(t, ok)
	case <-time.After(feedWait):
		t.Fatal("the subscription outlived its context")
	}
	assert.ErrorIs(t, sub.Err(), context.Canceled)
	_, err = db.Subscribe(nil, inmem.Filter{}) //nolint:staticcheck // a nil context is refused
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
}

// Many committers: each subscriber gets every change once, in commit order.
func TestSubscribeManyCommitters(t *testing.T) {
	db := openDir(t, t.TempDir())
	defer db.Close()
	run := newRun(t, db)
	subs := make([]*inmem.Subscription, 8)
	for i := range subs {
		var err error
		subs[i], err = db.Subscribe(ctx, inmem.Filter{Runs: []inmem.RunID{run}, Buffer: 10000})
		require.NoError(t, err)
	}
	const committers, each = 16, 50
	var wg sync.WaitGroup
	for g := range committers {
		wg.Go(func() {
			for i := range each {
				if err := db.KV().Put(ctx, run, fmt.Sprintf("%d/%d", g, i), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, sub := range subs {
		seen := map[string]bool{}
		var last uint64
		for range committers * each {
			c := next(t, sub)
			require.False(t, seen[c.Key], "%s twice", c.Key)
			require.Greater(t, c.Version, last, "commit order")
			seen[c.Key], last = true, c.Version
		}
		sub.Close()
	}
}

func TestStateWait(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	v, err := db.State().Init(ctx, run, "approval", []byte("pending"))
	require.NoError(t, err)
	cell, err := db.State().Wait(ctx, run, "approval", 0)
	require.NoError(t, err, "already past: returns at once")
	assert.Equal(t, v, cell.Version)

	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(10 * time.Millisecond)
		_, _ = db.State().Set(ctx, run, "approval/other", []byte("noise"))
		_, _ = db.State().Set(ctx, run, "approval", []byte("granted"))
	}()
	c, cancel := context.WithTimeout(ctx, feedWait)
	defer cancel()
	cell, err = db.State().Wait(c, run, "approval", v)
	require.NoError(t, err)
	assert.Equal(t, "granted", string(cell.Value))
	<-done

	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	_, err = db.State().Wait(short, run, "approval", cell.Version)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestEventsTail(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	for i := range 3 {
		_, err := db.Events().Append(ctx, run, "e", []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	go func() {
		for i := 3; i < 10; i++ {
			if _, err := db.Events().Append(ctx, run, "e", []byte(fmt.Sprint(i))); err != nil {
				return
			}
		}
	}()
	c, cancel := context.WithTimeout(ctx, feedWait)
	defer cancel()
	want := uint64(1)
	for ev, err := range db.Events().Tail(c, run, 1) {
		require.NoError(t, err)
		require.Equal(t, want, ev.Seq, "every event from 1 on, once, in order")
		require.Equal(t, fmt.Sprint(want), string(ev.Payload))
		if want++; want == 10 {
			break
		}
	}
	cancel()
	var last error
	for _, err := range db.Events().Tail(c, run, 10) {
		last = err
	}
	assert.True(t, errors.Is(last, context.Canceled) || errors.Is(last, context.DeadlineExceeded), "%v", last)
}
