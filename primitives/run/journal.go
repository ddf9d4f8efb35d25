package run

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"sort"
	"sync"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/chunked"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Step is one journaled transaction of a run, as the journal indexes it: 32 bytes, whatever
// its payloads. Its entries are in the log (Len > 0: the bytes [At, At+Len) of the log hold
// the transaction, read back through the journal's Source) or in memory (Len 0: At indexes
// the first of them in the journal's entries; without a log, or loaded from a snapshot that
// carried payloads).
type Step struct {
	Version   uint64 // commit version
	Timestamp int64  // commit time, µs
	At        uint64 // where its entries are: an LSN (Len > 0) or an index in entries
	Len       uint32 // its bytes in the log; 0: its entries are in memory
	End       uint32 // the operations of the base and every step up to this one
}

// logged reports whether the step's entries are in the log rather than in memory.
func (s Step) logged() bool { return s.Len > 0 }

// Source reads logged steps back: the log, by LSN (*commitlog.Fetcher).
type Source interface {
	Fetch(lsn uint64, n int) ([]commitlog.Entry, error)
}

// journal is a run's history: its base — the state it began with, step number baseStep (0,
// unless the run was compacted) — and after it the run's journaled transactions, steps
// baseStep+1, baseStep+2, …, append-only. The shard's actor appends; a reader takes a view
// under mu and reads it without the lock.
//
// With a log, a step costs its index entry (Step) and nothing more: its payloads are read
// back from the log (see Source). Without one the journal keeps them, in entries.
type journal struct {
	mu       sync.Mutex
	baseStep int
	base     Step       // Version and Timestamp: the run's begin; End: the base's operations
	fork     *ForkPoint // where the base was taken from, for a forked run
	steps    chunked.List[Step]
	entries  chunked.List[entry] // the in-memory steps' entries (the base's first, if it is one)
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

// add appends a step of ops operations, entries; it refuses (false) one that is not newer
// than the last. A logged step (s.Len > 0) is only indexed: its entries are in the log.
func (j *journal) add(s Step, entries []commitlog.Entry) bool {
	j.mu.Lock()
	ok := j.newer(s.Version)
	if ok {
		if !s.logged() {
			s.At = uint64(j.entries.Len())
			j.append(entries)
		}
		j.push(s, len(entries))
	}
	j.mu.Unlock() // not deferred: this is on every run transaction's apply path
	return ok
}

// newer reports whether a step at version may follow the journal's last. Under mu.
func (j *journal) newer(version uint64) bool {
	last, ok := j.steps.Last()
	return (!ok || last.Version < version) && version >= j.base.Version
}

// push appends s, a step of ops operations whose At and Len are set. Under mu.
func (j *journal) push(s Step, ops int) {
	s.End = j.end() + uint32(ops)
	j.steps.Append(s)
}

// end is the operations count after the last step. Under mu.
func (j *journal) end() uint32 {
	if last, ok := j.steps.Last(); ok {
		return last.End
	}
	return j.base.End
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
	return j.steps.Len() == 0 && j.base.End == 0 && !j.base.logged() && j.baseStep == 0 && j.fork == nil
}

// setBase makes entries the run's step 0, committed with its begin: logged (where.Len > 0)
// or kept. It refuses (false) if the journal holds anything already or version is not the
// begin's.
func (j *journal) setBase(version uint64, where Step, entries []commitlog.Entry, step int, fork *ForkPoint) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.steps.Len() != 0 || j.base.End != 0 || j.base.logged() || version != j.base.Version {
		return false
	}
	if !where.logged() {
		j.append(entries)
	}
	j.base.At, j.base.Len, j.base.End = where.At, where.Len, uint32(len(entries))
	j.baseStep, j.fork = step, fork
	return true
}

