package stress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Witness is a primitive that makes commit versions observable through the public API alone.
// A transaction carrying its mark (Mark) learns its commit version when it is acknowledged,
// and the witness's state is the set of versions of every marked transaction the database
// holds — applied live, replayed from the log at recovery, or loaded from a snapshot, which
// keeps them all. Those two sides are what a crash test compares: the versions committers saw
// acknowledged, and the versions recovery kept.
//
// It also keeps the version of every run deletion: the engine hands each one to every
// primitive's DropRun, in commit order, live and at recovery, so the witness sees deletions
// that no transaction of the workload carries (retention's, and its agents' own, whose
// DeleteRun returns no version).
//
// It goes through the extension interface like any primitive registered from outside the
// engine, so the versions it reports are the ones the engine stamped on its entries; it knows
// nothing of recovery, which is what it checks.
type Witness struct {
	mu     sync.Mutex
	shards []*witnessShard
}

const (
	witnessSection uint8 = 0xA0
	witnessType    uint8 = 0xA0
	witnessFormat  byte  = 2 // 1: without the deletions
)

var errWitnessMalformed = errors.New("stress witness: malformed")

// NewWitness returns a witness to list in Options.Primitives. Every Open of a directory whose
// transactions carry it must register one, or recovery skips its entries and sections.
func NewWitness() *Witness { return &Witness{} }

func (w *Witness) Name() string               { return "stress-witness" }
func (w *Witness) SectionID() uint8           { return witnessSection }
func (w *Witness) EntryTypes() (lo, hi uint8) { return witnessType, witnessType }

// NewShard is called for ids 0..n-1 each time the engine (re)creates its shards: a recovery
// that falls back to an older snapshot starts over, and so does the witness.
func (w *Witness) NewShard(id int) extension.Shard {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id == 0 {
		w.shards = nil
	}
	sh := &witnessShard{}
	w.shards = append(w.shards, sh)
	return sh
}

// Mark makes tx carry the witness. Once tx has committed, the mark's Version is its commit
// version. A nil witness marks nothing and returns a nil mark, whose Version is 0: the modes
// that do not check versions share the workload's code.
func (w *Witness) Mark(tx *inmem.Tx) (*WitnessMark, error) {
	if w == nil {
		return nil, nil
	}
	part, err := tx.Part(w, func(run inmem.RunID, _ uint64) inmem.TxPart { return &WitnessMark{run: run} })
	if err != nil {
		return nil, err
	}
	return part.(*WitnessMark), nil
}

// Versions returns, per run (GlobalRun included), the commit versions of the marked
// transactions the database holds, oldest first — a deleted run's included: they hold their
// versions still. Call it while nothing commits.
func (w *Witness) Versions() map[inmem.RunID][]uint64 { return w.versions(false) }

// Deletions returns, per run id, the commit versions of its deletions, oldest first. Call it
// while nothing commits.
func (w *Witness) Deletions() map[inmem.RunID][]uint64 { return w.versions(true) }

func (w *Witness) versions(deleted bool) map[inmem.RunID][]uint64 {
	w.mu.Lock()
	shards := slices.Clone(w.shards)
	w.mu.Unlock()
	out := map[inmem.RunID][]uint64{}
	for _, sh := range shards {
		sh.mu.Lock()
		for _, r := range sh.recs {
			if r.deleted == deleted {
				out[r.run] = append(out[r.run], r.version)
			}
		}
		sh.mu.Unlock()
	}
	for _, vs := range out {
		slices.Sort(vs)
	}
	return out
}

// WitnessMark is the witness's share of one transaction: one entry, and the version the
// sequencer gave the transaction.
type WitnessMark struct {
	run     inmem.RunID
	version uint64 // written by the sequencer in Entries, read by the committer after the commit returned
}

// Version returns the commit version of the transaction the mark was in, once it committed.
func (m *WitnessMark) Version() uint64 {
	if m == nil {
		return 0
	}
	return m.version
}

func (m *WitnessMark) Validate(extension.Commit) error { return nil }
func (m *WitnessMark) Empty() bool                     { return false }

func (m *WitnessMark) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	m.version = c.Version()
	return append(dst, commitlog.Entry{Type: witnessType, Version: 1, Payload: append([]byte(nil), m.run[:]...)})
}

