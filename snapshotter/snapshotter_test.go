package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSource is an engine whose cut the test moves by hand.
type fakeSource struct {
	mu             sync.Mutex
	version, lsn   uint64
	pinned, synced int
	freezeErr      error
	pad            int // bytes of padding in the section, to vary the snapshot's size
}

func (f *fakeSource) set(version, lsn uint64) {
	f.mu.Lock()
	f.version, f.lsn = version, lsn
	f.mu.Unlock()
}

func (f *fakeSource) PinCut() (uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pinned++
	return f.version, f.lsn
}

func (f *fakeSource) Unpin(uint64) {
	f.mu.Lock()
	f.pinned--
	f.mu.Unlock()
}

func (f *fakeSource) SyncLog() error {
	f.mu.Lock()
	f.synced++
	f.mu.Unlock()
	return nil
}

func (f *fakeSource) Freeze(_ context.Context, version uint64) ([]View, error) {
	if f.freezeErr != nil {
		return nil, f.freezeErr
	}
	run := extension.RunID{1}
	f.mu.Lock()
	pad := f.pad
	f.mu.Unlock()
	view := chunkView{run: run, body: fmt.Appendf(nil, "v%d%s", version, make([]byte, pad))}
	return []View{{SectionID: 1, Shards: []extension.FrozenView{view, chunkView{}}}}, nil
}

type chunkView struct {
	run  extension.RunID
	body []byte
}

func (c chunkView) WriteSection(w io.Writer) error {
	if c.body == nil {
		return nil
	}
	return extension.WriteChunk(w, c.run, c.body)
}

type harness struct {
	fs  *vfs.CrashFS
	src *fakeSource
	s   *Snapshotter
	cfg Config
}

func start(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	h := &harness{fs: vfs.NewCrashFS(), src: &fakeSource{version: 1, lsn: 10}}
	require.NoError(t, h.fs.MkdirAll("db/wal"))
	require.NoError(t, h.fs.SyncDir("."))
	require.NoError(t, h.fs.SyncDir("db"))
	h.cfg = Config{FS: h.fs, Dir: "db/snapshots", WALDir: "db/wal", Source: h.src, Retention: 2}
	if mutate != nil {
		mutate(&h.cfg)
	}
	s, err := Start(h.cfg)
	require.NoError(t, err)
	h.s = s
	t.Cleanup(s.Stop)
	return h
}

func TestSnapshotIsDurableAndHoldsTheCut(t *testing.T) {
	h := start(t, nil)
	h.src.set(7, 1234)
	info, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(7), info.TxCount)
	assert.Equal(t, uint64(1234), info.WALOffset)
	assert.Equal(t, 1, h.src.synced, "the log is synced before the snapshot exists")
	assert.Equal(t, 0, h.src.pinned, "the cut is unpinned afterwards")

	after := h.fs.CrashKeepNothing() // only what was made durable
	hdr, sections, err := ReadFile(after, info.Path)
	require.NoError(t, err)
	assert.Equal(t, info.Header, hdr)
	require.Len(t, sections, 1)
	require.NoError(t, extension.SplitChunks(sections[0].Data, func(c *extension.Chunk) error {
		assert.Equal(t, "v7", string(c.Body))
		return nil
	}))
	list, err := List(after, "db/snapshots")
	require.NoError(t, err)
	assert.Equal(t, []Info{info}, list)
}

// A snapshot whose write fails at any step leaves no .dat behind, and no .tmp after cleanup.
func TestFailedSnapshotLeavesNothing(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSeek, vfs.OpTruncate, vfs.OpSync, vfs.OpRename} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			inject := vfs.NewInjectFS(vfs.NewCrashFS())
			require.NoError(t, inject.MkdirAll("db/wal"))
			s, err := Start(Config{FS: inject, Dir: "db/snapshots", WALDir: "db/wal",
				Source: &fakeSource{version: 3, lsn: 5}, Retention: 2})
			require.NoError(t, err)
			defer s.Stop()
			inject.FailNth(op, inject.Calls(op)+1, errors.New("disk says no"))
			_, err = s.Snapshot(context.Background())
			require.Error(t, err)
			list, err := List(inject, "db/snapshots")
			require.NoError(t, err)
			assert.Empty(t, list)
			_, err = RemoveTemporary(inject, "db/snapshots")
			require.NoError(t, err)
			names, err := inject.List("db/snapshots")
			require.NoError(t, err)
			assert.Empty(t, names)
		})
	}
}

