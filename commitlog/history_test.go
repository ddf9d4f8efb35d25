package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/internal/vfs"
)

// histTestDir is the history directory of the log in walDir.
var histTestDir = filepath.Join(walDir, HistoryDir)

// rangeBytes returns the bytes a test's read func gives for r: a pattern that depends on the
// range, so that bytes landing at the wrong offset show.
func rangeBytes(r Range) []byte {
	b := make([]byte, r.Len)
	for i := range b {
		b[i] = byte(r.LSN*7 + uint64(i)*13 + 1)
	}
	return b
}

// writeTestHistory writes a history file of ranges (bytes from rangeBytes) into a fresh memFS
// and returns the FS and the file's path.
func writeTestHistory(t testing.TB, ranges []Range) (*memFS, string) {
	t.Helper()
	mem := newMemFS()
	noErr(t, mem.MkdirAll(histTestDir))
	path := filepath.Join(histTestDir, historyName(7))
	var asked []Range
	noErr(t, writeHistoryFile(mem, path, ranges, func(r Range) ([]byte, error) {
		asked = append(asked, r)
		return rangeBytes(r), nil
	}))
	eq(t, asked, slices.Clone(ranges), "read asked for the ranges, in order")
	return mem, path
}

// indexOf reads the index of the history file holding b.
func indexOf(b []byte) ([]placed, error) {
	mem := newMemFS()
	path := filepath.Join(histTestDir, historyName(1))
	mem.set(path, b)
	f, err := mem.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readHistoryIndex(f, int64(len(b)), path)
}

// badHistory checks that err reports a damaged history file.
func badHistory(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("%sno error, want one wrapping ErrBadHistoryFile", prefix(msg))
	}
	isErr(t, err, ErrBadHistoryFile, msg...)
	isErr(t, err, ErrDamaged, msg...)
}

// craftHistory builds a history file by hand: the header (with format), body, an index of
// ranges, and a footer whose count is count and whose checksum is right for the index and count
// written.
func craftHistory(format uint32, body []byte, ranges []Range, count uint32) []byte {
	b := []byte(historyMagic)
	b = binary.LittleEndian.AppendUint32(b, format)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	b = append(b, body...)
	at := len(b)
	for _, r := range ranges {
		b = binary.LittleEndian.AppendUint64(b, r.LSN)
		b = binary.LittleEndian.AppendUint32(b, r.Len)
	}
	b = binary.LittleEndian.AppendUint32(b, count)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[at:], castagnoli))
	return append(b, historyEndMagic...)
}

var testHistoryRanges = []Range{{100, 10}, {110, 5}, {200, 33}, {1 << 40, 1}, {math.MaxUint64 - 64, 64}}

// A history file written by writeHistoryFile reads back: the index holds the ranges in order
// with their offsets, each range's bytes are at its offset, and the size adds up.
func TestHistoryFileRoundTrip(t *testing.T) {
	mem, path := writeTestHistory(t, testHistoryRanges)
	b := mem.bytes(path)
	names, err := mem.List(histTestDir)
	noErr(t, err)
	eq(t, names, []string{historyName(7)}, "the temporary file was renamed")

	got, err := indexOf(b)
	noErr(t, err)
	eq(t, len(got), len(testHistoryRanges))
	off := int64(historyHeader)
	for i, p := range got {
		eq(t, p.Range, testHistoryRanges[i], "range %d", i)
		eq(t, p.off, off, "offset of range %d", i)
		truth(t, bytes.Equal(b[p.off:p.off+int64(p.Len)], rangeBytes(p.Range)), "bytes of range %d", i)
		off += int64(p.Len)
	}
	eq(t, len(b), int(off)+len(testHistoryRanges)*historyIndexItem+historyFooter, "file size")
	eq(t, string(b[:8]), historyMagic)
	eq(t, string(b[len(b)-8:]), historyEndMagic)
	eq(t, b, craftHistory(historyFormat, b[historyHeader:off], testHistoryRanges, uint32(len(testHistoryRanges))),
		"the layout is the documented one")

	// Through readIndexAt (Stat for the size), as RetireBelow and the Fetcher read it.
	viaPath, err := readIndexAt(mem, path)
	noErr(t, err)
	for i := range viaPath {
		eq(t, viaPath[i].Range, got[i].Range)
		eq(t, viaPath[i].off, got[i].off)
	}

	// No ranges: header and footer only.
	mem, path = writeTestHistory(t, nil)
	eq(t, len(mem.bytes(path)), historyHeader+historyFooter)
	got, err = indexOf(mem.bytes(path))
	noErr(t, err)
	eq(t, len(got), 0)
}

