package run

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"sort"
	"sync"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/chunked"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Step is one journaled transaction of a run.
type Step struct {
	Version   uint64 // commit version
	Timestamp int64  // commit time, µs
	End       int    // the journal's entry count after this step: its entries end here
}

// journal is a run's history: its base — the state it began with, step number baseStep (0,
// unless the run was compacted) — and after it the run's journaled transactions, steps
// baseStep+1, baseStep+2, …, append-only. The shard's actor appends; a reader takes a view
// under mu and reads it without the lock.
type journal struct {
	mu       sync.Mutex
	baseStep int
	base     Step       // Version and Timestamp: the run's begin; End: the base's entries, first in entries
	fork     *ForkPoint // where the base was taken from, for a forked run
	steps    chunked.List[Step]
	entries  chunked.List[entry] // the base's entries, then every step's, without the step entries
	bytes    int64               // the entries' payload bytes (Metrics)
	// compacted is the journal as it was before each compaction still visible to a reader,
	// newest first: a reader older than a compaction (a snapshot being written) reads the
	// history as it was then.
	compacted *compaction
	// arena holds the payloads of journaled entries, copied in one after the other: a snapshot
	// writes every payload of every run, and reads them from a few large blocks instead of one
	// small allocation per write scattered over the heap. Payloads loaded from a snapshot stay
	// where they are (in the snapshot's buffer), which is contiguous already.
	arena arena
}

// arena is append-only payload storage in blocks that never move. The first block holds just
// the first payload and each next one doubles, up to maxArenaBlock: a run with one small write
// keeps no more than it did with one allocation per payload, and the space a run holds unused
// grows with its payloads, never ahead of them by more than one block.
type arena struct {
	block []byte // the block being filled; earlier ones are referenced by the entries only
}

const maxArenaBlock = 64 << 10

// copy returns a copy of p in the arena.
func (a *arena) copy(p []byte) []byte {
	if len(p) > maxArenaBlock/4 { // a large payload gets a block of its own
		c := make([]byte, len(p))
		copy(c, p)
		return c
	}
	if len(p) > cap(a.block)-len(a.block) {
		a.block = make([]byte, 0, min(max(2*cap(a.block), len(p)), maxArenaBlock))
	}
	n := len(a.block)
	a.block = append(a.block, p...)
	return a.block[n:len(a.block):len(a.block)]
}

// entry is a journaled commitlog.Entry: the logged fields only, a third smaller.
type entry struct {
	Type, Version uint8
	TxID          uint64
	Payload       []byte
}

func (e entry) logEntry() commitlog.Entry {
	return commitlog.Entry{Type: e.Type, Version: e.Version, TxID: e.TxID, Payload: e.Payload}
}

// add appends a step; it refuses (false) one that is not newer than the last.
func (j *journal) add(s Step, entries []commitlog.Entry) bool {
	j.mu.Lock()
	if last, ok := j.steps.Last(); (ok && last.Version >= s.Version) || s.Version < j.base.Version {
		j.mu.Unlock()
		return false
	}
	j.append(entries)
	s.End = j.entries.Len()
	j.steps.Append(s)
	j.mu.Unlock() // not deferred: this is on every run transaction's apply path
	return true
}

func (j *journal) append(entries []commitlog.Entry) {
	for _, e := range entries { // not e.Decoded: the journal keeps payloads only
		j.entries.Append(entry{Type: e.Type, Version: e.Version, TxID: e.TxID, Payload: j.arena.copy(e.Payload)})
		j.bytes += int64(len(e.Payload))
	}
}

// empty reports whether the journal holds nothing a run without one does not (an empty
// base at step 0, and no steps). Only before it is published.
func (j *journal) empty() bool {
	return j.steps.Len() == 0 && j.entries.Len() == 0 && j.baseStep == 0 && j.fork == nil
}

// setBase makes entries the run's step 0, committed with its begin; it refuses (false) if the
// journal holds anything already or version is not the begin's.
func (j *journal) setBase(version uint64, entries []commitlog.Entry, step int, fork *ForkPoint) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.steps.Len() != 0 || j.entries.Len() != 0 || version != j.base.Version {
		return false
	}
	j.append(entries)
	j.base.End, j.baseStep, j.fork = j.entries.Len(), step, fork
	return true
}

// compaction is a journal as it was before a compaction at version.
type compaction struct {
	version uint64
	before  Journal
	older   *compaction
}

// snapshot returns the journal as it is now; empty for a run without one (nil).
func (j *journal) snapshot() Journal { return j.snapshotAt(^uint64(0)) }

