package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/inmemdb/inmem/internal/vfs"
)

var (
	// ErrCorruption is wrapped by every *CorruptionError.
	ErrCorruption = errors.New("commitlog: corruption")
	// ErrTornTail is wrapped by every *TornTailError.
	ErrTornTail = errors.New("commitlog: torn tail")
	// ErrLSNNotFound: the start LSN is not an entry boundary inside the log.
	ErrLSNNotFound = errors.New("commitlog: LSN not found in the log")
	// ErrSegmentGap: a segment's base is not the previous segment's end LSN. Wraps ErrDamaged.
	ErrSegmentGap = fmt.Errorf("%w: segments not contiguous", ErrDamaged)
)

// TornTailError reports a torn tail (see the package doc): the end of the log, not a failure.
// The Reader returns it once and io.EOF afterwards.
type TornTailError struct {
	Segment  string // file name of the last segment
	Base     uint64 // its base LSN
	ValidEnd int64  // file offset after the last good entry: truncate the segment here (0: the header is torn)
	LSN      uint64 // LSN at ValidEnd: the end of the readable log
	Dropped  int64  // bytes after ValidEnd, dropped by the truncation
	Zeros    int64  // how many of them are zeros at the end of the file (preallocated space)
	Reason   error  // the damage found at ValidEnd
	// Stranded: valid entries follow a lost write (see the package doc). They were never
	// covered by a completed sync, but they are bytes a caller should set aside, not delete.
	Stranded bool
}

func (e *TornTailError) Error() string {
	return fmt.Sprintf("commitlog: torn tail in segment %s at offset %d (LSN %d), %d bytes dropped: %v",
		e.Segment, e.ValidEnd, e.LSN, e.Dropped, e.Reason)
}

// Unwrap returns ErrTornTail. A torn tail is deliberately not ErrDamaged to errors.Is: callers
// testing for damage must not mistake the normal end of a crashed log for corruption.
func (e *TornTailError) Unwrap() error { return ErrTornTail }

// CorruptionError reports corruption (see the package doc). The log is intact up to LSN; the
// caller decides what happens to the rest (the Reader never moves or deletes anything).
type CorruptionError struct {
	Segment string // file name of the damaged segment
	Base    uint64 // its base LSN
	Offset  int64  // file offset of the damage (0: the header, or the whole segment for a gap)
	LSN     uint64 // LSN of the damage: every entry before it was read intact
	Reason  error  // what is wrong; wraps ErrDamaged
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("commitlog: corruption in segment %s at offset %d (LSN %d): %v",
		e.Segment, e.Offset, e.LSN, e.Reason)
}

// Unwrap lets errors.Is match both ErrCorruption and the reason (and so ErrDamaged).
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorruption, e.Reason} }

// Reader streams the log from a start LSN across all segments in order. It holds one segment in
// memory at a time (segments are SegmentSize, 64 MiB by default) and no open file between calls.
//
// Next returns entries until the end of the log, which is io.EOF, or a *TornTailError once and
// io.EOF after it. A *CorruptionError is sticky: Next keeps returning it until Resync skips the
// damage. Any other error (I/O, ErrLSNNotFound, ErrUnsupportedFormat) is sticky and final.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	fs    vfs.FS
	dir   string
	bases []uint64 // every segment in the directory, ascending
	from  uint64   // start LSN; applied when the first segment is loaded

	seg    int    // index in bases of the current segment
	loaded bool   // data holds bases[seg] (or held it: it is released at the end of the log)
	seeked bool   // from has been applied
	data   []byte // the whole current segment file, header included
	off    int    // file offset of the next entry in data

	payloads slab // the entries' payloads are copied here, not kept in data

	err error // sticky result (see the type doc)
	// When err is a *CorruptionError, what Resync does: continue the scan for a valid entry at
	// scanFrom, counting skipped bytes from skipFrom; or, for a gap, just go on (gap).
	gap      bool
	skipFrom int
	scanFrom int
	resumeAt int // nextValid(data, scanFrom) if already computed, else unknown
}

