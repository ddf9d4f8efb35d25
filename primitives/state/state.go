// Package state is the state-cell primitive: per run, named cells holding a byte
// value and the cell's own version counter, for coordination through compare-and-set.
//
// State layout: the run's shard (xxhash(run) % shards) holds a map from run to that run's
// cells, each cell a version chain (internal/mvcc) of immutable Cell records. Only the shard's
// actor writes; transactions and single reads walk the chains directly. A delete pushes a
// tombstone that remembers the cell's counter, and the tombstone is never dropped from the map,
// so re-creating a cell continues from that counter: a cell's version never goes back and a
// stale CAS can never succeed (no ABA).
//
// Snapshot section: internal/tablesection, tombstones included, each value
// uvarint cell version | varint updated-at (µs) | uvarint len(value) | value.
//
// WAL payloads (entry version 1), after the 16-byte run id every payload is:
//
//	uvarint name length, name, uvarint resulting cell version, varint timestamp (µs),
//	value (the rest of the payload; empty for StateDelete)
//
// with entry types StateInit 0x40, StateSet 0x41, StateTransition 0x42 (a CAS), StateDelete
// 0x43. The entry carries the outcome (value, version, timestamp), so Apply recomputes nothing;
// all checks happen in Tx.Validate on the sequencer. One entry per written cell per transaction,
// its type that of the transaction's last write to the cell.
//
// Version rule, +1 per change: one bump per transaction per cell. Writes to one cell
// in one transaction are checked in order against the state the transaction sees (so Init then
// CAS(name, 1, …) in one transaction of a new cell succeeds), the last write wins, and the cell's
// counter advances by exactly one: Init+Set in one transaction leaves version 1. A delete of a
// live cell is a change too (its tombstone holds counter + 1). A transaction whose writes leave
// a missing cell missing (Delete of a missing cell, Init then Delete) logs a tombstone with the
// counter unchanged.
//
// Other decisions: CAS on a missing (never created or deleted) cell is a version mismatch
// whatever the expected version, reporting Actual = the remembered counter (0 if it never
// existed). Get adds the cell to the transaction's read set (a change after the snapshot
// conflicts); Init, Set, CAS and Delete do not (CAS is checked against the newest state
// instead). List adds the listed names to the read set; a cell created later is a phantom
// snapshot isolation allows. Tombstones are never dropped (their counters matter), so a deleted
// cell costs memory for good; Trim only drops versions older than what readers need.
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/search/tableindex"
	"github.com/inmemdb/inmem/internal/tablesection"
)

// Identity of the primitive in the WAL and in snapshots.
const (
	SectionID      uint8 = 4
	TypeInit       uint8 = 0x40
	TypeSet        uint8 = 0x41
	TypeTransition uint8 = 0x42
	TypeDelete     uint8 = 0x43
	typesLow       uint8 = 0x40
	typesHigh      uint8 = 0x4F
)

// Limits, the same as KV's.
const (
	MaxNameSize  = keys.MaxSize
	MaxValueSize = 16 << 20
)

// ErrMalformed is returned by Apply for a payload that does not decode: corruption.
var ErrMalformed = errors.New("state: malformed entry payload")

// Cell is one committed state of a cell. Records on the chains are immutable.
type Cell struct {
	Value     []byte
	Version   uint64 // the cell's own counter: 1 at init, +1 per changing transaction
	UpdatedAt int64  // commit time, µs since the Unix epoch
}

// Store is the state primitive: every shard's state, and the read paths over it.
type Store struct {
	mvcc.Tables[extension.RunID, Cell]
	tableindex.Searcher[Cell] // search.go
}

// New returns a state store of n shards. The engine creates each shard's state with NewShard.
// Dead cells are kept: a tombstone remembers the version counter re-creation continues from
// (no ABA), so it is never forgotten.
func New(n int) *Store {
	return &Store{Tables: mvcc.NewTables[extension.RunID, Cell](n, true), Searcher: tableindex.NewSearcher(searchText)}
}

func (s *Store) Name() string               { return "state" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	return &shard{s.Searcher.NewShard(id, s.Len(), s.Add(id))}
}

// shard is a table of per-run cells; its Trim (the table's) drops old versions only.
type shard struct {
	tableindex.Shard[Cell]
}

// Get returns cell name at snapshot. The value is shared with the store: callers that hand it
// to users copy it.
func (s *Store) Get(run extension.RunID, name string, snapshot uint64) (Cell, bool) {
	r := s.Chain(run, name, snapshot)
	if r == nil {
		return Cell{}, false
	}
	v := r.At(snapshot)
	if v == nil || v.Deleted {
		return Cell{}, false
	}
	return v.Value, true
}

// counterAt returns the cell's counter at snapshot, remembered by a tombstone too; 0 if the
// cell never existed then.
func (s *Store) counterAt(run extension.RunID, name string, snapshot uint64) uint64 {
	if r := s.Chain(run, name, snapshot); r != nil {
		if v := r.At(snapshot); v != nil {
			return v.Value.Version
		}
	}
	return 0
}

// Names returns the sorted names of the cells live at snapshot.
func (s *Store) Names(run extension.RunID, snapshot uint64) []string {
	names := mvcc.Live(s.Of(run), run, snapshot, func(n string, _ Cell) string { return n })
	slices.Sort(names)
	return names
}

