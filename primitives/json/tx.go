package json

import (
	"fmt"
	"sort"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
)

type opKind uint8

const (
	opCreate opKind = iota
	opSet
	opDelete
	opDeleteDoc
)

// op is one buffered path operation; its value is parsed once and immutable.
type op struct {
	kind     opKind
	path     Path
	pathText string // canonical, as logged
	value    any
	raw      []byte // the value's encoded JSON (a private copy), as logged
	size     int    // len(encodeValue(value)) when the parse knew it, else -1
}

// state is a document as a sequence of ops leaves it.
type state struct {
	value   any
	version uint64
	live    bool
}

// replay applies ops in order to prev. The resulting version is prev's + 1 if the document was
// live before and after, 1 if it was missing before and is live after, 0 if it ends deleted.
func replay(prev state, key string, ops []op) (state, error) {
	st := prev
	var err error
	for _, o := range ops {
		switch o.kind {
		case opCreate:
			if st.live {
				return state{}, fmt.Errorf("%w: json document %q", dberr.ErrAlreadyExists, key)
			}
			st.value, st.live = o.value, true
		case opDeleteDoc:
			if !st.live {
				return state{}, fmt.Errorf("%w: json document %q", dberr.ErrNotFound, key)
			}
			st.value, st.live = nil, false
		default:
			if !st.live {
				return state{}, fmt.Errorf("%w: json document %q", dberr.ErrNotFound, key)
			}
			if o.kind == opSet {
				st.value, err = setValue(st.value, o.path, o.value)
				if err != nil {
					return state{}, fmt.Errorf("json document %q: %w", key, err)
				}
			} else {
				st.value = deleteValue(st.value, o.path)
			}
		}
	}
	switch {
	case !st.live:
		st.version = 0
	case prev.live:
		st.version = prev.version + 1
	default:
		st.version = 1
	}
	return st, nil
}

// typeOf is the entry type of a document's ops.
func typeOf(ops []op) uint8 {
	if len(ops) != 1 {
		return TypePatch
	}
	switch ops[0].kind {
	case opCreate:
		return TypeCreate
	case opSet:
		return TypeSet
	case opDelete:
		return TypeDelete
	}
	return TypeDeleteDoc
}

// PatchOp is one operation of a Patch: Op "set" (Value is encoded JSON) or "delete".
type PatchOp struct {
	Op    string
	Path  string
	Value []byte
}

// Tx is the JSON share of one transaction: reads at the transaction's snapshot, with its own
// buffered path operations replayed on top. It implements extension.TxPart.
type Tx struct {
	store    *Store
	run      extension.RunID
	snapshot uint64
	reads    []string // documents read: with the written ones, the conflict set
	docs     []docOps // at most one per document, in first-write order
	index    keys.Index[docOps]
	results  []result // one per document, computed by Validate for Entries
}

type docOps struct {
	key string
	ops []op
}

// result is a document's outcome, decided at validation.
type result struct {
	typ     uint8
	version uint64
}

// NewTx starts the JSON part of a transaction of run reading at snapshot.
func (s *Store) NewTx(run extension.RunID, snapshot uint64) *Tx {
	return &Tx{store: s, run: run, snapshot: snapshot}
}

// snapshotState is document key as the transaction's snapshot has it.
func (t *Tx) snapshotState(key string) state {
	if d, ok := t.store.Doc(t.run, key, t.snapshot); ok {
		return state{value: d.Value, version: d.Version, live: true}
	}
	return state{}
}

// current is document key as the transaction sees it: its pending ops replayed on the
// snapshot's document. A pending op that cannot apply is its error.
func (t *Tx) current(key string) (state, error) {
	st := t.snapshotState(key)
	if i := t.find(key); i >= 0 {
		return replay(st, key, t.docs[i].ops)
	}
	return st, nil
}