const unknown = -2 // resumeAt not computed yet

// NewReader returns a reader of the log in dir starting at LSN from, which must be an entry
// boundary inside the log, or the log's end LSN (nothing to read: io.EOF), or 0 for an empty
// log. Anything else is ErrLSNNotFound. NewReader checks the range from the directory listing
// and file sizes; a from inside an entry is detected, as ErrLSNNotFound, by the first Next.
func NewReader(fs vfs.FS, dir string, from uint64) (*Reader, error) {
	bases, err := ListSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	r := &Reader{fs: fs, dir: dir, bases: bases, from: from}
	if len(bases) == 0 {
		if from != 0 {
			return nil, fmt.Errorf("%w: LSN %d, the log is empty", ErrLSNNotFound, from)
		}
		r.err = io.EOF
		return r, nil
	}
	// The segment holding from is the last one whose base is at most from.
	i := sort.Search(len(bases), func(i int) bool { return bases[i] > from }) - 1
	if i < 0 {
		return nil, fmt.Errorf("%w: LSN %d is below the oldest segment %s", ErrLSNNotFound, from, SegmentName(bases[0]))
	}
	size, err := fs.Stat(filepath.Join(dir, SegmentName(bases[i])))
	if err != nil {
		return nil, fmt.Errorf("commitlog: stat segment: %w", err)
	}
	if from-bases[i] > uint64(max(size-HeaderSize, 0)) {
		return nil, fmt.Errorf("%w: LSN %d is past the end of segment %s (%d entry bytes)",
			ErrLSNNotFound, from, SegmentName(bases[i]), max(size-HeaderSize, 0))
	}
	r.seg = i
	return r, nil
}

// Next returns the next entry and its LSN. Its end LSN is lsn + EncodedSize(len(e.Payload)),
// which is also r.EndLSN() after the call. The payload is the caller's.
func (r *Reader) Next() (e Entry, lsn uint64, err error) {
	for {
		if r.err != nil {
			return Entry{}, 0, r.err
		}
		if !r.loaded {
			if err := r.load(); err != nil {
				return Entry{}, 0, r.fail(err)
			}
			continue
		}
		if r.off >= len(r.data) {
			if err := r.nextSegment(); err != nil {
				return Entry{}, 0, r.fail(err)
			}
			continue
		}
		n, derr := checkEntry(r.data[r.off:])
		if derr != nil {
			return Entry{}, 0, r.fail(r.damage(r.off, derr))
		}
		e = entryAt(r.data[r.off:], n, r.payloads.clone)
		lsn = r.lsnAt(r.off)
		r.off += n
		return e, lsn, nil
	}
}

// Resync skips the damage a *CorruptionError reported and positions the reader at the next
// offset where a valid entry decodes (or the end of the segment, and so the next segment, when
// none does or the scan for one gave up: see nextValid),
// returning the number of entry bytes skipped. A segment gap is accepted as it is (0 bytes
// skipped; LSNs continue from the next segment's base). Without pending corruption Resync does
// nothing. Use it only when continuing past damage is acceptable (SkipCorrupt recovery).
func (r *Reader) Resync() (skipped int64, err error) {
	var ce *CorruptionError
	if !errors.As(r.err, &ce) {
		return 0, nil
	}
	r.err = nil
	if r.gap {
		r.gap = false
		return 0, nil
	}
	next := r.resumeAt
	if next == unknown {
		next = nextValid(r.data, r.scanFrom)
	}
	if next < 0 {
		next = len(r.data)
	}
	r.off = next
	return int64(next - r.skipFrom), nil
}

// Position returns the segment base and file offset of the next entry to read. After io.EOF (or
// a torn tail) it is where appends continue: OpenSegmentForAppend(fs, dir, base, offset). With
// no segments at all it is (0, 0).
func (r *Reader) Position() (base uint64, offset int64) {
	if len(r.bases) == 0 {
		return 0, 0
	}
	if !r.seeked {
		return r.bases[r.seg], HeaderSize + int64(r.from-r.bases[r.seg])
	}
	return r.bases[r.seg], int64(r.off)
}

