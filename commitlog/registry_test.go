package commitlog_test

import (
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryOwnerRanges(t *testing.T) {
	var r commitlog.Registry
	for ty := 0; ty <= 0xFF; ty++ {
		o, ok := r.Owner(uint8(ty))
		require.False(t, ok, "empty registry owns %#x", ty)
		require.Equal(t, -1, o)
	}
	require.NoError(t, r.Register(0, 0x10, 0x1F), "owner 0 is a real owner")
	require.NoError(t, r.Register(5, 0x30, 0x30), "a one-type range")
	require.NoError(t, r.Register(1<<15-2, 0xF0, 0xFF), "the top of both ranges")

	for ty, want := range map[uint8]int{0x10: 0, 0x18: 0, 0x1F: 0, 0x30: 5, 0xF0: 1<<15 - 2, 0xFF: 1<<15 - 2} {
		o, ok := r.Owner(ty)
		assert.True(t, ok, "type %#x", ty)
		assert.Equal(t, want, o, "type %#x", ty)
	}
	for _, ty := range []uint8{
		commitlog.TypeTransactionCommit, commitlog.TypeTransactionAbort, commitlog.TypeSnapshotMarker,
		commitlog.CoreTypesHigh, 0x20, 0x2F, 0x31, 0xEF,
	} {
		o, ok := r.Owner(ty)
		assert.False(t, ok, "type %#x is unowned", ty)
		assert.Equal(t, -1, o, "type %#x", ty)
	}
}

func TestRegistryRejectsOverlap(t *testing.T) {
	for name, rng := range map[string][2]uint8{
		"same":          {0x40, 0x4F},
		"low end":       {0x38, 0x40},
		"high end":      {0x4F, 0x57},
		"inside":        {0x44, 0x45},
		"contains":      {0x30, 0x60},
		"one type lo":   {0x40, 0x40},
		"one type hi":   {0x4F, 0x4F},
		"spans both":    {0x48, 0x68},
		"second range":  {0x65, 0x70},
		"whole top end": {0x10, 0xFF},
	} {
		t.Run(name, func(t *testing.T) {
			var r commitlog.Registry
			require.NoError(t, r.Register(1, 0x40, 0x4F))
			require.NoError(t, r.Register(2, 0x60, 0x6F))
			err := r.Register(3, rng[0], rng[1])
			require.ErrorIs(t, err, commitlog.ErrRangeTaken)
			// Nothing of the rejected range was taken, not even its free part.
			for ty := int(rng[0]); ty <= int(rng[1]); ty++ {
				o, _ := r.Owner(uint8(ty))
				require.NotEqual(t, 3, o, "type %#x went to the rejected owner", ty)
			}
			o, ok := r.Owner(0x40)
			assert.True(t, ok)
			assert.Equal(t, 1, o, "the earlier owner keeps its range")
			o, ok = r.Owner(0x6F)
			assert.True(t, ok)
			assert.Equal(t, 2, o)
		})
	}
}

func TestRegistryRejectsBadRanges(t *testing.T) {
	var r commitlog.Registry
	err := r.Register(1, 0x21, 0x20)
	require.Error(t, err, "lo > hi")
	assert.NotErrorIs(t, err, commitlog.ErrRangeTaken, "an empty range is not a conflict")
	assert.Error(t, r.Register(1, 0xFF, 0x00), "lo > hi")
	_, ok := r.Owner(0x20)
	assert.False(t, ok)

	for _, rng := range [][2]uint8{{0x00, 0x00}, {0x00, 0x0F}, {0x02, 0x02}, {0x0F, 0x0F}, {0x0F, 0x10}, {0x00, 0xFF}} {
		err := r.Register(1, rng[0], rng[1])
		assert.ErrorIs(t, err, commitlog.ErrRangeTaken, "core range %#x–%#x", rng[0], rng[1])
	}
	_, ok = r.Owner(0x10)
	assert.False(t, ok, "a range straddling the core takes nothing")

	assert.Error(t, r.Register(-1, 0x20, 0x2F), "negative owner")
	assert.Error(t, r.Register(1<<15-1, 0x20, 0x2F), "owner beyond the table")
	_, ok = r.Owner(0x20)
	assert.False(t, ok)
	assert.NoError(t, r.Register(1, 0x10, 0x10), "0x10 is the first type outside the core")
}
