package actors

import (
	"context"

	"github.com/inmemdb/inmem/mailbox"
)

// Request is a message that wants an answer: the actor computes the reply and sends it back on
// the request's own channel, so a caller waits for exactly its answer.
type Request[Q, R any] struct {
	Arg   Q
	reply chan reply[R]
}

type reply[R any] struct {
	val R
	err error
}

// Reply answers the request. Call it exactly once.
func (r Request[Q, R]) Reply(v R, err error) { r.reply <- reply[R]{v, err} }

// Ask sends q to an actor's mailbox and waits for the answer. It returns ctx.Err() if ctx ends
// first (the actor may still act on the request) and mailbox.ErrClosed if the actor is stopped.
func Ask[Q, R any](ctx context.Context, mb *mailbox.Mailbox[Request[Q, R]], q Q) (R, error) {
	req := Request[Q, R]{Arg: q, reply: make(chan reply[R], 1)} // buffered: a late reply never blocks the actor
	var zero R
	if err := mb.Send(ctx, req); err != nil {
		return zero, err
	}
	select {
	case r := <-req.reply:
		return r.val, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
