package actors

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
)

// Stage is a pipeline stage that takes whole batches in version order.
type Stage interface {
	// Submit hands over a batch. It may block (backpressure) but never fails: a stage that
	// cannot process a batch fails its commits through the Publisher.
	Submit(b *Batch)
	// Close is called once, after the last Submit; the stage closes its own successors.
	Close()
}

// RunGuard is the run primitive's share of every user transaction: at sequencing time it
// checks that the transaction's run accepts writes, and it adds the entry that records the
// transaction in the run's journal, from which the run is replayed.
type RunGuard interface {
	CheckRun(c extension.Commit) error
	// JournalEntries appends the entries that journal c, once c has validated; none for
	// GlobalRun, which is not journaled.
	JournalEntries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry
}

// Sequencer validates commits, assigns versions and forms batches. It is the only goroutine that
// assigns versions, so versions are dense and in the order commits are validated.
type Sequencer struct {
	in        *mailbox.Mailbox[*Commit]
	next      Stage
	publisher *Publisher
	clock     *mvcc.Clock
	guard     RunGuard
	stats     *Stats
	maxBatch  int
	failed    func() error // the engine's failure, if any

	version uint64 // last assigned
	lastTS  int64  // last commit timestamp, µs

	// staged holds the newest sequenced write to each key. An entry is meaningful only while
	// its version is above the published version: once published, the primitive itself shows
	// that write (or a newer one). Stale entries are therefore ignored on lookup and swept
	// lazily, so the commit path never pays for a delete. A key staged again replaces its
	// entry, so an entry is never older than the primitive's own state.
	staged    map[extension.Key]extension.Staged
	sweepAt   int    // sweep stale entries when staged grows past this
	published uint64 // the published version, read once per drain

	view commitView // reused for every commit: no allocation per validation

	inflight *atomic.Int64 // commits handed to the pipeline and not yet answered

	// mu is held while the sequencer's state above is in use: by Run for each drain, or by a
	// committer sequencing its own commit (Inline). closed: Run has returned.
	mu     sync.Mutex
	closed bool
}

// minSweep is the staged-table size below which stale entries are not worth sweeping.
const minSweep = 4096

// SequencerConfig wires a Sequencer.
type SequencerConfig struct {
	Mailbox       *mailbox.Mailbox[*Commit]
	Next          Stage
	Publisher     *Publisher
	Clock         *mvcc.Clock
	Guard         RunGuard
	Stats         *Stats
	MaxBatchBytes int
	Failed        func() error
	LastVersion   uint64        // the newest version already in the state (after recovery)
	Inflight      *atomic.Int64 // commits handed to the pipeline and not yet answered
}

// NewSequencer returns a sequencer; run it with Run on its own goroutine.
func NewSequencer(cfg SequencerConfig) *Sequencer {
	s := &Sequencer{
		in: cfg.Mailbox, next: cfg.Next, publisher: cfg.Publisher, clock: cfg.Clock,
		guard: cfg.Guard, stats: cfg.Stats, maxBatch: cfg.MaxBatchBytes, failed: cfg.Failed,
		version:  cfg.LastVersion,
		staged:   make(map[extension.Key]extension.Staged),
		sweepAt:  minSweep,
		inflight: cfg.Inflight,
	}
	if s.inflight == nil {
		s.inflight = new(atomic.Int64) // nothing counted: gather never waits
	}
	s.view.seq = s
	return s
}

// Run is the actor loop. It returns when the mailbox is closed and drained, after closing the
// next stage.
func (s *Sequencer) Run() error {
	defer s.next.Close()
	var msgs []*Commit
	for {
		var ok bool
		msgs, ok = s.in.Receive(msgs[:0], 0)
		s.mu.Lock()
		s.sequence(msgs, s.next.Submit)
		s.closed = !ok
		s.mu.Unlock()
		clear(msgs) // drop references to finished commits
		if !ok {
			return nil
		}
		s.gather()
	}
}

// gather yields the processor a few times before the sequencer parks, while commits are still
// in flight further down the pipeline: their committers are about to commit again, and waiting
// for them turns many batches of one into one batch of many (per-batch costs — a wake-up of
// the sequencer and of each shard actor — are then paid once). With nothing in flight there is
// nobody to wait for, and a lone committer pays nothing.
func (s *Sequencer) gather() {
	for range gatherYields {
		if n := s.in.Len(); n >= gatherEnough || s.inflight.Load() <= int64(n) {
			return
		}
		runtime.Gosched()
	}
}

// gatherYields bounds the wait for stragglers; gatherEnough is a batch big enough not to wait.
const (
	gatherYields = 4
	gatherEnough = 64
)

