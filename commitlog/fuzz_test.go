package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/internal/vfs"
)

// entrySeeds are valid and damaged encodings shared by both fuzz targets' seed corpora.
func entrySeeds(t testing.TB) [][]byte {
	good := encode(t, Entry{Type: 0x10, Version: 1, TxID: 42, Payload: []byte("key=value")})
	marker := encode(t, CommitMarker(42))
	flipped := append([]byte(nil), good...)
	flipped[10] ^= 4
	absurd := binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)
	absurd = append(absurd, good[4:]...)
	// A commit marker of tx 0, correctly checksummed: content damage.
	badMarker := encode(t, Entry{Type: 0x10, Version: 1, Payload: make([]byte, 16)})
	badMarker[offType] = TypeTransactionCommit
	reseal(badMarker)
	return [][]byte{
		nil,
		{0, 0, 0},
		make([]byte, 64),
		good,
		good[:len(good)-1],
		marker,
		append(append([]byte(nil), good...), marker...),
		flipped,
		absurd,
		badMarker,
	}
}

// FuzzDecodeEntry: DecodeEntry never panics, fails only with damage, and whatever it accepts
// re-encodes to exactly the bytes it consumed.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range entrySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("decode error %v does not wrap ErrDamaged", err)
			}
			if n != 0 {
				t.Fatalf("n = %d on error", n)
			}
			return
		}
		if n < EntryOverhead || n > len(b) || n > MaxEntrySize {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		if !mayStartEntry(b) { // else the scan for the next valid entry would step over it
			t.Fatalf("a valid entry may not start: %x", b[:n])
		}
		re, err := AppendEntry(nil, e)
		if err != nil {
			t.Fatalf("decoded entry does not re-encode: %v", err)
		}
		if !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", re, b[:n])
		}
	})
}

// Flags of FuzzSegmentReader.
const (
	fzSealed      = 1 << iota // a valid sealed segment precedes the fuzzed one
	fzValidHeader             // the fuzzed segment gets a valid header (else hdr is used raw)
	fzGap                     // the fuzzed segment's base is off by one (a gap)
	fzFromLast                // read from the fuzzed segment's base instead of from 0
)

