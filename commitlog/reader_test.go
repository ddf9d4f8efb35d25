package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/internal/vfs"
)

// walRec is one entry of a test log and where it was written.
type walRec struct {
	e        Entry
	lsn      uint64 // LSN of the entry
	seg      uint64 // base of its segment
	off, end int64  // file offsets of its first byte and of the byte after it
}

// txn returns a transaction: n data entries stamped with txID, then its commit marker.
func txn(txID uint64, n int) []Entry {
	var es []Entry
	for i := 0; i < n; i++ {
		p := []byte(fmt.Sprintf("tx %d entry %d %s", txID, i, make([]byte, int(txID*7+uint64(i)*13)%50)))
		es = append(es, Entry{Type: 0x10 + uint8(i%3), Version: 1, TxID: txID, Payload: p})
	}
	return append(es, CommitMarker(txID))
}

// writeLog writes one segment per element of segs, starting at LSN start, each with one batch
// write, and returns what it wrote.
func writeLog(t testing.TB, fs vfs.FS, dir string, start uint64, segs [][]Entry) []walRec {
	t.Helper()
	var recs []walRec
	base := start
	for _, es := range segs {
		s, err := CreateSegment(fs, dir, base)
		noErr(t, err)
		off := int64(HeaderSize)
		for _, e := range es {
			n := int64(EncodedSize(len(e.Payload)))
			recs = append(recs, walRec{e: e, lsn: base + uint64(off-HeaderSize), seg: base, off: off, end: off + n})
			off += n
		}
		noErr(t, s.Write(encode(t, es...)))
		noErr(t, s.Seal()) // as the log actor leaves every segment: synced, padding trimmed
		eq(t, s.EndLSN(), base+uint64(off-HeaderSize))
		base = s.EndLSN()
		noErr(t, s.Close())
	}
	return recs
}

// expectEntries reads len(want) entries and checks them and their LSNs.
func expectEntries(t testing.TB, r *Reader, want []walRec) {
	t.Helper()
	for i, w := range want {
		e, lsn, err := r.Next()
		noErr(t, err, "entry %d (LSN %d)", i, w.lsn)
		eq(t, e, w.e, "entry %d", i)
		eq(t, lsn, w.lsn, "entry %d LSN", i)
		eq(t, r.EndLSN(), w.lsn+uint64(w.end-w.off), "entry %d end LSN", i)
	}
}

// readAll reads the log from from and expects exactly want, then a clean end.
func readAll(t testing.TB, fs vfs.FS, dir string, from uint64, want []walRec) {
	t.Helper()
	r, err := NewReader(fs, dir, from)
	noErr(t, err)
	defer r.Close()
	expectEntries(t, r, want)
	_, _, err = r.Next()
	eq(t, err, io.EOF)
	_, _, err = r.Next()
	eq(t, err, io.EOF)
}

func segPath(base uint64) string { return filepath.Join(walDir, SegmentName(base)) }

// fourSegments is a log of four segments, the last holding several transactions.
func fourSegments(t testing.TB, fs vfs.FS, start uint64) []walRec {
	return writeLog(t, fs, walDir, start, [][]Entry{
		append(txn(1, 2), txn(2, 3)...),
		txn(3, 1),
		append(append(txn(4, 4), txn(5, 2)...), txn(6, 1)...),
		append(append(append(txn(7, 2), txn(8, 5)...), txn(9, 3)...), txn(10, 3)...),
	})
}

func TestReaderMultiSegment(t *testing.T) {
	for _, start := range []uint64{0, 1 << 40} {
		t.Run(fmt.Sprint(start), func(t *testing.T) {
			fs := newMemFS()
			recs := fourSegments(t, fs, start)
			bases, err := ListSegments(fs, walDir)
			noErr(t, err)
			eq(t, len(bases), 4)
			eq(t, recs[0].lsn, start)

			// From every entry boundary, including mid-segment ones.
			for i, w := range recs {
				readAll(t, fs, walDir, w.lsn, recs[i:])
			}
			// From the end of the log: nothing to read, positioned for appends.
			last := recs[len(recs)-1]
			readAll(t, fs, walDir, last.lsn+uint64(last.end-last.off), nil)
			r, err := NewReader(fs, walDir, start)
			noErr(t, err)
			for {
				if _, _, err := r.Next(); err != nil {
					eq(t, err, io.EOF)
					break
				}
			}
			b, off := r.Position()
			eq(t, b, last.seg)
			eq(t, off, last.end)
			eq(t, r.EndLSN(), last.lsn+uint64(last.end-last.off))
		})
	}
}

