package extension

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunIDText(t *testing.T) {
	for range 100 {
		id := NewRunID()
		assert.EqualValues(t, 4, id[6]>>4, "version 4")
		assert.EqualValues(t, 2, id[8]>>6, "RFC 4122 variant")
		back, err := ParseRunID(id.String())
		require.NoError(t, err)
		assert.Equal(t, id, back)
		assert.Less(t, id.Shard(7), 7)
		assert.Equal(t, id.Shard(7), back.Shard(7))
	}
	for _, bad := range []string{"", "nope", strings.Repeat("0", 36),
		"6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6", "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6g"} {
		_, err := ParseRunID(bad)
		assert.ErrorIs(t, err, dberr.ErrInvalidArgument, bad)
	}
}

type prim struct {
	name   string
	sec    uint8
	lo, hi uint8
}

func (p prim) Name() string               { return p.name }
func (p prim) SectionID() uint8           { return p.sec }
func (p prim) EntryTypes() (lo, hi uint8) { return p.lo, p.hi }
func (p prim) NewShard(int) Shard         { return nil }

func TestRegistryRejectsOverlaps(t *testing.T) {
	var r Registry
	require.NoError(t, r.Register(prim{"kv", 1, 0x10, 0x1F}))
	require.NoError(t, r.Register(prim{"vector", 7, 0x70, 0x7F}))
	for _, bad := range []Primitive{
		nil,
		prim{"", 9, 0x80, 0x8F},
		prim{"kv", 9, 0x80, 0x8F},    // name taken
		prim{"other", 1, 0x80, 0x8F}, // section taken
		prim{"other", 9, 0x18, 0x20}, // partial overlap
		prim{"other", 9, 0x05, 0x06}, // core range
		prim{"other", 9, 0x90, 0x80}, // empty range
	} {
		assert.Error(t, r.Register(bad), "%+v", bad)
	}
	assert.Len(t, r.Primitives(), 2, "a rejected primitive leaves nothing behind")
	o, ok := r.Owner(0x75)
	assert.True(t, ok)
	assert.Equal(t, 1, o)
	_, ok = r.Owner(0x85)
	assert.False(t, ok)
	o, ok = r.SectionOwner(7)
	assert.True(t, ok)
	assert.Equal(t, 1, o)
	o, ok = r.SectionOwner(1)
	assert.True(t, ok)
	assert.Equal(t, 0, o)
	_, ok = r.SectionOwner(9)
	assert.False(t, ok, "a rejected primitive's section stays free")
	require.NoError(t, r.Register(prim{"other", 9, 0x80, 0x8F}), "the range is still free")
	o, _ = r.SectionOwner(9)
	assert.Equal(t, 2, o)
}
