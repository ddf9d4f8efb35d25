package mailbox

import (
	"context"
	"fmt"
	"testing"
)

// startConsumer drains m in batches until it is closed; the returned channel
// is closed when it is done.
func startConsumer[T any](m *Mailbox[T], batch int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]T, 0, batch)
		for {
			var ok bool
			if buf, ok = m.Receive(buf[:0], batch); !ok {
				return
			}
		}
	}()
	return done
}

// BenchmarkSendReceive: one sender, one consumer goroutine draining in batches.
func BenchmarkSendReceive(b *testing.B) {
	m := New[int](1024)
	done := startConsumer(m, 256)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := m.Send(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	m.Close()
	<-done
}

// BenchmarkSendParallel: b.RunParallel senders (GOMAXPROCS*p goroutines), one
// consumer goroutine draining in batches.
func BenchmarkSendParallel(b *testing.B) {
	for _, p := range []int{1, 128} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			m := New[int](1024)
			done := startConsumer(m, 256)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(p)
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := m.Send(ctx, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
			m.Close()
			<-done
		})
	}
}

// BenchmarkChanBaseline is the reference cost: a bare buffered channel with
// one sender and a consumer draining in batches.
func BenchmarkChanBaseline(b *testing.B) {
	ch := make(chan int, 1024)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				for n := len(ch); n > 0; n-- {
					<-ch
				}
			case <-stop:
				return
			}
		}
	}()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ch <- i
	}
	close(stop)
	<-done
}