// newest is the newest state of a cell, sequenced or applied.
type newest struct {
	commit  uint64 // commit version of the newest write; 0 if none
	counter uint64 // the cell's counter after it (remembered by a tombstone)
	live    bool
}

func (s *Store) newest(c extension.Commit, run extension.RunID, name string) newest {
	if st, ok := c.Staged(extension.Key{Section: SectionID, Run: run, Name: name}); ok {
		return newest{commit: st.Version, counter: st.Aux, live: !st.Deleted}
	}
	if v := s.Newest(run, name); v != nil {
		return newest{commit: v.Commit, counter: v.Value.Version, live: !v.Deleted}
	}
	return newest{}
}

// CheckName validates a cell name: non-empty UTF-8 of at most MaxNameSize bytes.
func CheckName(name string) error { return keys.Check("cell name", name) }

// CheckValue validates a cell value.
func CheckValue(v []byte) error {
	if len(v) > MaxValueSize {
		return dberr.TooLarge("value", len(v), MaxValueSize)
	}
	return nil
}

// Apply applies committed state entries. A batch is decoded whole before anything is applied,
// so a malformed entry leaves the shard untouched.
func (sh *shard) Apply(batch []commitlog.Entry) error {
	for _, e := range batch {
		if _, err := decode(e); err != nil {
			return err
		}
	}
	for _, e := range batch {
		d, _ := decode(e)
		c := Cell{Value: d.value, Version: d.version, UpdatedAt: d.ts}
		sh.Push(d.run, d.name, e.TxID, c, e.Type == TypeDelete)
		sh.Index(d.run, d.name, e.TxID, c, e.Type == TypeDelete)
	}
	return nil
}

// section is the state snapshot section codec. Tombstones are written: they hold the counter.
var section = &tablesection.Codec[Cell]{
	Name: "state", Format: 1, KeepDead: true,
	Append: func(dst []byte, c Cell) []byte {
		dst = binary.AppendUvarint(dst, c.Version)
		dst = binary.AppendVarint(dst, c.UpdatedAt)
		return tablesection.AppendBytes(dst, c.Value)
	},
	Decode: func(b []byte) (Cell, int, error) {
		var c Cell
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return c, 0, fmt.Errorf("bad cell version")
		}
		ts, m := binary.Varint(b[n:])
		if m <= 0 {
			return c, 0, fmt.Errorf("bad cell timestamp")
		}
		value, k, err := tablesection.DecodeBytes(b[n+m:])
		if err != nil {
			return c, 0, err
		}
		c.Value, c.Version, c.UpdatedAt = value, v, ts
		return c, n + m + k, nil
	},
}

// Freeze returns the shard at version: O(1), see mvcc.Frozen.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return tablesection.View[Cell]{Codec: section, Frozen: sh.Table.Freeze(version)}
}

// LoadSection restores one run's cells, tombstones included, from a snapshot chunk.
func (sh *shard) LoadSection(r io.Reader) error {
	return sh.Shard.LoadSection(r, section)
}

// encode builds a payload (any of the four types; value nil for StateDelete).
func encode(run extension.RunID, name string, version uint64, ts int64, value []byte) []byte {
	p := make([]byte, 0, commitlog.RunIDSize+binary.MaxVarintLen32+len(name)+2*binary.MaxVarintLen64+len(value))
	p = append(p, run[:]...)
	p = binary.AppendUvarint(p, uint64(len(name)))
	p = append(p, name...)
	p = binary.AppendUvarint(p, version)
	p = binary.AppendVarint(p, ts)
	return append(p, value...)
}

type decoded struct {
	run     extension.RunID
	name    string
	version uint64
	ts      int64
	value   []byte
}

// decode splits a payload. Name and value alias it: payloads are immutable once logged and the
// shard keeps them, so the name string needs no copy.
func decode(e commitlog.Entry) (d decoded, err error) {
	p := e.Payload
	if e.Version != 1 || e.Type < TypeInit || e.Type > TypeDelete {
		return d, fmt.Errorf("%w: type %#02x version %d", ErrMalformed, e.Type, e.Version)
	}
	if len(p) < commitlog.RunIDSize {
		return d, fmt.Errorf("%w: %d bytes", ErrMalformed, len(p))
	}
	copy(d.run[:], p)
	p = p[commitlog.RunIDSize:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n == 0 || n > MaxNameSize || n > uint64(len(p)-w) {
		return d, fmt.Errorf("%w: bad name length", ErrMalformed)
	}
	nb := p[w : w+int(n)]
	p = p[w+int(n):]
	if d.version, w = binary.Uvarint(p); w <= 0 {
		return d, fmt.Errorf("%w: bad cell version", ErrMalformed)
	}
	p = p[w:]
	if d.ts, w = binary.Varint(p); w <= 0 {
		return d, fmt.Errorf("%w: bad timestamp", ErrMalformed)
	}
	d.value = p[w:]
	switch {
	case e.Type == TypeDelete && len(d.value) != 0:
		return d, fmt.Errorf("%w: delete with a value", ErrMalformed)
	case e.Type != TypeDelete && d.version == 0:
		return d, fmt.Errorf("%w: live cell at version 0", ErrMalformed)
	case len(d.value) > MaxValueSize:
		return d, fmt.Errorf("%w: value of %d bytes", ErrMalformed, len(d.value))
	}
	d.name = unsafe.String(&nb[0], len(nb))
	return d, nil
}