func TestReaderStartLSNErrors(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 1000)
	last := recs[len(recs)-1]
	end := last.lsn + uint64(last.end-last.off)

	for _, from := range []uint64{0, 999, end + 1, end + 1000} {
		_, err := NewReader(fs, walDir, from)
		isErr(t, err, ErrLSNNotFound, "from %d", from)
	}
	// Inside an entry: found when the segment is read.
	for _, from := range []uint64{recs[0].lsn + 1, recs[5].lsn + 3, last.lsn + 1} {
		r, err := NewReader(fs, walDir, from)
		noErr(t, err)
		_, _, err = r.Next()
		isErr(t, err, ErrLSNNotFound, "from %d", from)
		truth(t, !errors.Is(err, ErrCorruption))
		r.Close()
	}

	empty := newMemFS()
	noErr(t, empty.MkdirAll(walDir))
	r, err := NewReader(empty, walDir, 0)
	noErr(t, err)
	_, _, err = r.Next()
	eq(t, err, io.EOF)
	b, off := r.Position()
	eq(t, [2]uint64{b, uint64(off)}, [2]uint64{0, 0})
	_, err = NewReader(empty, walDir, 5)
	isErr(t, err, ErrLSNNotFound)
}

// lastSegment returns the records of the last segment.
func lastSegment(recs []walRec) []walRec {
	i := len(recs) - 1
	for i > 0 && recs[i-1].seg == recs[len(recs)-1].seg {
		i--
	}
	return recs[i:]
}

// expectTorn reads want, then a torn tail with the given valid end and dropped bytes, then
// io.EOF, and checks the reader is positioned at the valid end.
func expectTorn(t testing.TB, fs vfs.FS, from uint64, want []walRec, seg uint64, validEnd, dropped int64) {
	t.Helper()
	r, err := NewReader(fs, walDir, from)
	noErr(t, err)
	defer r.Close()
	expectEntries(t, r, want)
	_, _, err = r.Next()
	var torn *TornTailError
	if !errors.As(err, &torn) {
		t.Fatalf("want a torn tail, got %v", err)
	}
	isErr(t, err, ErrTornTail)
	truth(t, !errors.Is(err, ErrCorruption) && !errors.Is(err, ErrDamaged), "a torn tail is not damage")
	eq(t, torn.Segment, SegmentName(seg))
	eq(t, torn.Base, seg)
	eq(t, torn.ValidEnd, validEnd, "valid end")
	eq(t, torn.Dropped, dropped, "dropped")
	eq(t, torn.LSN, seg+uint64(max(validEnd-HeaderSize, 0)))
	isErr(t, torn.Reason, ErrDamaged)
	_, _, err = r.Next()
	eq(t, err, io.EOF)
	b, off := r.Position()
	eq(t, b, seg)
	eq(t, off, validEnd)
	eq(t, r.EndLSN(), torn.LSN)
}

// expectCorrupt reads want, then corruption at the given offset of segment seg (sticky).
func expectCorrupt(t testing.TB, r *Reader, want []walRec, seg uint64, off int64, lsn uint64, reason error) {
	t.Helper()
	expectEntries(t, r, want)
	_, _, err := r.Next()
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("want corruption, got %v", err)
	}
	isErr(t, err, ErrCorruption)
	isErr(t, err, ErrDamaged)
	isErr(t, err, reason)
	eq(t, ce.Segment, SegmentName(seg))
	eq(t, ce.Base, seg)
	eq(t, ce.Offset, off, "offset")
	eq(t, ce.LSN, lsn, "LSN")
	_, _, again := r.Next()
	eq(t, again, err, "corruption is sticky")
}

// TestTornTailEveryCut cuts the last segment at every offset of its last transaction: always a
// torn tail at the last entry boundary before the cut (or a clean end on a boundary), never
// corruption; appending after truncation gives a clean log.
func TestTornTailEveryCut(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	tail := lastSegment(recs)
	seg := tail[0].seg
	orig := append([]byte(nil), fs.bytes(segPath(seg))...)
	lastTx := len(recs) - 4 // txn(10, 3): 3 entries and a marker
	eq(t, recs[lastTx].e.TxID, uint64(10))
	for cut := recs[lastTx].off; cut <= int64(len(orig)); cut++ {
		fs.set(segPath(seg), orig[:cut])
		intact := 0
		for intact < len(recs) && (recs[intact].seg != seg || recs[intact].end <= cut) {
			intact++
		}
		validEnd := recs[intact-1].end
		if validEnd == cut {
			readAll(t, fs, walDir, 0, recs[:intact])
			continue
		}
		expectTorn(t, fs, 0, recs[:intact], seg, validEnd, cut-validEnd)
		// Also when reading starts in the last segment.
		expectTorn(t, fs, recs[lastTx].lsn, recs[lastTx:intact], seg, validEnd, cut-validEnd)

		s, err := OpenSegmentForAppend(fs, walDir, seg, validEnd)
		noErr(t, err)
		more := txn(11, 1)
		noErr(t, s.Write(encode(t, more...)))
		noErr(t, s.Seal())
		noErr(t, s.Close())
		want := append([]walRec(nil), recs[:intact]...)
		off := validEnd
		for _, e := range more {
			n := int64(EncodedSize(len(e.Payload)))
			want = append(want, walRec{e: e, lsn: seg + uint64(off-HeaderSize), seg: seg, off: off, end: off + n})
			off += n
		}
		readAll(t, fs, walDir, 0, want)
	}
}

