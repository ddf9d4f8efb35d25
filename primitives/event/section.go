package event

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/chunked"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// sectionFormat is the chunk body's format version byte.
const sectionFormat = 1

// minEncodedEvent is the smallest encoding of one event (a one-byte type, an empty payload): a
// chunk's event count is bounded by its size with it before anything is allocated.
const minEncodedEvent = 1 + 1 + 8 + 1 + 1 + 1 + 32

// frozen is a shard's logs as a reader at version at sees them: per run, the prefix of events
// with Commit ≤ at. Taking it is O(1); the logs only grow, and what a reader at at sees of them
// never changes, so the view reads the live logs through the readers' lock-free path.
type frozen struct {
	sh *shard
	at uint64
}

// Freeze returns the shard at version: O(1).
func (sh *shard) Freeze(version uint64) extension.FrozenView { return frozen{sh, version} }

// WriteSection writes one chunk per run with at least one event at the view's version.
func (f frozen) WriteSection(w io.Writer) error {
	var body []byte
	var err error
	f.sh.logs.Range(f.at, func(run extension.RunID, l *runLog) bool {
		es := visible(l.events(), f.at)
		if es.Len() == 0 {
			return true // created after the view's version
		}
		body = appendEvents(body[:0], es)
		err = extension.WriteChunk(w, run, body)
		return err == nil
	})
	return err
}

// appendEvents appends a chunk body holding es (a log's prefix: Seq = index).
func appendEvents(dst []byte, es Log) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, e := range es.All() {
		size += 3*binary.MaxVarintLen64 + 8 + 32 + len(e.Type) + len(e.Payload)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, sectionFormat)
	dst = binary.AppendUvarint(dst, uint64(es.Len()))
	for _, e := range es.All() {
		dst = binary.AppendUvarint(dst, e.Seq)
		dst = binary.AppendUvarint(dst, e.Commit)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Timestamp))
		dst = binary.AppendUvarint(dst, uint64(len(e.Type)))
		dst = append(dst, e.Type...)
		dst = binary.AppendUvarint(dst, uint64(len(e.Payload)))
		dst = append(dst, e.Payload...)
		dst = append(dst, e.Hash[:]...)
	}
	return dst
}

// LoadSection restores one run's log from a snapshot chunk. The chunk is decoded whole before
// the shard changes; a malformed chunk, or a second chunk of a run, is ErrCorruption.
func (sh *shard) LoadSection(r io.Reader) error {
	run, body, err := extension.ReadChunk(r)
	if err != nil {
		return err
	}
	es, err := decodeEvents(body)
	if err != nil {
		return fmt.Errorf("%w: event section, run %s: %w", dberr.ErrCorruption, run, err)
	}
	if sh.logs.At(run, mvcc.Latest) != nil {
		return fmt.Errorf("%w: event section: run %s loaded twice", dberr.ErrCorruption, run)
	}
	l := sh.logs.Create(run, es.View().At(0).Commit, newRunLog)
	l.list = es
	l.publish()
	if sh.idx != nil { // indexes are not in snapshots: rebuilt from what is loaded, at version 0
		for _, ev := range es.View().All() {
			sh.idx.Put(run, extension.SearchRef{Seq: ev.Seq}, 0, searchText(&ev))
		}
	}
	return nil
}

// decodeEvents decodes a chunk body; types and payloads alias the body. Stored hashes are
// trusted (not recomputed); PrevHash is the previous event's Hash.
func decodeEvents(body []byte) (es chunked.List[Event], err error) {
	if len(body) == 0 || body[0] != sectionFormat {
		return es, fmt.Errorf("unknown format (want version %d)", sectionFormat)
	}
	p := body[1:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count == 0 || count > uint64(len(p)-n)/minEncodedEvent {
		return es, fmt.Errorf("bad event count")
	}
	p = p[n:]
	for i := range count {
		var e Event
		var ok bool
		if p, ok = decodeEvent(p, &e); !ok {
			return es, fmt.Errorf("event %d: truncated or malformed", i)
		}
		prev, hasPrev := es.Last()
		switch {
		case e.Seq != i:
			return es, fmt.Errorf("event %d has sequence %d", i, e.Seq)
		case e.Commit == 0 || (hasPrev && e.Commit < prev.Commit):
			return es, fmt.Errorf("event %d: commit version %d out of order", i, e.Commit)
		}
		e.PrevHash = prev.Hash // zero for the first
		es.Append(e)
	}
	if len(p) != 0 {
		return es, fmt.Errorf("%d trailing bytes", len(p))
	}
	return es, nil
}

// decodeEvent decodes one event from the front of p into e, returning the rest.
func decodeEvent(p []byte, e *Event) ([]byte, bool) {
	var n int
	if e.Seq, n = binary.Uvarint(p); n <= 0 {
		return nil, false
	}
	p = p[n:]
	if e.Commit, n = binary.Uvarint(p); n <= 0 || len(p)-n < 8 {
		return nil, false
	}
	e.Timestamp = int64(binary.LittleEndian.Uint64(p[n:]))
	p = p[n+8:]
	size, n := binary.Uvarint(p)
	if n <= 0 || size == 0 || size > MaxTypeSize || size > uint64(len(p)-n) {
		return nil, false
	}
	tb := p[n : n+int(size)]
	if !utf8.Valid(tb) {
		return nil, false
	}
	e.Type = unsafe.String(&tb[0], len(tb)) // the body is immutable and kept
	p = p[n+int(size):]
	size, n = binary.Uvarint(p)
	if n <= 0 || size > MaxPayloadSize || size > uint64(len(p)-n) || uint64(len(p)-n)-size < 32 {
		return nil, false
	}
	end := n + int(size)
	e.Payload = p[n:end:end]
	copy(e.Hash[:], p[end:end+32])
	return p[end+32:], true
}