// Inline sequences c on the caller's goroutine, if c is the only commit in the pipeline and the
// sequencer is idle, and hands its batch (if it validates) to apply instead of the next stage;
// false if it did not, and c must be submitted. See Pipeline.Submit.
func (s *Sequencer) Inline(c *Commit, apply func(*Batch)) bool {
	if !s.mu.TryLock() {
		return false
	}
	defer s.mu.Unlock()
	if s.closed || s.in.Len() > 0 || s.inflight.Load() > 1 {
		return false
	}
	s.sequence([]*Commit{c}, apply)
	return true
}

// sequence validates msgs in order and forwards the survivors to next in batches of at most
// maxBatch bytes (a larger commit travels alone).
func (s *Sequencer) sequence(msgs []*Commit, next func(*Batch)) {
	s.published = s.clock.Now()
	s.sweep()
	// One timestamp per drain: the clock is read once, and commits sequenced together share
	// their commit time. Timestamps never go backwards.
	s.lastTS = max(s.lastTS, time.Now().UnixMicro())
	var b *Batch
	for _, c := range msgs {
		err := s.failed()
		if err == nil {
			err = s.validate(c)
		}
		if c.Pinned {
			s.clock.Unpin(c.Snapshot)
		}
		if err != nil {
			if errors.Is(err, dberr.ErrConflict) || errors.Is(err, dberr.ErrVersionMismatch) {
				s.stats.Conflicts.Add(1)
			}
			c.finish(err)
			continue
		}
		size := 0
		for _, e := range c.Entries {
			size += len(e.Payload)
		}
		if b != nil && b.Bytes+size > s.maxBatch {
			s.forward(b, next)
			b = nil
		}
		if b == nil {
			b = &Batch{First: c.Version}
			b.Commits = b.commitBuf[:0]
		}
		b.Last = c.Version
		b.Commits = append(b.Commits, c)
		b.Bytes += size
	}
	if b != nil {
		s.forward(b, next)
	}
}

// validate runs every part's validation for c; on success it assigns c its version, stages its
// writes and collects its entries.
func (s *Sequencer) validate(c *Commit) error {
	v := &s.view
	v.c, v.scratch = c, v.scratch[:0]
	c.Version = s.version + 1
	c.Timestamp = s.lastTS
	if !c.System && s.guard != nil {
		if err := s.guard.CheckRun(v); err != nil {
			return err
		}
	}
	for _, p := range c.Parts {
		if err := p.Validate(v); err != nil {
			return err
		}
	}
	s.version = c.Version
	for _, w := range v.scratch {
		s.staged[w.key] = w.staged
	}
	entries := c.Entries[:0]
	if !c.System && s.guard != nil {
		entries = s.guard.JournalEntries(entries, v)
	}
	for _, p := range c.Parts {
		entries = p.Entries(entries, v)
	}
	for i := range entries {
		entries[i].TxID = c.Version
	}
	c.Entries = entries
	return nil
}

// forward queues the batch for in-order publication and hands it to next: the next stage, or
// the inline apply of a lone commit.
func (s *Sequencer) forward(b *Batch, next func(*Batch)) {
	s.stats.Batches.Add(1)
	s.publisher.Enqueue(b)
	next(b)
}

// sweep drops stale staged entries once the table has doubled since the last sweep, so its
// size follows the number of keys in flight, not the number ever written.
func (s *Sequencer) sweep() {
	if len(s.staged) < s.sweepAt {
		return
	}
	for k, st := range s.staged {
		if st.Version <= s.published {
			delete(s.staged, k)
		}
	}
	s.sweepAt = max(minSweep, 2*len(s.staged))
}

// commitView is the extension.Commit a part sees during validation.
type commitView struct {
	seq     *Sequencer
	c       *Commit
	scratch []stagedWrite // this commit's writes, staged only if it validates
}

type stagedWrite struct {
	key    extension.Key
	staged extension.Staged
}

func (v *commitView) Run() extension.RunID { return v.c.Run }
func (v *commitView) Snapshot() uint64     { return v.c.Snapshot }
func (v *commitView) Version() uint64      { return v.c.Version }
func (v *commitView) Timestamp() int64     { return v.c.Timestamp }

func (v *commitView) Staged(k extension.Key) (extension.Staged, bool) {
	for i := len(v.scratch) - 1; i >= 0; i-- { // the commit's own earlier writes come first
		if v.scratch[i].key == k {
			return v.scratch[i].staged, true
		}
	}
	st, ok := v.seq.staged[k]
	if !ok || st.Version <= v.seq.published {
		return extension.Staged{}, false // published: the primitive answers
	}
	return st, true
}

func (v *commitView) Stage(k extension.Key, st extension.Staged) {
	v.scratch = append(v.scratch, stagedWrite{k, st})
}
