package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// toy is a primitive that records what its shards apply. A payload "fail" makes Apply fail; a
// payload "block" makes Apply signal entered and wait until the test releases it.
type toy struct {
	mu      sync.Mutex
	applied map[int][]commitlog.Entry // shard → entries in apply order
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newToy() *toy {
	return &toy{applied: map[int][]commitlog.Entry{}, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

// unblock lets every blocked Apply through; safe to call again, so that a test's cleanup can
// release what a failed test left blocked.
func (p *toy) unblock() { p.once.Do(func() { close(p.release) }) }

func (*toy) Name() string               { return "toy" }
func (*toy) SectionID() uint8           { return 99 }
func (*toy) EntryTypes() (lo, hi uint8) { return 0x80, 0x8F }
func (p *toy) NewShard(id int) extension.Shard {
	return &toyShard{p: p, id: id}
}

func (p *toy) entries(shard int) []commitlog.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]commitlog.Entry(nil), p.applied[shard]...)
}

type toyShard struct {
	p  *toy
	id int
}

func (s *toyShard) Apply(batch []commitlog.Entry) error {
	for _, e := range batch {
		switch string(e.Payload[commitlog.RunIDSize:]) {
		case "fail":
			return errors.New("toy: cannot apply")
		case "block":
			s.p.entered <- struct{}{}
			<-s.p.release
		}
		s.p.mu.Lock()
		s.p.applied[s.id] = append(s.p.applied[s.id], e)
		s.p.mu.Unlock()
	}
	return nil
}
func (s *toyShard) Freeze(uint64) extension.FrozenView { return nil }
func (s *toyShard) LoadSection(io.Reader) error        { return nil }
func (s *toyShard) DropRun(extension.RunID, uint64)    {}

// part writes one toy entry; it conflicts if key was written after its snapshot, and can be
// told to fail validation.
type part struct {
	run     extension.RunID
	key     string
	payload string
	invalid error
	seen    *extension.Staged // what Validate found staged for key, if asked
}

func (p *part) Empty() bool { return false }
func (p *part) Validate(c extension.Commit) error {
	if p.invalid != nil {
		return p.invalid
	}
	k := extension.Key{Section: 99, Run: p.run, Name: p.key}
	if st, ok := c.Staged(k); ok {
		if p.seen != nil {
			*p.seen = st
		}
		if st.Version > c.Snapshot() {
			return fmt.Errorf("conflict on %s", p.key)
		}
	}
	c.Stage(k, extension.Staged{Version: c.Version()})
	return nil
}
func (p *part) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	payload := append(p.run[:], p.payload...)
	return append(dst, commitlog.Entry{Type: 0x80, Version: 1, Payload: payload})
}

type rig struct {
	pipe  *actors.Pipeline
	clock *mvcc.Clock
	stats *actors.Stats
	toy   *toy
}

// start starts a pipeline that hands every commit over (Submit returns at once).
func start(t *testing.T, shards int) *rig { return startWith(t, shards, false) }

// startWith starts a pipeline; inline lets a lone commit run on its committer's goroutine.
func startWith(t *testing.T, shards int, inline bool) *rig {
	t.Helper()
	r := &rig{clock: new(mvcc.Clock), stats: new(actors.Stats), toy: newToy()}
	var reg extension.Registry
	require.NoError(t, reg.Register(r.toy))
	r.pipe = actors.StartPipeline(actors.PipelineConfig{
		Registry: &reg, Shards: shards, Clock: r.clock, Stats: r.stats, MaxBatchBytes: 1 << 20,
		InlineLoneCommits: inline,
	})
	require.NoError(t, r.pipe.Serve(0, 0, nil))
	// A test that fails half-way leaves commits blocked and actors running: release and stop
	// them, so that the failure is reported rather than hidden behind a hang or a leak.
	t.Cleanup(func() {
		r.toy.unblock()
		_ = stop(t, r.pipe)
	})
	return r
}

// waitLimit bounds every wait of these tests, so that a commit that is never answered fails
// the test instead of hanging it.
const waitLimit = 20 * time.Second

// waitCtx returns a context that ends waitLimit from now, or with the test.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// await waits for c's outcome, at most waitLimit.
func await(c *actors.Commit) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return c.Await(ctx)
}

// within runs f and returns its result, failing the test if f has not returned within
// waitLimit (f's goroutine is then left behind, and goleak reports it too).
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("%s did not return within %v", what, waitLimit)
		return nil
	}
}

// stop stops the pipeline, at most waitLimit.
func stop(t *testing.T, p *actors.Pipeline) error {
	t.Helper()
	return within(t, "Stop", p.Stop)
}

// receive receives from ch, at most waitLimit.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %v", what, waitLimit)
		var zero T
		return zero
	}
}