// TestCorruptionMidLastSegment flips every bit of an entry in the middle of the last segment:
// valid entries follow, so it is corruption at that entry, and Resync skips exactly it.
func TestCorruptionMidLastSegment(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	tail := lastSegment(recs)
	seg := tail[0].seg
	orig := append([]byte(nil), fs.bytes(segPath(seg))...)
	mid := len(recs) - len(tail)/2
	victim := recs[mid]
	for bit := victim.off * 8; bit < victim.end*8; bit++ {
		b := append([]byte(nil), orig...)
		b[bit/8] ^= 1 << (bit % 8)
		fs.set(segPath(seg), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		expectCorrupt(t, r, recs[:mid], seg, victim.off, victim.lsn, ErrDamaged)
		skipped, err := r.Resync()
		noErr(t, err)
		eq(t, skipped, victim.end-victim.off, "bit %d: skipped", bit)
		expectEntries(t, r, recs[mid+1:])
		_, _, err = r.Next()
		eq(t, err, io.EOF)
		r.Close()
	}
}

// TestCorruptionSealedSegment: damage in a sealed segment is corruption even where, in the last
// segment, it would be a torn tail.
func TestCorruptionSealedSegment(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	first := recs[0].seg
	n := 0
	for recs[n].seg == first {
		n++
	}
	lastOfFirst := recs[n-1]
	orig := append([]byte(nil), fs.bytes(segPath(first))...)

	t.Run("bit flip in the last entry", func(t *testing.T) {
		b := append([]byte(nil), orig...)
		b[lastOfFirst.off+25] ^= 0x80
		fs.set(segPath(first), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, recs[:n-1], first, lastOfFirst.off, lastOfFirst.lsn, ErrBadChecksum)
		skipped, err := r.Resync()
		noErr(t, err)
		eq(t, skipped, lastOfFirst.end-lastOfFirst.off)
		expectEntries(t, r, recs[n:])
	})

	t.Run("cut in the last entry", func(t *testing.T) {
		cut := lastOfFirst.off + 10
		fs.set(segPath(first), orig[:cut])
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, recs[:n-1], first, lastOfFirst.off, lastOfFirst.lsn, ErrShortEntry)
		skipped, err := r.Resync()
		noErr(t, err)
		eq(t, skipped, int64(10))
		// The shortened segment now ends before the next one starts: a gap.
		_, _, err = r.Next()
		isErr(t, err, ErrSegmentGap)
		skipped, err = r.Resync()
		noErr(t, err)
		eq(t, skipped, int64(0))
		expectEntries(t, r, recs[n:])
	})
	fs.set(segPath(first), orig)
	readAll(t, fs, walDir, 0, recs)
}

