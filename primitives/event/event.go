// Package event is the event-log primitive: one append-only log per run, each event
// chained to the previous one by a SHA-256 hash.
//
// Sequences and hashes are derived, not logged: the WAL records an append's type, timestamp and
// payload, and the shard's actor assigns the next sequence and computes the hash when it applies
// the entry, so recovery re-derives identical values. Concurrent appends to one run therefore
// never conflict: the sequencer orders them and the log follows the commit order.
//
// WAL payload (EventAppend 0x30, version 1), after the 16-byte run id:
//
//	i64 timestamp (µs) | uvarint type length | type | payload (the rest)
//
// Snapshot section (section.go): one chunk per run with events at the snapshot's version, body
//
//	u8 format version 1 | uvarint event count (≥ 1) | event*
//	event: uvarint seq | uvarint commit version | i64 timestamp (µs) LE | uvarint len(type) |
//	       type | uvarint len(payload) | payload | 32-byte Hash
//
// holding the log's prefix a reader at that version sees. Load checks that seq counts 0, 1, …,
// that commit versions are ≥ 1 and non-decreasing, and the type and payload limits; it trusts
// the stored hashes (the snapshot file's CRC guards them; VerifyChain re-checks on demand) and
// sets each PrevHash to the previous event's Hash. The log is one allocation; types and payloads
// alias the chunk body. Payloads are not re-validated as JSON.
//
// Hash encoding (fixed; changing it breaks every chain):
//
//	SHA-256( u64 seq LE | u32 len(type) LE | type | i64 timestamp µs LE |
//	         u32 len(payload) LE | payload | 32-byte PrevHash )
//
// The first event's PrevHash is 32 zero bytes.
//
// State layout: each run's log is a chunked.List (blocks that never move: a long log grows
// without copying on the actor) whose View the actor publishes through an atomic pointer once
// per applied batch, so readers never lock and never see a half-written event. A reader at
// snapshot S sees the events whose commit version is ≤ S: a prefix, since the log follows the
// commit order.
package event

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/chunked"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/jsonvalid"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/search"
)

// Identity of the primitive in the WAL and in snapshots.
const (
	SectionID  uint8 = 3
	TypeAppend uint8 = 0x30
	typesLow   uint8 = 0x30
	typesHigh  uint8 = 0x3F
)

// Limits: an event type is a short name; a payload is a JSON document like any other value.
const (
	MaxTypeSize    = 256
	MaxPayloadSize = 16 << 20
)

// ErrMalformed is returned by Apply for a payload that does not decode: corruption.
var ErrMalformed = errors.New("event: malformed entry payload")

// ErrBrokenChain is returned by VerifyChain when a stored hash does not match its event.
var ErrBrokenChain = errors.New("event: hash chain broken")

// Event is one entry of a run's log.
type Event struct {
	Seq       uint64
	Type      string
	Payload   []byte // shared with the store: callers that hand it out copy it
	Timestamp int64  // µs since the Unix epoch, assigned at commit
	PrevHash  [32]byte
	Hash      [32]byte
	Commit    uint64 // commit version that appended it
}

// Store is the event primitive.
type Store struct {
	shards                                                []*shard
	search.Searcher[extension.RunID, extension.SearchRef] // search.go
}

// New returns an event store of n shards.
func New(n int) *Store { return &Store{shards: make([]*shard, n)} }

func (s *Store) Name() string               { return "event" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	sh := &shard{logs: mvcc.NewRuns[extension.RunID, runLog](extension.RunID.Hash),
		idx: s.Searcher.NewShard(id, len(s.shards))}
	s.shards[id] = sh
	return sh
}

type shard struct {
	logs mvcc.Runs[extension.RunID, runLog]
	idx  *search.Runs[extension.RunID, extension.SearchRef] // nil unless the primitive indexes
}

// Log is a run's events as one reader sees them: a prefix of the log, immutable. Event i has
// sequence number i.
type Log = chunked.View[Event]

// runLog is one run's events. Only the actor appends to list; readers load view.
type runLog struct {
	list chunked.List[Event]
	view atomic.Pointer[Log]
}

func newRunLog() *runLog { return new(runLog) }

func (l *runLog) events() Log {
	if p := l.view.Load(); p != nil {
		return *p
	}
	return Log{}
}

// publish makes everything appended so far visible to readers; nothing for a nil log.
func (l *runLog) publish() {
	if l != nil {
		v := l.list.View()
		l.view.Store(&v)
	}
}

func (s *Store) log(run extension.RunID, snapshot uint64) *runLog {
	return s.shards[run.Shard(len(s.shards))].logs.At(run, snapshot)
}

// Log returns the run's events visible at snapshot.
func (s *Store) Log(run extension.RunID, snapshot uint64) Log {
	l := s.log(run, snapshot)
	if l == nil {
		return Log{}
	}
	return visible(l.events(), snapshot)
}

// Events returns a copy of the run's events visible at snapshot, oldest first (payloads and
// types shared).
func (s *Store) Events(run extension.RunID, snapshot uint64) []Event {
	l := s.Log(run, snapshot)
	return l.Slice(0, l.Len())
}

// visible returns the prefix of l a reader at snapshot sees: the events with Commit ≤ snapshot.
func visible(l Log, snapshot uint64) Log {
	if last, ok := l.Last(); !ok || last.Commit <= snapshot { // a reader of the newest version
		return l
	}
	return l.Prefix(sort.Search(l.Len(), func(i int) bool { return l.At(i).Commit > snapshot }))
}

