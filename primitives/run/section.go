package run

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// sectionFormat is the format version byte of a run's chunk body. Two older ones still load:
// formatInline, from before history was kept in the log, whose steps all carry their entries,
// and formatNoBase, from before runs had a base.
const (
	sectionFormat = 4
	formatInline  = 3
	formatNoBase  = 2
)

// Freeze returns the shard at version: O(1). The view reads the chains and journals as
// readers do; the engine pins version while the view is written.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return frozen{sh: sh, at: version}
}

type frozen struct {
	sh *shard
	at uint64
}

// WriteSection writes one chunk per run that exists at the view's version: its record and
// the journal's steps up to that version. The journal, which holds every operation of the
// run, is streamed to w rather than gathered into the chunk's body first.
func (f frozen) WriteSection(w io.Writer) error {
	var record, scratch []byte
	var err error
	f.sh.runs.Range(f.at, func(id extension.RunID, r *runState) bool {
		v := r.records.At(f.at)
		if v == nil {
			return true
		}
		if record, err = appendRecord(record[:0], v.Commit, v.Value); err != nil {
			return false
		}
		j := r.history(v.Value, f.at)
		size := journalSize(j)
		err = extension.WriteChunkHeader(w, id, len(record)+size)
		if err == nil {
			_, err = w.Write(record)
		}
		var n int
		if err == nil {
			n, scratch, err = writeJournal(w, j, scratch)
		}
		if err == nil && n != size { // a chunk must be exactly as long as its header says
			err = fmt.Errorf("run section: journal of %s: wrote %d bytes, sized %d", id, n, size)
		}
		return err == nil
	})
	return err
}

func appendRecord(b []byte, commit uint64, r *Record) ([]byte, error) {
	info, err := json.Marshal(r.Info)
	if err != nil {
		return b, fmt.Errorf("run section: info of %s: %w", r.ID, err)
	}
	b = append(b, sectionFormat)
	b = binary.AppendUvarint(b, commit)
	b = binary.AppendUvarint(b, r.Began)
	b = append(b, byte(r.Status))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.StartedAt))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.EndedAt))
	b = binary.AppendUvarint(b, uint64(len(r.Reason)))
	b = append(b, r.Reason...)
	b = binary.AppendUvarint(b, uint64(len(info)))
	return append(b, info...), nil
}

// journalSize is the encoded size of j (writeJournal), from its index and the lengths of the
// entries it keeps in memory alone: no payload is read.
func journalSize(j Journal) int {
	n := uvarintLen(uint64(j.baseStep)) + uvarintLen(j.base.Version) + 8 + 1
	if j.fork != nil {
		n += commitlog.RunIDSize + uvarintLen(uint64(j.fork.Step))
	}
	n += placeSize(j, j.base, j.base.End) + uvarintLen(uint64(j.steps.Len()))
	start := j.base.End
	for _, s := range j.steps.All() {
		n += uvarintLen(s.Version) + 8 + placeSize(j, s, s.End-start)
		start = s.End
	}
	return n
}

