package extensiontest

import (
	"bytes"
	"fmt"
	"io"
	"iter"

	"github.com/inmemdb/inmem/extension"
)

// Snapshot sections, as the engine writes and loads them (see extension.SplitChunks): a
// primitive's section is the concatenation of its shards' frozen views, and each chunk of it is
// loaded into the shard that owns the chunk's run for the shard count at hand.

// Freeze returns the view of every shard frozen at version, in shard order.
func Freeze[S extension.Shard](shards []S, version uint64) []extension.FrozenView {
	views := make([]extension.FrozenView, 0, len(shards))
	for _, sh := range shards {
		views = append(views, sh.Freeze(version))
	}
	return views
}

// Section writes the views one after the other into one section, as the snapshotter
// concatenates a primitive's shard views.
func Section(views ...extension.FrozenView) ([]byte, error) {
	var buf bytes.Buffer
	for _, fv := range views {
		if err := fv.WriteSection(&buf); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// WriteConcurrently writes the section of the views n times on a goroutine of its own, as the
// snapshotter does while the shards' actors go on applying commits; run the test with -race.
// wait waits for the goroutine and returns the sections written, up to the first error.
func WriteConcurrently(n int, views ...extension.FrozenView) (wait func() ([][]byte, error)) {
	var secs [][]byte
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			var sec []byte
			if sec, err = Section(views...); err != nil {
				return
			}
			secs = append(secs, sec)
		}
	}()
	return func() ([][]byte, error) {
		<-done
		return secs, err
	}
}

// Chunks splits a section into its chunks, in order.
func Chunks(section []byte) ([]*extension.Chunk, error) {
	var chunks []*extension.Chunk
	err := extension.SplitChunks(section, func(c *extension.Chunk) error {
		chunks = append(chunks, c)
		return nil
	})
	return chunks, err
}

// RunChunk returns the chunk of run in section (the first, if a damaged section holds more).
func RunChunk(section []byte, run extension.RunID) (*extension.Chunk, error) {
	chunks, err := Chunks(section)
	if err != nil {
		return nil, err
	}
	for _, c := range chunks {
		if c.Run == run {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no chunk of run %s in the section", run)
}

// LoadSection loads every chunk of section into the shard of its run among shards (by
// RunID.Shard over len(shards)), as the engine does at recovery. It stops at the first error.
func LoadSection[S extension.Shard](section []byte, shards []S) error {
	return extension.SplitChunks(section, func(c *extension.Chunk) error {
		return shards[c.Run.Shard(len(shards))].LoadSection(c)
	})
}

// LoadChunks loads a copy of each chunk into the shard of its run among shards, as LoadSection
// does; a copy, so that a chunk can be loaded again however a shard read it.
func LoadChunks[S extension.Shard](chunks []*extension.Chunk, shards []S) error {
	for _, c := range chunks {
		if err := shards[c.Run.Shard(len(shards))].LoadSection(extension.NewChunk(c.Run, c.Body)); err != nil {
			return err
		}
	}
	return nil
}

// Encode returns the encoded chunk (run id, length, body): through a bytes.Reader over it, a
// shard's LoadSection reads the chunk as a stream rather than as an *extension.Chunk.
func Encode(c *extension.Chunk) []byte {
	var buf bytes.Buffer
	_ = extension.WriteChunk(&buf, c.Run, c.Body) // a bytes.Buffer never fails
	return buf.Bytes()
}

// Damaged is a damaged form of a chunk, for a shard's LoadSection.
type Damaged struct {
	What  string    // what was done, for messages: "body cut at 3", "flip 0x80 at 5"
	At    int       // the length cut at, or the index of the flipped byte
	Chunk io.Reader // the damaged chunk: an *extension.Chunk, or a stream for ChunkCuts
}

// BodyCuts yields c with its body cut at every length shorter than it (0 included), in order,
// each an *extension.Chunk of c's run.
func BodyCuts(c *extension.Chunk) iter.Seq[Damaged] {
	return func(yield func(Damaged) bool) {
		for n := range len(c.Body) {
			if !yield(Damaged{What: fmt.Sprintf("body cut at %d", n), At: n, Chunk: extension.NewChunk(c.Run, c.Body[:n])}) {
				return
			}
		}
	}
}

// ChunkCuts yields c's encoding (see Encode) cut at every length shorter than it (0 included),
// in order, each a stream that ends early in the header, the length or the body.
func ChunkCuts(c *extension.Chunk) iter.Seq[Damaged] {
	return func(yield func(Damaged) bool) {
		enc := Encode(c)
		for n := range len(enc) {
			if !yield(Damaged{What: fmt.Sprintf("chunk cut at %d", n), At: n, Chunk: bytes.NewReader(enc[:n])}) {
				return
			}
		}
	}
}

// Flips yields c with one byte of its body xored with 0x01, 0x80 and 0xFF (its low bit, its high
// bit, all its bits), for every byte in order, each an *extension.Chunk of c's run over a fresh
// copy of the body.
func Flips(c *extension.Chunk) iter.Seq[Damaged] {
	return func(yield func(Damaged) bool) {
		for n := range len(c.Body) {
			for _, mask := range []byte{0x01, 0x80, 0xFF} {
				b := bytes.Clone(c.Body)
				b[n] ^= mask
				if !yield(Damaged{What: fmt.Sprintf("flip %#x at %d", mask, n), At: n, Chunk: extension.NewChunk(c.Run, b)}) {
					return
				}
			}
		}
	}
}
