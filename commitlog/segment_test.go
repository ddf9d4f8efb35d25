package commitlog

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/internal/vfs"
)

const walDir = "db/wal"

func TestSegmentHeaderGolden(t *testing.T) {
	want := []byte{
		'I', 'N', 'M', 'E', 'M', 'W', 'A', 'L', // magic
		0x01, 0x00, 0x00, 0x00, // format 1
		0xd2, 0x04, 0, 0, 0, 0, 0, 0, // base 1234
		0x74, 0x12, 0x29, 0x80, // CRC-32C of bytes [0, 20) = 0x80291274
	}
	got := AppendSegmentHeader(nil, 1234)
	eq(t, got, want)
	base, err := DecodeSegmentHeader(got)
	noErr(t, err)
	eq(t, base, uint64(1234))

	for i := 0; i < HeaderSize; i++ {
		_, err := DecodeSegmentHeader(got[:i])
		isErr(t, err, ErrBadHeader, "prefix %d", i)
		b := append([]byte(nil), got...)
		b[i] ^= 1
		_, err = DecodeSegmentHeader(b)
		isErr(t, err, ErrBadHeader, "flip at %d", i)
		isErr(t, err, ErrDamaged)
	}

	// A well-formed header of another format is not damage.
	b := AppendSegmentHeader(nil, 1234)
	b[8] = 2
	putCRC(b[:20], b[20:])
	_, err = DecodeSegmentHeader(b)
	isErr(t, err, ErrUnsupportedFormat)
	truth(t, !errors.Is(err, ErrDamaged), "unsupported format must not be damage")
}

