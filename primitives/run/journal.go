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
)

// Step is one journaled transaction of a run.
type Step struct {
	Version   uint64 // commit version
	Timestamp int64  // commit time, µs
	End       int    // the journal's entry count after this step: its entries end here
}

// journal is a run's journaled transactions, append-only. The shard's actor appends; a
// reader takes a view under mu and reads it without the lock.
type journal struct {
	mu      sync.Mutex
	steps   chunked.List[Step]
	entries chunked.List[entry] // every step's entries, without the step entry
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
	if last, ok := j.steps.Last(); ok && last.Version >= s.Version {
		j.mu.Unlock()
		return false
	}
	for _, e := range entries { // not e.Decoded: the journal keeps payloads only
		j.entries.Append(entry{Type: e.Type, Version: e.Version, TxID: e.TxID, Payload: j.arena.copy(e.Payload)})
	}
	s.End = j.entries.Len()
	j.steps.Append(s)
	j.mu.Unlock() // not deferred: this is on every run transaction's apply path
	return true
}

// snapshot returns the journal as it is now; empty for a run without one (nil).
func (j *journal) snapshot() Journal {
	if j == nil {
		return Journal{}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return Journal{steps: j.steps.View(), entries: j.entries.View()}
}

// counts returns the number of steps and entries committed at or before version.
func (j *journal) counts(version uint64) (steps, ops int) {
	if j == nil {
		return 0, 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if last, ok := j.steps.Last(); !ok || last.Version <= version { // the common case: nothing newer
		return j.steps.Len(), j.entries.Len()
	}
	return Journal{steps: j.steps.View()}.at(version).counts()
}

// Journal is a run's journal as one reader sees it: a prefix of its steps, immutable.
type Journal struct {
	steps   chunked.View[Step]
	entries chunked.View[entry]
}

// Len returns the number of steps.
func (j Journal) Len() int { return j.steps.Len() }

// Steps returns the steps, oldest first.
func (j Journal) Steps() []Step { return j.steps.Slice(0, j.steps.Len()) }

// Until returns the journal's first n steps (all of them if it has fewer).
func (j Journal) Until(n int) Journal {
	j.steps = j.steps.Prefix(max(0, min(n, j.steps.Len())))
	return j
}

// at returns the steps committed at or before version.
func (j Journal) at(version uint64) Journal {
	return j.Until(sort.Search(j.steps.Len(), func(i int) bool { return j.steps.At(i).Version > version }))
}

// Ops returns the number of entries (operations) in the journal's steps.
func (j Journal) Ops() int {
	_, ops := j.counts()
	return ops
}

func (j Journal) counts() (steps, ops int) {
	last, ok := j.steps.Last()
	if !ok {
		return 0, 0
	}
	return j.steps.Len(), last.End
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
	r, ok := s.state(id)
	if !ok || r.records.At(snapshot) == nil {
		return Journal{}, false
	}
	return r.journal.Load().snapshot().at(snapshot), true
}

// Counts returns how many transactions run id committed at or before snapshot, and how many
// operations (entries) they held; zeros for an unknown run.
func (s *Store) Counts(id extension.RunID, snapshot uint64) (txs, ops int) {
	r, ok := s.state(id)
	if !ok {
		return 0, 0
	}
	return r.journal.Load().counts(snapshot)
}

// txLen is the number of entries at the front of batch in its first entry's transaction.
func txLen(batch []commitlog.Entry) int {
	n := 1
	for n < len(batch) && batch[n].TxID == batch[0].TxID {
		n++
	}
	return n
}

// journalTx records a transaction: tx is its step entry followed by its other entries.
func (sh *shard) journalTx(tx []commitlog.Entry) error {
	p := tx[0].Payload
	if tx[0].Version != 1 || len(p) != stepSize || tx[0].TxID == 0 {
		return fmt.Errorf("%w: step entry: version %d, %d bytes, tx %d", ErrMalformed, tx[0].Version, len(p), tx[0].TxID)
	}
	var id extension.RunID
	copy(id[:], p)
	r, ok := sh.runs.Load(id)
	if !ok {
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
	ts := int64(binary.LittleEndian.Uint64(p[commitlog.RunIDSize:]))
	j := r.journal.Load()
	if j == nil {
		j = new(journal)
		r.journal.Store(j)
	}
	if !j.add(Step{Version: tx[0].TxID, Timestamp: ts}, tx[1:]) {
		return fmt.Errorf("%w: step %d of run %s is not after the journal's last", ErrMalformed, tx[0].TxID, id)
	}
	return nil
}