// A crash between writing the .tmp and renaming it leaves a stray .tmp and no snapshot.
func TestCrashMidSnapshotLeavesOnlyATemporaryFile(t *testing.T) {
	inject := vfs.NewInjectFS(vfs.NewCrashFS())
	require.NoError(t, inject.MkdirAll("db/wal"))
	s, err := Start(Config{FS: inject, Dir: "db/snapshots", WALDir: "db/wal",
		Source: &fakeSource{version: 3, lsn: 5}, Retention: 2})
	require.NoError(t, err)
	defer s.Stop()
	inject.FailNth(vfs.OpRename, inject.Calls(vfs.OpRename)+1, errors.New("power cut"))
	inject.FailNth(vfs.OpRemove, inject.Calls(vfs.OpRemove)+1, errors.New("power cut"))
	_, err = s.Snapshot(context.Background())
	require.Error(t, err)
	crashed := inject.Inner().(*vfs.CrashFS).CrashKeepAll()
	names, err := crashed.List("db/snapshots")
	require.NoError(t, err)
	require.Len(t, names, 1)
	assert.Contains(t, names[0], tmpSuffix)
	list, err := List(crashed, "db/snapshots")
	require.NoError(t, err)
	assert.Empty(t, list, "a .tmp is not a snapshot")
	n, err := RemoveTemporary(crashed, "db/snapshots")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// Retention keeps the newest snapshots and retires exactly the WAL segments wholly below the
// oldest one kept, never the last segment.
func TestRetentionAndWALRetirement(t *testing.T) {
	h := start(t, nil)
	for _, base := range []uint64{0, 100, 200, 300} {
		seg, err := commitlog.CreateSegment(h.fs, "db/wal", base)
		require.NoError(t, err)
		require.NoError(t, seg.Close())
	}
	segments := func() []uint64 {
		bases, err := commitlog.ListSegments(h.fs, "db/wal")
		require.NoError(t, err)
		return bases
	}
	var taken []Info
	for i, lsn := range []uint64{50, 150, 250, 350} {
		h.src.set(uint64(i+1), lsn)
		info, err := h.s.Snapshot(context.Background())
		require.NoError(t, err)
		taken = append(taken, info)
		switch i {
		case 0, 1: // the oldest kept is at 50: segment 0 holds it
			assert.Equal(t, []uint64{0, 100, 200, 300}, segments())
		case 2: // kept: 150 and 250; segment 0 ends at 100 ≤ 150
			assert.Equal(t, []uint64{100, 200, 300}, segments())
		case 3: // kept: 250 and 350
			assert.Equal(t, []uint64{200, 300}, segments())
		}
	}
	list, err := List(h.fs, "db/snapshots")
	require.NoError(t, err)
	assert.Equal(t, []Info{taken[3], taken[2]}, list, "newest first, two kept")

	// The last segment is never retired, even below every snapshot.
	h.src.set(9, 10_000)
	_, err = h.s.Snapshot(context.Background())
	require.NoError(t, err)
	_, err = h.s.Snapshot(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []uint64{300}, segments())
}

func TestDelete(t *testing.T) {
	h := start(t, nil)
	a, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	b, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	assert.Greater(t, b.Timestamp, a.Timestamp, "names stay unique within one µs")
	require.NoError(t, h.s.Delete(context.Background(), a))
	assert.ErrorIs(t, h.s.Delete(context.Background(), a), dberr.ErrNotFound)
	// With the log intact from LSN 0 the last snapshot may go.
	seg, err := commitlog.CreateSegment(h.fs, "db/wal", 0)
	require.NoError(t, err)
	require.NoError(t, seg.Close())
	require.NoError(t, h.s.Delete(context.Background(), b))

	c, err := h.s.Snapshot(context.Background())
	require.NoError(t, err)
	require.NoError(t, h.fs.Remove(filepath.Join("db/wal", commitlog.SegmentName(0))))
	seg, err = commitlog.CreateSegment(h.fs, "db/wal", 500)
	require.NoError(t, err)
	require.NoError(t, seg.Close())
	assert.ErrorIs(t, h.s.Delete(context.Background(), c), dberr.ErrInvalidArgument,
		"the only snapshot, with the log before it retired")
}

func TestWALThresholdTriggers(t *testing.T) {
	h := start(t, func(c *Config) { c.WALThreshold = 1000 })
	h.s.Wrote(999)
	h.src.set(2, 20)
	h.s.Wrote(1)
	h.s.Check()
	require.Eventually(t, func() bool {
		list, err := List(h.fs, "db/snapshots")
		return err == nil && len(list) == 1 && list[0].TxCount == 2
	}, 10*time.Second, time.Millisecond)
}

func TestIntervalTriggersOnlyWhenSomethingChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := vfs.NewCrashFS()
		require.NoError(t, fs.MkdirAll("db/wal"))
		src := &fakeSource{version: 1, lsn: 10}
		s, err := Start(Config{FS: fs, Dir: "db/snapshots", WALDir: "db/wal", Source: src,
			Retention: 10, Interval: time.Minute})
		require.NoError(t, err)
		defer s.Stop()
		count := func() int {
			list, err := List(fs, "db/snapshots")
			require.NoError(t, err)
			return len(list)
		}
		s.Wrote(1 << 40)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Zero(t, count(), "no snapshot of its own before Check: the database is not serving yet")
		s.Check()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		assert.Equal(t, 1, count())
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, count(), "no commit since: no new snapshot")
		src.set(5, 50)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 2, count())
	})
}

