package extension

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/inmemdb/inmem/internal/dberr"
)

// Snapshot sections are made of run chunks, the snapshot's counterpart of the WAL payload
// convention: a FrozenView writes one chunk per run that has state at its version,
//
//	16-byte run id | u64 body length (little-endian) | body
//
// and at recovery the engine routes each chunk to the shard that owns the run (for the shard
// count of this Open, which may differ from the one that wrote the file) and calls that shard's
// LoadSection with a reader over the chunk. The body is the primitive's own format and starts
// with its own format version byte, so each primitive evolves its encoding on its own.
//
// A run's state is encoded into one body, so writing a chunk buffers at most one run's state,
// never a whole section (WriteChunkHeader lets a shard stream even that).

// ChunkHeaderSize is the size of a chunk's run id and length.
const ChunkHeaderSize = 16 + 8

// MaxChunkSize bounds a chunk body: a length above it is damage, never an allocation.
const MaxChunkSize = 1 << 40

// WriteChunk writes one run chunk to w.
func WriteChunk(w io.Writer, run RunID, body []byte) error {
	if err := WriteChunkHeader(w, run, len(body)); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// WriteChunkHeader writes the run id and body length of a chunk whose size bytes of body the
// caller then writes itself: a shard whose run state is large streams it instead of buffering
// it whole.
func WriteChunkHeader(w io.Writer, run RunID, size int) error {
	var h [ChunkHeaderSize]byte
	copy(h[:16], run[:])
	binary.LittleEndian.PutUint64(h[16:], uint64(size))
	_, err := w.Write(h[:])
	return err
}

// Chunk is one run's chunk of a section, as LoadSection receives it. As an io.Reader it yields
// the chunk's bytes (run id, length, body); ReadChunk reads it without copying.
type Chunk struct {
	Run  RunID
	Body []byte // aliases the snapshot file's buffer: immutable, the shard may keep it
	r    *bytes.Reader
}

// NewChunk returns the chunk of run with body.
func NewChunk(run RunID, body []byte) *Chunk { return &Chunk{Run: run, Body: body} }

// Read implements io.Reader over the encoded chunk, for shards that stream it.
func (c *Chunk) Read(p []byte) (int, error) {
	if c.r == nil {
		var buf bytes.Buffer
		_ = WriteChunk(&buf, c.Run, c.Body) // a bytes.Buffer never fails
		c.r = bytes.NewReader(buf.Bytes())
	}
	return c.r.Read(p)
}

// ReadChunk returns the run and body of the chunk r holds: without copying if r is a *Chunk,
// otherwise by decoding exactly one encoded chunk from r.
func ReadChunk(r io.Reader) (RunID, []byte, error) {
	if c, ok := r.(*Chunk); ok && c.r == nil {
		return c.Run, c.Body, nil
	}
	var h [ChunkHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return RunID{}, nil, fmt.Errorf("%w: snapshot chunk header: %v", dberr.ErrCorruption, err)
	}
	var run RunID
	copy(run[:], h[:16])
	n := binary.LittleEndian.Uint64(h[16:])
	if n > MaxChunkSize {
		return run, nil, fmt.Errorf("%w: snapshot chunk of %d bytes", dberr.ErrCorruption, n)
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err == nil && uint64(len(body)) != n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return run, nil, fmt.Errorf("%w: snapshot chunk body: %v", dberr.ErrCorruption, err)
	}
	return run, body, nil
}

// SplitChunks calls fn for each chunk of a section's chunk stream, in order. A truncated
// header or a length past the end of data is ErrCorruption; fn's error stops the split.
func SplitChunks(data []byte, fn func(*Chunk) error) error {
	for len(data) > 0 {
		if len(data) < ChunkHeaderSize {
			return fmt.Errorf("%w: %d bytes left, a chunk header needs %d", dberr.ErrCorruption, len(data), ChunkHeaderSize)
		}
		var run RunID
		copy(run[:], data[:16])
		n := binary.LittleEndian.Uint64(data[16:ChunkHeaderSize])
		data = data[ChunkHeaderSize:]
		if n > uint64(len(data)) {
			return fmt.Errorf("%w: chunk of run %s claims %d bytes, %d left", dberr.ErrCorruption, run, n, len(data))
		}
		if err := fn(&Chunk{Run: run, Body: data[:n:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
