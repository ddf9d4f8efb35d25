// Package event is the event-log primitive (SPEC 3.3): one append-only log per run, each event
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
// State layout: each run's log is an append-only slice published through an atomic pointer.
// The actor appends in place while capacity lasts (readers hold an older header whose length
// stops before the new element) and copies when it grows, so readers never lock and never see a
// half-written event. A reader at snapshot S sees the events whose commit version is ≤ S: a
// prefix, since the log follows the commit order.
package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"unicode/utf8"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/puzpuzpuz/xsync/v3"
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
	shards []*shard
}

// New returns an event store of n shards.
func New(n int) *Store { return &Store{shards: make([]*shard, n)} }

func (s *Store) Name() string               { return "event" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	sh := &shard{logs: xsync.NewMapOf[extension.RunID, *runLog]()}
	s.shards[id] = sh
	return sh
}

type shard struct {
	logs *xsync.MapOf[extension.RunID, *runLog]
}

// runLog is one run's events. Only the actor appends; readers load view.
type runLog struct {
	view atomic.Pointer[[]Event]
}

func (l *runLog) events() []Event {
	if p := l.view.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) log(run extension.RunID) *runLog {
	l, _ := s.shards[run.Shard(len(s.shards))].logs.Load(run)
	return l
}

// Events returns the run's events visible at snapshot, oldest first. The slice is shared.
func (s *Store) Events(run extension.RunID, snapshot uint64) []Event {
	l := s.log(run)
	if l == nil {
		return nil
	}
	return visible(l.events(), snapshot)
}

// visible returns the prefix of es a reader at snapshot sees: the events with Commit ≤ snapshot.
func visible(es []Event, snapshot uint64) []Event {
	n := sort.Search(len(es), func(i int) bool { return es[i].Commit > snapshot })
	return es[:n:n]
}

// Apply appends committed events, deriving their sequence numbers and hashes. A run's new
// slice header is published once per batch (readers see none of it before the engine
// publishes the batch's versions anyway).
func (sh *shard) Apply(batch []commitlog.Entry) error {
	var l *runLog // the log being appended to, and its events so far
	var es []Event
	for _, e := range batch {
		run, ev, err := decode(e)
		if err != nil {
			l.publish(es)
			return err
		}
		if next, _ := sh.logs.LoadOrCompute(run, func() *runLog { return new(runLog) }); next != l {
			l.publish(es)
			l, es = next, next.events()
		}
		if n := len(es); n > 0 {
			ev.Seq, ev.PrevHash = es[n-1].Seq+1, es[n-1].Hash
		}
		ev.Hash = Hash(ev)
		es = append(es, ev) // in place while capacity lasts: readers' headers stop before it
	}
	l.publish(es)
	return nil
}

// publish makes es the log's events; nothing for a nil log.
func (l *runLog) publish(es []Event) {
	if l != nil {
		l.view.Store(&es)
	}
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

// VerifyChain checks every event's hash and link; nil when intact.
func VerifyChain(es []Event) error {
	var prev [32]byte
	for i, e := range es {
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
	case !json.Valid(payload):
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
	ev.Type, ev.Payload, ev.Commit = string(p[w:w+int(n)]), p[w+int(n):], e.TxID
	return run, ev, nil
}
