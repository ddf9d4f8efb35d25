package actors_test

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gate holds whatever passes it, once armed, until it is opened. Each holder announces itself
// on arrived, so a test knows for certain that something is held.
type gate struct {
	armed   atomic.Bool
	arrived chan struct{}
	opened  chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 16), opened: make(chan struct{})}
}

func (g *gate) pass() {
	if !g.armed.Load() {
		return
	}
	select {
	case g.arrived <- struct{}{}:
	case <-g.opened:
		return
	}
	<-g.opened
}

// open lets every holder through, for good; safe to call again.
func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

// cells is a primitive whose state is, per key, the version of its newest applied write: the
// least a primitive needs to detect write conflicts from its own state, as the built-in ones
// do. Apply passes hold first, so a test can keep a sequenced commit from being applied.
type cells struct {
	mu     sync.Mutex
	latest map[string]uint64
	hold   *gate // nil: Apply never waits
}

const cellsSection = 98

func (*cells) Name() string               { return "cells" }
func (*cells) SectionID() uint8           { return cellsSection }
func (*cells) EntryTypes() (lo, hi uint8) { return 0x90, 0x9F }
func (p *cells) NewShard(int) extension.Shard {
	return cellsShard{p}
}

// applied returns the version of the newest applied write to key; 0 if none.
func (p *cells) applied(key string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latest[key]
}

type cellsShard struct{ p *cells }

