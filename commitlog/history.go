package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem/internal/vfs"
)

// The history directory holds the part of the log below the snapshots' cuts that run history
// still reads: whole segments moved out of the log unchanged (a segment file, named as in the
// log), and history files holding only the ranges of it still read, copied out of segments
// that were mostly dead. The log itself (the segments in the log directory) stays one
// contiguous run of segments from the oldest a snapshot needs to the end, as recovery expects;
// only a Fetcher reads the history directory.
//
// A history file:
//
//	header: magic "INMEMHST" | u32 format (1) | u32 CRC-32C of the 12 bytes before it
//	body:   each range's bytes, as the log held them (whole entries), back to back, by LSN
//	index:  per range: u64 LSN | u32 length
//	footer: u32 ranges | u32 CRC-32C of the index and the count | magic "INMEMHSX"
//
// A range's file offset is the header's size plus the lengths of the ranges before it, and the
// file's size must be exactly header + body + index + footer. The entries keep their own
// CRCs: a Fetcher verifies them as it verifies the log's.
const (
	// HistoryDir is the history directory's name, inside the log directory.
	HistoryDir = "history"

	historyExt       = ".hist"
	historyMagic     = "INMEMHST"
	historyEndMagic  = "INMEMHSX"
	historyFormat    = 1
	historyHeader    = 16
	historyFooter    = 16
	historyIndexItem = 12
)

// ErrBadHistoryFile: a history file's header, index or footer is damaged, or its size does not
// add up. Wraps ErrDamaged.
var ErrBadHistoryFile = fmt.Errorf("%w: bad history file", ErrDamaged)

// Range is a range of the log: Len bytes from LSN, whole entries.
type Range struct {
	LSN uint64
	Len uint32
}

// End is the LSN just past the range.
func (r Range) End() uint64 { return r.LSN + uint64(r.Len) }

// contains reports whether [lsn, lsn+n) lies within r.
func (r Range) contains(lsn uint64, n int) bool {
	return lsn >= r.LSN && lsn+uint64(n) <= r.End()
}

// placed is a range of a history file with its offset there.
type placed struct {
	Range
	off int64
}

// historyName returns the name of the history file with sequence number seq.
func historyName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", segmentDigits, seq, historyExt)
}

func parseHistoryName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, historyExt)
	if !ok || len(digits) != segmentDigits || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// historyListing is what the history directory holds: segments moved out of the log, by base,
// and history files, by sequence number, each ascending.
type historyListing struct {
	segments []uint64
	files    []uint64
	partial  []string // history files a crash left half written (their temporary names)
	exists   bool     // the directory exists
}

// listHistory lists dir's history directory; a missing one is empty.
func listHistory(fs vfs.FS, dir string) (historyListing, error) {
	var l historyListing
	names, err := fs.List(filepath.Join(dir, HistoryDir))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return l, nil
		}
		return l, fmt.Errorf("commitlog: list the history directory: %w", err)
	}
	l.exists = true
	for _, n := range names {
		if base, ok := ParseSegmentName(n); ok {
			l.segments = append(l.segments, base)
		} else if seq, ok := parseHistoryName(n); ok {
			l.files = append(l.files, seq)
		} else if _, ok := parseHistoryName(strings.TrimSuffix(n, ".tmp")); ok {
			l.partial = append(l.partial, n)
		}
	}
	slices.Sort(l.segments)
	slices.Sort(l.files)
	return l, nil
}

// writeHistoryFile writes the ranges, in LSN order, whose bytes read returns, into a new
// history file at path: written under a temporary name, synced, then renamed. The caller syncs
// the directory.
func writeHistoryFile(fs vfs.FS, path string, ranges []Range, read func(Range) ([]byte, error)) (err error) {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = fs.Remove(tmp)
		}
	}()
	var hdr []byte
	hdr = append(hdr, historyMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, historyFormat)
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	if err := writeFull(f, hdr); err != nil {
		return err
	}
	index := make([]byte, 0, len(ranges)*historyIndexItem+historyFooter)
	for i, r := range ranges {
		if r.Len == 0 || i > 0 && r.LSN < ranges[i-1].End() {
			return fmt.Errorf("commitlog: history file ranges must ascend apart: range %d at LSN %d", i, r.LSN)
		}
		b, err := read(r)
		if err != nil {
			return err
		}
		if err := writeFull(f, b); err != nil {
			return err
		}
		index = binary.LittleEndian.AppendUint64(index, r.LSN)
		index = binary.LittleEndian.AppendUint32(index, r.Len)
	}
	index = binary.LittleEndian.AppendUint32(index, uint32(len(ranges)))
	index = binary.LittleEndian.AppendUint32(index, crc32.Checksum(index, castagnoli))
	index = append(index, historyEndMagic...)
	if err := writeFull(f, index); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fs.Rename(tmp, path)
}