// A failure while writing leaves neither the file nor its temporary behind.
func TestHistoryFileWriteFailure(t *testing.T) {
	boom := errors.New("boom")
	check := func(t *testing.T, mem *memFS, path string, err error) {
		t.Helper()
		isErr(t, err, boom)
		names, lerr := mem.List(histTestDir)
		noErr(t, lerr)
		eq(t, len(names), 0, "files left: %v", names)
	}
	t.Run("read", func(t *testing.T) {
		mem := newMemFS()
		path := filepath.Join(histTestDir, historyName(3))
		n := 0
		err := writeHistoryFile(mem, path, testHistoryRanges, func(r Range) ([]byte, error) {
			if n++; n == 3 {
				return nil, boom
			}
			return rangeBytes(r), nil
		})
		check(t, mem, path, err)
	})
	t.Run("write", func(t *testing.T) {
		mem := newMemFS()
		mem.writeErr = boom
		path := filepath.Join(histTestDir, historyName(3))
		check(t, mem, path, writeHistoryFile(mem, path, testHistoryRanges,
			func(r Range) ([]byte, error) { return rangeBytes(r), nil }))
	})
	t.Run("sync", func(t *testing.T) {
		mem := newMemFS()
		mem.syncErr = boom
		path := filepath.Join(histTestDir, historyName(3))
		check(t, mem, path, writeHistoryFile(mem, path, testHistoryRanges,
			func(r Range) ([]byte, error) { return rangeBytes(r), nil }))
	})
}