// Apply appends committed events, deriving their sequence numbers and hashes. A run's log is
// published once per batch (readers see none of it before the engine publishes the batch's
// versions anyway).
func (sh *shard) Apply(batch []commitlog.Entry) error {
	var l *runLog // the log being appended to
	for _, e := range batch {
		run, ev, err := decode(e)
		if err != nil {
			l.publish()
			return err
		}
		if next := sh.logs.Create(run, e.TxID, newRunLog); next != l {
			l.publish()
			l = next
		}
		if last, ok := l.list.Last(); ok {
			ev.Seq, ev.PrevHash = last.Seq+1, last.Hash
		}
		ev.Hash = Hash(ev)
		l.list.Append(ev)
		if sh.idx != nil {
			sh.idx.Put(run, extension.SearchRef{Seq: ev.Seq}, e.TxID, searchText(&ev))
		}
	}
	l.publish()
	return nil
}

// DropRun deletes the run's log at version: see extension.Shard.
func (sh *shard) DropRun(run extension.RunID, version uint64) {
	sh.logs.Drop(run, version)
	sh.idx.DropRun(run, version)
}

// Trim forgets the logs of runs deleted for every reader at oldest or later.
func (sh *shard) Trim(oldest uint64) {
	sh.logs.Trim(oldest)
	sh.idx.Trim(oldest)
}

// Hash computes an event's chain hash over the encoding in the package doc. An event that
// fits a stack buffer is hashed in one call, without allocating.
func Hash(e Event) [32]byte {
	var buf [512]byte
	b := binary.LittleEndian.AppendUint64(buf[:0], e.Seq)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Type)))
	b = append(b, e.Type...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Timestamp))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Payload)))
	if len(b)+len(e.Payload)+len(e.PrevHash) <= len(buf) {
		b = append(b, e.Payload...)
		return sha256.Sum256(append(b, e.PrevHash[:]...))
	}
	h := sha256.New()
	h.Write(b)
	h.Write(e.Payload)
	h.Write(e.PrevHash[:])
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// VerifyChain checks every event's hash and link (i is the event's index in the log, from 0);
// nil when intact. Pass slices.All of a slice, or a Log's All.
func VerifyChain(events iter.Seq2[int, Event]) error {
	var prev [32]byte
	for i, e := range events {
		if e.Seq != uint64(i) {
			return fmt.Errorf("%w: event %d has sequence %d", ErrBrokenChain, i, e.Seq)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("%w: event %d does not link to event %d", ErrBrokenChain, i, i-1)
		}
		if Hash(e) != e.Hash {
			return fmt.Errorf("%w: event %d's hash does not match its content", ErrBrokenChain, i)
		}
		prev = e.Hash
	}
	return nil
}

// Check validates an append before it is buffered: a non-empty UTF-8 type of at most
// MaxTypeSize bytes, and a JSON payload of at most MaxPayloadSize bytes.
func Check(typ string, payload []byte) error {
	switch {
	case typ == "":
		return dberr.Invalid("empty event type")
	case len(typ) > MaxTypeSize:
		return dberr.TooLarge("event type", len(typ), MaxTypeSize)
	case !utf8.ValidString(typ):
		return dberr.Invalid("event type %q is not valid UTF-8", typ)
	case len(payload) > MaxPayloadSize:
		return dberr.TooLarge("event payload", len(payload), MaxPayloadSize)
	case !jsonvalid.Valid(payload):
		return dberr.Invalid("event payload is not valid JSON")
	}
	return nil
}

// encode builds an EventAppend payload.
func encode(run extension.RunID, ts int64, typ string, payload []byte) []byte {
	p := make([]byte, 0, commitlog.RunIDSize+8+binary.MaxVarintLen32+len(typ)+len(payload))
	p = append(p, run[:]...)
	p = binary.LittleEndian.AppendUint64(p, uint64(ts))
	p = binary.AppendUvarint(p, uint64(len(typ)))
	p = append(p, typ...)
	return append(p, payload...)
}

// stamp sets the timestamp of an encoded EventAppend payload.
func stamp(p []byte, ts int64) {
	binary.LittleEndian.PutUint64(p[commitlog.RunIDSize:], uint64(ts))
}

// decode reads an EventAppend entry; Seq and hashes are left to Apply.
func decode(e commitlog.Entry) (run extension.RunID, ev Event, err error) {
	p := e.Payload
	if e.Type != TypeAppend || e.Version != 1 || len(p) < commitlog.RunIDSize+8 {
		return run, ev, fmt.Errorf("%w: type %#02x version %d, %d bytes", ErrMalformed, e.Type, e.Version, len(p))
	}
	copy(run[:], p)
	p = p[commitlog.RunIDSize:]
	ev.Timestamp = int64(binary.LittleEndian.Uint64(p))
	p = p[8:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n == 0 || n > MaxTypeSize || n > uint64(len(p)-w) {
		return run, ev, fmt.Errorf("%w: bad type length", ErrMalformed)
	}
	typ := p[w : w+int(n)]
	// The type aliases the payload, as the event's payload does: a logged payload never changes.
	ev.Type, ev.Payload, ev.Commit = unsafe.String(&typ[0], len(typ)), p[w+int(n):], e.TxID
	return run, ev, nil
}
