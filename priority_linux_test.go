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

// nicePrimitive holds nothing; its frozen views record the nice value of the thread that
// writes them into a snapshot.
type nicePrimitive struct{ seen *atomic.Int64 }

func (nicePrimitive) Name() string               { return "nice" }
func (nicePrimitive) SectionID() uint8           { return 0x91 }
func (nicePrimitive) EntryTypes() (lo, hi uint8) { return 0x91, 0x91 }
func (p nicePrimitive) NewShard(int) extension.Shard {
	return niceShard(p)
}

type niceShard nicePrimitive

func (niceShard) Apply([]commitlog.Entry) error        { return nil }
func (niceShard) LoadSection(io.Reader) error          { return nil }
func (s niceShard) Freeze(uint64) extension.FrozenView { return s }
func (s niceShard) WriteSection(io.Writer) error {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return err
	}
	s.seen.Store(int64(20 - prio)) // the raw system call answers 20 - nice
	return nil
}

// Options.Snapshot.NormalPriority reaches the snapshotter: by default a snapshot is written
// from a thread lowered to nice 10, with the option at the process's own priority.
func TestSnapshotPriorityOption(t *testing.T) {
	runtime.LockOSThread() // so that Getpriority reads this goroutine's own thread
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	runtime.UnlockOSThread()
	require.NoError(t, err)
	own := int64(20 - prio)
	if own >= 10 {
		t.Skip("the test already runs at or below the snapshot's priority")
	}
	for _, normal := range []bool{false, true} {
		var seen atomic.Int64
		seen.Store(-100)
		o := inmem.DefaultOptions()
		o.Snapshot.NormalPriority = normal
		o.Primitives = []inmem.Primitive{nicePrimitive{&seen}}
		db, err := inmem.Open(t.TempDir(), o)
		require.NoError(t, err)
		_, err = db.Snapshot()
		require.NoError(t, err)
		require.NoError(t, db.Close())
		want := int64(10) // by default (snapshotter's snapshotNice)
		if normal {
			want = own
		}
		assert.Equal(t, want, seen.Load(), "nice of the thread writing the snapshot, NormalPriority=%v", normal)
	}
}
