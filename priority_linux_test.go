package inmem_test

import (
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// priorityPrimitive holds nothing; its frozen views record the nice value and scheduling
// policy of the thread that writes them into a snapshot.
type priorityPrimitive struct {
	seen *atomic.Pointer[threadPriority]
}

type threadPriority struct{ nice, policy int64 }

// currentPriority is the nice value and scheduling policy (0 normal, 5 idle) of the calling
// goroutine's current thread.
func currentPriority() (threadPriority, error) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return threadPriority{}, err
	}
	policy, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	if errno != 0 {
		return threadPriority{}, errno
	}
	return threadPriority{nice: int64(20 - prio), policy: int64(policy)}, nil // getpriority answers 20 - nice
}

func (priorityPrimitive) Name() string               { return "priority" }
func (priorityPrimitive) SectionID() uint8           { return 0x91 }
func (priorityPrimitive) EntryTypes() (lo, hi uint8) { return 0x91, 0x91 }
func (p priorityPrimitive) NewShard(int) extension.Shard {
	return priorityShard(p)
}

type priorityShard priorityPrimitive

func (priorityShard) Apply([]commitlog.Entry) error        { return nil }
func (priorityShard) LoadSection(io.Reader) error          { return nil }
func (priorityShard) DropRun(extension.RunID, uint64)      {}
func (s priorityShard) Freeze(uint64) extension.FrozenView { return s }
func (s priorityShard) WriteSection(io.Writer) error {
	p, err := currentPriority()
	if err != nil {
		return err
	}
	s.seen.Store(&p)
	return nil
}

// Options.Snapshot.Priority reaches the snapshotter: by default a snapshot is written at the
// process's own priority; at SnapshotLowPriority from a thread lowered to nice 10; at
// SnapshotIdlePriority from a thread in the idle scheduling class, but Close's own snapshot
// from a thread at nice 10.
func TestSnapshotPriorityOption(t *testing.T) {
	runtime.LockOSThread() // so that currentPriority reads this goroutine's own thread
	own, err := currentPriority()
	runtime.UnlockOSThread()
	require.NoError(t, err)
	if own.nice >= 10 || own.policy != 0 {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for p, want := range map[inmem.SnapshotPriority]threadPriority{
		inmem.SnapshotNormalPriority: own,        // the default
		inmem.SnapshotLowPriority:    {nice: 10}, // snapshotter's snapshotNice
		inmem.SnapshotIdlePriority:   {nice: own.nice, policy: 5},
	} {
		var seen atomic.Pointer[threadPriority]
		o := inmem.DefaultOptions()
		o.Snapshot.Priority = p
		o.Primitives = []inmem.Primitive{priorityPrimitive{&seen}}
		db, err := inmem.Open(t.TempDir(), o)
		require.NoError(t, err)
		_, err = db.Snapshot()
		require.NoError(t, err)
		require.NotNil(t, seen.Load())
		assert.Equal(t, want, *seen.Load(), "the thread writing the snapshot at priority %d", p)

		seen.Store(nil)
		require.NoError(t, db.Close()) // takes the closing snapshot (Snapshot.OnClose)
		require.NotNil(t, seen.Load())
		if p == inmem.SnapshotIdlePriority {
			want = threadPriority{nice: 10} // Close waits for its snapshot: never idle
		}
		assert.Equal(t, want, *seen.Load(), "the thread writing Close's snapshot at priority %d", p)
	}
}