// putCRC writes the CRC-32C of covered into dst[:4].
func putCRC(covered, dst []byte) {
	c := crcOf(covered)
	dst[0], dst[1], dst[2], dst[3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

func TestSegmentNames(t *testing.T) {
	eq(t, SegmentName(0), "00000000000000000000.wal")
	eq(t, SegmentName(67108890), "00000000000067108890.wal")
	eq(t, SegmentName(^uint64(0)), "18446744073709551615.wal")
	for _, b := range []uint64{0, 1, 24, 67108890, ^uint64(0)} {
		got, ok := ParseSegmentName(SegmentName(b))
		truth(t, ok)
		eq(t, got, b)
	}
	for _, bad := range []string{
		"", ".wal", "0.wal", "0000000000000000000.wal", "000000000000000000000.wal",
		"18446744073709551616.wal", "0000000000000000000a.wal", "+0000000000000000001.wal",
		"00000000000000000000.wal.tmp", "00000000000000000000.WAL", "quarantine",
	} {
		_, ok := ParseSegmentName(bad)
		truth(t, !ok, bad)
	}
}

func TestListSegments(t *testing.T) {
	fs := newMemFS()
	noErr(t, fs.MkdirAll(filepath.Join(walDir, "quarantine")))
	for _, n := range []string{SegmentName(500), SegmentName(7), "LOCK", "notes.txt", SegmentName(0) + ".tmp"} {
		fs.set(filepath.Join(walDir, n), nil)
	}
	fs.set(filepath.Join(walDir, "quarantine", SegmentName(9)), nil)
	got, err := ListSegments(fs, walDir)
	noErr(t, err)
	eq(t, got, []uint64{7, 500})
}

func TestCreateSegment(t *testing.T) {
	fs := newMemFS()
	noErr(t, fs.MkdirAll(walDir))
	s, err := CreateSegment(fs, walDir, 100)
	noErr(t, err)
	eq(t, fs.syncs, 1)
	eq(t, fs.dirSyncs, 1)
	eq(t, s.Base(), uint64(100))
	eq(t, s.EndLSN(), uint64(100))
	eq(t, s.Name(), SegmentName(100))
	batch := encode(t, Entry{Type: 0x10, Version: 1, TxID: 1, Payload: []byte("x")}, CommitMarker(1))
	noErr(t, s.Write(batch))
	noErr(t, s.Seal())
	eq(t, s.Size(), int64(len(batch)))
	eq(t, s.EndLSN(), 100+uint64(len(batch)))
	noErr(t, s.Close())
	truth(t, s.Write(batch) != nil, "write after close")

	path := filepath.Join(walDir, SegmentName(100))
	eq(t, fs.bytes(path), append(AppendSegmentHeader(nil, 100), batch...))

	_, err = CreateSegment(fs, walDir, 100)
	isErr(t, err, ErrSegmentExists)
	eq(t, len(fs.bytes(path)), HeaderSize+len(batch)) // untouched
}

func TestSegmentPoisonedBySyncFailure(t *testing.T) {
	fs := newMemFS()
	s, err := CreateSegment(fs, walDir, 0)
	noErr(t, err)
	defer s.Close()
	boom := errors.New("EIO")
	fs.syncErr = boom
	noErr(t, s.Write([]byte("abc")))
	err = s.Sync()
	isErr(t, err, ErrPoisoned)
	isErr(t, err, boom)
	fs.syncErr = nil
	// Never retried: the segment stays poisoned even though syncs would succeed now.
	isErr(t, s.Sync(), ErrPoisoned)
	isErr(t, s.Write([]byte("d")), ErrPoisoned)
}

func TestSegmentPoisonedByWriteFailure(t *testing.T) {
	fs := newMemFS()
	s, err := CreateSegment(fs, walDir, 0)
	noErr(t, err)
	defer s.Close()
	fs.writeErr = errors.New("ENOSPC")
	isErr(t, s.Write([]byte("abc")), ErrPoisoned)
	fs.writeErr = nil
	isErr(t, s.Write([]byte("abc")), ErrPoisoned)
	eq(t, s.Size(), int64(0))
}

func TestCreateSegmentSyncFailureRemovesFile(t *testing.T) {
	fs := newMemFS()
	fs.syncErr = errors.New("EIO")
	_, err := CreateSegment(fs, walDir, 0)
	truth(t, err != nil)
	bases, err := ListSegments(fs, walDir)
	noErr(t, err)
	eq(t, len(bases), 0)
}

func TestOpenSegmentForAppend(t *testing.T) {
	fs := newMemFS()
	s, err := CreateSegment(fs, walDir, 40)
	noErr(t, err)
	first := encode(t, Entry{Type: 0x10, Version: 1, TxID: 1, Payload: []byte("one")}, CommitMarker(1))
	noErr(t, s.Write(first))
	noErr(t, s.Write([]byte("garbage after the last good entry")))
	noErr(t, s.Close())

	validEnd := int64(HeaderSize + len(first))
	syncs := fs.syncs
	s, err = OpenSegmentForAppend(fs, walDir, 40, validEnd)
	noErr(t, err)
	truth(t, fs.syncs > syncs, "the truncation must be synced")
	eq(t, s.Size(), int64(len(first)))
	eq(t, s.EndLSN(), 40+uint64(len(first)))
	second := encode(t, CommitMarker(2))
	noErr(t, s.Write(second))
	noErr(t, s.Seal())
	noErr(t, s.Close())

	path := filepath.Join(walDir, SegmentName(40))
	want := append(append(AppendSegmentHeader(nil, 40), first...), second...)
	eq(t, fs.bytes(path), want)

	// Wrong base, or a valid end past the file, is refused.
	_, err = OpenSegmentForAppend(fs, walDir, 41, validEnd)
	truth(t, err != nil)
	fs.set(filepath.Join(walDir, SegmentName(41)), fs.bytes(path))
	_, err = OpenSegmentForAppend(fs, walDir, 41, validEnd)
	isErr(t, err, ErrBadHeader)
	_, err = OpenSegmentForAppend(fs, walDir, 40, int64(len(want)+1))
	truth(t, err != nil)
}

// TestOpenSegmentForAppendTornHeader: validEnd 0 (a torn header) writes the segment afresh.
func TestOpenSegmentForAppendTornHeader(t *testing.T) {
	fs := newMemFS()
	path := filepath.Join(walDir, SegmentName(77))
	fs.set(path, AppendSegmentHeader(nil, 77)[:9])
	s, err := OpenSegmentForAppend(fs, walDir, 77, 0)
	noErr(t, err)
	defer s.Close()
	eq(t, s.Size(), int64(0))
	eq(t, fs.bytes(path), AppendSegmentHeader(nil, 77))
}

// TestSegmentOnOSFS runs the writer and the reader on the real filesystem through vfs.Default.
func TestSegmentOnOSFS(t *testing.T) {
	fs := vfs.Default()
	dir := filepath.Join(t.TempDir(), "wal")
	noErr(t, fs.MkdirAll(dir))
	want := writeLog(t, fs, dir, 0, [][]Entry{txn(1, 3), txn(2, 1)})
	s, err := OpenSegmentForAppend(fs, dir, want[len(want)-1].seg, want[len(want)-1].end)
	noErr(t, err)
	noErr(t, s.Close())
	readAll(t, fs, dir, 0, want)
}

func encode(t testing.TB, es ...Entry) []byte {
	t.Helper()
	var b []byte
	for _, e := range es {
		var err error
		b, err = AppendEntry(b, e)
		noErr(t, err)
	}
	return b
}

// The active segment is extended with zeros ahead of its data, so that an fdatasync does not
// have to commit a new file size; Seal trims the padding; the reader sees it as a torn tail.
func TestSegmentPreallocation(t *testing.T) {
	fs := newMemFS()
	s, err := CreateSegment(fs, walDir, 0)
	noErr(t, err)
	s.SetPrealloc(PreallocChunk)
	batch := encode(t, Entry{Type: 0x10, Version: 1, TxID: 1, Payload: []byte("x")}, CommitMarker(1))
	noErr(t, s.Write(batch))
	noErr(t, s.Sync())
	path := filepath.Join(walDir, SegmentName(0))
	data := fs.bytes(path)
	eq(t, len(data), HeaderSize+PreallocChunk)
	eq(t, data[:HeaderSize+len(batch)], append(AppendSegmentHeader(nil, 0), batch...))
	for _, b := range data[HeaderSize+len(batch):] {
		if b != 0 {
			t.Fatal("padding is not zeros")
		}
	}
	// A crash now leaves the padding: the reader reads both entries, then reports the padding
	// as a torn tail ending at the data.
	r, err := NewReader(fs, walDir, 0)
	noErr(t, err)
	for range 2 {
		_, _, err := r.Next()
		noErr(t, err)
	}
	_, _, err = r.Next()
	var torn *TornTailError
	truth(t, errors.As(err, &torn), "padding is a torn tail")
	eq(t, torn.ValidEnd, int64(HeaderSize+len(batch)))
	noErr(t, r.Close())

	// Writes past the allocation extend it again, by at least the write's size.
	big := encode(t, Entry{Type: 0x10, Version: 1, TxID: 2, Payload: make([]byte, PreallocChunk)}, CommitMarker(2))
	noErr(t, s.Write(big))
	truth(t, len(fs.bytes(path)) >= HeaderSize+len(batch)+len(big), "extended")
	noErr(t, s.Seal())
	eq(t, len(fs.bytes(path)), HeaderSize+len(batch)+len(big))
	noErr(t, s.Close())
	readAllEntries := func() int {
		r, err := NewReader(fs, walDir, 0)
		noErr(t, err)
		defer r.Close()
		n := 0
		for {
			if _, _, err := r.Next(); err != nil {
				isErr(t, err, io.EOF)
				return n
			}
			n++
		}
	}
	eq(t, readAllEntries(), 4)
}

// TestCreateSegmentNeverRestartsLSNs: a segment below the end of the log would reuse LSNs a
// snapshot or an older segment may name; CreateSegment refuses it, and a segment can be
// written afresh only at the newest base.
func TestCreateSegmentNeverRestartsLSNs(t *testing.T) {
	fs := newMemFS()
	recs := writeLog(t, fs, walDir, 0, [][]Entry{txn(1, 2), txn(2, 2)})
	last := recs[len(recs)-1]
	end := last.lsn + uint64(last.end-last.off)
	for _, base := range []uint64{0, 1, last.seg + 1, end - 1} {
		if base == last.seg {
			continue
		}
		_, err := CreateSegment(fs, walDir, base)
		truth(t, errors.Is(err, ErrLSNBelowLog) || errors.Is(err, ErrSegmentExists), "base %d: %v", base, err)
	}
	_, err := OpenSegmentForAppend(fs, walDir, recs[0].seg, 0)
	isErr(t, err, ErrLSNBelowLog)
	s, err := CreateSegment(fs, walDir, end)
	noErr(t, err)
	noErr(t, s.Close())
}