// Every kind of damage to the header, index or footer, and every size that does not add up, is
// reported as a bad history file (wrapping ErrDamaged), without a panic or an allocation sized
// by the damaged bytes.
func TestHistoryFileDamage(t *testing.T) {
	mem, path := writeTestHistory(t, testHistoryRanges)
	good := slices.Clone(mem.bytes(path))
	n := len(testHistoryRanges)
	bodyEnd := len(good) - historyFooter - n*historyIndexItem
	body := slices.Clone(good[historyHeader:bodyEnd])
	_, err := indexOf(good)
	noErr(t, err)

	t.Run("truncated", func(t *testing.T) {
		for size := range len(good) {
			_, err := indexOf(good[:size])
			badHistory(t, err, "truncated to %d bytes", size)
		}
	})
	t.Run("extended", func(t *testing.T) {
		for _, extra := range [][]byte{{0}, []byte(historyEndMagic), make([]byte, historyIndexItem)} {
			_, err := indexOf(append(slices.Clone(good), extra...))
			badHistory(t, err, "%d bytes appended", len(extra))
		}
	})
	t.Run("header size larger than the file", func(t *testing.T) {
		f, err := mem.Open(path)
		noErr(t, err)
		defer f.Close()
		_, err = readHistoryIndex(f, int64(len(good))+100, path)
		badHistory(t, err, "size past the end of the file")
	})
	flipped := func(t *testing.T, what string, from, to int) {
		t.Helper()
		for off := from; off < to; off++ {
			b := slices.Clone(good)
			b[off] ^= 0x20
			_, err := indexOf(b)
			badHistory(t, err, "%s byte %d flipped", what, off)
		}
	}
	t.Run("header", func(t *testing.T) { flipped(t, "header", 0, historyHeader) })
	t.Run("index", func(t *testing.T) { flipped(t, "index", bodyEnd, bodyEnd+n*historyIndexItem) })
	t.Run("footer count and checksum", func(t *testing.T) {
		flipped(t, "footer", len(good)-historyFooter, len(good)-8)
	})
	t.Run("footer magic", func(t *testing.T) { flipped(t, "footer magic", len(good)-8, len(good)) })

	t.Run("format", func(t *testing.T) {
		for _, format := range []uint32{0, 2, math.MaxUint32} {
			_, err := indexOf(craftHistory(format, body, testHistoryRanges, uint32(n)))
			badHistory(t, err, "format %d", format)
		}
		_, err := indexOf(craftHistory(historyFormat, body, testHistoryRanges, uint32(n)))
		noErr(t, err, "the crafted file is valid")
	})
	t.Run("count too large", func(t *testing.T) {
		for _, count := range []uint32{uint32(n + 1), uint32(n + 2), 1 << 20, math.MaxUint32} {
			// The footer's checksum right for what it claims, or for the real index.
			b := slices.Clone(good)
			binary.LittleEndian.PutUint32(b[len(b)-historyFooter:], count)
			_, err := indexOf(b)
			badHistory(t, err, "count %d", count)
			_, err = indexOf(craftHistory(historyFormat, body, testHistoryRanges, count))
			badHistory(t, err, "count %d, checksum recomputed", count)
			if at := len(b) - historyFooter - int(count)*historyIndexItem; count < 1<<20 && at >= historyHeader {
				binary.LittleEndian.PutUint32(b[len(b)-12:], crc32.Checksum(b[at:len(b)-12], castagnoli))
				_, err = indexOf(b)
				badHistory(t, err, "count %d, checksum right for the %d ranges claimed", count, count)
			}
		}
	})
	t.Run("count too small", func(t *testing.T) {
		_, err := indexOf(craftHistory(historyFormat, body, testHistoryRanges, uint32(n-1)))
		badHistory(t, err)
		_, err = indexOf(craftHistory(historyFormat, body, testHistoryRanges[:n-1], uint32(n-1)))
		badHistory(t, err, "a range's bytes with no index entry")
	})
	t.Run("ranges out of order", func(t *testing.T) {
		for _, rs := range [][]Range{
			{{200, 33}, {100, 10}, {110, 5}, {1 << 40, 1}, {math.MaxUint64 - 64, 64}}, // swapped
			{{100, 10}, {105, 5}, {200, 33}, {1 << 40, 1}, {math.MaxUint64 - 64, 64}}, // overlapping
			{{100, 10}, {100, 5}, {200, 33}, {1 << 40, 1}, {math.MaxUint64 - 64, 64}}, // same LSN
			{{100, 10}, {110, 5}, {200, 33}, {1 << 40, 1}, {1 << 40, 64}},             // duplicate LSN
			{{100, 10}, {110, 5}, {200, 33}, {1 << 40, 0}, {math.MaxUint64 - 64, 65}}, // empty range
			{{100, 10}, {110, 5}, {200, 33}, {1 << 40, 1}, {math.MaxUint64 - 63, 64}}, // past MaxUint64
		} {
			_, err := indexOf(craftHistory(historyFormat, body, rs, uint32(len(rs))))
			badHistory(t, err, "ranges %v", rs)
		}
	})
	t.Run("size not adding up", func(t *testing.T) {
		for _, d := range []struct {
			body []byte
			len4 uint32 // the length of range 4
		}{
			{body, 63},                     // a byte of the body in no range
			{body, 65},                     // ranges longer than the body
			{body[:len(body)-1], 64},       // a byte short
			{append(body, 0), 64},          // a byte over
			{body, math.MaxUint32},         // a huge range
			{body[:len(body)-64], 1 << 31}, // a huge range, no room for it
		} {
			rs := slices.Clone(testHistoryRanges)
			rs[4].Len = d.len4
			rs[4].LSN = 1 << 41
			_, err := indexOf(craftHistory(historyFormat, d.body, rs, uint32(len(rs))))
			badHistory(t, err, "body %d bytes, last range %d bytes", len(d.body), d.len4)
		}
	})

	// Every single-byte flip, with a few patterns: an error for header, index and footer bytes;
	// for a body byte (the entries keep their own checksums) the same index as before.
	t.Run("every byte", func(t *testing.T) {
		want, err := indexOf(good)
		noErr(t, err)
		for off := range good {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				b := slices.Clone(good)
				b[off] ^= mask
				got, err := indexOf(b)
				inBody := off >= historyHeader && off < bodyEnd
				switch {
				case err != nil:
					truth(t, !inBody, "body byte %d flipped (^%#x): %v", off, mask, err)
					badHistory(t, err, "byte %d flipped (^%#x)", off, mask)
				case inBody:
					eq(t, got, want, "body byte %d flipped (^%#x)", off, mask)
				default:
					t.Fatalf("byte %d (not in the body) flipped (^%#x): no error, index %v", off, mask, got)
				}
			}
		}
	})

	// Random bytes of every small size never panic and are never taken for a history file.
	t.Run("garbage", func(t *testing.T) {
		seed := uint64(1)
		for size := range 200 {
			b := make([]byte, size)
			for i := range b {
				seed = seed*6364136223846793005 + 1442695040888963407
				b[i] = byte(seed >> 56)
			}
			_, err := indexOf(b)
			badHistory(t, err, "%d random bytes", size)
			if size >= historyHeader+historyFooter { // with both magics right: the checksums
				copy(b, historyMagic)
				copy(b[size-8:], historyEndMagic)
				_, err = indexOf(b)
				badHistory(t, err, "%d random bytes between the magics", size)
			}
		}
	})
}

