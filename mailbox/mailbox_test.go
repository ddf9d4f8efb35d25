package mailbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewPanicsOnBadCapacity(t *testing.T) {
	for _, c := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", c)
				}
			}()
			New[int](c)
		}()
	}
}

// drainAll receives until ok=false and returns everything received.
func drainAll[T any](m *Mailbox[T], max int) []T {
	var out []T
	for {
		var ok bool
		out, ok = m.Receive(out, max)
		if !ok {
			return out
		}
	}
}

func TestFIFOSingleSender(t *testing.T) {
	const n = 20000
	m := New[int](8)
	errc := make(chan error, 1)
	go func() {
		defer m.Close()
		for i := range n {
			if err := m.Send(context.Background(), i); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := drainAll(m, 3)
	if err := <-errc; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("got[%d] = %d: FIFO order broken", i, v)
		}
	}
}

type seqMsg struct{ sender, seq int }

func TestPerSenderOrderManySenders(t *testing.T) {
	const senders, per = 32, 2000
	m := New[seqMsg](16)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				if err := m.Send(context.Background(), seqMsg{s, i}); err != nil {
					t.Errorf("sender %d: Send: %v", s, err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); m.Close() }()

	next := make([]int, senders)
	var buf []seqMsg
	for {
		var ok bool
		buf, ok = m.Receive(buf[:0], 0)
		if !ok {
			break
		}
		for _, msg := range buf {
			if msg.seq != next[msg.sender] {
				t.Fatalf("sender %d: got seq %d, want %d", msg.sender, msg.seq, next[msg.sender])
			}
			next[msg.sender]++
		}
	}
	for s, n := range next {
		if n != per {
			t.Errorf("sender %d: received %d messages, want %d", s, n, per)
		}
	}
}

func TestReceiveBatches(t *testing.T) {
	const n = 10
	m := New[int](n)
	for i := range n {
		if err := m.Send(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	got, ok := m.Receive(nil, 0)
	if !ok || !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("Receive(nil, 0) = %v, %v; want all %d in order", got, ok, n)
	}
	if m.Len() != 0 {
		t.Fatalf("Len after drain = %d", m.Len())
	}

	// max bounds the batch; buf's existing contents are kept.
	for i := range n {
		if err := m.TrySend(100 + i); err != nil {
			t.Fatal(err)
		}
	}
	buf := []int{-1}
	buf, ok = m.Receive(buf, 3)
	if !ok || !slices.Equal(buf, []int{-1, 100, 101, 102}) {
		t.Fatalf("Receive(max=3) = %v, %v", buf, ok)
	}
	buf, ok = m.Receive(buf[:0], 1)
	if !ok || !slices.Equal(buf, []int{103}) {
		t.Fatalf("Receive(max=1) = %v, %v", buf, ok)
	}
	buf, ok = m.Receive(buf[:0], -1)
	if !ok || !slices.Equal(buf, []int{104, 105, 106, 107, 108, 109}) {
		t.Fatalf("Receive(max=-1) = %v, %v", buf, ok)
	}

	// Boundary: exactly max+1 waiting must still yield max.
	for i := range 4 {
		_ = m.TrySend(200 + i)
	}
	buf, ok = m.Receive(buf[:0], 3)
	if !ok || !slices.Equal(buf, []int{200, 201, 202}) {
		t.Fatalf("Receive(max=3) with 4 waiting = %v, %v", buf, ok)
	}
	buf, ok = m.Receive(buf[:0], 3)
	if !ok || !slices.Equal(buf, []int{203}) {
		t.Fatalf("Receive(max=3) with 1 waiting = %v, %v", buf, ok)
	}
}

func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[int](2)
		ctx := context.Background()
		if err := m.Send(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := m.TrySend(3); !errors.Is(err, ErrFull) {
			t.Fatalf("TrySend on full mailbox = %v, want ErrFull", err)
		}

		done := make(chan error, 1)
		go func() { done <- m.Send(ctx, 3) }()
		synctest.Wait() // the sender is now durably blocked (or finished)
		select {
		case err := <-done:
			t.Fatalf("Send on full mailbox returned %v without blocking", err)
		default:
		}
		if m.Len() != 2 {
			t.Fatalf("Len = %d, want 2", m.Len())
		}

		got, ok := m.Receive(nil, 1)
		if !ok || !slices.Equal(got, []int{1}) {
			t.Fatalf("Receive = %v, %v", got, ok)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("unblocked Send = %v", err)
			}
		default:
			t.Fatal("Send still blocked after Receive made room")
		}
		got, ok = m.Receive(nil, 0)
		if !ok || !slices.Equal(got, []int{2, 3}) {
			t.Fatalf("Receive = %v, %v; want [2 3]", got, ok)
		}
	})
}

func TestReceiveBlocksUntilMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[string](4)
		type result struct {
			buf []string
			ok  bool
		}
		res := make(chan result, 1)
		go func() {
			buf, ok := m.Receive(nil, 0)
			res <- result{buf, ok}
		}()
		synctest.Wait()
		select {
		case r := <-res:
			t.Fatalf("Receive on empty mailbox returned %v", r)
		default:
		}
		if err := m.TrySend("hello"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case r := <-res:
			if !r.ok || !slices.Equal(r.buf, []string{"hello"}) {
				t.Fatalf("Receive = %v, %v", r.buf, r.ok)
			}
		default:
			t.Fatal("Receive still blocked after a send")
		}
	})
}

func TestCloseWakesReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[int](4)
		res := make(chan bool, 1)
		go func() {
			buf, ok := m.Receive(nil, 0)
			if len(buf) != 0 {
				t.Errorf("Receive after Close returned %v", buf)
			}
			res <- ok
		}()
		synctest.Wait()
		m.Close()
		synctest.Wait()
		select {
		case ok := <-res:
			if ok {
				t.Fatal("Receive on empty closed mailbox returned ok=true")
			}
		default:
			t.Fatal("Close did not wake the blocked Receive")
		}
	})
}

func TestSendContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[int](1)
		if err := m.TrySend(1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Send(ctx, 2) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Send returned %v before cancel", err)
		default:
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Send after cancel = %v, want context.Canceled", err)
			}
		default:
			t.Fatal("Send still blocked after cancel")
		}
		m.Close()
		if got := drainAll(m, 0); !slices.Equal(got, []int{1}) {
			t.Fatalf("delivered %v; the cancelled message must not be delivered", got)
		}
	})
}

func TestSendContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[int](1)
		if err := m.TrySend(1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := m.Send(ctx, 2)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Send waited %v, want exactly 1s (fake clock)", waited)
		}
		if m.Len() != 1 {
			t.Fatalf("Len = %d, want 1", m.Len())
		}
	})
}

func TestCloseWakesBlockedSendersAndKeepsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New[int](2)
		_ = m.TrySend(10)
		_ = m.TrySend(20)
		const blocked = 5
		errs := make(chan error, blocked)
		for i := range blocked {
			go func() { errs <- m.Send(context.Background(), 100+i) }()
		}
		synctest.Wait()
		if len(errs) != 0 {
			t.Fatalf("%d senders returned on a full mailbox", len(errs))
		}
		m.Close()
		synctest.Wait()
		if len(errs) != blocked {
			t.Fatalf("only %d of %d blocked senders woke on Close", len(errs), blocked)
		}
		for range blocked {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Fatalf("blocked Send after Close = %v, want ErrClosed", err)
			}
		}
		if got := drainAll(m, 0); !slices.Equal(got, []int{10, 20}) {
			t.Fatalf("after Close delivered %v, want [10 20]", got)
		}
	})
}

func TestCloseIdempotentAndClosedBehaviour(t *testing.T) {
	m := New[int](4)
	if m.Closed() {
		t.Fatal("Closed() true before Close")
	}
	_ = m.TrySend(7)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(m.Close)
	}
	wg.Wait()
	m.Close()
	if !m.Closed() {
		t.Fatal("Closed() false after Close")
	}
	if err := m.Send(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := m.TrySend(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrySend after Close = %v, want ErrClosed", err)
	}
	// Closed wins even over a cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Send(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send(cancelled ctx) after Close = %v, want ErrClosed", err)
	}
	buf, ok := m.Receive(nil, 0)
	if !ok || !slices.Equal(buf, []int{7}) {
		t.Fatalf("Receive after Close = %v, %v; want the message accepted before Close", buf, ok)
	}
	// Empty and closed: returns false immediately, buf untouched. (Run in a
	// synctest bubble so that blocking would fail as a deadlock, not hang.)
	synctest.Test(t, func(t *testing.T) {
		m := New[int](1)
		m.Close()
		for range 3 {
			buf := []int{42}
			got, ok := m.Receive(buf, 0)
			if ok || !slices.Equal(got, []int{42}) {
				t.Fatalf("Receive on empty closed mailbox = %v, %v", got, ok)
			}
		}
	})
}

func TestSendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := New[seqMsg](64)
	ctx := context.Background()
	buf := make([]seqMsg, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		for i := range 32 {
			_ = m.Send(ctx, seqMsg{1, i})
		}
		_ = m.TrySend(seqMsg{2, 0})
		buf, _ = m.Receive(buf[:0], 0)
		if len(buf) != 33 {
			panic("lost messages")
		}
	})
	if allocs != 0 {
		t.Fatalf("Send/TrySend/Receive allocated %.1f times per round, want 0", allocs)
	}
}