func TestZeroedTail(t *testing.T) {
	fs := newMemFS()
	var es []Entry
	for tx := uint64(1); tx <= 12; tx++ {
		es = append(es, Entry{Type: 0x30, Version: 1, TxID: tx, Payload: make([]byte, 1000)}, CommitMarker(tx))
	}
	recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(100, 1), es})
	seg := recs[len(recs)-1].seg
	orig := append([]byte(nil), fs.bytes(segPath(seg))...)
	size := int64(len(orig))
	truth(t, size > 3*4096)

	boundaryBefore := func(off int64) int {
		i := 0
		for i < len(recs) && (recs[i].seg != seg || recs[i].end <= off) {
			i++
		}
		return i
	}

	t.Run("zeros overwrite the last 4 KiB", func(t *testing.T) {
		b := append([]byte(nil), orig...)
		clear(b[size-4096:])
		fs.set(segPath(seg), b)
		i := boundaryBefore(size - 4096)
		expectTorn(t, fs, 0, recs[:i], seg, recs[i-1].end, size-recs[i-1].end)
	})
	t.Run("preallocated zeros after the end", func(t *testing.T) {
		fs.set(segPath(seg), append(append([]byte(nil), orig...), make([]byte, 4096)...))
		expectTorn(t, fs, 0, recs, seg, size, 4096)
	})
	// A page of zeros before valid entries in the last segment is a write a power loss dropped
	// while a later one reached the disk: a torn tail whose valid entries are stranded.
	t.Run("zeros in the middle", func(t *testing.T) {
		b := append([]byte(nil), orig...)
		at := size / 2
		clear(b[at : at+4096])
		fs.set(segPath(seg), b)
		i := boundaryBefore(at)
		expectTorn(t, fs, 0, recs[:i], seg, recs[i].off, size-recs[i].off)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectEntries(t, r, recs[:i])
		_, _, err = r.Next()
		var torn *TornTailError
		truth(t, errors.As(err, &torn) && torn.Stranded, "stranded entries after the zeros: %v", err)
	})
	// Damage without a zeroed sector, followed by valid entries, is still corruption.
	t.Run("garbage in the middle", func(t *testing.T) {
		b := append([]byte(nil), orig...)
		at := size / 2
		for k := at; k < at+4096; k++ {
			b[k] = byte(k%251) | 1
		}
		fs.set(segPath(seg), b)
		i := boundaryBefore(at)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, recs[:i], seg, recs[i].off, recs[i].lsn, ErrDamaged)
		j := boundaryBefore(at + 4096)
		skipped, err := r.Resync()
		noErr(t, err)
		eq(t, skipped, recs[j].end-recs[i].off)
		expectEntries(t, r, recs[j+1:])
	})
	fs.set(segPath(seg), orig)
}

// TestZeroedSectorInSealedSegmentIsCorruption: only the last segment can hold unsynced writes;
// a sealed segment was synced whole, so zeros in it are damage.
func TestZeroedSectorInSealedSegmentIsCorruption(t *testing.T) {
	fs := newMemFS()
	var es []Entry
	for tx := uint64(1); tx <= 20; tx++ {
		es = append(es, Entry{Type: 0x30, Version: 1, TxID: tx, Payload: make([]byte, 1000)}, CommitMarker(tx))
	}
	recs := writeLog(t, fs, walDir, 0, [][]Entry{es, txn(100, 1)})
	first := recs[0].seg
	b := append([]byte(nil), fs.bytes(segPath(first))...)
	clear(b[4096 : 2*4096])
	fs.set(segPath(first), b)
	i := 0
	for recs[i].end <= 4096 {
		i++
	}
	r, err := NewReader(fs, walDir, 0)
	noErr(t, err)
	defer r.Close()
	expectCorrupt(t, r, recs[:i], first, recs[i].off, recs[i].lsn, ErrDamaged)
}

func TestGarbageTail(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	seg := recs[len(recs)-1].seg
	orig := append([]byte(nil), fs.bytes(segPath(seg))...)
	rng := rand.New(rand.NewPCG(3, 4))
	absurd := binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)
	absurd = append(absurd, make([]byte, 40)...)
	for _, garbage := range [][]byte{{0x01}, {0xFF, 0xFF, 0xFF}, randBytes(rng, 100), randBytes(rng, 5000), absurd, encode(t, CommitMarker(99))[:30]} {
		fs.set(segPath(seg), append(append([]byte(nil), orig...), garbage...))
		expectTorn(t, fs, 0, recs, seg, int64(len(orig)), int64(len(garbage)))
	}
	fs.set(segPath(seg), orig)
}

func TestAbsurdLengthMidSegment(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	tail := lastSegment(recs)
	seg := tail[0].seg
	victim := tail[2]
	b := append([]byte(nil), fs.bytes(segPath(seg))...)
	binary.LittleEndian.PutUint32(b[victim.off:], 0xFFFFFFFF)
	fs.set(segPath(seg), b)
	r, err := NewReader(fs, walDir, tail[0].lsn)
	noErr(t, err)
	defer r.Close()
	expectCorrupt(t, r, tail[:2], seg, victim.off, victim.lsn, ErrBadLength)
}

// TestContentDamageIsCorruption: an entry with a good checksum that breaks a format rule cannot
// come from a crash, so it is corruption even as the very last entry.
func TestContentDamageIsCorruption(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	seg := recs[len(recs)-1].seg
	victim := recs[len(recs)-1]
	b := append([]byte(nil), fs.bytes(segPath(seg))...)
	b[victim.off+offTxID+15] = 1
	reseal(b[victim.off:victim.end])
	fs.set(segPath(seg), b)
	r, err := NewReader(fs, walDir, 0)
	noErr(t, err)
	defer r.Close()
	expectCorrupt(t, r, recs[:len(recs)-1], seg, victim.off, victim.lsn, ErrBadTxID)
}