func TestRequestsAfterStop(t *testing.T) {
	h := start(t, nil)
	h.s.Stop()
	_, err := h.s.Snapshot(context.Background())
	assert.ErrorIs(t, err, ErrStopped)
	h.s.Stop() // idempotent
}

func TestFreezeFailureIsReported(t *testing.T) {
	h := start(t, nil)
	h.src.freezeErr = errors.New("actors gone")
	_, err := h.s.Snapshot(context.Background())
	assert.ErrorContains(t, err, "actors gone")
	assert.Equal(t, 0, h.src.pinned)
}

// A snapshot retention lets go becomes the recycled file, and the next snapshot is written over
// it (no new file) and truncated to its own size.
func TestRetiredSnapshotIsRecycled(t *testing.T) {
	inject := vfs.NewInjectFS(vfs.NewCrashFS())
	require.NoError(t, inject.MkdirAll("db/wal"))
	require.NoError(t, inject.SyncDir("."))
	require.NoError(t, inject.SyncDir("db"))
	src := &fakeSource{version: 1, lsn: 10, pad: 64 << 10}
	s, err := Start(Config{FS: inject, Dir: "db/snapshots", WALDir: "db/wal", Source: src, Retention: 1})
	require.NoError(t, err)
	defer s.Stop()
	recycled := filepath.Join("db/snapshots", recycledName)

	big, err := s.Snapshot(context.Background())
	require.NoError(t, err)
	bigSize, err := inject.Stat(big.Path)
	require.NoError(t, err)
	src.pad = 0
	src.set(2, 20)
	_, err = s.Snapshot(context.Background())
	require.NoError(t, err)
	src.set(3, 25)
	second, err := s.Snapshot(context.Background())
	require.NoError(t, err)
	size, err := inject.Stat(recycled)
	require.NoError(t, err, "the first snapshot's file is kept for reuse")
	assert.Equal(t, bigSize, size)

	creates := inject.Calls(vfs.OpCreate)
	src.set(4, 30)
	small, err := s.Snapshot(context.Background())
	require.NoError(t, err)
	assert.Equal(t, creates, inject.Calls(vfs.OpCreate), "written over the recycled file")
	size, err = inject.Stat(small.Path)
	require.NoError(t, err)
	assert.Less(t, size, bigSize, "truncated to its own size")

	after := inject.Inner().(*vfs.CrashFS).CrashKeepNothing()
	hdr, sections, err := ReadFile(after, small.Path)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), hdr.TxCount)
	require.NoError(t, extension.SplitChunks(sections[0].Data, func(c *extension.Chunk) error {
		assert.Equal(t, "v4", string(c.Body))
		return nil
	}))
	list, err := List(after, "db/snapshots")
	require.NoError(t, err)
	assert.Equal(t, []Info{small, second}, list, "the recycled file is not a snapshot")
}