// errReaderFile is a vfs.File whose reads fail.
type errReaderFile struct {
	vfs.File
	err error
}

func (f errReaderFile) ReadAt([]byte, int64) (int, error) { return 0, f.err }

// An I/O error is returned as it is, not as damage.
func TestHistoryFileIOError(t *testing.T) {
	ioErr := errors.New("disk on fire")
	_, err := readHistoryIndex(errReaderFile{err: ioErr}, 1000, "x.hist")
	isErr(t, err, ioErr)
	truth(t, !errors.Is(err, ErrDamaged), "an I/O error is not damage: %v", err)
	_, err = readHistoryIndex(errReaderFile{err: io.ErrUnexpectedEOF}, 1000, "x.hist")
	truth(t, !errors.Is(err, ErrDamaged), "an I/O error is not damage: %v", err)
}

func TestHistoryName(t *testing.T) {
	for _, seq := range []uint64{0, 1, 9, 10, 12345, 1 << 40, math.MaxUint64 - 1, math.MaxUint64} {
		name := historyName(seq)
		eq(t, len(name), segmentDigits+len(historyExt), "%q", name)
		got, ok := parseHistoryName(name)
		truth(t, ok, "%q parses", name)
		eq(t, got, seq, "%q", name)
		_, ok = ParseSegmentName(name)
		truth(t, !ok, "%q is not a segment name", name)
		_, ok = parseHistoryName(SegmentName(seq))
		truth(t, !ok, "%q is not a history file name", SegmentName(seq))
	}
	eq(t, historyName(0), "00000000000000000000.hist")
	eq(t, historyName(42), "00000000000000000042.hist")
	eq(t, historyName(math.MaxUint64), "18446744073709551615.hist")
	for _, name := range []string{
		"", ".hist", "hist", "0.hist", "42.hist",
		"0000000000000000042.hist",   // 19 digits
		"000000000000000000042.hist", // 21 digits
		"0000000000000000004a.hist", "+0000000000000000042.hist", "-0000000000000000042.hist",
		" 0000000000000000042.hist", "0000000000000000042 .hist",
		"00000000000000000042.hist.tmp", "00000000000000000042.HIST", "00000000000000000042.hst",
		"00000000000000000042.wal", "00000000000000000042", "00000000000000000042.hist/",
		"18446744073709551616.hist", "99999999999999999999.hist", // past MaxUint64
		"٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠١.hist", // non-ASCII digits
	} {
		if seq, ok := parseHistoryName(name); ok {
			t.Errorf("parseHistoryName(%q) = %d, want a rejection", name, seq)
		}
	}
}

