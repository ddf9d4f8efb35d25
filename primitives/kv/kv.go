// Package kv is the key-value primitive: per run, string keys mapping to byte
// values, multi-versioned so that readers at a snapshot never wait for the writer.
//
// State layout: the run's shard (xxhash(run) % shards) holds a map from run to that run's
// keys, each key a version chain (internal/mvcc). Only the shard's actor writes; transactions
// and single reads walk the chains directly.
//
// Snapshot section: internal/tablesection, each value a length-prefixed byte string.
//
// WAL payloads (entry version 1), after the 16-byte run id every payload starts with:
//
//	KvPut    0x10: uvarint key length, key, value (the rest of the payload)
//	KvDelete 0x11: uvarint key length, key
//
// Decisions of our own: List returns keys whose current value is live; List adds
// each listed key to the transaction's read set, so a listed key that changes conflicts, but a
// key that appears under the prefix later does not (snapshot isolation allows this phantom).
// Deleting a key that does not exist still logs a tombstone: the outcome is the same and the
// commit needs no read.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
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
	SectionID  uint8 = 1
	TypePut    uint8 = 0x10
	TypeDelete uint8 = 0x11
	typesLow   uint8 = 0x10
	typesHigh  uint8 = 0x1F
)

// Limits on keys and values.
const (
	MaxKeySize   = keys.MaxSize
	MaxValueSize = 16 << 20
)

// ErrMalformed is returned by Apply for a payload that does not decode: corruption.
var ErrMalformed = errors.New("kv: malformed entry payload")

// Store is the KV primitive: every shard's state, and the read paths over it.
type Store struct {
	mvcc.Tables[extension.RunID, []byte]
	tableindex.Searcher[[]byte] // search.go
}

// New returns a KV store of n shards. The engine creates each shard's state with NewShard.
func New(n int) *Store {
	return &Store{Tables: mvcc.NewTables[extension.RunID, []byte](n, false), Searcher: tableindex.NewSearcher(searchText)}
}

func (s *Store) Name() string               { return "kv" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	return &shard{s.Searcher.NewShard(id, s.Len(), s.Add(id))}
}

// shard is a table of per-run keys; its Trim (the table's) drops old versions and forgets keys
// whose tombstone every reader is past.
type shard struct {
	tableindex.Shard[[]byte]
}

// Get returns the value of key at snapshot. The slice is shared with the store: callers that
// hand it to users copy it.
func (s *Store) Get(run extension.RunID, key string, snapshot uint64) ([]byte, bool) {
	r := s.Chain(run, key, snapshot)
	if r == nil {
		return nil, false
	}
	v := r.At(snapshot)
	if v == nil || v.Deleted {
		return nil, false
	}
	return v.Value, true
}

// Keys returns the sorted keys with prefix that are live at snapshot.
func (s *Store) Keys(run extension.RunID, prefix string, snapshot uint64) []string {
	var keys []string
	s.Scan(run, prefix, "", snapshot, func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	})
	return keys
}

// Scan calls fn with each key with prefix that sorts after after ("" for the first) and is live
// at snapshot, in key order, with its value (shared: copy it to hand it out), until fn returns
// false. It walks the run's ordered index: O(log n) to the start, then the keys it passes.
func (s *Store) Scan(run extension.RunID, prefix, after string, snapshot uint64, fn func(key string, value []byte) bool) {
	from := prefix
	if after >= from {
		from = after + "\x00" // the first string above after
	}
	s.Of(run).Ordered(run, snapshot, from, func(k string, c *mvcc.Chain[[]byte]) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if v := c.At(snapshot); v != nil && !v.Deleted {
			return fn(k, v.Value)
		}
		return true
	})
}

// latest returns the version of the newest write to key, sequenced or applied; 0 if none.
func (s *Store) latest(c extension.Commit, run extension.RunID, key string) uint64 {
	if st, ok := c.Staged(extension.Key{Section: SectionID, Run: run, Name: key}); ok {
		return st.Version
	}
	return s.NewestCommit(run, key)
}

// CheckKey validates a key: non-empty UTF-8 of at most MaxKeySize bytes.
func CheckKey(key string) error { return keys.Check("key", key) }

// CheckValue validates a value: at most MaxValueSize bytes.
func CheckValue(v []byte) error {
	if len(v) > MaxValueSize {
		return dberr.TooLarge("value", len(v), MaxValueSize)
	}
	return nil
}

// Apply applies committed KvPut and KvDelete entries.
func (sh *shard) Apply(batch []commitlog.Entry) error {
	for _, e := range batch {
		run, key, value, err := decode(e)
		if err != nil {
			return err
		}
		sh.Push(run, key, e.TxID, value, e.Type == TypeDelete)
		sh.Index(run, key, e.TxID, value, e.Type == TypeDelete)
	}
	return nil
}

// section is KV's snapshot section codec: a value is a length-prefixed byte string.
var section = &tablesection.Codec[[]byte]{
	Name: "kv", Format: 1,
	Append: tablesection.AppendBytes, Decode: tablesection.DecodeBytes,
}

// Freeze returns the shard at version: O(1), see mvcc.Frozen.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return tablesection.View[[]byte]{Codec: section, Frozen: sh.Table.Freeze(version)}
}

// LoadSection restores one run's keys from a snapshot chunk.
func (sh *shard) LoadSection(r io.Reader) error {
	return sh.Shard.LoadSection(r, section)
}

// encode builds a KvPut or KvDelete payload.
func encode(run extension.RunID, key string, value []byte) []byte {
	p := make([]byte, 0, commitlog.RunIDSize+binary.MaxVarintLen32+len(key)+len(value))
	p = append(p, run[:]...)
	p = binary.AppendUvarint(p, uint64(len(key)))
	p = append(p, key...)
	return append(p, value...)
}

// decode splits a payload. Key and value alias it: payloads are immutable once logged and the
// shard keeps them, so the key string needs no copy.
func decode(e commitlog.Entry) (run extension.RunID, key string, value []byte, err error) {
	p := e.Payload
	if e.Version != 1 || (e.Type != TypePut && e.Type != TypeDelete) {
		return run, "", nil, fmt.Errorf("%w: type %#02x version %d", ErrMalformed, e.Type, e.Version)
	}
	if len(p) < commitlog.RunIDSize {
		return run, "", nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(p))
	}
	copy(run[:], p)
	p = p[commitlog.RunIDSize:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n == 0 || n > MaxKeySize || n > uint64(len(p)-w) {
		return run, "", nil, fmt.Errorf("%w: bad key length", ErrMalformed)
	}
	kb, value := p[w:w+int(n)], p[w+int(n):]
	if e.Type == TypeDelete && len(value) != 0 {
		return run, "", nil, fmt.Errorf("%w: delete with a value", ErrMalformed)
	}
	return run, unsafe.String(&kb[0], len(kb)), value, nil
}
