// Package json is the JSON document primitive: per run, string keys naming JSON
// documents, each with its own version, changed in place by path operations. The package is
// named json; it imports encoding/json as stdjson.
//
// Documents are parsed values (encoding/json with UseNumber: nil, bool, stdjson.Number, string,
// []any, map[string]any) and immutable inside the store: a Set or Delete returns a new document
// that copies only the objects and arrays on the changed path and shares every other subtree
// with the previous version. Numbers keep their text, so encoding is deterministic (object
// members sorted by encoding/json). Values are parsed once, by the transaction, with the
// package's own parser (parse.go; what encoding/json decodes, in a fifth of the allocations);
// the entry carries the parsed ops to Apply (commitlog.Entry.Decoded), and only entries read
// back from the WAL are parsed again.
//
// State layout: the run's shard (xxhash(run) % shards) holds a map from run to that run's
// documents, each a version chain (internal/mvcc) of immutable Doc records. Only the shard's
// actor writes; transactions and single reads walk the chains directly.
//
// Paths: "" or "$" is the root; then ".name" (a non-empty UTF-8 name without '.', '[', ']', '*')
// and "[index]" (1 to 9 decimal digits) segments, e.g. "$.a.b[0].c"; a path may also start
// directly with a segment (".a", "[0]"). No wildcards, quoting or escapes; at most 256
// segments. Path errors wrap ErrInvalidPath.
//
// Path semantics. Set creates missing intermediate containers (an object before ".name", an
// array before "[i]"); a null on the way counts as missing and is replaced. An index equal to
// the array's length appends (at any segment), a larger one is ErrIndexOutOfRange; a step into
// a value of the wrong kind is ErrTypeMismatch. Delete of a path that does not resolve (missing
// member, index past the end, a step into a scalar or the wrong container) is no error and
// changes nothing; deleting the root leaves the document null; deleting an array element
// shifts the later ones. Get of a missing member or index is ErrNotFound, of a step into the
// wrong kind ErrTypeMismatch.
//
// Snapshot section (section.go): internal/tablesection, no tombstones (the table forgets them:
// a re-created document starts over at 1, and nothing after the snapshot conflicts with a write
// at or before it), each value
//
//	uvarint document version (≥ 1) | document value
//	value: u8 tag, then 0 null, 1 false, 2 true (nothing more) | 3 number, 4 string: uvarint
//	length, text (a JSON number's text as written; a string's UTF-8 bytes, unescaped) |
//	5 array: uvarint count, values | 6 object: uvarint count, then per member in strictly
//	increasing byte order: uvarint length, name, value
//
// Load checks what parseValue guarantees (kinds, valid numbers and UTF-8, nesting ≤ 100,
// arrays ≤ 1,000,000, unique members) and aliases strings and numbers to the chunk body; the
// 16 MiB encoded limit is not re-checked. The binary tree decodes ~3× faster than parsing JSON
// text, and reads, Version, Keys and Validate see exactly the document that was written.
//
// WAL payloads (entry version 1): one entry per document written by a transaction, carrying
// the transaction's path operations on it, in order, and the resulting document version:
//
//	run id (16 bytes), uvarint key length, key, uvarint resulting version, uvarint op count,
//	then per op: kind u8 (0 create, 1 set, 2 delete, 3 delete-doc), uvarint path length, path
//	(canonical text), uvarint value length, value (encoded JSON; empty for delete, delete-doc)
//
// The entry type names the operations: JsonCreate 0x20, JsonSet 0x21, JsonDelete 0x22,
// JsonDeleteDoc 0x24 for a single op of that kind, JsonPatch 0x23 for anything else (a Patch,
// or several operations on one document in one transaction). Apply replays the ops on the
// previous document (the conflict rule guarantees it is the document Validate computed on), so
// the log stays small for small changes to big documents. Replay cannot fail after validation:
// a replay failure, or a resulting version that does not follow the previous one, is
// corruption (ErrMalformed). The resulting version is 0 for a deleted document.
//
// Versions: 1 when a transaction leaves a previously missing document live (Create, Create+Set
// in one transaction: 1; a compacted run's base creates each document at the version it had), the previous version + 1 when a live document stays live (including
// DeleteDoc then Create in one transaction). A re-created document starts over at 1 (a create
// always gives 1; unlike state cells nothing compares against it).
//
// Conflicts: a transaction conflicts on a document it read (Get) or mutated when any
// other commit to that document, sequenced or applied, is newer than its snapshot. So every
// mutation is validated against the snapshot's document, which is the newest one.
//
// Other decisions: all errors of path semantics (ErrNotFound for a mutation of a missing
// document, ErrAlreadyExists, ErrIndexOutOfRange, ErrTypeMismatch) and the limits on the
// resulting document appear at commit, in Validate; the call checks the key, path syntax, value
// syntax and the value's own limits. Limits: nesting deeper than 100 and arrays longer than
// 1,000,000 are ErrTooLarge (as is a document over 16 MiB encoded); invalid JSON is
// ErrInvalidArgument. Validate encodes each resulting document once to measure it (O(size)).
// DeleteDoc of a missing document is ErrNotFound. A tombstone is dropped from the map by Trim
// once no reader needs it (like KV).
package json

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/search/tableindex"
)

