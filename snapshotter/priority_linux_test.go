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

// threadNice returns the nice value of the calling goroutine's current thread, or -100 if it
// cannot be read. The raw getpriority system call answers 20 - nice.
func threadNice() int {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return -100
	}
	return 20 - prio
}

// niceSource freezes one view that records the nice value of the thread writing it.
type niceSource struct {
	*fakeSource
	seen *atomic.Int64
}

func (s niceSource) Freeze(context.Context, uint64) ([]View, error) {
	return []View{{SectionID: 1, Shards: []extension.FrozenView{niceView{s.seen}}}}, nil
}

type niceView struct{ seen *atomic.Int64 }

func (v niceView) WriteSection(w io.Writer) error {
	v.seen.Store(int64(threadNice()))
	return extension.WriteChunk(w, extension.RunID{1}, []byte("x"))
}

func TestSnapshotIsWrittenAtLowPriority(t *testing.T) {
	runtime.LockOSThread() // so that threadNice reads the thread Snapshot is called from
	defer runtime.UnlockOSThread()
	own := threadNice()
	require.NotEqual(t, -100, own)
	if own >= snapshotNice {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for _, normal := range []bool{false, true} {
		var seen atomic.Int64
		h := start(t, func(c *Config) {
			c.NormalPriority = normal
			c.Source = niceSource{&fakeSource{version: 1, lsn: 10}, &seen}
		})
		_, err := h.s.Snapshot(context.Background())
		require.NoError(t, err)
		want := snapshotNice
		if normal {
			want = own
		}
		assert.Equal(t, int64(want), seen.Load(), "nice of the writing thread, NormalPriority=%v", normal)
		assert.Equal(t, own, threadNice(), "the caller's thread keeps its priority")
	}
}

// The lowered thread ends with the write: no goroutine ever runs on it afterwards.
func TestLoweredThreadIsNotReused(t *testing.T) {
	own := func() int {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return threadNice()
	}()
	if own >= snapshotNice {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for range 20 {
		require.NoError(t, atLowPriority(func() error { return nil }))
		// Idle threads are handed to goroutines that lock one; a lowered thread returned to
		// the runtime would be found by some of these.
		for range 8 {
			nice := make(chan int)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				nice <- threadNice()
			}()
			require.Equal(t, own, <-nice)
		}
	}
}