func (r *rig) commit(ctx context.Context, p *part) (*actors.Commit, error) {
	c := actors.NewCommit(p.run, 0, p)
	if err := r.pipe.Submit(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *rig) commitWait(p *part) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := r.commit(ctx, p)
	if err != nil {
		return err
	}
	return c.Await(ctx)
}

func run(i int) extension.RunID { return extension.RunID{byte(i), byte(i >> 8), 1} }

// Versions are dense, every shard applies in version order, and the clock ends at the last one.
func TestPipelineVersionsDenseAndOrdered(t *testing.T) {
	bothModes(t, testVersionsDenseAndOrdered)
}

// bothModes runs test with commits always handed over, and with lone commits inline.
func bothModes(t *testing.T, test func(t *testing.T, inline bool)) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) { test(t, inline) })
	}
}

func testVersionsDenseAndOrdered(t *testing.T, inline bool) {
	r := startWith(t, 3, inline)
	const goroutines, each = 16, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := r.commitWait(&part{run: run(g), key: fmt.Sprint(g, "/", i), payload: "x"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, stop(t, r.pipe))
	assert.EqualValues(t, goroutines*each, r.clock.Now())
	assert.EqualValues(t, goroutines*each, r.stats.Commits.Load())
	seen := map[uint64]bool{}
	for shard := range 3 {
		var last uint64
		for _, e := range r.toy.entries(shard) {
			assert.Greater(t, e.TxID, last, "shard %d applied out of order", shard)
			last = e.TxID
			assert.False(t, seen[e.TxID])
			seen[e.TxID] = true
		}
	}
	assert.Len(t, seen, goroutines*each)
	for v := uint64(1); v <= goroutines*each; v++ {
		assert.True(t, seen[v], "version %d missing", v)
	}
	assert.LessOrEqual(t, r.stats.Batches.Load(), uint64(goroutines*each))
}

func TestValidationFailureConsumesNoVersion(t *testing.T) {
	bothModes(t, testValidationFailureConsumesNoVersion)
}

func testValidationFailureConsumesNoVersion(t *testing.T, inline bool) {
	r := startWith(t, 1, inline)
	defer func() { require.NoError(t, stop(t, r.pipe)) }()
	require.NoError(t, r.commitWait(&part{run: run(1), key: "a", payload: "x"}))
	bad := errors.New("invalid")
	require.ErrorIs(t, r.commitWait(&part{run: run(1), key: "b", payload: "x", invalid: bad}), bad)
	require.NoError(t, r.commitWait(&part{run: run(1), key: "c", payload: "x"}))
	es := r.toy.entries(0)
	require.Len(t, es, 2)
	assert.EqualValues(t, 1, es[0].TxID)
	assert.EqualValues(t, 2, es[1].TxID, "the failed commit consumed no version")
}

// A commit validates against writes that are sequenced but not yet applied or published.
func TestValidationSeesStagedWrites(t *testing.T) {
	r := start(t, 1)
	first, err := r.commit(waitCtx(t), &part{run: run(1), key: "k", payload: "block"})
	require.NoError(t, err)
	var seen extension.Staged
	second := &part{run: run(1), key: "k", payload: "x", seen: &seen}
	err = r.commitWait(second) // snapshot 0; the first commit (version 1) is staged, unpublished
	require.ErrorContains(t, err, "conflict on k")
	assert.EqualValues(t, 1, seen.Version)
	assert.EqualValues(t, 0, r.clock.Now(), "the first commit is still blocked in apply")
	r.toy.unblock()
	require.NoError(t, await(first))
	assert.EqualValues(t, 1, r.clock.Now())
	require.NoError(t, stop(t, r.pipe))
}

// An Apply failure stops the engine: the failing commit and every later one fail, the batch is
// never published, and Stop reports the cause.
func TestApplyFailureStopsEngine(t *testing.T) { bothModes(t, testApplyFailureStopsEngine) }

func testApplyFailureStopsEngine(t *testing.T, inline bool) {
	r := startWith(t, 2, inline)
	require.NoError(t, r.commitWait(&part{run: run(1), key: "a", payload: "x"}))
	err := r.commitWait(&part{run: run(1), key: "b", payload: "fail"})
	require.ErrorContains(t, err, "cannot apply")
	assert.Error(t, r.pipe.Err())
	err = r.commitWait(&part{run: run(2), key: "c", payload: "x"})
	require.Error(t, err, "the engine accepts no commit after a failure")
	assert.EqualValues(t, 1, r.clock.Now(), "nothing after the failure was published")
	require.ErrorContains(t, stop(t, r.pipe), "cannot apply")
}

// Stop drains: every commit accepted before Stop completes; later ones are refused.
func TestStopDrainsAcceptedCommits(t *testing.T) {
	r := start(t, 2)
	var commits []*actors.Commit
	for i := range 200 {
		c, err := r.commit(waitCtx(t), &part{run: run(i), key: fmt.Sprint(i), payload: "x"})
		require.NoError(t, err)
		commits = append(commits, c)
	}
	require.NoError(t, stop(t, r.pipe))
	for _, c := range commits {
		require.NoError(t, await(c))
	}
	assert.EqualValues(t, 200, r.clock.Now())
	_, err := r.commit(waitCtx(t), &part{run: run(1), key: "late", payload: "x"})
	assert.ErrorIs(t, err, mailbox.ErrClosed)
}

func TestAwaitContextCancelled(t *testing.T) {
	r := start(t, 1)
	c, err := r.commit(waitCtx(t), &part{run: run(1), key: "k", payload: "block"})
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Await(cctx), context.Canceled)
	r.toy.unblock()
	require.NoError(t, stop(t, r.pipe))
	assert.EqualValues(t, 1, r.clock.Now(), "a commit whose waiter gave up still lands")
}

