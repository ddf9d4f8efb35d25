// Package mailbox provides the inbox of every actor goroutine in the engine
// (sequencer, commit-log actor, shard actors): a bounded, multi-producer,
// single-consumer queue with batch drain, backpressure and close.
//
// Messages travel through a buffered Go channel, so the fast path costs one
// channel send plus an uncontended-in-practice read lock, and nothing is
// allocated per message.
//
// # Close semantics: nothing accepted is ever dropped
//
// A nil error from Send or TrySend is a promise that the consumer will see the
// message. Close keeps that promise with three steps:
//
//  1. It sets the closed flag and closes the closing channel. New senders see
//     the flag and return ErrClosed; senders blocked on a full mailbox wake
//     on closing and return ErrClosed.
//  2. It takes the write lock. Every sender holds the read lock from its
//     closed check until its enqueue attempt has finished, so acquiring the
//     write lock waits out every sender that might still put a message into
//     the channel (including one whose select picked the send case at the
//     same instant closing was closed). Any sender that takes the read lock
//     afterwards sees the flag and does not enqueue.
//  3. It closes the message channel. No sender can reach a send on it any more
//     (step 2), so this cannot panic a sender; what the channel holds is exactly
//     the set of accepted, undelivered messages, which the consumer still
//     receives before the channel reports closed and Receive returns ok=false.
//
// Closing the message channel itself, rather than signalling on a second one,
// keeps the consumer's wait a plain channel receive: no select on the hot path.
package mailbox

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

var (
	// ErrClosed is returned by Send and TrySend once Close has been called.
	ErrClosed = errors.New("mailbox: closed")
	// ErrFull is returned by TrySend when the mailbox holds capacity messages.
	ErrFull = errors.New("mailbox: full")
)

// Mailbox is a bounded MPSC queue. Any number of goroutines may Send, TrySend,
// Close, Len and Closed concurrently; only one goroutine may Receive.
type Mailbox[T any] struct {
	// ch carries the messages. Closed only by Close, after the last sender is
	// out (see package doc).
	ch chan T

	// mu: senders hold RLock across "check closed + enqueue attempt"; Close
	// takes Lock once to wait out those in-flight senders before sealing.
	mu sync.RWMutex
	// closed is set (before closing is closed) by the first Close. It is
	// atomic so Closed can read it without the lock; senders read it under
	// RLock, which is what makes the Lock in Close a barrier.
	closed atomic.Bool
	// closing is closed by Close to wake senders blocked on a full ch.
	closing chan struct{}

	closeOnce sync.Once
}

// New returns a mailbox holding at most capacity messages. It panics if
// capacity < 1: an unbuffered or negative-size mailbox is a programmer error.
func New[T any](capacity int) *Mailbox[T] {
	if capacity < 1 {
		panic("mailbox: capacity must be >= 1")
	}
	return &Mailbox[T]{
		ch:      make(chan T, capacity),
		closing: make(chan struct{}),
	}
}

// Send enqueues msg, blocking while the mailbox is full (backpressure). It
// returns ErrClosed if the mailbox is closed before or while waiting, and
// ctx.Err() if ctx ends while waiting. A nil error means the message will be
// delivered to the consumer, even if Close is called right after.
//
// Like golang.org/x/sync/semaphore.Acquire, a Send that needs no waiting may
// succeed even if ctx is already done: ctx only bounds the wait.
func (m *Mailbox[T]) Send(ctx context.Context, msg T) error {
	m.mu.RLock()
	defer m.mu.RUnlock() // held for the whole enqueue attempt: see Close.
	if m.closed.Load() {
		return ErrClosed
	}
	// Fast path: room available, no need to touch ctx or closing.
	select {
	case m.ch <- msg:
		return nil
	default:
	}
	// Slow path: wait for room. If Close runs now and select still picks the
	// send case, that is fine: Close cannot seal until we release RLock, so
	// the consumer will drain this message.
	select {
	case m.ch <- msg:
		return nil
	case <-m.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TrySend enqueues msg without blocking. It returns ErrClosed if the mailbox
// is closed and ErrFull if it holds capacity messages.
func (m *Mailbox[T]) TrySend(msg T) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return ErrClosed
	}
	select {
	case m.ch <- msg:
		return nil
	default:
		return ErrFull
	}
}

// Receive blocks until at least one message is waiting, then appends the
// waiting messages to buf — at most max of them, or all that are waiting now
// if max <= 0 — and returns it with ok=true. After Close it keeps returning
// the messages accepted before Close; once they are all delivered it returns
// (buf, false) without blocking. Only one goroutine may call Receive.
func (m *Mailbox[T]) Receive(buf []T, max int) ([]T, bool) {
	first, ok := <-m.ch
	if !ok {
		return buf, false // closed and drained
	}
	buf = append(buf, first)

	// Batch: take what is waiting now. Because this goroutine is the only
	// receiver, len(ch) can only grow under us, so n plain receives never
	// block — cheaper than a select-with-default per message. Bounding by the
	// snapshot also keeps the consumer from being held here forever by fast
	// senders.
	n := len(m.ch)
	if max > 0 && n > max-1 {
		n = max - 1
	}
	if n > 0 {
		if free := cap(buf) - len(buf); free < n {
			grown := make([]T, len(buf), len(buf)+n)
			copy(grown, buf)
			buf = grown
		}
		for range n {
			msg, ok := <-m.ch
			if !ok {
				break // closed meanwhile and now drained: the next call says so
			}
			buf = append(buf, msg)
		}
	}
	return buf, true
}

// Close stops accepting messages. It is idempotent and safe to call from any
// goroutine, concurrently with Send. Senders blocked in Send return ErrClosed.
// Nothing already accepted is dropped: Receive delivers it all before
// reporting ok=false. When Close returns, every later Send returns ErrClosed.
func (m *Mailbox[T]) Close() {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.closing)
		// Barrier: wait for every sender that passed the closed check to
		// finish its enqueue attempt. Senders arriving later see closed.
		m.mu.Lock()
		m.mu.Unlock() //nolint:staticcheck // empty critical section is the point
		close(m.ch)
	})
}

// Len reports the number of waiting messages (approximate under concurrency).
func (m *Mailbox[T]) Len() int { return len(m.ch) }

// Closed reports whether Close has been called.
func (m *Mailbox[T]) Closed() bool { return m.closed.Load() }