// Identity of the primitive in the WAL and in snapshots.
const (
	SectionID      uint8 = 2
	TypeCreate     uint8 = 0x20
	TypeSet        uint8 = 0x21
	TypeDelete     uint8 = 0x22
	TypePatch      uint8 = 0x23
	TypeDeleteDoc  uint8 = 0x24
	typesLow       uint8 = 0x20
	typesHigh      uint8 = 0x2F
	MaxKeySize           = keys.MaxSize
	maxPayloadSize       = 60 << 20 // under the WAL's 64 MiB entry limit
)

// ErrMalformed is returned by Apply for a payload that does not decode or replay: corruption.
var ErrMalformed = errors.New("json: malformed entry payload")

// Doc is one committed state of a document. Records on the chains are immutable, Value too.
type Doc struct {
	Value   any
	Version uint64 // 1 at create, +1 per mutating transaction; 0 on a tombstone
}

// Store is the JSON primitive: every shard's state, and the read paths over it.
type Store struct {
	mvcc.Tables[extension.RunID, Doc]
	tableindex.Searcher[Doc] // search.go
}

// New returns a JSON store of n shards. The engine creates each shard's state with NewShard.
func New(n int) *Store {
	return &Store{Tables: mvcc.NewTables[extension.RunID, Doc](n, false), Searcher: tableindex.NewSearcher(docText)}
}

func (s *Store) Name() string               { return "json" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	return &shard{s.Searcher.NewShard(id, s.Len(), s.Add(id))}
}

// shard is a table of per-run documents; its Trim (the table's) drops old versions and forgets
// documents whose tombstone every reader is past.
type shard struct {
	tableindex.Shard[Doc]
}

// Doc returns document key at snapshot. The value is shared with the store and must not be
// changed.
func (s *Store) Doc(run extension.RunID, key string, snapshot uint64) (Doc, bool) {
	r := s.Chain(run, key, snapshot)
	if r == nil {
		return Doc{}, false
	}
	v := r.At(snapshot)
	if v == nil || v.Deleted {
		return Doc{}, false
	}
	return v.Value, true
}

// Get returns the encoded JSON at path in document key at snapshot: ErrNotFound for a missing
// document or path, ErrInvalidPath, ErrTypeMismatch.
func (s *Store) Get(run extension.RunID, key, path string, snapshot uint64) ([]byte, error) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	d, ok := s.Doc(run, key, snapshot)
	if !ok {
		return nil, fmt.Errorf("%w: json document %q of run %s", dberr.ErrNotFound, key, run)
	}
	v, err := getValue(d.Value, p)
	if err != nil {
		return nil, err
	}
	return encodeValue(v)
}