// retained appends to dst the ranges of the log below LSN below that the journal reads, its
// older readers' views (before a compaction) included.
func (j *journal) retained(dst []commitlog.Range, below uint64) []commitlog.Range {
	j.mu.Lock()
	defer j.mu.Unlock()
	dst = Journal{base: j.base, steps: j.steps.View()}.retained(dst, below)
	for c := j.compacted; c != nil; c = c.older {
		dst = c.before.retained(dst, below)
	}
	return dst
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
		return j.baseStep + j.steps.Len(), int(j.end()), j.fork
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
	src      Source          // where logged steps are read back; nil without a log
	run      extension.RunID // whose: every logged entry read back must be this run's
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

// Step returns step number n (First() ≤ n ≤ Last()) and how many operations it holds.
func (j Journal) Step(n int) (s Step, ops int) {
	if n == j.baseStep {
		return j.base, int(j.base.End)
	}
	i := n - j.baseStep - 1
	start := j.base.End
	if i > 0 {
		start = j.steps.At(i - 1).End
	}
	s = j.steps.At(i)
	return s, int(s.End - start)
}

// StepEntries returns the entries of step number n (First() ≤ n ≤ Last()), each stamped
// with the step's commit version; read them, never modify them. A logged step that cannot
// be read back whole and intact is ErrCorruption.
func (j Journal) StepEntries(n int) ([]commitlog.Entry, error) {
	var out []commitlog.Entry
	err := j.stepEntries(n, func(e commitlog.Entry) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

// stepEntries yields the entries of step number n until yield returns false.
func (j Journal) stepEntries(n int, yield func(commitlog.Entry) bool) error {
	s, ops := j.Step(n)
	if s.logged() {
		return j.fetch(s, ops, yield)
	}
	for i := range ops {
		if !yield(j.entries.At(int(s.At) + i).logEntry()) {
			return nil
		}
	}
	return nil
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
		return j.baseStep, int(j.base.End)
	}
	return j.Last(), int(last.End)
}

// Entries yields the entries of every step, in commit order, each stamped with its commit
// version, then a nil error; or, at the first step that cannot be read, that step's error
// (ErrCorruption) and no more. Read the entries, never modify them.
func (j Journal) Entries() iter.Seq2[commitlog.Entry, error] {
	return func(yield func(commitlog.Entry, error) bool) {
		more := true
		each := func(e commitlog.Entry) bool {
			more = yield(e, nil)
			return more
		}
		for n := j.First(); n <= j.Last() && more; n++ {
			if err := j.stepEntries(n, each); err != nil {
				yield(commitlog.Entry{}, err)
				return
			}
		}
	}
}

// retained appends to dst the ranges of the log below LSN below that the journal's base and
// steps are at. Steps are in commit order, so in log order (a compacted run's base is logged
// after the steps it keeps): the walk stops at the first step at or past below.
func (j Journal) retained(dst []commitlog.Range, below uint64) []commitlog.Range {
	if j.base.logged() && j.base.At < below {
		dst = append(dst, commitlog.Range{LSN: j.base.At, Len: j.base.Len})
	}
	for _, s := range j.steps.All() {
		if s.logged() {
			if s.At >= below {
				break
			}
			dst = append(dst, commitlog.Range{LSN: s.At, Len: s.Len})
		}
	}
	return dst
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
	j := r.history(rec.Value, snapshot)
	j.src, j.run = s.src, id
	return j, true
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
		if !r.journalOf().setBase(tx[0].TxID, sh.where(tx), tx[1:], step, fork) {
			return fmt.Errorf("%w: the base of run %s is not its begin's first step", ErrMalformed, id)
		}
		return nil
	}
	ts := int64(binary.LittleEndian.Uint64(p[commitlog.RunIDSize:]))
	where := sh.where(tx)
	if !r.journalOf().add(Step{Version: tx[0].TxID, Timestamp: ts, At: where.At, Len: where.Len}, tx[1:]) {
		return fmt.Errorf("%w: step %d of run %s is not after the journal's last", ErrMalformed, tx[0].TxID, id)
	}
	return nil
}

// where returns where a journaled transaction's entries are kept: in the log, from its first
// entry to the end of its last, when the store has one; in memory (the zero Step) otherwise,
// and for a transaction too large for a Step's 32-bit length.
func (sh *shard) where(tx []commitlog.Entry) Step {
	if !sh.logged {
		return Step{}
	}
	last := tx[len(tx)-1]
	n := last.LSN + uint64(commitlog.EncodedSize(len(last.Payload))) - tx[0].LSN
	if n > math.MaxUint32 {
		return Step{}
	}
	return Step{At: tx[0].LSN, Len: uint32(n)}
}
