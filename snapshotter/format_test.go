package snapshotter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seekBuffer is an in-memory file the writer can patch.
type seekBuffer struct {
	b   []byte
	off int64
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.off + int64(len(p)); end > int64(len(s.b)) {
		s.b = append(s.b, make([]byte, end-int64(len(s.b)))...)
	}
	copy(s.b[s.off:], p)
	s.off += int64(len(p))
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.off = off
	case io.SeekEnd:
		s.off = int64(len(s.b)) + off
	default:
		return 0, errors.New("unsupported whence")
	}
	return s.off, nil
}

func bytesSection(id uint8, data []byte) SectionWriter {
	return SectionWriter{ID: id, WriteTo: func(w io.Writer) error {
		// Several writes, like shards: the writer must count and checksum them all.
		half := len(data) / 2
		if _, err := w.Write(data[:half]); err != nil {
			return err
		}
		_, err := w.Write(data[half:])
		return err
	}}
}

func sampleFile(t testing.TB) ([]byte, Header) {
	h := Header{Timestamp: 1_764_000_000_000_000, WALOffset: 4242, TxCount: 77}
	var f seekBuffer
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // past the writer's buffer
	size, err := Write(&f, h, []SectionWriter{
		bytesSection(1, []byte("kv data")), bytesSection(3, nil), bytesSection(9, big),
	})
	require.NoError(t, err)
	require.EqualValues(t, len(f.b), size)
	return f.b, h
}

func TestWriteDecodeRoundTrip(t *testing.T) {
	data, h := sampleFile(t)
	got, sections, err := Decode(data)
	require.NoError(t, err)
	assert.Equal(t, h, got)
	require.Len(t, sections, 3)
	assert.Equal(t, Section{ID: 1, Data: []byte("kv data")}, sections[0])
	assert.Equal(t, uint8(3), sections[1].ID)
	assert.Empty(t, sections[1].Data)
	assert.Equal(t, bytes.Repeat([]byte("0123456789abcdef"), 1<<16), sections[2].Data)
	assert.Equal(t, Magic, string(data[:10]))
	assert.EqualValues(t, 1, binary.LittleEndian.Uint32(data[10:]))
	assert.EqualValues(t, 3, data[38], "section count")
	hh, err := ReadHeader(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, h, hh)
}

// Every way a file can be wrong is ErrInvalid (and so ErrCorruption), never a panic.
func TestDecodeRejectsDamage(t *testing.T) {
	good, _ := sampleFile(t)
	check := func(name string, data []byte) {
		t.Helper()
		_, _, err := Decode(data)
		assert.ErrorIs(t, err, ErrInvalid, name)
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
	}
	for cut := 0; cut < len(good); cut += 1 + cut/7 {
		check("truncated", good[:cut])
	}
	for _, off := range []int{0, 9, 10, 14, 22, 30, 38, 39, 47, 50, len(good) / 2, len(good) - 5, len(good) - 1} {
		bad := bytes.Clone(good)
		bad[off] ^= 0x40
		check("flipped", bad)
	}
	check("appended", append(bytes.Clone(good), 0))
	check("empty", nil)
	v2 := bytes.Clone(good)
	binary.LittleEndian.PutUint32(v2[10:], 2)
	_, _, err := Decode(v2)
	assert.ErrorContains(t, err, "format version 2")
}

// A CRC that matches but a section table that does not is still rejected.
func TestDecodeChecksSectionsUnderAValidCRC(t *testing.T) {
	good, _ := sampleFile(t)
	for _, mutate := range []func([]byte){
		func(b []byte) { b[38] = 4 }, // one section too many
		func(b []byte) { b[38] = 2 }, // bytes left over
		func(b []byte) { binary.LittleEndian.PutUint64(b[40:], 1<<62) },
		func(b []byte) { b[48] = 7 }, // framing version of the first section
	} {
		bad := bytes.Clone(good)
		mutate(bad)
		body := bad[:len(bad)-4]
		binary.LittleEndian.PutUint32(bad[len(body):], crcOf(body))
		_, _, err := Decode(bad)
		assert.ErrorIs(t, err, ErrInvalid)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := sampleFile(f)
	f.Add(good[:HeaderSize+64])
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, sections, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		total := HeaderSize + 4
		for _, s := range sections {
			total += sectionHeader + 1 + len(s.Data)
		}
		if total != len(data) {
			t.Fatalf("sections cover %d of %d bytes (header %+v)", total, len(data), h)
		}
	})
}

func TestReadFileOnDisk(t *testing.T) {
	data, h := sampleFile(t)
	path := filepath.Join(t.TempDir(), fileName(h.Timestamp, fileSuffix))
	require.NoError(t, os.WriteFile(path, data, 0o644))
	got, sections, err := ReadFile(vfs.Default(), path)
	require.NoError(t, err)
	assert.Equal(t, h, got)
	assert.Len(t, sections, 3)
	require.NoError(t, os.WriteFile(path, data[:20], 0o644))
	_, _, err = ReadFile(vfs.Default(), path)
	assert.ErrorIs(t, err, ErrInvalid)
}

// Writing over an older, longer file (a recycled snapshot) writes the snapshot from offset 0
// and nothing past its size: truncated to the size, the file is the snapshot.
func TestWriteOverALongerFile(t *testing.T) {
	want, h := sampleFile(t)
	old := bytes.Repeat([]byte{0xEE}, 3*len(want))
	f := seekBuffer{b: bytes.Clone(old)}
	size, err := Write(&f, h, []SectionWriter{
		bytesSection(1, []byte("kv data")), bytesSection(3, nil),
		bytesSection(9, bytes.Repeat([]byte("0123456789abcdef"), 1<<16)),
	})
	require.NoError(t, err)
	require.EqualValues(t, len(want), size)
	assert.Equal(t, want, f.b[:size])
	assert.Equal(t, old[size:], f.b[size:], "nothing written past the size")
}