// placeSize is the encoded size of where step s, of ops operations, is (see writePlace).
func placeSize(j Journal, s Step, ops uint32) int {
	if s.logged() {
		return uvarintLen(uint64(s.Len)) + uvarintLen(s.At) + uvarintLen(uint64(ops))
	}
	n := 1 + uvarintLen(uint64(ops))
	for i := range uint64(ops) {
		p := j.entries.At(int(s.At + i)).Payload
		n += 2 + uvarintLen(uint64(len(p))) + len(p)
	}
	return n
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// journalFlush is how much of the journal a journalWriter gathers before each Write.
const journalFlush = 64 << 10

// journalWriter streams a journal to w in writes of about journalFlush bytes.
type journalWriter struct {
	w       io.Writer
	buf     []byte
	written int
	err     error
}

func (jw *journalWriter) flush() {
	if jw.err == nil {
		var n int
		n, jw.err = jw.w.Write(jw.buf)
		jw.written += n
	}
	jw.buf = jw.buf[:0]
}

func (jw *journalWriter) flushIfFull() {
	if len(jw.buf) >= journalFlush {
		jw.flush()
	}
}

// writeJournal writes j: its base, then its step count and each step, each with its place.
// It returns the number of bytes written; buf is scratch, returned for reuse.
func writeJournal(w io.Writer, j Journal, buf []byte) (int, []byte, error) {
	jw := &journalWriter{w: w, buf: buf[:0]}
	jw.buf = binary.AppendUvarint(jw.buf, uint64(j.baseStep))
	jw.buf = binary.AppendUvarint(jw.buf, j.base.Version)
	jw.buf = binary.LittleEndian.AppendUint64(jw.buf, uint64(j.base.Timestamp))
	if j.fork == nil {
		jw.buf = append(jw.buf, 0)
	} else {
		jw.buf = append(append(jw.buf, 1), j.fork.Run[:]...)
		jw.buf = binary.AppendUvarint(jw.buf, uint64(j.fork.Step))
	}
	jw.writePlace(j, j.base, j.base.End)
	jw.buf = binary.AppendUvarint(jw.buf, uint64(j.steps.Len()))
	start := j.base.End
	for _, s := range j.steps.All() {
		jw.buf = binary.AppendUvarint(jw.buf, s.Version)
		jw.buf = binary.LittleEndian.AppendUint64(jw.buf, uint64(s.Timestamp))
		jw.writePlace(j, s, s.End-start)
		start = s.End
		jw.flushIfFull()
	}
	jw.flush()
	return jw.written, jw.buf, jw.err
}

// writePlace writes where step s, of ops operations, is: its length in the log, its LSN and
// ops; or a zero length, ops, and the entries themselves.
func (jw *journalWriter) writePlace(j Journal, s Step, ops uint32) {
	if s.logged() {
		jw.buf = binary.AppendUvarint(jw.buf, uint64(s.Len))
		jw.buf = binary.AppendUvarint(jw.buf, s.At)
		jw.buf = binary.AppendUvarint(jw.buf, uint64(ops))
		return
	}
	jw.buf = append(jw.buf, 0)
	jw.buf = binary.AppendUvarint(jw.buf, uint64(ops))
	for i := range uint64(ops) {
		e := j.entries.At(int(s.At + i))
		jw.buf = append(jw.buf, e.Type, e.Version)
		jw.buf = binary.AppendUvarint(jw.buf, uint64(len(e.Payload)))
		jw.buf = append(jw.buf, e.Payload...)
		jw.flushIfFull()
	}
}

// LoadSection restores one run's record and journal from a snapshot chunk. The chunk is
// decoded whole first: a malformed chunk changes nothing. Journaled payloads alias the chunk.
func (sh *shard) LoadSection(rd io.Reader) error {
	id, body, err := extension.ReadChunk(rd)
	if err != nil {
		return err
	}
	if id == extension.GlobalRun {
		return fmt.Errorf("%w: run section: a record of GlobalRun", dberr.ErrCorruption)
	}
	if sh.runs.At(id, mvcc.Latest) != nil {
		return fmt.Errorf("%w: run section: run %s loaded twice", dberr.ErrCorruption, id)
	}
	r, err := decodeRun(id, body)
	if err != nil {
		return fmt.Errorf("%w: run section, run %s: %w", dberr.ErrCorruption, id, err)
	}
	latest := r.records.Latest()
	latest.Value.ID = id
	sh.runs.Create(id, latest.Commit, func() *runState { return r })
	sh.listing.add(r, latest.Value)
	sh.listing.publish()
	return nil
}

// decodeRun reads the chunk body of run id written by appendRecord and appendJournal.
func decodeRun(id extension.RunID, b []byte) (*runState, error) {
	format := byte(0)
	if len(b) > 0 {
		format = b[0]
	}
	commit, rec, b, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	r := new(runState)
	r.records.Push(commit, rec, false)
	j := new(journal)
	if err := decodeJournal(id, b, j, format); err != nil {
		return nil, err
	}
	if !j.empty() { // a run with nothing journaled has no journal, as when it was written
		r.journal.Store(j)
	}
	return r, nil
}

// decodeRecord reads the record written by appendRecord and returns what follows it.
func decodeRecord(b []byte) (uint64, *Record, []byte, error) {
	if len(b) == 0 || b[0] < formatNoBase || b[0] > sectionFormat {
		return 0, nil, nil, fmt.Errorf("%w: unknown format (want version %d)", ErrMalformed, sectionFormat)
	}
	format := b[0]
	b = b[1:]
	commit, n := binary.Uvarint(b)
	if n <= 0 || commit == 0 {
		return 0, nil, nil, fmt.Errorf("%w: bad commit version", ErrMalformed)
	}
	b = b[n:]
	var began uint64
	if format >= formatInline {
		if began, n = binary.Uvarint(b); n <= 0 || began > commit {
			return 0, nil, nil, fmt.Errorf("%w: bad begin version", ErrMalformed)
		}
		b = b[n:]
	}
	if len(b) < 1+8+8 {
		return 0, nil, nil, fmt.Errorf("%w: %d bytes left for status and times", ErrMalformed, len(b))
	}
	r := &Record{Status: Status(b[0]), Began: began}
	if r.Status == NotFound || r.Status > Orphaned {
		return 0, nil, nil, fmt.Errorf("%w: status %d", ErrMalformed, b[0])
	}
	r.StartedAt = int64(binary.LittleEndian.Uint64(b[1:]))
	r.EndedAt = int64(binary.LittleEndian.Uint64(b[9:]))
	b = b[17:]
	reason, b, ok := bytesField(b)
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: bad reason length", ErrMalformed)
	}
	r.Reason = string(reason)
	info, b, ok := bytesField(b)
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: bad info length", ErrMalformed)
	}
	if err := decodeInfo(info, &r.Info); err != nil {
		return 0, nil, nil, fmt.Errorf("%w: run info: %v", ErrMalformed, err)
	}
	return commit, r, b, nil
}

