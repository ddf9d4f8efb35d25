package extensiontest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeShard keeps one body per run. With stream set it reads a chunk as a plain stream, so a
// chunk handed to it is consumed.
type fakeShard struct {
	bodies map[extension.RunID][]byte
	order  []extension.RunID
	stream bool
	fail   error
}

func (s *fakeShard) Apply([]commitlog.Entry) error { return nil }

func (s *fakeShard) Freeze(uint64) extension.FrozenView {
	return fakeView{bodies: s.bodies, order: slices.Clone(s.order), fail: s.fail}
}

func (s *fakeShard) DropRun(extension.RunID, uint64) {}

func (s *fakeShard) LoadSection(r io.Reader) error {
	if s.stream {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	run, body, err := extension.ReadChunk(r)
	if err != nil {
		return err
	}
	if s.fail != nil {
		return s.fail
	}
	if s.bodies == nil {
		s.bodies = map[extension.RunID][]byte{}
	}
	s.bodies[run] = body
	s.order = append(s.order, run)
	return nil
}

type fakeView struct {
	bodies map[extension.RunID][]byte
	order  []extension.RunID
	fail   error
}

func (v fakeView) WriteSection(w io.Writer) error {
	if v.fail != nil {
		return v.fail
	}
	for _, r := range v.order {
		if err := extension.WriteChunk(w, r, v.bodies[r]); err != nil {
			return err
		}
	}
	return nil
}

// filled returns n shards holding the chunks of runs routed by run over n.
func filled(n int, runs ...extension.RunID) []*fakeShard {
	shards := make([]*fakeShard, n)
	for i := range shards {
		shards[i] = &fakeShard{}
	}
	for _, r := range runs {
		sh := shards[r.Shard(n)]
		if sh.bodies == nil {
			sh.bodies = map[extension.RunID][]byte{}
		}
		sh.bodies[r] = []byte(fmt.Sprint("body of ", r))
		sh.order = append(sh.order, r)
	}
	return shards
}

func testRuns(n int) []extension.RunID {
	var runs []extension.RunID
	for i := range n {
		runs = append(runs, extension.RunID{0x33, byte(i)})
	}
	return runs
}

func encoded(chunks ...*extension.Chunk) []byte {
	var b []byte
	for _, c := range chunks {
		b = append(b, Encode(c)...)
	}
	return b
}

func TestSectionConcatenatesViewsInOrder(t *testing.T) {
	runs := testRuns(8)
	shards := filled(3, runs...)
	sec, err := Section(Freeze(shards, 1)...)
	require.NoError(t, err)
	var want []*extension.Chunk
	for _, sh := range shards {
		for _, r := range sh.order {
			want = append(want, extension.NewChunk(r, sh.bodies[r]))
		}
	}
	assert.Equal(t, encoded(want...), sec)

	empty, err := Section()
	require.NoError(t, err)
	assert.Empty(t, empty)

	boom := errors.New("boom")
	shards[1].fail = boom
	_, err = Section(Freeze(shards, 1)...)
	assert.ErrorIs(t, err, boom)
}

func TestLoadSectionRoutesByRun(t *testing.T) {
	runs := testRuns(12)
	sec, err := Section(Freeze(filled(2, runs...), 1)...)
	require.NoError(t, err)
	for _, n := range []int{1, 3, 5} {
		fresh := filled(n)
		require.NoError(t, LoadSection(sec, fresh))
		loaded := 0
		for i, sh := range fresh {
			for _, r := range sh.order {
				assert.Equal(t, i, r.Shard(n), "run %s on shard %d of %d", r, i, n)
				assert.Equal(t, fmt.Sprint("body of ", r), string(sh.bodies[r]))
				loaded++
			}
		}
		assert.Equal(t, len(runs), loaded, "%d shards", n)
	}

	// A shard's error stops the load; damage is the split's error.
	boom := errors.New("boom")
	fresh := filled(2)
	fresh[1].fail = boom
	assert.ErrorIs(t, LoadSection(sec, fresh), boom)
	assert.ErrorIs(t, LoadSection(sec[:len(sec)-1], filled(2)), dberr.ErrCorruption)
}

func TestChunksAndLoadChunks(t *testing.T) {
	runs := testRuns(6)
	sec, err := Section(Freeze(filled(2, runs...), 1)...)
	require.NoError(t, err)
	chunks, err := Chunks(sec)
	require.NoError(t, err)
	require.Len(t, chunks, len(runs))
	assert.Equal(t, sec, encoded(chunks...))
	_, err = Chunks(sec[:extension.ChunkHeaderSize-1])
	assert.ErrorIs(t, err, dberr.ErrCorruption)
	none, err := Chunks(nil)
	require.NoError(t, err)
	assert.Empty(t, none)

	c, err := RunChunk(sec, runs[3])
	require.NoError(t, err)
	assert.Equal(t, runs[3], c.Run)
	assert.Equal(t, fmt.Sprint("body of ", runs[3]), string(c.Body))
	_, err = RunChunk(sec, extension.RunID{0x44})
	assert.Error(t, err, "no chunk of that run")
	_, err = RunChunk(sec[:len(sec)-1], runs[3])
	assert.ErrorIs(t, err, dberr.ErrCorruption)

	// Each load gets a copy: shards that consume what they get as a stream can load the same
	// chunks again.
	var fresh []*fakeShard
	for range 2 {
		fresh = filled(3)
		for _, sh := range fresh {
			sh.stream = true
		}
		require.NoError(t, LoadChunks(chunks, fresh))
		loaded := 0
		for i, sh := range fresh {
			for _, r := range sh.order {
				assert.Equal(t, i, r.Shard(3))
				assert.Equal(t, fmt.Sprint("body of ", r), string(sh.bodies[r]))
				loaded++
			}
		}
		assert.Equal(t, len(runs), loaded)
	}
	boom := errors.New("boom")
	fresh[0].fail, fresh[1].fail, fresh[2].fail = boom, boom, boom
	assert.ErrorIs(t, LoadChunks(chunks, fresh), boom)
}

func TestWriteConcurrently(t *testing.T) {
	shards := filled(2, testRuns(5)...)
	want, err := Section(Freeze(shards, 1)...)
	require.NoError(t, err)
	secs, err := WriteConcurrently(4, Freeze(shards, 1)...)()
	require.NoError(t, err)
	assert.Equal(t, [][]byte{want, want, want, want}, secs)

	secs, err = WriteConcurrently(0, Freeze(shards, 1)...)()
	require.NoError(t, err)
	assert.Empty(t, secs)

	boom := errors.New("boom")
	shards[0].fail = boom
	secs, err = WriteConcurrently(3, Freeze(shards, 1)...)()
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, secs)
}