// FuzzSegmentReader writes arbitrary bytes as the last segment of a log and reads the log to
// the end, resyncing past every corruption. The reader must never panic, never return an entry
// that is not exactly the valid encoding at its LSN, and classify consistently: torn tails only
// in the last segment with nothing valid after them, corruption in the last segment only with
// something valid after it.
func FuzzSegmentReader(f *testing.F) {
	for _, s := range entrySeeds(f) {
		f.Add([]byte(nil), s, uint8(fzValidHeader))
		f.Add([]byte(nil), s, uint8(fzValidHeader|fzSealed))
	}
	two := append(entrySeeds(f)[6], entrySeeds(f)[6]...)
	f.Add([]byte(nil), two, uint8(fzValidHeader|fzSealed|fzGap))
	f.Add([]byte(nil), two, uint8(fzValidHeader|fzSealed|fzFromLast))
	f.Add(AppendSegmentHeader(nil, 0)[:11], []byte(nil), uint8(0))
	f.Add(AppendSegmentHeader(nil, 0), two, uint8(0))
	f.Add(AppendSegmentHeader(nil, 7), two, uint8(0))
	f.Add([]byte("INMEMWAL\x02\x00\x00\x00"), two, uint8(fzSealed))

	f.Fuzz(func(t *testing.T, hdr, body []byte, flags uint8) {
		fs := newMemFS()
		var base uint64
		if flags&fzSealed != 0 {
			recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 1)})
			last := recs[len(recs)-1]
			base = last.lsn + uint64(last.end-last.off)
		}
		if flags&fzGap != 0 {
			base++
		}
		var seg []byte
		if flags&fzValidHeader != 0 {
			seg = AppendSegmentHeader(nil, base)
		} else {
			seg = append([]byte(nil), hdr...)
		}
		seg = append(seg, body...)
		fs.set(segPath(base), seg)
		bases, err := ListSegments(fs, walDir)
		noErr(t, err)
		lastBase := bases[len(bases)-1]

		from := uint64(0)
		if flags&fzFromLast != 0 {
			from = base
		}
		r, err := NewReader(fs, walDir, from)
		if err != nil {
			if !errors.Is(err, ErrLSNNotFound) {
				t.Fatalf("NewReader: %v", err)
			}
			return
		}
		defer r.Close()

		contiguous := false // the previous call returned an entry, so the next continues at its end
		var prevEnd uint64
		for steps := 0; ; steps++ {
			if steps > len(seg)+100 {
				t.Fatal("reader does not terminate")
			}
			e, lsn, err := r.Next()
			if err == nil {
				segBase, end := r.Position()
				data := fs.bytes(segPath(segBase))
				n := int64(EncodedSize(len(e.Payload)))
				start := end - n
				if start < HeaderSize || end > int64(len(data)) {
					t.Fatalf("entry at [%d, %d) outside segment of %d bytes", start, end, len(data))
				}
				if lsn != segBase+uint64(start-HeaderSize) {
					t.Fatalf("LSN %d for offset %d of segment %d", lsn, start, segBase)
				}
				if contiguous && lsn != prevEnd {
					t.Fatalf("LSN %d after an entry ending at %d", lsn, prevEnd)
				}
				if enc := encode(t, e); !bytes.Equal(enc, data[start:end]) {
					t.Fatalf("returned entry differs from the bytes at its LSN")
				}
				contiguous, prevEnd = true, r.EndLSN()
				continue
			}
			contiguous = false
			var torn *TornTailError
			var ce *CorruptionError
			switch {
			case err == io.EOF:
				return
			case errors.As(err, &torn):
				data := fs.bytes(segPath(torn.Base))
				if torn.Base != lastBase {
					t.Fatalf("torn tail in sealed segment %d", torn.Base)
				}
				// Dropped is 0 only for an empty segment file (created, header never written).
				if torn.ValidEnd+torn.Dropped != int64(len(data)) || (torn.Dropped <= 0 && torn.ValidEnd != 0) {
					t.Fatalf("torn tail: valid end %d + dropped %d != size %d", torn.ValidEnd, torn.Dropped, len(data))
				}
				if contentDamage(torn.Reason) {
					t.Fatalf("content damage reported as a torn tail: %v", torn.Reason)
				}
				scan := int(torn.ValidEnd) + 1
				if torn.ValidEnd == 0 {
					scan = HeaderSize
				}
				if nextValid(data, scan) != noValidEntry {
					t.Fatalf("torn tail at %d with a valid entry after it", torn.ValidEnd)
				}
				if _, _, err := r.Next(); err != io.EOF {
					t.Fatalf("after a torn tail: %v, want io.EOF", err)
				}
				return
			case errors.As(err, &ce):
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("corruption without damage: %v", err)
				}
				data := fs.bytes(segPath(ce.Base))
				if ce.Base == lastBase && ce.Offset >= HeaderSize && !contentDamage(ce.Reason) &&
					!errors.Is(ce.Reason, ErrSegmentGap) && nextValid(data, int(ce.Offset)+1) == noValidEntry {
					t.Fatalf("corruption in the last segment with nothing valid after offset %d", ce.Offset)
				}
				if _, err := r.Resync(); err != nil {
					t.Fatalf("Resync: %v", err)
				}
			case errors.Is(err, ErrUnsupportedFormat), errors.Is(err, ErrLSNNotFound):
				return
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}

// TestFuzzCorpusFiles keeps the committed corpus files in sync with the targets: each file must
// parse (go test runs them as seeds; a malformed file fails the target).
func TestFuzzCorpusFiles(t *testing.T) {
	for _, target := range []string{"FuzzDecodeEntry", "FuzzSegmentReader"} {
		names, err := vfs.Default().List(filepath.Join("testdata", "fuzz", target))
		noErr(t, err)
		if len(names) == 0 {
			t.Fatalf("no committed corpus for %s", target)
		}
	}
}