// Get returns the encoded JSON at path in document key as the transaction sees it, and adds
// the document to the read set. Errors: ErrNotFound (document or path), ErrInvalidPath,
// ErrTypeMismatch, or the error a pending operation of the transaction will fail with.
func (t *Tx) Get(key, path string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	p, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	t.reads = append(t.reads, key)
	st, err := t.current(key)
	if err != nil {
		return nil, err
	}
	if !st.live {
		return nil, fmt.Errorf("%w: json document %q of run %s", dberr.ErrNotFound, key, t.run)
	}
	v, err := getValue(st.value, p)
	if err != nil {
		return nil, err
	}
	return encodeValue(v)
}

// Version returns the version document key has after this transaction, as validation decided
// it (0 for a deleted document); false before validation or for a document it did not write.
func (t *Tx) Version(key string) (uint64, bool) {
	if len(t.results) != len(t.docs) {
		return 0, false
	}
	if i := t.find(key); i >= 0 {
		return t.results[i].version, true
	}
	return 0, false
}

// Keys returns the sorted keys of the documents the transaction sees live, and adds the
// snapshot's keys to the read set (like KV and state lists: a document created later is a
// phantom snapshot isolation allows).
func (t *Tx) Keys() []string {
	keys := t.store.Keys(t.run, t.snapshot)
	t.reads = append(t.reads, keys...)
	if len(t.docs) == 0 {
		return keys
	}
	seen := make(map[string]bool, len(keys)+len(t.docs))
	for _, k := range keys {
		seen[k] = true
	}
	for i := range t.docs {
		st, err := t.current(t.docs[i].key)
		seen[t.docs[i].key] = err == nil && st.live
	}
	keys = keys[:0]
	for k, live := range seen {
		if live {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Create buffers the creation of document key from doc (encoded JSON, copied). It fails now
// with ErrInvalidArgument for invalid JSON, ErrTooLarge over a limit, and at commit with
// ErrAlreadyExists if the document exists then.
func (t *Tx) Create(key string, doc []byte) error {
	o, err := valueOp(opCreate, "", doc)
	if err != nil {
		return err
	}
	return t.add(key, o)
}

// Set buffers a write of value (encoded JSON, copied) at path in document key.
func (t *Tx) Set(key, path string, value []byte) error {
	o, err := valueOp(opSet, path, value)
	if err != nil {
		return err
	}
	return t.add(key, o)
}

// Delete buffers the removal of the value at path in document key.
func (t *Tx) Delete(key, path string) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	return t.add(key, op{kind: opDelete, path: p, pathText: p.String()})
}

// DeleteDoc buffers the removal of document key; it fails at commit if the document is missing.
func (t *Tx) DeleteDoc(key string) error {
	return t.add(key, op{kind: opDeleteDoc, pathText: "$"})
}

// Patch buffers ops on document key, in order. Every op is checked before any is buffered, and
// all of them commit or none (a failing op fails the transaction at commit).
func (t *Tx) Patch(key string, ops []PatchOp) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if len(ops) == 0 {
		return dberr.Invalid("empty patch")
	}
	buf := make([]op, 0, len(ops))
	for i, po := range ops {
		var o op
		var err error
		switch po.Op {
		case "set":
			o, err = valueOp(opSet, po.Path, po.Value)
		case "delete":
			var p Path
			if p, err = ParsePath(po.Path); err == nil {
				o = op{kind: opDelete, path: p, pathText: p.String()}
			}
		default:
			err = dberr.Invalid("unknown op %q (want \"set\" or \"delete\")", po.Op)
		}
		if err != nil {
			return fmt.Errorf("patch op %d: %w", i, err)
		}
		buf = append(buf, o)
	}
	for _, o := range buf {
		if err := t.add(key, o); err != nil {
			return err
		}
	}
	return nil
}

// valueOp checks path and value and builds an op carrying private copies.
func valueOp(kind opKind, path string, value []byte) (op, error) {
	p, err := ParsePath(path)
	if err != nil {
		return op{}, err
	}
	if len(value) > MaxDocSize {
		return op{}, dberr.TooLarge("json value", len(value), MaxDocSize)
	}
	raw := append(make([]byte, 0, len(value)), value...)
	v, size, err := parseSized(raw)
	if err != nil {
		return op{}, err
	}
	return op{kind: kind, path: p, pathText: p.String(), value: v, raw: raw, size: size}, nil
}

func (t *Tx) find(key string) int { return t.index.Find(t.docs, key) }

// Key names the document (keys.Keyed).
func (d docOps) Key() string { return d.key }

func (t *Tx) add(key string, o op) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if i := t.find(key); i >= 0 {
		t.docs[i].ops = append(t.docs[i].ops, o)
		return nil
	}
	t.docs = append(t.docs, docOps{key: key, ops: []op{o}})
	t.index.Added(t.docs)
	return nil
}