// EndLSN returns the LSN of Position: after Next, the end LSN of the entry it returned; at the
// end of the log, the log's end LSN.
func (r *Reader) EndLSN() uint64 {
	if len(r.bases) == 0 {
		return 0
	}
	if !r.seeked {
		return r.from
	}
	return r.lsnAt(r.off)
}

// Close releases the segment buffer. Later calls to Next fail.
func (r *Reader) Close() error {
	r.data = nil
	r.err = errors.New("commitlog: reader closed")
	return nil
}

// fail records err as the sticky result and returns it. A torn tail is returned once and the
// reader then ends cleanly.
func (r *Reader) fail(err error) error {
	var torn *TornTailError
	if errors.As(err, &torn) {
		r.off = int(torn.ValidEnd)
		r.data = nil
		r.err = io.EOF
		return err
	}
	r.err = err
	return err
}

func (r *Reader) lsnAt(off int) uint64 {
	return r.bases[r.seg] + uint64(max(off-HeaderSize, 0))
}

// load reads the current segment into memory, checks its header and positions the reader at its
// first entry, or at the start LSN for the first segment read.
func (r *Reader) load() error {
	base := r.bases[r.seg]
	name := SegmentName(base)
	data, err := readFile(r.fs, filepath.Join(r.dir, name))
	if err != nil {
		return fmt.Errorf("commitlog: read segment %s: %w", name, err)
	}
	r.data, r.loaded, r.off = data, true, HeaderSize
	start := HeaderSize
	if !r.seeked {
		r.seeked = true
		if r.from-base > uint64(max(len(data)-HeaderSize, 0)) { // the file shrank since NewReader
			return fmt.Errorf("%w: LSN %d is past the end of segment %s", ErrLSNNotFound, r.from, name)
		}
		start = HeaderSize + int(r.from-base)
	}

	hb, tearable, herr := decodeHeader(data)
	if herr == nil && hb != base {
		herr, tearable = fmt.Errorf("%w: header names base %d", ErrBadHeader, hb), false
	}
	if errors.Is(herr, ErrUnsupportedFormat) {
		return fmt.Errorf("commitlog: segment %s: %w", name, herr)
	}
	if herr != nil {
		r.off = start
		if tearable && r.seg == len(r.bases)-1 && nextValid(data, HeaderSize) == noValidEntry {
			// Crash while the segment was being created: nothing in it was ever acknowledged.
			return &TornTailError{Segment: name, Base: base, ValidEnd: 0, LSN: base,
				Dropped: int64(len(data)), Reason: herr}
		}
		r.skipFrom, r.scanFrom, r.resumeAt = start, start, unknown
		return &CorruptionError{Segment: name, Base: base, Offset: 0, LSN: r.lsnAt(start), Reason: herr}
	}
	if start > HeaderSize && !boundaryAt(data, start) {
		return fmt.Errorf("%w: LSN %d is inside an entry of segment %s", ErrLSNNotFound, r.from, name)
	}
	r.off = start
	return nil
}

// nextSegment moves from the end of the current segment to the next one, checking that the
// next one starts where this one ends. At the end of the last segment the log ends.
func (r *Reader) nextSegment() error {
	if r.seg == len(r.bases)-1 {
		r.data = nil // keep off: Position is the append position
		return io.EOF
	}
	end := r.lsnAt(len(r.data))
	r.seg++
	r.loaded, r.data, r.off = false, nil, 0
	if next := r.bases[r.seg]; next != end {
		r.gap = true
		what := "gap"
		if next < end {
			what = "overlap"
		}
		return &CorruptionError{Segment: SegmentName(next), Base: next, Offset: 0, LSN: end,
			Reason: fmt.Errorf("%w: %s: previous segment ends at LSN %d, this one starts at %d",
				ErrSegmentGap, what, end, next)}
	}
	return nil
}