func (s cellsShard) Apply(batch []commitlog.Entry) error {
	if s.p.hold != nil {
		s.p.hold.pass()
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	for _, e := range batch {
		s.p.latest[string(e.Payload[commitlog.RunIDSize:])] = e.TxID
	}
	return nil
}
func (cellsShard) Freeze(uint64) extension.FrozenView { return nil }
func (cellsShard) LoadSection(io.Reader) error        { return nil }
func (cellsShard) DropRun(extension.RunID, uint64)    {}

// cellWrite writes key. It read key at the commit's snapshot, so it conflicts with any write to
// key after that snapshot: a sequenced one the sequencer has staged, or else the newest one the
// primitive has applied. Its Validate reports its verdict on validated (if set) from the
// sequencer's goroutine, so a test learns it even when the commit would then wait for ever.
type cellWrite struct {
	cells     *cells
	run       extension.RunID
	key       string
	validated chan error
}

func (w *cellWrite) Empty() bool { return false }
func (w *cellWrite) Validate(c extension.Commit) error {
	err := w.validate(c)
	if w.validated != nil {
		w.validated <- err
	}
	return err
}

func (w *cellWrite) validate(c extension.Commit) error {
	k := extension.Key{Section: cellsSection, Run: w.run, Name: w.key}
	latest := w.cells.applied(w.key)
	if st, ok := c.Staged(k); ok {
		latest = st.Version
	}
	if latest > c.Snapshot() {
		return &dberr.ConflictError{Primitive: "cells", Run: fmt.Sprint(w.run), Key: w.key}
	}
	c.Stage(k, extension.Staged{Version: c.Version()})
	return nil
}

func (w *cellWrite) Entries(dst []commitlog.Entry, _ extension.Commit) []commitlog.Entry {
	return append(dst, commitlog.Entry{Type: 0x90, Version: 1, Payload: append(w.run[:], w.key...)})
}

// gatedFS hands out files whose Sync passes the gate first.
type gatedFS struct {
	vfs.FS
	gate *gate
}

func (g gatedFS) Create(name string) (vfs.File, error) {
	f, err := g.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return gatedFile{f, g.gate}, nil
}

type gatedFile struct {
	vfs.File
	gate *gate
}

func (f gatedFile) Sync() error {
	f.gate.pass()
	return f.File.Sync()
}

type stagedRig struct {
	pipe  *actors.Pipeline
	clock *mvcc.Clock
	stats *actors.Stats
	cells *cells
	gate  *gate
}

// startStaged starts a one-shard pipeline over cells whose gate holds batches at seam: "log"
// holds the Strict log's fsync (the batch is sequenced, not yet durable), "apply" holds the
// shard actor's Apply (durable, not yet applied). Either way nothing held is published.
func startStaged(t *testing.T, seam string) *stagedRig {
	t.Helper()
	r := &stagedRig{clock: new(mvcc.Clock), stats: new(actors.Stats),
		cells: &cells{latest: map[string]uint64{}}, gate: newGate()}
	var reg extension.Registry
	require.NoError(t, reg.Register(r.cells))
	r.pipe = actors.StartPipeline(actors.PipelineConfig{
		Registry: &reg, Shards: 1, Clock: r.clock, Stats: r.stats, MaxBatchBytes: 1 << 20,
	})
	var log *commitlog.Writer
	switch seam {
	case "apply":
		r.cells.hold = r.gate
	case "log":
		fs := gatedFS{FS: vfs.NewCrashFS(), gate: r.gate}
		require.NoError(t, fs.MkdirAll("wal"))
		seg, err := commitlog.CreateSegment(fs, "wal", 0)
		require.NoError(t, err)
		log = commitlog.NewWriter(commitlog.WriterConfig{
			FS: fs, Dir: "wal", Segment: seg, SegmentSize: 1 << 30, Strict: true,
		})
	default:
		t.Fatalf("unknown seam %q", seam)
	}
	require.NoError(t, r.pipe.Serve(0, 0, log))
	t.Cleanup(func() {
		r.gate.open()
		_ = stop(t, r.pipe)
	})
	return r
}

// submit hands over a commit that read at snapshot and writes key.
func (r *stagedRig) submit(t *testing.T, snapshot uint64, key string, validated chan error) *actors.Commit {
	t.Helper()
	w := &cellWrite{cells: r.cells, run: run(1), key: key, validated: validated}
	c := actors.NewCommit(w.run, snapshot, w)
	require.NoError(t, r.pipe.Submit(waitCtx(t), c))
	return c
}

// A commit that read before a sequenced-but-unpublished write to the same key conflicts with
// it. The first write is held at the log's fsync or before Apply, so when the second validates
// neither the clock nor the primitive shows the first: only the sequencer's staged writes do,
// and the test does not depend on how fast the first would otherwise have been published.
func TestValidationAgainstStagedWrites(t *testing.T) {
	for _, seam := range []string{"log", "apply"} {
		t.Run(seam, func(t *testing.T) {
			r := startStaged(t, seam)
			r.gate.armed.Store(true)
			first := r.submit(t, 0, "k", nil)
			receive(t, "the first commit at the gate", r.gate.arrived)
			require.EqualValues(t, 0, r.clock.Now(), "the held commit is not published")
			require.Zero(t, r.cells.applied("k"), "the held commit is not applied")

			validated := make(chan error, 1)
			second := r.submit(t, 0, "k", validated) // read at snapshot 0, before the first
			require.ErrorIs(t, receive(t, "the second commit's validation", validated), dberr.ErrConflict,
				"validated against the published state only, not the staged write of version 1")
			require.ErrorIs(t, await(second), dberr.ErrConflict)
			assert.EqualValues(t, 1, r.stats.Conflicts.Load())

			// The same old snapshot on another key has nothing to conflict with: the refusal
			// above was about k, not about the held commit.
			other := r.submit(t, 0, "other", validated)
			require.NoError(t, receive(t, "the third commit's validation", validated))

			r.gate.open()
			require.NoError(t, await(first))
			require.NoError(t, await(other))
			assert.EqualValues(t, 2, r.clock.Now(), "first and other published; second took no version")

			// Once published, the primitive's own state answers for k, and still refuses a
			// transaction that read before version 1 while accepting one that read after it.
			require.ErrorIs(t, await(r.submit(t, 0, "k", nil)), dberr.ErrConflict)
			require.NoError(t, await(r.submit(t, 1, "k", nil)))
			assert.EqualValues(t, 3, r.clock.Now())
			require.NoError(t, stop(t, r.pipe))
		})
	}
}