// Version returns the version of document key at snapshot; ErrNotFound if it does not exist.
func (s *Store) Version(run extension.RunID, key string, snapshot uint64) (uint64, error) {
	d, ok := s.Doc(run, key, snapshot)
	if !ok {
		return 0, fmt.Errorf("%w: json document %q of run %s", dberr.ErrNotFound, key, run)
	}
	return d.Version, nil
}

// Keys returns the sorted keys of the documents live at snapshot.
func (s *Store) Keys(run extension.RunID, snapshot uint64) []string {
	keys := mvcc.Live(s.Of(run), run, snapshot, func(k string, _ Doc) string { return k })
	slices.Sort(keys)
	return keys
}

// latest returns the commit version of the newest write to key, sequenced or applied; 0 if none.
func (s *Store) latest(c extension.Commit, run extension.RunID, key string) uint64 {
	if st, ok := c.Staged(extension.Key{Section: SectionID, Run: run, Name: key}); ok {
		return st.Version
	}
	return s.NewestCommit(run, key)
}

// CheckKey validates a document key: non-empty UTF-8 of at most MaxKeySize bytes.
func CheckKey(key string) error { return keys.Check("json document key", key) }

// Apply applies committed JSON entries. A batch is decoded and replayed whole before anything
// is pushed, so a malformed entry leaves the shard untouched.
func (sh *shard) Apply(batch []commitlog.Entry) error {
	type docKey struct {
		run extension.RunID
		key string
	}
	type outcome struct {
		docKey
		commit uint64
		doc    Doc
		live   bool
	}
	pending := make(map[docKey]state, len(batch))
	outs := make([]outcome, 0, len(batch))
	for _, e := range batch {
		d, ok := e.Decoded.(*decoded) // built by this primitive's Tx: the payload's ops, parsed
		if !ok {
			var err error
			if d, err = decode(e); err != nil {
				return err
			}
		}
		k := docKey{d.run, d.key}
		prev, seen := pending[k] // an earlier entry of the batch, not pushed yet
		if !seen {
			prev = sh.latest(d.run, d.key)
		}
		next, err := replay(prev, d.key, d.ops)
		if err != nil {
			return fmt.Errorf("%w: replay on document %q: %v", ErrMalformed, d.key, err)
		}
		if restored(prev, d) {
			next.version = d.version
		}
		if next.version != d.version {
			return fmt.Errorf("%w: document %q: version %d after %d (live %v)", ErrMalformed, d.key, d.version, prev.version, prev.live)
		}
		pending[k] = next
		outs = append(outs, outcome{docKey: k, commit: e.TxID, doc: Doc{Value: next.value, Version: next.version}, live: next.live})
	}
	for _, o := range outs {
		sh.Push(o.run, o.key, o.commit, o.doc, !o.live)
		sh.Index(o.run, o.key, o.commit, o.doc, !o.live)
	}
	return nil
}

// restored reports whether d creates a missing document at the version it carries: a
// document written again as it was (a compacted run's base keeps each document's version,
// see Materialize). A transaction's create is always at version 1.
func restored(prev state, d *decoded) bool {
	return !prev.live && len(d.ops) == 1 && d.ops[0].kind == opCreate && d.version > 1
}

// latest is the newest applied state of a document; actor only.
func (sh *shard) latest(run extension.RunID, key string) state {
	if c := sh.Chain(run, key, mvcc.Latest); c != nil {
		if v := c.Latest(); v != nil && !v.Deleted {
			return state{value: v.Value.Value, version: v.Value.Version, live: true}
		}
	}
	return state{}
}

