package snapshotter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/inmemdb/inmem/internal/dberr"
)

// File format (little-endian):
//
//	offset  size  field
//	0       10    magic "INMEM_SNAP"
//	10      4     format version u32 = 1 (2 is reserved for compression, 3 for encryption)
//	14      8     timestamp, µs since the Unix epoch
//	22      8     wal_offset: the LSN where replay starts
//	30      8     tx_count: commit version of the last transaction included
//	38      1     section count
//	39      …     sections: u8 section id | u64 data length | data
//	end−4   4     CRC-32C of everything before it
//
// A section's data is u8 framing version (1) followed by run chunks (extension.Chunk): the
// engine routes each chunk to the shard owning its run, so a snapshot loads into any shard
// count. Each chunk body starts with its primitive's own format version byte.
const (
	Magic         = "INMEM_SNAP"
	FormatVersion = 1
	HeaderSize    = 39
	trailerSize   = 4
	// sectionFraming is the version byte that starts every section's data.
	sectionFraming = 1
	sectionHeader  = 1 + 8
)

// ErrInvalid is wrapped by every error about a file that is not a valid snapshot; it wraps
// dberr.ErrCorruption.
var ErrInvalid = fmt.Errorf("%w: invalid snapshot", dberr.ErrCorruption)

// Header is what a snapshot file says about itself.
type Header struct {
	Timestamp int64  // µs since the Unix epoch, when the snapshot was taken
	WALOffset uint64 // the LSN where replay must start
	TxCount   uint64 // commit version of the last transaction included
}

// Section is one primitive's data in a file that was read back.
type Section struct {
	ID   uint8
	Data []byte // the run chunks, after the framing byte
}

// SectionWriter produces one section: WriteTo is called once with the section's data writer.
type SectionWriter struct {
	ID      uint8
	WriteTo func(w io.Writer) error
}

// file is a destination the writer can patch: a section's length is written after its data.
type file interface {
	io.Writer
	io.Seeker
}

// Write writes a whole snapshot to f from its current offset, which must be 0, streaming each
// section: memory stays bounded by what the section writers buffer, however large the
// snapshot. It returns the snapshot's size. It does not sync, and it writes nothing past the
// size, so bytes f already held there remain: truncate a reused file to the size.
func Write(f file, h Header, sections []SectionWriter) (size int64, err error) {
	if len(sections) > 255 {
		return 0, fmt.Errorf("snapshotter: %d sections, at most 255", len(sections))
	}
	hdr := make([]byte, 0, HeaderSize)
	hdr = append(hdr, Magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, FormatVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(h.Timestamp))
	hdr = binary.LittleEndian.AppendUint64(hdr, h.WALOffset)
	hdr = binary.LittleEndian.AppendUint64(hdr, h.TxCount)
	hdr = append(hdr, byte(len(sections)))
	if _, err := f.Write(hdr); err != nil {
		return 0, err
	}
	crc, off := crc32.Checksum(hdr, castagnoli), int64(len(hdr))
	for _, s := range sections {
		n, dataCRC, err := writeSection(f, off, s)
		if err != nil {
			return 0, fmt.Errorf("snapshotter: section %d: %w", s.ID, err)
		}
		var sh [sectionHeader]byte
		sh[0] = s.ID
		binary.LittleEndian.PutUint64(sh[1:], uint64(n))
		crc = crcCombine(crc32.Update(crc, castagnoli, sh[:]), dataCRC, n)
		off += sectionHeader + n
	}
	var tail [trailerSize]byte
	binary.LittleEndian.PutUint32(tail[:], crc)
	if _, err := f.Write(tail[:]); err != nil {
		return 0, err
	}
	return off + trailerSize, nil
}

// writeSection writes section s at off: its header with a placeholder length, the data, then
// the real length, and leaves f's offset after the data. It returns the data's length and CRC.
func writeSection(f file, off int64, s SectionWriter) (int64, uint32, error) {
	var sh [sectionHeader]byte
	sh[0] = s.ID
	if _, err := f.Write(sh[:]); err != nil {
		return 0, 0, err
	}
	cw := &checksumWriter{w: bufio.NewWriterSize(f, 1<<20)}
	if _, err := cw.Write([]byte{sectionFraming}); err != nil {
		return 0, 0, err
	}
	if err := s.WriteTo(cw); err != nil {
		return 0, 0, err
	}
	if err := cw.w.Flush(); err != nil {
		return 0, 0, err
	}
	binary.LittleEndian.PutUint64(sh[1:], uint64(cw.n))
	if _, err := f.Seek(off+1, io.SeekStart); err != nil {
		return 0, 0, err
	}
	if _, err := f.Write(sh[1:]); err != nil {
		return 0, 0, err
	}
	if _, err := f.Seek(off+sectionHeader+cw.n, io.SeekStart); err != nil {
		return 0, 0, err
	}
	return cw.n, cw.crc, nil
}

