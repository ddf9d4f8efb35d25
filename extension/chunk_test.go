package extension

import (
	"bytes"
	"io"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChunksRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	runs := []RunID{{1}, {2}, {3}}
	bodies := [][]byte{[]byte("one"), nil, bytes.Repeat([]byte{7}, 5000)}
	for i := range runs {
		require.NoError(t, WriteChunk(&buf, runs[i], bodies[i]))
	}
	var got []*Chunk
	require.NoError(t, SplitChunks(buf.Bytes(), func(c *Chunk) error {
		got = append(got, c)
		return nil
	}))
	require.Len(t, got, 3)
	for i, c := range got {
		run, body, err := ReadChunk(c) // zero-copy path
		require.NoError(t, err)
		assert.Equal(t, runs[i], run)
		assert.Equal(t, len(bodies[i]), len(body))
		assert.Equal(t, string(bodies[i]), string(body))

		// The streaming path: a shard that reads the chunk as bytes gets the same.
		raw, err := io.ReadAll(NewChunk(run, body))
		require.NoError(t, err)
		run2, body2, err := ReadChunk(bytes.NewReader(raw))
		require.NoError(t, err)
		assert.Equal(t, run, run2)
		assert.Equal(t, string(body), string(body2))
	}
}

func TestChunkDamageIsCorruption(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteChunk(&buf, RunID{9}, []byte("body")))
	good := buf.Bytes()
	for cut := 1; cut < len(good); cut++ {
		err := SplitChunks(good[:cut], func(*Chunk) error { return nil })
		assert.ErrorIs(t, err, dberr.ErrCorruption, "cut at %d", cut)
		_, _, err = ReadChunk(bytes.NewReader(good[:cut]))
		assert.ErrorIs(t, err, dberr.ErrCorruption, "cut at %d", cut)
	}
	huge := bytes.Clone(good)
	huge[16+7] = 0xff // length far past MaxChunkSize: never allocated
	_, _, err := ReadChunk(bytes.NewReader(huge))
	assert.ErrorIs(t, err, dberr.ErrCorruption)
	assert.ErrorIs(t, SplitChunks(huge, func(*Chunk) error { return nil }), dberr.ErrCorruption)
}