// Recovery feeds transactions straight to the shard actors; Serve waits until all of them are
// published, whatever their count (a multiple of the recovery batch size included).
func TestRecoverThenServe(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 512, 700} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := &rig{clock: new(mvcc.Clock), stats: new(actors.Stats), toy: newToy()}
			var reg extension.Registry
			require.NoError(t, reg.Register(r.toy))
			r.pipe = actors.StartPipeline(actors.PipelineConfig{
				Registry: &reg, Shards: 2, Clock: r.clock, Stats: r.stats, MaxBatchBytes: 1 << 20,
			})
			for v := 1; v <= n; v++ {
				p := &part{run: run(v), payload: "x"}
				require.NoError(t, r.pipe.Recover(uint64(v), p.run, p.Entries(nil, nil)))
			}
			require.NoError(t, within(t, "Serve", func() error { return r.pipe.Serve(uint64(n), 0, nil) }))
			assert.EqualValues(t, n, r.clock.Now())
			assert.Len(t, append(r.toy.entries(0), r.toy.entries(1)...), n)
			require.NoError(t, r.commitWait(&part{run: run(1), key: "after", payload: "x"}))
			assert.EqualValues(t, n+1, r.clock.Now(), "the sequencer continues after the recovered versions")
			require.NoError(t, stop(t, r.pipe))
		})
	}
}

func TestRecoverApplyFailure(t *testing.T) {
	r := &rig{clock: new(mvcc.Clock), stats: new(actors.Stats), toy: newToy()}
	var reg extension.Registry
	require.NoError(t, reg.Register(r.toy))
	r.pipe = actors.StartPipeline(actors.PipelineConfig{
		Registry: &reg, Shards: 1, Clock: r.clock, Stats: r.stats, MaxBatchBytes: 1 << 20,
	})
	p := &part{run: run(1), payload: "fail"}
	require.NoError(t, r.pipe.Recover(1, p.run, p.Entries(nil, nil)))
	require.ErrorContains(t, within(t, "Serve", func() error { return r.pipe.Serve(1, 0, nil) }), "cannot apply")
	require.Error(t, stop(t, r.pipe))
}

// A lone commit is sequenced, applied and published before Submit returns; a commit submitted
// while another is in flight takes the pipeline and gets the next version.
func TestLoneCommitRunsInline(t *testing.T) {
	r := startWith(t, 1, true)
	c, err := r.commit(waitCtx(t), &part{run: run(1), key: "a", payload: "x"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, r.clock.Now(), "published when Submit returned")
	require.Len(t, r.toy.entries(0), 1)
	require.NoError(t, await(c))

	blocked := make(chan error, 1)
	go func() { blocked <- r.commitWait(&part{run: run(1), key: "b", payload: "block"}) }()
	receive(t, "Apply of the lone commit", r.toy.entered) // on its committer's goroutine
	second, err := r.commit(waitCtx(t), &part{run: run(2), key: "c", payload: "x"})
	require.NoError(t, err, "Submit returns: the commit was handed over, not run inline")
	assert.EqualValues(t, 1, r.clock.Now())
	r.toy.unblock()
	require.NoError(t, receive(t, "outcome of the lone commit", blocked))
	require.NoError(t, await(second))
	es := r.toy.entries(0)
	require.Len(t, es, 3)
	for i, e := range es {
		assert.EqualValues(t, i+1, e.TxID, "versions in apply order")
	}
	require.NoError(t, stop(t, r.pipe))
	_, err = r.commit(waitCtx(t), &part{run: run(1), key: "late", payload: "x"})
	assert.ErrorIs(t, err, mailbox.ErrClosed, "nothing runs inline after Stop")
}