// readHistoryIndex reads and checks the header, index and footer of the history file f of size
// bytes, and returns its ranges with their offsets. Errors wrap ErrBadHistoryFile (damage) or
// are I/O errors.
func readHistoryIndex(f io.ReaderAt, size int64, path string) ([]placed, error) {
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrBadHistoryFile, filepath.Base(path), fmt.Sprintf(why, args...))
	}
	if size < historyHeader+historyFooter {
		return nil, bad("%d bytes", size)
	}
	var hdr [historyHeader]byte
	var foot [historyFooter]byte
	if err := readFull(f, hdr[:], 0); err != nil {
		return nil, err
	}
	if err := readFull(f, foot[:], size-historyFooter); err != nil {
		return nil, err
	}
	switch {
	case string(hdr[:8]) != historyMagic || string(foot[8:]) != historyEndMagic:
		return nil, bad("magic")
	case crc32.Checksum(hdr[:12], castagnoli) != binary.LittleEndian.Uint32(hdr[12:]):
		return nil, bad("header checksum")
	case binary.LittleEndian.Uint32(hdr[8:]) != historyFormat:
		return nil, bad("format %d", binary.LittleEndian.Uint32(hdr[8:]))
	}
	count := int64(binary.LittleEndian.Uint32(foot[:]))
	indexAt := size - historyFooter - count*historyIndexItem
	if indexAt < historyHeader {
		return nil, bad("%d ranges in %d bytes", count, size)
	}
	index := make([]byte, count*historyIndexItem+4)
	if err := readFull(f, index, indexAt); err != nil {
		return nil, err
	}
	if crc32.Checksum(index, castagnoli) != binary.LittleEndian.Uint32(foot[4:]) {
		return nil, bad("index checksum")
	}
	out := make([]placed, count)
	off := int64(historyHeader)
	for i := range out {
		item := index[i*historyIndexItem:]
		r := Range{LSN: binary.LittleEndian.Uint64(item), Len: binary.LittleEndian.Uint32(item[8:])}
		if r.Len == 0 || r.End() < r.LSN || (i > 0 && r.LSN < out[i-1].End()) {
			return nil, bad("range %d out of order or empty", i)
		}
		out[i] = placed{Range: r, off: off}
		off += int64(r.Len)
	}
	if off != indexAt {
		return nil, bad("the ranges add up to %d bytes, the body is %d", off-historyHeader, indexAt-historyHeader)
	}
	return out, nil
}

// readFull reads len(b) bytes at off; a short file is ErrBadHistoryFile.
func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: short read at %d", ErrBadHistoryFile, off)
	}
	return err
}

// HistoryFile describes a file of the history directory as CheckHistory found it.
type HistoryFile struct {
	Name    string
	Bytes   int64
	Ranges  int   // ranges (a history file) or entries (a segment) read whole and right
	Problem error // why the file is damaged; nil if it is not
}

// CheckHistory reads every file of the history directory of the log in dir whole: a segment
// entry by entry, a history file's index and then every range in it, each entry's CRC
// checked. A damaged file is reported with its Problem (wrapping ErrDamaged); the error is
// for a directory that cannot be listed or a file that cannot be read.
func CheckHistory(fs vfs.FS, dir string) ([]HistoryFile, error) {
	l, err := listHistory(fs, dir)
	if err != nil {
		return nil, err
	}
	var out []HistoryFile
	for _, base := range l.segments {
		hf, err := checkMovedSegment(fs, filepath.Join(dir, HistoryDir, SegmentName(base)), base)
		if err != nil {
			return out, err
		}
		out = append(out, hf)
	}
	for _, seq := range l.files {
		hf, err := checkHistoryFile(fs, filepath.Join(dir, HistoryDir, historyName(seq)))
		if err != nil {
			return out, err
		}
		out = append(out, hf)
	}
	return out, nil
}

