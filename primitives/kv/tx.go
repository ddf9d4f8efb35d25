package kv

import (
	"sort"
	"strings"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
)

// Tx is the KV share of one transaction: reads at the transaction's snapshot, with its own
// buffered writes layered on top. It implements extension.TxPart.
type Tx struct {
	store    *Store
	run      extension.RunID
	snapshot uint64
	reads    []string // keys read from the store (not from own writes): the read set
	ops      []op     // at most one per key, in first-write order
	index    keys.Index[op]
	opBuf    [1]op // a one-write transaction allocates no ops slice
}

type op struct {
	key     string
	payload []byte // the encoded WAL payload, built once at write time
	value   []byte // aliases payload
	deleted bool
}

// NewTx starts the KV part of a transaction of run reading at snapshot.
func (s *Store) NewTx(run extension.RunID, snapshot uint64) *Tx {
	t := &Tx{store: s, run: run, snapshot: snapshot}
	t.ops = t.opBuf[:0]
	return t
}

// Get returns the value the transaction sees: its own write, else the snapshot's value. The
// slice is shared: callers that hand it to users copy it.
func (t *Tx) Get(key string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if i := t.find(key); i >= 0 {
		if t.ops[i].deleted {
			return nil, dberr.ErrNotFound
		}
		return t.ops[i].value, nil
	}
	t.reads = append(t.reads, key)
	v, ok := t.store.Get(t.run, key, t.snapshot)
	if !ok {
		return nil, dberr.ErrNotFound
	}
	return v, nil
}

// Put buffers a write of value (copied) to key.
func (t *Tx) Put(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := CheckValue(value); err != nil {
		return err
	}
	p := encode(t.run, key, value)
	t.set(op{key: key, payload: p, value: p[len(p)-len(value):]})
	return nil
}

// Delete buffers the removal of key.
func (t *Tx) Delete(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	t.set(op{key: key, payload: encode(t.run, key, nil), deleted: true})
	return nil
}

// Scan calls fn with each key with prefix after after that the transaction sees, in key order,
// with its value (shared: copy it to hand it out), until fn returns false: the snapshot's keys
// with the transaction's own writes laid over them. Every snapshot key it passes joins the read
// set, as a Get would; a key inserted by another commit under the prefix is not a conflict
// (snapshot isolation allows the phantom).
func (t *Tx) Scan(prefix, after string, fn func(key string, value []byte) bool) {
	own := t.ownAfter(prefix, after)
	more := true
	t.store.Scan(t.run, prefix, after, t.snapshot, func(k string, v []byte) bool {
		for len(own) > 0 && own[0].key < k && more {
			more = own[0].deleted || fn(own[0].key, own[0].value)
			own = own[1:]
		}
		if !more {
			return false
		}
		t.reads = append(t.reads, k)
		if len(own) > 0 && own[0].key == k {
			o := own[0]
			own = own[1:]
			more = o.deleted || fn(k, o.value)
			return more
		}
		more = fn(k, v)
		return more
	})
	for ; more && len(own) > 0; own = own[1:] {
		more = own[0].deleted || fn(own[0].key, own[0].value)
	}
}

// ownAfter returns the transaction's writes to keys with prefix after after, sorted by key.
func (t *Tx) ownAfter(prefix, after string) []op {
	var own []op
	for _, o := range t.ops {
		if strings.HasPrefix(o.key, prefix) && o.key > after {
			own = append(own, o)
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].key < own[j].key })
	return own
}

// List returns the sorted keys with prefix the transaction sees, and adds the snapshot's keys
// to the read set.
func (t *Tx) List(prefix string) []string {
	var keys []string
	t.Scan(prefix, "", func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	})
	return keys
}

func (t *Tx) find(key string) int { return t.index.Find(t.ops, key) }

// Key names the key an op writes (keys.Keyed).
func (o op) Key() string { return o.key }

func (t *Tx) set(o op) {
	if i := t.find(o.key); i >= 0 {
		t.ops[i] = o
		return
	}
	t.ops = append(t.ops, o)
	t.index.Added(t.ops)
}

// Empty reports whether the part has no writes.
func (t *Tx) Empty() bool { return len(t.ops) == 0 }

// Validate fails with a ConflictError if a key the transaction read has a newer write than its
// snapshot, sequenced or applied (first committer wins). Blind writes never conflict.
func (t *Tx) Validate(c extension.Commit) error {
	for _, key := range t.reads {
		if t.store.latest(c, t.run, key) > t.snapshot {
			return &dberr.ConflictError{Primitive: "kv", Run: t.run.String(), Key: key}
		}
	}
	for _, o := range t.ops {
		c.Stage(extension.Key{Section: SectionID, Run: t.run, Name: o.key},
			extension.Staged{Version: c.Version(), Deleted: o.deleted})
	}
	return nil
}

// Entries appends one KvPut or KvDelete per written key.
func (t *Tx) Entries(dst []commitlog.Entry, _ extension.Commit) []commitlog.Entry {
	for _, o := range t.ops {
		typ := TypePut
		if o.deleted {
			typ = TypeDelete
		}
		dst = append(dst, commitlog.Entry{Type: typ, Version: 1, Payload: o.payload})
	}
	return dst
}
