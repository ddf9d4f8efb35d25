package inmem

import (
	"context"
	"errors"

	jsondoc "github.com/inmemdb/inmem/primitives/json"
)

// PatchOp is one operation of JSON.Patch, applied in order with the others, atomically:
//
//	Op    string // "set" or "delete"
//	Path  string // "$" (or "") for the root, then .name and [index] segments
//	Value []byte // for "set": the encoded JSON value to write there
type PatchOp = jsondoc.PatchOp

// JSON is the document primitive: JSON values under string keys, read and changed at paths
// ($.a.b[0].c: a root, then .name and [index] segments, no wildcards). The root is "$" — and
// also the empty path "", so Set(ctx, run, key, "", v) replaces the whole document, as
// Set(…, "$", v) does. Each document has its own version: 1 at Create, +1 per changing
// transaction. Conflicts are per document: a transaction that read or changed a document fails
// with ErrConflict if another commit changed it after its snapshot. Values travel as encoded
// JSON bytes.
type JSON struct{ db *DB }

// JSON returns the document facade.
func (db *DB) JSON() *JSON { return &db.jsonAPI }

// Create stores a new document; an existing key is ErrAlreadyExists.
func (j *JSON) Create(ctx context.Context, run RunID, key string, doc []byte) error {
	return j.write(ctx, run, func(t *jsondoc.Tx) error { return t.Create(key, doc) })
}

// Set writes value at path, creating missing intermediate objects and arrays; an index equal to
// an array's length appends. At the root ("$" or "") it replaces the whole document. A missing
// document is ErrNotFound.
func (j *JSON) Set(ctx context.Context, run RunID, key, path string, value []byte) error {
	return j.write(ctx, run, func(t *jsondoc.Tx) error { return t.Set(key, path, value) })
}

// Delete removes the value at path; a missing path is not an error, and deleting the root
// leaves null.
func (j *JSON) Delete(ctx context.Context, run RunID, key, path string) error {
	return j.write(ctx, run, func(t *jsondoc.Tx) error { return t.Delete(key, path) })
}

// DeleteDoc removes the document.
func (j *JSON) DeleteDoc(ctx context.Context, run RunID, key string) error {
	return j.write(ctx, run, func(t *jsondoc.Tx) error { return t.DeleteDoc(key) })
}

// Patch applies ops in order, atomically, as one change of the document's version.
func (j *JSON) Patch(ctx context.Context, run RunID, key string, ops []PatchOp) error {
	return j.write(ctx, run, func(t *jsondoc.Tx) error { return t.Patch(key, ops) })
}

// write commits one document operation. A path operation reads the document it changes (so a
// concurrent change is a conflict), so it runs as an Update: retried on conflicts.
func (j *JSON) write(ctx context.Context, run RunID, op func(*jsondoc.Tx) error) error {
	return j.db.Update(ctx, run, func(tx *Tx) error {
		if err := tx.check(true); err != nil {
			return err
		}
		return op(tx.jsonPart())
	})
}

// Get returns the encoded JSON at path in the document. A missing document or path is
// ErrNotFound.
func (j *JSON) Get(run RunID, key, path string) ([]byte, error) {
	if err := j.db.usable(); err != nil {
		return nil, err
	}
	snap := j.db.clock.Now()
	v, err := j.db.docs.Get(run, key, path, snap)
	if errors.Is(err, ErrNotFound) {
		if rerr := j.db.runCheck(run, snap, false); rerr != nil {
			return nil, rerr
		}
	}
	return v, err
}

// Version returns the document's version.
func (j *JSON) Version(run RunID, key string) (uint64, error) {
	if err := j.db.usable(); err != nil {
		return 0, err
	}
	snap := j.db.clock.Now()
	if err := j.db.runCheck(run, snap, false); err != nil {
		return 0, err
	}
	return j.db.docs.Version(run, key, snap)
}

// Exists reports whether the document exists.
func (j *JSON) Exists(run RunID, key string) (bool, error) {
	_, err := j.Version(run, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// List returns the run's document keys, sorted.
func (j *JSON) List(run RunID) (keys []string, err error) {
	err = j.db.View(run, func(tx *Tx) error {
		keys, err = tx.JSON().List()
		return err
	})
	return keys, err
}

// JSONTx is the document primitive inside a transaction; reads see the transaction's writes.
type JSONTx struct{ tx *Tx }

// JSON returns the transaction's document view.
func (tx *Tx) JSON() *JSONTx { return &tx.jsonTx }

// Get returns the encoded JSON at path, as the transaction sees it.
func (t *JSONTx) Get(key, path string) ([]byte, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	return t.tx.jsonPart().Get(key, path)
}

// Create buffers a new document.
func (t *JSONTx) Create(key string, doc []byte) error {
	return t.write(func(p *jsondoc.Tx) error { return p.Create(key, doc) })
}

// Set buffers writing value at path.
func (t *JSONTx) Set(key, path string, value []byte) error {
	return t.write(func(p *jsondoc.Tx) error { return p.Set(key, path, value) })
}

// Delete buffers removing the value at path.
func (t *JSONTx) Delete(key, path string) error {
	return t.write(func(p *jsondoc.Tx) error { return p.Delete(key, path) })
}

// DeleteDoc buffers removing the document.
func (t *JSONTx) DeleteDoc(key string) error {
	return t.write(func(p *jsondoc.Tx) error { return p.DeleteDoc(key) })
}

// Patch buffers ops, applied in order and atomically.
func (t *JSONTx) Patch(key string, ops []PatchOp) error {
	return t.write(func(p *jsondoc.Tx) error { return p.Patch(key, ops) })
}

// List returns the sorted keys of the documents the transaction sees.
func (t *JSONTx) List() ([]string, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	return t.tx.jsonPart().Keys(), nil
}

func (t *JSONTx) write(op func(*jsondoc.Tx) error) error {
	if err := t.tx.check(true); err != nil {
		return err
	}
	return op(t.tx.jsonPart())
}