// encode builds the payload of d.
func encode(d *decoded) []byte {
	p := make([]byte, 0, payloadSize(d.key, d.ops))
	p = append(p, d.run[:]...)
	p = binary.AppendUvarint(p, uint64(len(d.key)))
	p = append(p, d.key...)
	p = binary.AppendUvarint(p, d.version)
	p = binary.AppendUvarint(p, uint64(len(d.ops)))
	for _, o := range d.ops {
		p = append(p, byte(o.kind))
		p = binary.AppendUvarint(p, uint64(len(o.pathText)))
		p = append(p, o.pathText...)
		p = binary.AppendUvarint(p, uint64(len(o.raw)))
		p = append(p, o.raw...)
	}
	return p
}

// payloadSize is the size encode gives, for the limit check in Validate.
func payloadSize(key string, ops []op) int {
	n := commitlog.RunIDSize + 3*binary.MaxVarintLen64 + len(key)
	for _, o := range ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(o.pathText) + len(o.raw)
	}
	return n
}

type decoded struct {
	run     extension.RunID
	key     string
	version uint64
	ops     []op
}

// decode splits and parses a payload: paths and values are parsed again, so replay sees
// exactly what Validate saw. The key aliases the payload (immutable once logged).
func decode(e commitlog.Entry) (d *decoded, err error) {
	d = new(decoded)
	p := e.Payload
	if e.Version != 1 || e.Type < TypeCreate || e.Type > TypeDeleteDoc {
		return nil, fmt.Errorf("%w: type %#02x version %d", ErrMalformed, e.Type, e.Version)
	}
	if len(p) < commitlog.RunIDSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(p))
	}
	copy(d.run[:], p)
	p = p[commitlog.RunIDSize:]
	kb, p, ok := chunk(p, MaxKeySize)
	if !ok || len(kb) == 0 {
		return nil, fmt.Errorf("%w: bad key", ErrMalformed)
	}
	d.key = unsafe.String(&kb[0], len(kb))
	if CheckKey(d.key) != nil {
		return nil, fmt.Errorf("%w: bad key", ErrMalformed)
	}
	var w int
	if d.version, w = binary.Uvarint(p); w <= 0 {
		return nil, fmt.Errorf("%w: bad document version", ErrMalformed)
	}
	p = p[w:]
	count, w := binary.Uvarint(p)
	if w <= 0 || count == 0 || count > uint64(len(p)) {
		return nil, fmt.Errorf("%w: bad op count", ErrMalformed)
	}
	p = p[w:]
	d.ops = make([]op, 0, count)
	for range count {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: truncated op", ErrMalformed)
		}
		o := op{kind: opKind(p[0])}
		p = p[1:]
		if o.kind > opDeleteDoc {
			return nil, fmt.Errorf("%w: op kind %d", ErrMalformed, o.kind)
		}
		var pb, vb []byte
		if pb, p, ok = chunk(p, len(p)); !ok {
			return nil, fmt.Errorf("%w: bad path length", ErrMalformed)
		}
		if vb, p, ok = chunk(p, len(p)); !ok {
			return nil, fmt.Errorf("%w: bad value length", ErrMalformed)
		}
		o.pathText = string(pb)
		if o.path, err = ParsePath(o.pathText); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch o.kind {
		case opCreate, opSet:
			if o.value, err = parseValue(vb); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			o.raw = vb
		default:
			if len(vb) != 0 {
				return nil, fmt.Errorf("%w: value on a delete", ErrMalformed)
			}
		}
		if (o.kind == opCreate || o.kind == opDeleteDoc) && len(o.path) != 0 {
			return nil, fmt.Errorf("%w: document op with a path", ErrMalformed)
		}
		d.ops = append(d.ops, o)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(p))
	}
	if e.Type != TypePatch && (len(d.ops) != 1 || typeOf(d.ops) != e.Type) {
		return nil, fmt.Errorf("%w: type %#02x does not match its ops", ErrMalformed, e.Type)
	}
	return d, nil
}

// chunk splits a uvarint-length-prefixed chunk of at most limit bytes off p.
func chunk(p []byte, limit int) (c, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(limit) || n > uint64(len(p)-w) {
		return nil, nil, false
	}
	return p[w : w+int(n)], p[w+int(n):], true
}
