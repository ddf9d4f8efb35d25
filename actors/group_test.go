package actors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/mailbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGroupFirstFailureWins(t *testing.T) {
	var calls atomic.Int32
	failed := make(chan struct{})
	g := actors.NewGroup(func(error) { calls.Add(1); close(failed) })
	first, second := errors.New("first"), errors.New("second")
	g.Go("a", func() error { return first })
	g.Go("b", func() error { <-failed; return second }) // fails only after a did
	g.Go("c", func() error { return nil })
	err := within(t, "Wait", g.Wait)
	require.ErrorIs(t, err, first)
	require.ErrorIs(t, g.Err(), first)
	assert.Contains(t, g.Err().Error(), "actor a")
	assert.EqualValues(t, 1, calls.Load())
}

func TestAsk(t *testing.T) {
	mb := mailbox.New[actors.Request[int, int]](4)
	g := actors.NewGroup(nil)
	g.Go("doubler", func() error {
		var reqs []actors.Request[int, int]
		for {
			var ok bool
			reqs, ok = mb.Receive(reqs[:0], 0)
			for _, r := range reqs {
				if r.Arg < 0 {
					r.Reply(0, errors.New("negative"))
					continue
				}
				r.Reply(2*r.Arg, nil)
			}
			if !ok {
				return nil
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	v, err := actors.Ask(ctx, mb, 21)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	_, err = actors.Ask(ctx, mb, -1)
	assert.EqualError(t, err, "negative")
	mb.Close()
	require.NoError(t, within(t, "Wait", g.Wait))
	_, err = actors.Ask(ctx, mb, 1)
	assert.ErrorIs(t, err, mailbox.ErrClosed)
}