// Empty reports whether the part has no writes.
func (t *Tx) Empty() bool { return len(t.docs) == 0 }

// Validate fails with a ConflictError if a document the transaction read or wrote has a newer
// write than its snapshot, sequenced or applied; otherwise it replays each document's ops on
// its newest (= snapshot) state — ErrAlreadyExists, ErrNotFound, ErrIndexOutOfRange,
// ErrTypeMismatch — and checks the resulting document's limits (ErrTooLarge). Only when every
// document passed does it stage one write per document, with the resulting version.
func (t *Tx) Validate(c extension.Commit) error {
	conflict := func(key string) error {
		if t.store.latest(c, t.run, key) > t.snapshot {
			return &dberr.ConflictError{Primitive: "json", Run: t.run.String(), Key: key}
		}
		return nil
	}
	for _, key := range t.reads {
		if err := conflict(key); err != nil {
			return err
		}
	}
	t.results = t.results[:0]
	deleted := make([]bool, 0, len(t.docs))
	for i := range t.docs {
		d := &t.docs[i]
		if err := conflict(d.key); err != nil {
			t.results = t.results[:0]
			return err
		}
		// No write newer than the snapshot: the snapshot's document is the newest.
		st, err := replay(t.snapshotState(d.key), d.key, d.ops)
		if err == nil && st.live {
			err = checkResult(st.value, d.ops)
		}
		if err == nil && payloadSize(d.key, d.ops) > maxPayloadSize {
			err = dberr.TooLarge("json entry", payloadSize(d.key, d.ops), maxPayloadSize)
		}
		if err != nil {
			t.results = t.results[:0]
			return err
		}
		t.results = append(t.results, result{typ: typeOf(d.ops), version: st.version})
		deleted = append(deleted, !st.live)
	}
	for i := range t.docs {
		c.Stage(extension.Key{Section: SectionID, Run: t.run, Name: t.docs[i].key},
			extension.Staged{Version: c.Version(), Aux: t.results[i].version, Deleted: deleted[i]})
	}
	return nil
}

// checkResult checks the document v that ops leave against every limit. When the last op
// replaced the whole document, parsing its value checked the nesting and counted the size.
func checkResult(v any, ops []op) error {
	last := ops[len(ops)-1]
	if (last.kind == opCreate || last.kind == opSet && len(last.path) == 0) && last.size >= 0 {
		if last.size > MaxDocSize {
			return dberr.TooLarge("document", last.size, MaxDocSize)
		}
		return nil
	}
	return checkDoc(v)
}

// Entries appends one entry per written document carrying its ops and resulting version.
func (t *Tx) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	for i := range t.docs {
		r := t.results[i]
		d := &decoded{run: t.run, key: t.docs[i].key, version: r.version, ops: t.docs[i].ops}
		dst = append(dst, commitlog.Entry{Type: r.typ, Version: 1, Payload: encode(d), Decoded: d})
	}
	return dst
}

var _ extension.TxPart = (*Tx)(nil)
var _ extension.Primitive = (*Store)(nil)
