package inmem

import (
	"context"
	"fmt"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/primitives/kv"
)

// KV is the key-value primitive. Each write method is a one-operation transaction;
// each read reads the newest published state. Keys are non-empty UTF-8 strings of at most
// 4 KiB; values are at most 16 MiB.
type KV struct{ db *DB }

// KV returns the key-value facade.
func (db *DB) KV() *KV { return &db.kvAPI }

// Put sets key to value (copied). A blind put never conflicts: the last committer wins.
func (k *KV) Put(ctx context.Context, run RunID, key string, value []byte) error {
	part := k.db.kv.NewTx(run, 0)
	if err := part.Put(key, value); err != nil {
		return err
	}
	return k.db.submit(ctx, actors.NewCommit(run, 0, part))
}

// Get returns a copy of key's value. A missing key is ErrNotFound; an unknown run
// ErrRunNotFound.
func (k *KV) Get(run RunID, key string) ([]byte, error) {
	if err := k.db.usable(); err != nil {
		return nil, err
	}
	s := k.db.clock.Now()
	if v, ok := k.db.kv.Get(run, key, s); ok {
		return clone(v), nil // a key that is found was valid when written: no check needed
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	return nil, k.db.missing(run, key, s)
}

// missing explains a read that found nothing: an unknown run, or a missing key.
func (db *DB) missing(run RunID, key string, snapshot uint64) error {
	if err := db.runCheck(run, snapshot, false); err != nil {
		return err
	}
	return fmt.Errorf("%w: key %q", ErrNotFound, key)
}

// clone copies a value for the caller. Unlike bytes.Clone it allocates exactly len(v) and keeps
// an empty value non-nil.
func clone(v []byte) []byte {
	c := make([]byte, len(v))
	copy(c, v)
	return c
}

// Exists reports whether key has a value.
func (k *KV) Exists(run RunID, key string) (bool, error) {
	_, err := k.Get(run, key)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, err
}

// GetMany returns copies of the values of keys, read at one snapshot; a missing key gives a
// nil entry.
func (k *KV) GetMany(run RunID, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := k.db.View(run, func(tx *Tx) error {
		for i, key := range keys {
			v, err := tx.KV().Get(key)
			if err != nil && !isNotFound(err) {
				return err
			}
			out[i] = v
		}
		return nil
	})
	return out, err
}

// Delete removes key and reports whether it existed.
func (k *KV) Delete(ctx context.Context, run RunID, key string) (existed bool, err error) {
	err = k.db.Update(ctx, run, func(tx *Tx) error {
		existed = false
		if _, err := tx.KV().Get(key); err == nil {
			existed = true
		} else if !isNotFound(err) {
			return err
		}
		return tx.KV().Delete(key)
	})
	return existed, err
}

// List returns the keys with prefix, sorted.
func (k *KV) List(run RunID, prefix string) (keys []string, err error) {
	err = k.db.View(run, func(tx *Tx) error {
		keys, err = tx.KV().List(prefix)
		return err
	})
	return keys, err
}

// Pair is a key and its value.
type Pair struct {
	Key   string
	Value []byte
}

// Scan returns, in key order, at most limit pairs (0: no limit) whose key has prefix and sorts
// after after ("" to start at the beginning), read at one snapshot: a page, and the next page
// starts after the last key of this one. It costs O(log n) plus the keys it returns (the first
// scan of a run sorts the run's keys once). Values are copies.
func (k *KV) Scan(run RunID, prefix, after string, limit int) (pairs []Pair, err error) {
	err = k.db.View(run, func(tx *Tx) error {
		pairs, err = tx.KV().Scan(prefix, after, limit)
		return err
	})
	return pairs, err
}

// KVTx is the key-value primitive inside a transaction.
type KVTx struct{ tx *Tx }

// KV returns the transaction's key-value view.
func (tx *Tx) KV() *KVTx { return &tx.kvTx }

// Get returns a copy of key's value as the transaction sees it (its own writes first).
func (t *KVTx) Get(key string) ([]byte, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	v, err := t.tx.kvPart().Get(key)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
		}
		return nil, err
	}
	return clone(v), nil
}

// Put buffers setting key to value (copied).
func (t *KVTx) Put(key string, value []byte) error {
	if err := t.tx.check(true); err != nil {
		return err
	}
	return t.tx.kvPart().Put(key, value)
}

// Delete buffers removing key. Deleting a missing key is not an error.
func (t *KVTx) Delete(key string) error {
	if err := t.tx.check(true); err != nil {
		return err
	}
	return t.tx.kvPart().Delete(key)
}

// List returns the sorted keys with prefix that the transaction sees.
func (t *KVTx) List(prefix string) ([]string, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	return t.tx.kvPart().List(prefix), nil
}

// Scan is KV.Scan inside the transaction: its own writes are laid over the snapshot, and every
// key it returns from the snapshot joins the read set (a commit that changed one after the
// snapshot is a conflict; a key another commit added under the prefix is not: phantoms are
// allowed, see Tx).
func (t *KVTx) Scan(prefix, after string, limit int) ([]Pair, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: Scan: negative limit %d", ErrInvalidArgument, limit)
	}
	var pairs []Pair
	if limit > 0 {
		pairs = make([]Pair, 0, min(limit, 4096))
	}
	size := 0
	t.tx.kvPart().Scan(prefix, after, func(key string, v []byte) bool {
		pairs = append(pairs, Pair{Key: key, Value: v}) // shared until copied below
		size += len(v)
		return limit == 0 || len(pairs) < limit
	})
	// One allocation for every value of the page, not one each: each Value is its own
	// capacity-limited piece of it, so appending to one never touches another.
	arena := make([]byte, 0, size)
	for i := range pairs {
		start := len(arena)
		arena = append(arena, pairs[i].Value...)
		pairs[i].Value = arena[start:len(arena):len(arena)]
	}
	return pairs, nil
}

// Exists reports whether the transaction sees a value for key.
func (t *KVTx) Exists(key string) (bool, error) {
	_, err := t.Get(key)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