// damage classifies the decode failure reason at offset off of the current segment.
func (r *Reader) damage(off int, reason error) error {
	base := r.bases[r.seg]
	name := SegmentName(base)
	r.skipFrom, r.scanFrom, r.resumeAt = off, off+1, unknown
	if r.seg == len(r.bases)-1 && !contentDamage(reason) {
		r.resumeAt = nextValid(r.data, r.scanFrom)
		if stranded := r.resumeAt >= 0 && lostWrite(r.data[:r.resumeAt], off); stranded || r.resumeAt == noValidEntry {
			return &TornTailError{Segment: name, Base: base, ValidEnd: int64(off), LSN: r.lsnAt(off),
				Dropped: int64(len(r.data) - off), Zeros: trailingZeros(r.data[off:]), Reason: reason,
				Stranded: stranded}
		}
	}
	return &CorruptionError{Segment: name, Base: base, Offset: int64(off), LSN: r.lsnAt(off), Reason: reason}
}

// sectorSize is the unit a lost write shows as: the smallest a disk writes whole.
const sectorSize = 512

// lostWrite reports whether data[off:] holds the mark of a write that never reached the disk:
// a sector-aligned run of zeros that ends on a sector boundary, either a whole sector or the
// rest of off's sector. Segments are preallocated with zeros, so an unsynced page that a
// power loss dropped reads as zeros, possibly followed by a later page that was written back.
func lostWrite(data []byte, off int) bool {
	for s := off - off%sectorSize; s+sectorSize <= len(data); s += sectorSize {
		if allZero(data[max(s, off) : s+sectorSize]) {
			return true
		}
	}
	return false
}

// trailingZeros counts the zero bytes at the end of b.
func trailingZeros(b []byte) int64 {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return int64(len(b) - n)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Answers of nextValid besides an offset.
const (
	noValidEntry = -1 // no valid entry starts after from
	scanGaveUp   = -3 // the checksums passed the budget first: unknown (-2 is unknown's)
)

// nextValid returns the first offset at or after from where a valid entry starts (one that
// passes every check of DecodeEntry), noValidEntry, or scanGaveUp. Candidates are rejected by
// mayStartEntry before any checksum is computed, so zeros and garbage cost a few instructions
// a byte. The bytes checksummed are bounded by a few times len(data): no log this package
// writes comes near it (random bytes and ordinary payloads offer almost no candidates), but
// bytes crafted to offer a candidate every few bytes would cost a checksum of up to the rest
// of the segment at each. Callers treat scanGaveUp as "a valid entry may follow": corruption,
// never a torn tail, so nothing is truncated on a guess.
func nextValid(data []byte, from int) int {
	budget := 4*len(data) + 4<<20
	for o := max(from, 0); o+EntryOverhead <= len(data); o++ {
		if !mayStartEntry(data[o:]) {
			continue
		}
		if budget -= lengthSize + int(binary.LittleEndian.Uint32(data[o:])); budget < 0 {
			return scanGaveUp
		}
		if _, err := checkEntry(data[o:]); err == nil {
			return o
		}
	}
	return noValidEntry
}

// boundaryAt reports whether target can be an entry boundary of the segment: walking the length
// fields from the first entry lands on it, or damage before it makes the walk inconclusive (the
// decode at target then decides). Only an intact entry straddling target proves it is not.
func boundaryAt(data []byte, target int) bool {
	o := HeaderSize
	for o < target {
		if o+lengthSize > len(data) {
			return true
		}
		l := binary.LittleEndian.Uint32(data[o:])
		if l < minLength || l > maxLengthFld {
			return true
		}
		next := o + lengthSize + int(l)
		if next > target {
			_, err := checkEntry(data[o:])
			return err != nil
		}
		o = next
	}
	return true
}

// readFile reads a whole file. The buffer is sized from the file's size on disk, never from
// anything inside the file.
func readFile(fs vfs.FS, path string) ([]byte, error) {
	size, err := fs.Stat(path)
	if err != nil {
		return nil, err
	}
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, size)
	n, err := io.ReadFull(f, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // the file shrank between Stat and Read: read what is there
	}
	return buf[:n], err
}