// maxStep bounds a step number read from a snapshot: far above any run's history, far below
// overflowing an int.
const maxStep = 1 << 40

// minEncodedEntry is the smallest journaled entry: type, version, a zero length.
const minEncodedEntry = 3

// decodeJournal reads run id's journal written by writeJournal, in the given section format,
// into j, which must be empty. Counts are checked against the bytes left before anything is
// allocated for them, every payload must start with the run's id, as every transactional
// payload does, and the steps in the log must come in log order (the base may come after
// them: a compaction is logged after the steps it keeps).
func decodeJournal(id extension.RunID, b []byte, j *journal, format byte) error {
	d := &decoder{b: b, run: id, format: format}
	if format >= formatInline {
		if j.baseStep = int(d.uvarint()); j.baseStep > maxStep {
			d.fail("base step out of range")
		}
		j.base = Step{Version: d.uvarint(), Timestamp: d.i64()}
		j.fork = d.fork()
		var ops uint32
		j.base.At, j.base.Len, ops = d.place(j, j.base.Version)
		j.base.End = ops
		d.logEnd = 0 // a compaction's base is logged after the steps it keeps
	}
	steps := d.count(1 + 8 + 1)
	for range steps {
		s := Step{Version: d.uvarint()}
		s.Timestamp = d.i64()
		var ops uint32
		s.At, s.Len, ops = d.place(j, s.Version)
		if d.err == nil && (s.Version == 0 || !j.newer(s.Version)) {
			d.fail("step versions not increasing")
		}
		j.push(s, int(ops))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// place reads where a step of version is (see writePlace): in the log, or its entries, which
// it appends to j, stamped with version. It returns the Step's At and Len and its operations.
func (d *decoder) place(j *journal, version uint64) (at uint64, size, ops uint32) {
	if d.format >= sectionFormat {
		if n := d.uvarint(); n > 0 {
			at, count := d.uvarint(), d.uvarint()
			switch {
			case n > math.MaxUint32 || count > n/minEncodedEntry || at > math.MaxUint64-n:
				d.fail("bad step length")
			case at < d.logEnd:
				d.fail("steps out of log order")
			}
			d.logEnd = at + n
			return at, uint32(n), uint32(count)
		}
	}
	at = uint64(j.entries.Len())
	for range d.count(minEncodedEntry) {
		e := entry{Type: d.byte(), Version: d.byte(), TxID: version}
		e.Payload = d.bytes()
		if e.Type >= typesLow && e.Type <= typesHigh {
			d.fail("a run entry in the journal")
		}
		if !bytes.HasPrefix(e.Payload, d.run[:]) {
			d.fail("a payload of another run")
		}
		j.entries.Append(e)
		j.bytes += int64(len(e.Payload))
		ops++
	}
	return at, 0, ops
}

// decoder reads a chunk body; after the first failure every read returns zero values.
type decoder struct {
	b      []byte
	err    error
	run    extension.RunID
	format byte   // the section format of the journal read
	logEnd uint64 // the end of the last step read that is in the log
}

// fork reads a base's fork point: a flag, then the run and the step if set.
func (d *decoder) fork() *ForkPoint {
	switch d.byte() {
	case 0:
		return nil
	case 1:
		if len(d.b) < commitlog.RunIDSize {
			d.fail("truncated")
			return nil
		}
		f := &ForkPoint{}
		d.b = d.b[copy(f.Run[:], d.b):]
		if f.Step = int(d.uvarint()); f.Step > maxStep {
			d.fail("fork step out of range")
		}
		return f
	default:
		d.fail("bad fork flag")
		return nil
	}
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: journal: %s", ErrMalformed, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items of at least min bytes each, refusing more than could fit.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail("count larger than the chunk")
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) i64() int64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := int64(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes() []byte {
	f, rest, ok := bytesField(d.b)
	if !ok {
		d.fail("bad length")
		return nil
	}
	d.b = rest
	return f
}

// bytesField splits a uvarint-length-prefixed byte string off the front of b.
func bytesField(b []byte) (field, rest []byte, ok bool) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return nil, b, false
	}
	end := n + int(size)
	return b[n:end], b[end:], true
}
