package run

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type commit = extensiontest.Commit

// lifecycle validates, stages and applies one change, as the sequencer and the actor would.
func lifecycle(t *testing.T, sh *shard, ch *Change, c *commit) error {
	t.Helper()
	if err := ch.Validate(c); err != nil {
		return err
	}
	es := ch.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.Ver
	}
	return sh.Apply(es)
}

func TestLifecycle(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0).(*shard)
	id := extension.RunID{9}
	staged := map[extension.Key]extension.Staged{}
	at := func(v uint64) *commit { return &commit{RunID: id, Ver: v, TS: int64(v) * 1000, StagedAt: staged} }

	assert.ErrorIs(t, s.CheckRun(at(1)), dberr.ErrRunNotFound)
	assert.NoError(t, s.CheckRun(&commit{RunID: extension.GlobalRun, StagedAt: staged}))

	begin, err := s.Begin(id, Info{Name: "n", Agent: "a", Tags: []string{"x"}, Metadata: []byte(`{"k":1}`)})
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, begin, at(1)))
	assert.ErrorIs(t, lifecycle(t, sh, begin, at(2)), dberr.ErrRunExists)
	assert.NoError(t, s.CheckRun(at(2)))

	end, err := s.End(id, true, "tool crashed")
	require.NoError(t, err)
	require.NoError(t, lifecycle(t, sh, end, at(3)))
	assert.ErrorIs(t, s.CheckRun(at(4)), dberr.ErrRunNotActive)
	assert.ErrorIs(t, lifecycle(t, sh, end, at(4)), dberr.ErrRunNotActive)

	r, ok := s.Get(id, 3)
	require.True(t, ok)
	assert.Equal(t, Failed, r.Status)
	assert.Equal(t, "tool crashed", r.Reason)
	assert.EqualValues(t, 1000, r.StartedAt)
	assert.EqualValues(t, 3000, r.EndedAt)
	assert.Equal(t, "a", r.Info.Agent)
	assert.Equal(t, Active, s.Status(id, 2), "history stays readable at older versions")

	other, err := s.End(extension.RunID{8}, false, "")
	require.NoError(t, err)
	assert.ErrorIs(t, lifecycle(t, sh, other, &commit{RunID: extension.RunID{8}, Ver: 5, StagedAt: staged}), dberr.ErrRunNotFound)
}

// A begin that is staged but not applied yet already makes a second begin fail.
func TestStagedStatusCounts(t *testing.T) {
	s := New(1)
	s.NewShard(0)
	id := extension.RunID{9}
	staged := map[extension.Key]extension.Staged{}
	b, err := s.Begin(id, Info{})
	require.NoError(t, err)
	require.NoError(t, b.Validate(&commit{RunID: id, Ver: 1, StagedAt: staged}))
	assert.ErrorIs(t, b.Validate(&commit{RunID: id, Ver: 2, StagedAt: staged}), dberr.ErrRunExists)
	assert.NoError(t, s.CheckRun(&commit{RunID: id, Ver: 2, StagedAt: staged}))
}

func TestBadInput(t *testing.T) {
	s := New(1)
	_, err := s.Begin(extension.GlobalRun, Info{})
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	_, err = s.Begin(extension.RunID{1}, Info{Metadata: []byte("{")})
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	_, err = s.End(extension.GlobalRun, false, "")
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	sh := s.NewShard(0).(*shard)
	assert.ErrorIs(t, sh.Apply([]commitlog.Entry{{Type: TypeBegin, Version: 1, Payload: []byte{1}}}), ErrMalformed)
}

// The arena copies payloads (a later change to the input does not reach the journal), packs
// small ones into shared blocks of at most maxArenaBlock, and gives large ones their own.
func TestArenaCopies(t *testing.T) {
	var a arena
	var inputs, copies [][]byte
	var blocks []int // the current block's capacity after each copy
	for i, size := range []int{0, 1, 136, 136, 100, 600, 5000, maxArenaBlock / 4, maxArenaBlock/4 + 1, 200 << 10, 136} {
		p := bytes.Repeat([]byte{byte(i + 1)}, size)
		c := a.copy(p)
		inputs, copies, blocks = append(inputs, p), append(copies, c), append(blocks, cap(a.block))
		if cap(a.block) > maxArenaBlock {
			t.Fatalf("block of %d bytes, more than %d", cap(a.block), maxArenaBlock)
		}
		if size > maxArenaBlock/4 && cap(c) != size {
			t.Errorf("payload of %d bytes: capacity %d, want a block of its own", size, cap(c))
		}
	}
	// Small payloads are packed: the second 136-byte copy opened a block of twice the one
	// before (272 bytes), and the 100-byte copy follows it there.
	if unsafe.Add(unsafe.Pointer(&copies[3][0]), 136) != unsafe.Pointer(&copies[4][0]) {
		t.Error("small payloads are not packed into one block")
	}
	if blocks[1] != 1 {
		t.Errorf("the first block holds %d bytes for a 1-byte payload: a run with one write should keep no more than it wrote", blocks[1])
	}
	for _, p := range inputs {
		clear(p)
	}
	for i, c := range copies {
		if want := bytes.Repeat([]byte{byte(i + 1)}, len(inputs[i])); !bytes.Equal(c, want) {
			t.Errorf("copy %d changed with its input or a neighbour", i)
		}
		if cap(c) != len(c) {
			t.Errorf("copy %d: capacity %d past its length %d: an append could overwrite the next", i, cap(c), len(c))
		}
	}
}
