package state

import (
	"fmt"
	"sort"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
)

// Tx is the state share of one transaction: reads at the transaction's snapshot, with its own
// buffered writes layered on top. It implements extension.TxPart.
type Tx struct {
	store    *Store
	run      extension.RunID
	snapshot uint64
	reads    []string  // cells read from the store (not from own writes): the read set
	cells    []cellOps // at most one per cell, in first-write order
	index    keys.Index[cellOps]
	results  []result // one per cell, computed by Validate for Entries
	cellBuf  [1]cellOps
}

type opKind uint8

const (
	opInit opKind = iota
	opSet
	opCAS
	opDelete
)

// op is one buffered write; the writes to a cell are kept in order and checked in order.
type op struct {
	kind     opKind
	expected uint64 // CAS only
	value    []byte // a private copy
}

type cellOps struct {
	name string
	ops  []op
}

// last is the write that decides the cell's outcome.
func (c *cellOps) last() op { return c.ops[len(c.ops)-1] }

// result is a cell's outcome, decided at validation.
type result struct {
	typ     uint8
	counter uint64
}

// NewTx starts the state part of a transaction of run reading at snapshot.
func (s *Store) NewTx(run extension.RunID, snapshot uint64) *Tx {
	t := &Tx{store: s, run: run, snapshot: snapshot}
	t.cells = t.cellBuf[:0]
	return t
}

// Get returns the cell the transaction sees: its own pending write, else the snapshot's cell.
// A pending write shows the version it will commit with if the cell does not change meanwhile
// (the snapshot's counter + 1) and UpdatedAt 0 (its commit time is not known yet). The value is
// shared: callers that hand it to users copy it.
func (t *Tx) Get(name string) (Cell, error) {
	if err := CheckName(name); err != nil {
		return Cell{}, err
	}
	if i := t.find(name); i >= 0 {
		o := t.cells[i].last()
		if o.kind == opDelete {
			return Cell{}, dberr.ErrNotFound
		}
		return Cell{Value: o.value, Version: t.store.counterAt(t.run, name, t.snapshot) + 1}, nil
	}
	t.reads = append(t.reads, name)
	c, ok := t.store.Get(t.run, name, t.snapshot)
	if !ok {
		return Cell{}, dberr.ErrNotFound
	}
	return c, nil
}

// Init buffers the creation of cell name with value (copied); it fails at commit with
// ErrAlreadyExists if the cell exists then.
func (t *Tx) Init(name string, value []byte) error { return t.write(name, op{kind: opInit}, value) }

// Set buffers a write of value (copied) to cell name, creating it if missing. It never conflicts.
func (t *Tx) Set(name string, value []byte) error { return t.write(name, op{kind: opSet}, value) }

// CAS buffers a write of value (copied) to cell name that fails at commit with a
// *dberr.VersionMismatchError unless the cell exists at version expected then.
func (t *Tx) CAS(name string, expected uint64, value []byte) error {
	return t.write(name, op{kind: opCAS, expected: expected}, value)
}

// Delete buffers the removal of cell name. Its counter is remembered: re-creating continues it.
func (t *Tx) Delete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	t.add(name, op{kind: opDelete})
	return nil
}

func (t *Tx) write(name string, o op, value []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckValue(value); err != nil {
		return err
	}
	o.value = append(make([]byte, 0, len(value)), value...)
	t.add(name, o)
	return nil
}

// List returns the sorted names of the cells the transaction sees, and adds the snapshot's
// names to the read set.
func (t *Tx) List() []string {
	names := t.store.Names(t.run, t.snapshot)
	t.reads = append(t.reads, names...)
	if len(t.cells) == 0 {
		return names
	}
	seen := make(map[string]bool, len(names)+len(t.cells))
	for _, n := range names {
		seen[n] = true
	}
	for i := range t.cells {
		seen[t.cells[i].name] = t.cells[i].last().kind != opDelete
	}
	names = names[:0]
	for n, live := range seen {
		if live {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (t *Tx) find(name string) int { return t.index.Find(t.cells, name) }

// Key names the cell (keys.Keyed).
func (c cellOps) Key() string { return c.name }

func (t *Tx) add(name string, o op) {
	if i := t.find(name); i >= 0 {
		t.cells[i].ops = append(t.cells[i].ops, o)
		return
	}
	t.cells = append(t.cells, cellOps{name: name, ops: []op{o}})
	t.index.Added(t.cells)
}

// Empty reports whether the part has no writes.
func (t *Tx) Empty() bool { return len(t.cells) == 0 }

// Validate fails with a ConflictError if a cell the transaction read has a newer write than its
// snapshot, sequenced or applied (first committer wins); with ErrAlreadyExists for an Init of a
// live cell; with a *dberr.VersionMismatchError for a CAS whose expected version is not the
// cell's version. The writes to each cell are checked in order against the newest state as the
// transaction changes it. It then stages one write per cell, with the cell's resulting counter.
func (t *Tx) Validate(c extension.Commit) error {
	for _, name := range t.reads {
		if t.store.newest(c, t.run, name).commit > t.snapshot {
			return &dberr.ConflictError{Primitive: "state", Run: t.run.String(), Key: name}
		}
	}
	t.results = t.results[:0]
	for i := range t.cells {
		cell := &t.cells[i]
		cur := t.store.newest(c, t.run, cell.name)
		live, version, next := cur.live, cur.counter, cur.counter+1
		for _, o := range cell.ops {
			switch o.kind {
			case opInit:
				if live {
					return fmt.Errorf("%w: cell %q of run %s", dberr.ErrAlreadyExists, cell.name, t.run)
				}
			case opCAS:
				if !live || o.expected != version {
					return &dberr.VersionMismatchError{Key: cell.name, Expected: o.expected, Actual: version}
				}
			}
			live, version = o.kind != opDelete, next
		}
		if !live && !cur.live {
			next = cur.counter // missing before and after: nothing changed, the counter stays
		}
		t.results = append(t.results, result{typ: typeOf(cell.last().kind), counter: next})
		c.Stage(extension.Key{Section: SectionID, Run: t.run, Name: cell.name},
			extension.Staged{Version: c.Version(), Aux: next, Deleted: !live})
	}
	return nil
}

func typeOf(k opKind) uint8 {
	switch k {
	case opInit:
		return TypeInit
	case opSet:
		return TypeSet
	case opCAS:
		return TypeTransition
	}
	return TypeDelete
}

// Entries appends one entry per written cell carrying its outcome: value, version, timestamp.
func (t *Tx) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	for i := range t.cells {
		r := t.results[i]
		p := encode(t.run, t.cells[i].name, r.counter, c.Timestamp(), t.cells[i].last().value)
		dst = append(dst, commitlog.Entry{Type: r.typ, Version: 1, Payload: p})
	}
	return dst
}

// Version returns the version name has after this transaction, as validation decided it; false
// before validation or for a name the transaction did not write.
func (t *Tx) Version(name string) (uint64, bool) {
	if len(t.results) != len(t.cells) {
		return 0, false
	}
	for i := range t.cells {
		if t.cells[i].name == name {
			return t.results[i].counter, true
		}
	}
	return 0, false
}