func checkMovedSegment(fs vfs.FS, path string, base uint64) (HistoryFile, error) {
	hf := HistoryFile{Name: filepath.Base(path)}
	b, err := readWhole(fs, path)
	if err != nil {
		return hf, err
	}
	hf.Bytes = int64(len(b))
	if hf.Problem = checkHeader(b, base); hf.Problem != nil {
		return hf, nil
	}
	es, at, err := decodeRange(b[HeaderSize:])
	if err != nil {
		hf.Problem = fmt.Errorf("entry at LSN %d: %w", base+uint64(at), err)
	}
	hf.Ranges = len(es)
	return hf, nil
}

func checkHistoryFile(fs vfs.FS, path string) (HistoryFile, error) {
	hf := HistoryFile{Name: filepath.Base(path)}
	b, err := readWhole(fs, path)
	if err != nil {
		return hf, err
	}
	hf.Bytes = int64(len(b))
	ranges, err := readHistoryIndex(bytes.NewReader(b), int64(len(b)), path)
	if err != nil {
		hf.Problem = err
		return hf, nil
	}
	for _, r := range ranges {
		if _, at, err := decodeRange(b[r.off : r.off+int64(r.Len)]); err != nil {
			hf.Problem = fmt.Errorf("range at LSN %d, entry at LSN %d: %w", r.LSN, r.LSN+uint64(at), err)
			return hf, nil
		}
		hf.Ranges++
	}
	return hf, nil
}

// openSized opens the file at path for reading and returns it with its size.
func openSized(fs vfs.FS, path string) (vfs.File, int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size, err := fs.Stat(path)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

func readWhole(fs vfs.FS, path string) ([]byte, error) {
	f, size, err := openSized(fs, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n < len(b) && err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// histFile is a history file as a Fetcher finds ranges in it without keeping its index in
// memory, which would cost more RAM per retained step than the step itself: it keeps the LSNs
// its ranges span and a mark every markEvery ranges, and a lookup reads the block of the index
// after the mark below the range (12 bytes a range) and adds up the lengths to its offset.
type histFile struct {
	path       string
	first, end uint64 // the first range's LSN, the last one's end
	count      int
	indexAt    int64 // the index's file offset
	marks      []histMark
}

// histMark is where range i*markEvery of a history file is: its LSN and its file offset.
type histMark struct {
	lsn uint64
	off int64
}

const markEvery = 64

// newHistFile describes the history file at path of size bytes, whose index holds ranges.
func newHistFile(path string, size int64, ranges []placed) histFile {
	h := histFile{path: path, count: len(ranges), indexAt: size - historyFooter - int64(len(ranges))*historyIndexItem}
	if len(ranges) > 0 {
		h.first, h.end = ranges[0].LSN, ranges[len(ranges)-1].End()
	}
	for i := 0; i < len(ranges); i += markEvery {
		h.marks = append(h.marks, histMark{lsn: ranges[i].LSN, off: ranges[i].off})
	}
	return h
}

// find returns the file offset of [lsn, lsn+n) in the history file f, if f holds it whole,
// reading one block of the index. A damaged index reads as ranges that do not hold it, or as an
// offset whose entries fail their checks.
func (h *histFile) find(f io.ReaderAt, lsn uint64, n int) (int64, bool, error) {
	m := sort.Search(len(h.marks), func(i int) bool { return h.marks[i].lsn > lsn }) - 1
	if m < 0 || lsn >= h.end {
		return 0, false, nil
	}
	lo := m * markEvery
	block := make([]byte, min(markEvery, h.count-lo)*historyIndexItem)
	if err := readFull(f, block, h.indexAt+int64(lo)*historyIndexItem); err != nil {
		return 0, false, err
	}
	off := h.marks[m].off
	for item := block; len(item) >= historyIndexItem; item = item[historyIndexItem:] {
		r := Range{LSN: binary.LittleEndian.Uint64(item), Len: binary.LittleEndian.Uint32(item[8:])}
		if r.contains(lsn, n) {
			return off + int64(lsn-r.LSN), true, nil
		}
		if r.LSN > lsn {
			break
		}
		off += int64(r.Len)
	}
	return 0, false, nil
}
