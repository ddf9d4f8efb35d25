package snapshotter

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// threadPriority is the calling goroutine's current thread's nice value and scheduling policy
// (0 normal, schedIdle idle), or nice -100 if they cannot be read.
type threadPriority struct{ nice, policy int }

func currentPriority() threadPriority {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	policy, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	if err != nil || errno != 0 {
		return threadPriority{nice: -100}
	}
	return threadPriority{nice: 20 - prio, policy: int(policy)} // getpriority answers 20 - nice
}

// ownPriority is the priority of a thread the runtime hands to a goroutine that locks one.
func ownPriority() threadPriority {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return currentPriority()
}

// prioritySource freezes one view that records the priority of the thread writing it.
type prioritySource struct {
	*fakeSource
	seen *atomic.Pointer[threadPriority]
}

func (s prioritySource) Freeze(context.Context, uint64) ([]View, error) {
	return []View{{SectionID: 1, Shards: []extension.FrozenView{priorityView{s.seen}}}}, nil
}

type priorityView struct {
	seen *atomic.Pointer[threadPriority]
}

func (v priorityView) WriteSection(w io.Writer) error {
	p := currentPriority()
	v.seen.Store(&p)
	return extension.WriteChunk(w, extension.RunID{1}, []byte("x"))
}

func TestSnapshotIsWrittenAtItsPriority(t *testing.T) {
	runtime.LockOSThread() // so that currentPriority reads the thread Snapshot is called from
	defer runtime.UnlockOSThread()
	own := currentPriority()
	require.NotEqual(t, -100, own.nice)
	if own.nice >= snapshotNice || own.policy != 0 {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for p, want := range map[Priority]threadPriority{
		Lowered: {nice: snapshotNice},
		Normal:  own,
		Idle:    {nice: own.nice, policy: schedIdle},
	} {
		var seen atomic.Pointer[threadPriority]
		h := start(t, func(c *Config) {
			c.Priority = p
			c.Source = prioritySource{&fakeSource{version: 1, lsn: 10}, &seen}
		})
		_, err := h.s.Snapshot(context.Background())
		require.NoError(t, err)
		require.NotNil(t, seen.Load())
		assert.Equal(t, want, *seen.Load(), "the writing thread at %v", p)
		assert.Equal(t, own, currentPriority(), "the caller's thread keeps its priority")

		seen.Store(nil)
		_, err = h.s.Closing(context.Background())
		require.NoError(t, err)
		require.NotNil(t, seen.Load())
		if p == Idle {
			want = threadPriority{nice: snapshotNice} // Close waits for it: never idle
		}
		assert.Equal(t, want, *seen.Load(), "the closing snapshot's thread at %v", p)
	}
}

// A lowered thread ends with the write: no goroutine ever runs on it afterwards.
func TestLoweredThreadIsNotReused(t *testing.T) {
	own := ownPriority()
	if own.nice >= snapshotNice || own.policy != 0 {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for _, p := range []Priority{Lowered, Idle} {
		for range 20 {
			require.NoError(t, atPriority(p, func() error { return nil }))
			// Idle threads are handed to goroutines that lock one; a lowered thread returned
			// to the runtime would be found by some of these.
			for range 8 {
				got := make(chan threadPriority)
				go func() { got <- ownPriority() }()
				require.Equal(t, own, <-got, "after a write at %v", p)
			}
		}
	}
}