// checksumWriter counts and checksums what passes through it.
type checksumWriter struct {
	w   *bufio.Writer
	n   int64
	crc uint32
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

// Decode validates a whole snapshot file and splits it into sections. It checks, in order: the
// size, the magic, the format version, the CRC, and that the sections exactly fill the space
// before the CRC. The sections alias data. Any failure wraps ErrInvalid.
func Decode(data []byte) (Header, []Section, error) {
	h, err := checkHeader(data, int64(len(data)))
	if err != nil {
		return Header{}, nil, err
	}
	body := data[:len(data)-trailerSize]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(body):]); got != want {
		return Header{}, nil, fmt.Errorf("%w: CRC %#08x, file says %#08x", ErrInvalid, got, want)
	}
	sections := make([]Section, 0, data[38])
	err = walkSections(bytes.NewReader(body), data[38], int64(len(body)), func(id uint8, off, n int64) {
		sections = append(sections, Section{ID: id, Data: body[off : off+n]})
	})
	if err != nil {
		return Header{}, nil, err
	}
	return h, sections, nil
}

// checkHeader checks a file's size and the magic and format version at the start of b (at
// least HeaderSize bytes of it, when size allows) and decodes the header.
func checkHeader(b []byte, size int64) (Header, error) {
	if size < HeaderSize+trailerSize {
		return Header{}, fmt.Errorf("%w: %d bytes, at least %d needed", ErrInvalid, size, HeaderSize+trailerSize)
	}
	if string(b[:len(Magic)]) != Magic {
		return Header{}, fmt.Errorf("%w: bad magic", ErrInvalid)
	}
	if v := binary.LittleEndian.Uint32(b[10:]); v != FormatVersion {
		return Header{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrInvalid, v, FormatVersion)
	}
	return decodeHeader(b), nil
}

// walkSections checks that count sections exactly fill [HeaderSize, end) of r, each starting
// with the framing version, and calls visit (if not nil) with each one's id and the offset and
// length of its data after the framing byte. Only section headers are read.
func walkSections(r io.ReaderAt, count uint8, end int64, visit func(id uint8, off, n int64)) error {
	var sh [sectionHeader + 1]byte
	off := int64(HeaderSize)
	for i := 0; i < int(count) || off < end; i++ {
		if i == int(count) || end-off < sectionHeader {
			return fmt.Errorf("%w: section %d of %d: %d bytes left", ErrInvalid, i, count, end-off)
		}
		if _, err := r.ReadAt(sh[:sectionHeader], off); err != nil {
			return fmt.Errorf("%w: section %d: %w", ErrInvalid, i, err)
		}
		n := binary.LittleEndian.Uint64(sh[1:])
		if n < 1 || n > uint64(end-off-sectionHeader) {
			return fmt.Errorf("%w: section %d claims %d bytes, %d left", ErrInvalid, i, n, end-off-sectionHeader)
		}
		if _, err := r.ReadAt(sh[sectionHeader:], off+sectionHeader); err != nil {
			return fmt.Errorf("%w: section %d: %w", ErrInvalid, i, err)
		}
		if sh[sectionHeader] != sectionFraming {
			return fmt.Errorf("%w: section %d has framing version %d", ErrInvalid, sh[0], sh[sectionHeader])
		}
		if visit != nil {
			visit(sh[0], off+sectionHeader+1, int64(n)-1)
		}
		off += sectionHeader + int64(n)
	}
	return nil
}

func decodeHeader(b []byte) Header {
	return Header{
		Timestamp: int64(binary.LittleEndian.Uint64(b[14:])),
		WALOffset: binary.LittleEndian.Uint64(b[22:]),
		TxCount:   binary.LittleEndian.Uint64(b[30:]),
	}
}

// ReadHeader reads a snapshot's header without validating the rest (ListSnapshots uses it;
// recovery validates the whole file).
func ReadHeader(r io.ReaderAt) (Header, error) {
	var b [HeaderSize]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return Header{}, fmt.Errorf("%w: shorter than its header", ErrInvalid)
		}
		return Header{}, err
	}
	if string(b[:len(Magic)]) != Magic || binary.LittleEndian.Uint32(b[10:]) != FormatVersion {
		return Header{}, fmt.Errorf("%w: bad magic or format version", ErrInvalid)
	}
	return decodeHeader(b[:]), nil
}
