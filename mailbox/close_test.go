package mailbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCloseUnderLoad closes the mailbox while 64 senders are sending as fast
// as they can (half with Send, half spinning on TrySend), and checks the close
// contract: every message whose send returned nil is delivered exactly once
// and in per-sender order, every send that starts after Close returned gets
// ErrClosed, and Receive reports ok=false once drained. Small capacities keep
// most senders blocked in Send, exercising the "select picks the send case
// while Close runs" race.
func TestCloseUnderLoad(t *testing.T) {
	for _, capacity := range []int{1, 8, 256} {
		t.Run(fmt.Sprintf("cap=%d", capacity), func(t *testing.T) {
			for range 5 {
				closeUnderLoad(t, capacity)
			}
		})
	}
}

func closeUnderLoad(t *testing.T, capacity int) {
	const (
		senders   = 64
		threshold = 5000 // messages received before Close is called
	)
	ctx := context.Background()
	m := New[seqMsg](capacity)
	var closeReturned atomic.Bool
	sent := make([]int, senders) // sent[s] written only by sender s

	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				startedAfterClose := closeReturned.Load()
				msg := seqMsg{s, seq}
				var err error
				if s%2 == 0 {
					err = m.Send(ctx, msg)
				} else {
					for err = m.TrySend(msg); errors.Is(err, ErrFull); err = m.TrySend(msg) {
						runtime.Gosched()
					}
				}
				switch {
				case err == nil:
					if startedAfterClose {
						t.Errorf("sender %d: send started after Close returned nil", s)
					}
					sent[s]++
				case errors.Is(err, ErrClosed):
					if err := m.Send(ctx, msg); !errors.Is(err, ErrClosed) {
						t.Errorf("sender %d: Send after ErrClosed = %v", s, err)
					}
					return
				default:
					t.Errorf("sender %d: unexpected error %v", s, err)
					return
				}
			}
		})
	}

	received := make([]int, senders)
	startClose := make(chan struct{})
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		var buf []seqMsg
		total, reported := 0, false // total counts deliveries; Close waits for threshold
		for {
			var ok bool
			buf, ok = m.Receive(buf[:0], 0)
			if !ok {
				return
			}
			for _, msg := range buf {
				if msg.seq != received[msg.sender] && !reported {
					reported = true
					t.Errorf("sender %d: received seq %d, want %d (lost, duplicated or reordered)",
						msg.sender, msg.seq, received[msg.sender])
				}
				received[msg.sender]++
				total++
				if total == threshold {
					close(startClose)
				}
			}
		}
	}()

	<-startClose
	m.Close()
	closeReturned.Store(true)
	if err := m.Send(ctx, seqMsg{-1, 0}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := m.TrySend(seqMsg{-1, 0}); !errors.Is(err, ErrClosed) {
		t.Errorf("TrySend after Close = %v, want ErrClosed", err)
	}
	wg.Wait()
	<-consumerDone

	if buf, ok := m.Receive(nil, 0); ok || len(buf) != 0 {
		t.Errorf("Receive after full drain = %v, %v; want ok=false", buf, ok)
	}
	totalSent := 0
	for s := range senders {
		totalSent += sent[s]
		if sent[s] != received[s] {
			t.Errorf("sender %d: %d sends returned nil, %d delivered", s, sent[s], received[s])
		}
	}
	if totalSent < threshold {
		t.Errorf("only %d messages sent; Close happened before the load built up", totalSent)
	}
}