// snapshotAt returns the journal as a reader at version at sees it: before the compactions
// made after at.
func (j *journal) snapshotAt(at uint64) Journal {
	if j == nil {
		return Journal{}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	v := Journal{baseStep: j.baseStep, base: j.base, fork: j.fork, steps: j.steps.View(), entries: j.entries.View()}
	for c := j.compacted; c != nil && at < c.version; c = c.older {
		v = c.before
	}
	return v
}

// prune forgets the histories before compactions no reader at oldest or later can see; it
// reports whether any is left to forget later.
func (j *journal) prune(oldest uint64) (pending bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	link := &j.compacted
	for *link != nil && (*link).version > oldest {
		link = &(*link).older
	}
	*link = nil
	return j.compacted != nil
}

// counts returns the number of steps and entries committed at or before version.
func (j *journal) counts(version uint64) (steps, ops int, fork *ForkPoint) {
	if j == nil {
		return 0, 0, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if last, ok := j.steps.Last(); !ok || last.Version <= version { // the common case: nothing newer
		return j.baseStep + j.steps.Len(), j.entries.Len(), j.fork
	}
	steps, ops = Journal{baseStep: j.baseStep, base: j.base, steps: j.steps.View()}.at(version).counts()
	return steps, ops, j.fork
}

// Journal is a run's journal as one reader sees it: its base and a prefix of its steps,
// immutable.
type Journal struct {
	baseStep int
	base     Step
	fork     *ForkPoint
	steps    chunked.View[Step]
	entries  chunked.View[entry]
}

// Len returns the number of steps after the base.
func (j Journal) Len() int { return j.steps.Len() }

// First returns the number of the journal's first step, its base: 0 unless the run was
// compacted.
func (j Journal) First() int { return j.baseStep }

// Last returns the number of the journal's last step.
func (j Journal) Last() int { return j.baseStep + j.steps.Len() }

// Steps returns the steps after the base, oldest first.
func (j Journal) Steps() []Step { return j.steps.Slice(0, j.steps.Len()) }

// Step returns step number n (First() ≤ n ≤ Last()) and the index of its first entry.
func (j Journal) Step(n int) (s Step, start int) {
	if n == j.baseStep {
		return j.base, 0
	}
	i := n - j.baseStep - 1
	if i > 0 {
		start = j.steps.At(i - 1).End
	} else {
		start = j.base.End
	}
	return j.steps.At(i), start
}

// StepEntries yields the entries of step number n (First() ≤ n ≤ Last()), as Entries does.
func (j Journal) StepEntries(n int) iter.Seq[commitlog.Entry] {
	s, start := j.Step(n)
	return func(yield func(commitlog.Entry) bool) {
		for i := start; i < s.End; i++ {
			if !yield(j.entries.At(i).logEntry()) {
				return
			}
		}
	}
}

// Until returns the journal up to step number n: its base and steps First()+1 … n (all of
// them if it has fewer). Below First() it is the base alone: the caller checks.
func (j Journal) Until(n int) Journal {
	j.steps = j.steps.Prefix(max(0, min(n-j.baseStep, j.steps.Len())))
	return j
}

// at returns the steps committed at or before version.
func (j Journal) at(version uint64) Journal {
	j.steps = j.steps.Prefix(sort.Search(j.steps.Len(), func(i int) bool { return j.steps.At(i).Version > version }))
	return j
}

// Ops returns the number of entries (operations) in the journal's steps.
func (j Journal) Ops() int {
	_, ops := j.counts()
	return ops
}

// counts returns the number of the last step and the entries of the base and steps.
func (j Journal) counts() (steps, ops int) {
	last, ok := j.steps.Last()
	if !ok {
		return j.baseStep, j.base.End
	}
	return j.Last(), last.End
}

// Entries yields the entries of every step, in commit order, each stamped with its commit
// version. The payloads are the journal's own (or the loaded snapshot's): read them, never
// modify them.
func (j Journal) Entries() iter.Seq[commitlog.Entry] {
	return func(yield func(commitlog.Entry) bool) {
		for _, e := range j.entries.Prefix(j.Ops()).All() {
			if !yield(e.logEntry()) {
				return
			}
		}
	}
}

// step is the entry that journals a transaction: the run id, then the commit time.
const stepSize = commitlog.RunIDSize + 8

// JournalEntries adds the step entry to a transaction of a run; GlobalRun is not journaled.
func (s *Store) JournalEntries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	id := c.Run()
	if id == extension.GlobalRun {
		return dst
	}
	p := make([]byte, stepSize)
	copy(p, id[:])
	binary.LittleEndian.PutUint64(p[commitlog.RunIDSize:], uint64(c.Timestamp()))
	return append(dst, commitlog.Entry{Type: TypeStep, Version: 1, Payload: p})
}

// Journal returns run id's journal at snapshot; false if the run does not exist then.
func (s *Store) Journal(id extension.RunID, snapshot uint64) (Journal, bool) {
	r, ok := s.state(id, snapshot)
	if !ok {
		return Journal{}, false
	}
	rec := r.records.At(snapshot)
	if rec == nil || rec.Deleted {
		return Journal{}, false
	}
	return r.history(rec.Value, snapshot), true
}

// history returns the run's journal as a reader at snapshot sees it, rec being its record
// there: a run without a journal has an empty base at its begin.
func (r *runState) history(rec *Record, snapshot uint64) Journal {
	if j := r.journal.Load(); j != nil {
		return j.snapshotAt(snapshot).at(snapshot)
	}
	return Journal{base: Step{Version: rec.Began, Timestamp: rec.StartedAt}}
}

// journalOf returns the run's journal, making it on the run's first step. Actor only.
func (r *runState) journalOf() *journal {
	j := r.journal.Load()
	if j == nil {
		rec := r.records.Latest().Value
		j = &journal{base: Step{Version: rec.Began, Timestamp: rec.StartedAt}}
		r.journal.Store(j)
	}
	return j
}

// Counts returns the number of run id's last step at or before snapshot, how many operations
// (entries) its history holds, and where it was forked from (nil if it was not); zeros for an
// unknown run. One look at the journal: ListRuns asks it of every run it lists.
func (s *Store) Counts(id extension.RunID, snapshot uint64) (steps, ops int, fork *ForkPoint) {
	r, ok := s.state(id, snapshot)
	if !ok {
		return 0, 0, nil
	}
	return r.journal.Load().counts(snapshot)
}

// HistoryBytes returns the payload bytes every run's history holds in memory now.
func (s *Store) HistoryBytes() int64 {
	var n int64
	for _, sh := range s.shards {
		sh.runs.Range(mvcc.Latest, func(_ extension.RunID, r *runState) bool {
			if j := r.journal.Load(); j != nil {
				j.mu.Lock()
				n += j.bytes
				j.mu.Unlock()
			}
			return true
		})
	}
	return n
}

// txLen is the number of entries at the front of batch in its first entry's transaction.
func txLen(batch []commitlog.Entry) int {
	n := 1
	for n < len(batch) && batch[n].TxID == batch[0].TxID {
		n++
	}
	return n
}

// journalTx records a transaction: tx is its step entry (or base entry) followed by its other
// entries.
func (sh *shard) journalTx(tx []commitlog.Entry) error {
	p := tx[0].Payload
	if tx[0].Version != 1 || len(p) < stepSize || (len(p) != stepSize && tx[0].Type != TypeBase) || tx[0].TxID == 0 {
		return fmt.Errorf("%w: step entry: version %d, %d bytes, tx %d", ErrMalformed, tx[0].Version, len(p), tx[0].TxID)
	}
	var id extension.RunID
	copy(id[:], p)
	r := sh.runs.At(id, mvcc.Latest)
	if r == nil {
		return fmt.Errorf("%w: step of unknown run %s", ErrMalformed, id)
	}
	for _, e := range tx[1:] {
		if e.Type >= typesLow && e.Type <= typesHigh {
			return fmt.Errorf("%w: run entry %#02x inside a journaled transaction", ErrMalformed, e.Type)
		}
		if !bytes.HasPrefix(e.Payload, id[:]) {
			return fmt.Errorf("%w: entry %#02x of another run inside a step of %s", ErrMalformed, e.Type, id)
		}
	}
	if tx[0].Type == TypeBase {
		step, fork, err := decodeBase(p)
		if err != nil {
			return fmt.Errorf("%w: base entry of run %s: %w", ErrMalformed, id, err)
		}
		if !r.journalOf().setBase(tx[0].TxID, tx[1:], step, fork) {
			return fmt.Errorf("%w: the base of run %s is not its begin's first step", ErrMalformed, id)
		}
		return nil
	}
	ts := int64(binary.LittleEndian.Uint64(p[commitlog.RunIDSize:]))
	if !r.journalOf().add(Step{Version: tx[0].TxID, Timestamp: ts}, tx[1:]) {
		return fmt.Errorf("%w: step %d of run %s is not after the journal's last", ErrMalformed, tx[0].TxID, id)
	}
	return nil
}