// A snapshot written over the recycled file that fails at any step leaves the snapshots as
// they were and no .tmp after cleanup, and the next snapshot succeeds.
func TestFailedSnapshotOverARecycledFile(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpStat, vfs.OpRename, vfs.OpOpenReadWrite, vfs.OpWrite,
		vfs.OpSeek, vfs.OpTruncate, vfs.OpSync} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			inject := vfs.NewInjectFS(vfs.NewCrashFS())
			require.NoError(t, inject.MkdirAll("db/wal"))
			src := &fakeSource{version: 1, lsn: 10}
			s, err := Start(Config{FS: inject, Dir: "db/snapshots", WALDir: "db/wal", Source: src, Retention: 1})
			require.NoError(t, err)
			defer s.Stop()
			for v := uint64(1); v <= 3; v++ { // two kept, one recycled
				src.set(v, 10*v)
				_, err := s.Snapshot(context.Background())
				require.NoError(t, err)
			}
			before, err := List(inject, "db/snapshots")
			require.NoError(t, err)

			inject.FailNth(op, 1, errors.New("disk says no"))
			src.set(4, 40)
			if _, err := s.Snapshot(context.Background()); op != vfs.OpStat {
				require.Error(t, err) // a failed Stat only means a new file
			}
			if op != vfs.OpStat {
				list, err := List(inject, "db/snapshots")
				require.NoError(t, err)
				assert.Equal(t, before, list)
			}
			_, err = RemoveTemporary(inject, "db/snapshots")
			require.NoError(t, err)
			names, err := inject.List("db/snapshots")
			require.NoError(t, err)
			for _, n := range names {
				assert.NotContains(t, n, tmpSuffix)
			}

			src.set(5, 50)
			info, err := s.Snapshot(context.Background())
			require.NoError(t, err)
			_, _, err = ReadFile(inject, info.Path)
			require.NoError(t, err)
		})
	}
}

// workView is a frozen view whose section takes chunks × work to write (time passes in a
// synctest bubble), calling during() before each chunk.
type workView struct {
	chunks int
	work   time.Duration
	during func()
}

func (v workView) WriteSection(w io.Writer) error {
	body := make([]byte, 1<<20) // a whole buffer, so that every chunk reaches the file
	for range v.chunks {
		v.during()
		time.Sleep(v.work)
		if err := extension.WriteChunk(w, extension.RunID{1}, body); err != nil {
			return err
		}
	}
	return nil
}

type workSource struct {
	fakeSource
	view workView
}

func (s *workSource) Freeze(context.Context, uint64) ([]View, error) {
	return []View{{SectionID: 1, Shards: []extension.FrozenView{s.view}}}, nil
}

// While the log is being written, a snapshot works at most DutyCycle of the time; while it is
// not, or with DutyCycle 1, it never pauses.
func TestSnapshotIsPacedWhileCommitsAreMade(t *testing.T) {
	const chunks, work = 20, 10 * time.Millisecond
	for _, c := range []struct {
		name       string
		duty       float64
		committing bool
		want       time.Duration
	}{
		{"half, committing", 0.5, true, 2 * chunks * work},
		{"quarter, committing", 0.25, true, 4 * chunks * work},
		{"half, idle", 0.5, false, chunks * work},
		{"unpaced, committing", 1, true, chunks * work},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := vfs.NewCrashFS()
				require.NoError(t, fs.MkdirAll("db/wal"))
				var s *Snapshotter
				src := &workSource{view: workView{chunks: chunks, work: work, during: func() {
					if c.committing {
						s.Wrote(100)
					}
				}}}
				var err error
				s, err = Start(Config{FS: fs, Dir: "db/snapshots", WALDir: "db/wal", Source: src,
					Retention: 1, DutyCycle: c.duty})
				require.NoError(t, err)
				defer s.Stop()
				start := time.Now()
				_, err = s.Snapshot(context.Background())
				require.NoError(t, err)
				took := time.Since(start)
				assert.InDelta(t, c.want, took, float64(c.want)/10, "took %v", took)
			})
		})
	}
}