func TestEncode(t *testing.T) {
	c := extension.NewChunk(extension.RunID{7}, []byte("body"))
	run, body, err := extension.ReadChunk(bytes.NewReader(Encode(c)))
	require.NoError(t, err)
	assert.Equal(t, c.Run, run)
	assert.Equal(t, "body", string(body))
	assert.Len(t, Encode(extension.NewChunk(c.Run, nil)), extension.ChunkHeaderSize)
}

func TestDamage(t *testing.T) {
	body := []byte("abc")
	c := extension.NewChunk(extension.RunID{9}, body)

	var cuts []string
	for d := range BodyCuts(c) {
		got, ok := d.Chunk.(*extension.Chunk)
		require.True(t, ok, d.What)
		assert.Equal(t, c.Run, got.Run)
		assert.Equal(t, body[:d.At], got.Body)
		cuts = append(cuts, d.What)
	}
	assert.Equal(t, []string{"body cut at 0", "body cut at 1", "body cut at 2"}, cuts)

	enc := Encode(c)
	n := 0
	for d := range ChunkCuts(c) {
		_, isChunk := d.Chunk.(*extension.Chunk)
		assert.False(t, isChunk, "a stream, not a chunk")
		b, err := io.ReadAll(d.Chunk)
		require.NoError(t, err)
		assert.Equal(t, enc[:n], b)
		assert.Equal(t, n, d.At)
		assert.Equal(t, fmt.Sprintf("chunk cut at %d", n), d.What)
		_, _, err = extension.ReadChunk(bytes.NewReader(b))
		assert.ErrorIs(t, err, dberr.ErrCorruption, d.What)
		n++
	}
	assert.Equal(t, len(enc), n)

	var flips []string
	for d := range Flips(c) {
		got := d.Chunk.(*extension.Chunk)
		assert.Equal(t, c.Run, got.Run)
		diff := 0
		for i := range body {
			if got.Body[i] != body[i] {
				diff++
				assert.Equal(t, d.At, i)
			}
		}
		assert.Equal(t, 1, diff, d.What)
		got.Body[d.At] = 0 // a copy each: the next flip and the original are untouched
		flips = append(flips, d.What)
	}
	assert.Equal(t, "abc", string(body))
	assert.Equal(t, []string{"flip 0x1 at 0", "flip 0x80 at 0", "flip 0xff at 0",
		"flip 0x1 at 1", "flip 0x80 at 1", "flip 0xff at 1", "flip 0x1 at 2", "flip 0x80 at 2", "flip 0xff at 2"}, flips)

	// The sequences stop when the loop does.
	for range Flips(c) {
		break
	}
	for range BodyCuts(c) {
		break
	}
	for range ChunkCuts(c) {
		break
	}
	for range BodyCuts(extension.NewChunk(c.Run, nil)) {
		t.Fatal("an empty body has no cuts")
	}
}
