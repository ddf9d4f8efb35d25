package tablesection

import (
	"bytes"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var run = extension.RunID{3}

func codec(keepDead bool) *Codec[[]byte] {
	return &Codec[[]byte]{Name: "test", Format: 1, KeepDead: keepDead, Append: AppendBytes, Decode: DecodeBytes}
}

func roundTrip(t *testing.T, c *Codec[[]byte], src *mvcc.Table[extension.RunID, []byte], at uint64) *mvcc.Table[extension.RunID, []byte] {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, View[[]byte]{Codec: c, Frozen: src.Freeze(at)}.WriteSection(&buf))
	dst := mvcc.NewTable[extension.RunID, []byte](c.KeepDead, extension.RunID.Hash)
	require.NoError(t, extension.SplitChunks(buf.Bytes(), func(ch *extension.Chunk) error { return c.Load(ch, dst) }))
	return dst
}

func TestTombstonesOnlyWhenKept(t *testing.T) {
	for _, keep := range []bool{false, true} {
		src := mvcc.NewTable[extension.RunID, []byte](keep, extension.RunID.Hash)
		src.Push(run, "live", 1, []byte("a"), false)
		src.Push(run, "dead", 2, nil, true)
		src.Push(run, "live", 5, []byte("later"), false)
		dst := roundTrip(t, codec(keep), src, 4)
		v := dst.Chain(run, "live", mvcc.Latest).Latest()
		assert.Equal(t, uint64(1), v.Commit)
		assert.Equal(t, "a", string(v.Value))
		dead := dst.Chain(run, "dead", mvcc.Latest)
		if keep {
			require.NotNil(t, dead)
			assert.True(t, dead.Latest().Deleted)
		} else {
			assert.Nil(t, dead)
		}
	}
}

func TestMalformedBodiesChangeNothing(t *testing.T) {
	for _, body := range [][]byte{
		{},                      // no format byte
		{2},                     // unknown format
		{1, 0, 0, 1, 'k', 0},    // commit version 0
		{1, 1, 1, 1, 'k', 0},    // tombstone in a table that drops them
		{1, 1, 0, 0, 0},         // empty name
		{1, 1, 0, 5, 'k'},       // name past the end
		{1, 1, 0, 1, 'k', 9, 1}, // value past the end
		{1, 1, 3, 1, 'k', 0},    // unknown flags
	} {
		dst := mvcc.NewTable[extension.RunID, []byte](false, extension.RunID.Hash)
		err := codec(false).Load(extension.NewChunk(run, body), dst)
		assert.ErrorIs(t, err, dberr.ErrCorruption, "%v", body)
		assert.Nil(t, dst.Chain(run, "k", mvcc.Latest))
	}
}