func TestSegmentGap(t *testing.T) {
	for _, delta := range []int64{+10, -10} {
		t.Run(fmt.Sprint(delta), func(t *testing.T) {
			fs := newMemFS()
			a := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2)})
			end := a[len(a)-1].lsn + uint64(a[len(a)-1].end-a[len(a)-1].off)
			next := uint64(int64(end) + delta)
			// Written elsewhere and moved in: CreateSegment refuses to overlap the log.
			b := writeLog(t, fs, "elsewhere", next, [][]Entry{txn(2, 2)})
			noErr(t, fs.Rename(filepath.Join("elsewhere", SegmentName(next)), segPath(next)))
			for i := range b {
				b[i].seg = next
			}
			r, err := NewReader(fs, walDir, 0)
			noErr(t, err)
			defer r.Close()
			expectCorrupt(t, r, a, next, 0, end, ErrSegmentGap)
			skipped, err := r.Resync()
			noErr(t, err)
			eq(t, skipped, int64(0))
			expectEntries(t, r, b)
			_, _, err = r.Next()
			eq(t, err, io.EOF)
		})
	}
}

func TestHeaderDamage(t *testing.T) {
	t.Run("torn header of the last segment", func(t *testing.T) {
		fs := newMemFS()
		recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2), txn(2, 1)})
		seg := recs[len(recs)-1].seg
		for _, n := range []int{0, 1, 10, 23} {
			fs.set(segPath(seg), AppendSegmentHeader(nil, seg)[:n])
			first := recs[:3]
			expectTorn(t, fs, 0, first, seg, 0, int64(n))
		}
		// Zeros where the header should be, and garbage after: still nothing valid.
		fs.set(segPath(seg), make([]byte, 100))
		expectTorn(t, fs, 0, recs[:3], seg, 0, 100)
		s, err := OpenSegmentForAppend(fs, walDir, seg, 0)
		noErr(t, err)
		noErr(t, s.Close())
		readAll(t, fs, walDir, 0, recs[:3])
	})
	t.Run("header checksum of the last segment, entries intact", func(t *testing.T) {
		fs := newMemFS()
		recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2), txn(2, 1)})
		seg := recs[len(recs)-1].seg
		b := append([]byte(nil), fs.bytes(segPath(seg))...)
		b[3] ^= 1
		fs.set(segPath(seg), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, recs[:3], seg, 0, seg, ErrBadHeader)
		skipped, err := r.Resync()
		noErr(t, err)
		eq(t, skipped, int64(0))
		expectEntries(t, r, recs[3:])
	})
	t.Run("sealed segment", func(t *testing.T) {
		fs := newMemFS()
		recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2), txn(2, 1)})
		b := append([]byte(nil), fs.bytes(segPath(0))...)
		b[20] ^= 1
		fs.set(segPath(0), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, nil, 0, 0, 0, ErrBadHeader)
		_, err = r.Resync()
		noErr(t, err)
		expectEntries(t, r, recs)
	})
	t.Run("header names another base", func(t *testing.T) {
		fs := newMemFS()
		recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2)})
		b := append([]byte(nil), fs.bytes(segPath(0))...)
		copy(b, AppendSegmentHeader(nil, 5))
		fs.set(segPath(0), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		expectCorrupt(t, r, nil, 0, 0, 0, ErrBadHeader)
		_, err = r.Resync()
		noErr(t, err)
		expectEntries(t, r, recs)
	})
	t.Run("unsupported format", func(t *testing.T) {
		fs := newMemFS()
		writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2)})
		b := append([]byte(nil), fs.bytes(segPath(0))...)
		b[8] = 2
		putCRC(b[:20], b[20:24])
		fs.set(segPath(0), b)
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		_, _, err = r.Next()
		isErr(t, err, ErrUnsupportedFormat)
		truth(t, !errors.Is(err, ErrCorruption) && !errors.Is(err, ErrDamaged))
	})
}

func TestReaderClose(t *testing.T) {
	fs := newMemFS()
	recs := fourSegments(t, fs, 0)
	r, err := NewReader(fs, walDir, 0)
	noErr(t, err)
	expectEntries(t, r, recs[:2])
	noErr(t, r.Close())
	_, _, err = r.Next()
	truth(t, err != nil && err != io.EOF)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