// listHistory sorts what the history directory holds: moved segments, history files, and the
// temporaries of history files a crash interrupted; other names are ignored, and a missing
// directory is empty.
func TestListHistory(t *testing.T) {
	crash := vfs.NewCrashFS()
	l, err := listHistory(crash, walDir)
	noErr(t, err, "no history directory")
	eq(t, l, historyListing{})

	mem := newMemFS()
	for _, name := range []string{
		historyName(12), historyName(3), SegmentName(900), SegmentName(100),
		historyName(13) + ".tmp", "x.hist.tmp", "notes.txt", historyName(4) + ".tmp.tmp",
		"quarantine/" + SegmentName(5),
	} {
		mem.set(filepath.Join(histTestDir, name), []byte("x"))
	}
	l, err = listHistory(mem, walDir)
	noErr(t, err)
	eq(t, l, historyListing{
		segments: []uint64{100, 900},
		files:    []uint64{3, 12},
		partial:  []string{historyName(13) + ".tmp"},
		exists:   true,
	})
}

// A Fetcher keeps a mark every markEvery ranges of a history file, not its index: find reads
// the block after the mark below a range and adds up the lengths. Every range is found at its
// offset, at block edges too, and so is a part of one; an LSN between ranges, a span across two,
// and anything outside the file's LSNs are not.
func TestHistoryFileFind(t *testing.T) {
	var ranges []Range
	lsn := uint64(1000)
	for i := range 3*markEvery + 5 {
		r := Range{LSN: lsn, Len: uint32(3 + i%17)}
		ranges = append(ranges, r)
		lsn = r.End() + uint64(i%3) // a gap after every third range but one
	}
	mem, path := writeTestHistory(t, ranges)
	f, size, err := openSized(mem, path)
	noErr(t, err)
	defer f.Close()
	placedRanges, err := readHistoryIndex(f, size, path)
	noErr(t, err)
	h := newHistFile(path, size, placedRanges)
	eq(t, len(h.marks), 4, "a mark every %d ranges", markEvery)
	b := mem.bytes(path)
	for i, p := range placedRanges {
		off, ok, err := h.find(f, p.LSN, int(p.Len))
		noErr(t, err)
		truth(t, ok, "range %d found", i)
		eq(t, off, p.off, "range %d", i)
		truth(t, bytes.Equal(b[off:off+int64(p.Len)], rangeBytes(p.Range)), "range %d's bytes", i)
		off, ok, err = h.find(f, p.LSN+1, int(p.Len)-2)
		noErr(t, err)
		truth(t, ok, "part of range %d", i)
		eq(t, off, p.off+1, "part of range %d", i)
		if i+1 < len(placedRanges) {
			_, ok, err = h.find(f, p.LSN, int(placedRanges[i+1].End()-p.LSN))
			noErr(t, err)
			truth(t, !ok, "ranges %d and %d together are not one", i, i+1)
		}
		if i%3 == 1 { // a gap of one byte follows
			_, ok, err = h.find(f, p.End(), 1)
			noErr(t, err)
			truth(t, !ok, "the gap after range %d", i)
		}
	}
	for _, out := range []Range{{0, 1}, {999, 1}, {999, 2}, {lsn, 1}, {math.MaxUint64 - 1, 1}} {
		_, ok, err := h.find(f, out.LSN, int(out.Len))
		noErr(t, err)
		truth(t, !ok, "%+v is outside the file", out)
	}
}