type witnessRec struct {
	version uint64
	run     inmem.RunID
	deleted bool // the run's deletion, not a marked transaction
}

// witnessShard keeps its records in the order they arrived: first those loaded from a
// snapshot (all at or below its version), then those applied, in commit order.
type witnessShard struct {
	mu     sync.Mutex
	loaded int
	recs   []witnessRec
}

func (sh *witnessShard) Apply(batch []commitlog.Entry) error {
	recs := make([]witnessRec, 0, len(batch))
	for _, e := range batch {
		if e.Type != witnessType || len(e.Payload) != len(inmem.RunID{}) {
			return errWitnessMalformed
		}
		r := witnessRec{version: e.TxID}
		copy(r.run[:], e.Payload)
		recs = append(recs, r)
	}
	sh.mu.Lock()
	sh.recs = append(sh.recs, recs...)
	sh.mu.Unlock()
	return nil
}

// Freeze keeps the records at or below version. Appends never touch a record already there, so
// the view shares them. A snapshot is only ever taken at or above the version the loaded
// records came from, so all of those belong to it.
// DropRun keeps the run's versions — the witness accounts for every marked commit the log
// holds, and a deleted run's transactions still hold their versions — and records the
// deletion's, in commit order with the records Apply appends.
func (sh *witnessShard) DropRun(run extension.RunID, version uint64) {
	sh.mu.Lock()
	sh.recs = append(sh.recs, witnessRec{version: version, run: inmem.RunID(run), deleted: true})
	sh.mu.Unlock()
}

func (sh *witnessShard) Freeze(version uint64) extension.FrozenView {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	applied := sh.recs[sh.loaded:]
	n := sh.loaded + sort.Search(len(applied), func(i int) bool { return applied[i].version > version })
	return witnessView(sh.recs[:n:n])
}

type witnessView []witnessRec

// WriteSection writes a chunk per run: format, then the marked transactions' versions and the
// deletions' versions, each a count and increasing deltas.
func (v witnessView) WriteSection(w io.Writer) error {
	byRun := map[inmem.RunID]*[2][]uint64{}
	for _, r := range v {
		lists, ok := byRun[r.run]
		if !ok {
			lists = new([2][]uint64)
			byRun[r.run] = lists
		}
		if r.deleted {
			lists[1] = append(lists[1], r.version)
		} else {
			lists[0] = append(lists[0], r.version)
		}
	}
	for _, run := range slices.SortedFunc(maps.Keys(byRun), func(a, b inmem.RunID) int { return slices.Compare(a[:], b[:]) }) {
		body := []byte{witnessFormat}
		for _, vs := range byRun[run] {
			slices.Sort(vs)
			body = binary.AppendUvarint(body, uint64(len(vs)))
			prev := uint64(0)
			for _, x := range vs {
				body = binary.AppendUvarint(body, x-prev)
				prev = x
			}
		}
		if err := extension.WriteChunk(w, run, body); err != nil {
			return err
		}
	}
	return nil
}

func (sh *witnessShard) LoadSection(r io.Reader) error {
	run, body, err := extension.ReadChunk(r)
	if err != nil {
		return err
	}
	if len(body) == 0 || body[0] < 1 || body[0] > witnessFormat {
		return fmt.Errorf("%w: chunk of run %s: format", errWitnessMalformed, run)
	}
	p := body[1:]
	var recs []witnessRec
	for list := range int(body[0]) { // format 1 has no deletions
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)) {
			return fmt.Errorf("%w: chunk of run %s: count", errWitnessMalformed, run)
		}
		p = p[k:]
		prev := uint64(0)
		for range n {
			d, k := binary.Uvarint(p)
			if k <= 0 || d == 0 { // versions strictly increase
				return fmt.Errorf("%w: chunk of run %s: version", errWitnessMalformed, run)
			}
			p, prev = p[k:], prev+d
			recs = append(recs, witnessRec{version: prev, run: run, deleted: list == 1})
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: chunk of run %s: %d bytes past the end", errWitnessMalformed, run, len(p))
	}
	sh.mu.Lock()
	sh.recs = append(sh.recs, recs...)
	sh.loaded = len(sh.recs)
	sh.mu.Unlock()
	return nil
}
