package extension_test

import (
	"errors"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/primitives/kv"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakePrim struct {
	name   string
	sec    uint8
	lo, hi uint8
}

func (p *fakePrim) Name() string                           { return p.name }
func (p *fakePrim) SectionID() uint8                       { return p.sec }
func (p *fakePrim) EntryTypes() (lo, hi uint8)             { return p.lo, p.hi }
func (p *fakePrim) NewShard(int) extension.Shard           { return nil }
func newFakePrim(name string, sec, lo, hi uint8) *fakePrim { return &fakePrim{name, sec, lo, hi} }

// registryWith returns a registry holding a (0x20–0x2F, section 2) and b (0x40–0x4F, section 4).
func registryWith(t *testing.T) *extension.Registry {
	t.Helper()
	var r extension.Registry
	require.NoError(t, r.Register(newFakePrim("a", 2, 0x20, 0x2F)))
	require.NoError(t, r.Register(newFakePrim("b", 4, 0x40, 0x4F)))
	return &r
}

func TestRegistryExtRejects(t *testing.T) {
	cases := []struct {
		name string
		p    extension.Primitive
		dup  bool // errors.Is ErrDuplicate
	}{
		{"nil", nil, false},
		{"empty name", newFakePrim("", 9, 0x80, 0x8F), false},
		{"duplicate name", newFakePrim("a", 9, 0x80, 0x8F), true},
		{"duplicate section", newFakePrim("c", 4, 0x80, 0x8F), true},
		{"same range", newFakePrim("c", 9, 0x20, 0x2F), true},
		{"overlaps low end", newFakePrim("c", 9, 0x18, 0x20), true},
		{"overlaps high end", newFakePrim("c", 9, 0x2F, 0x3F), true},
		{"inside", newFakePrim("c", 9, 0x24, 0x25), true},
		{"contains", newFakePrim("c", 9, 0x10, 0x5F), true},
		{"spans two", newFakePrim("c", 9, 0x2A, 0x44), true},
		{"one type", newFakePrim("c", 9, 0x4F, 0x4F), true},
		{"core range", newFakePrim("c", 9, 0x00, 0x0F), false},
		{"core type", newFakePrim("c", 9, 0x02, 0x02), false},
		{"straddles core", newFakePrim("c", 9, 0x0F, 0x12), false},
		{"empty range", newFakePrim("c", 9, 0x90, 0x80), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := registryWith(t)
			var err error
			require.NotPanics(t, func() { err = r.Register(tc.p) })
			require.Error(t, err)
			if tc.dup {
				assert.ErrorIs(t, err, extension.ErrDuplicate)
			}
			assert.Len(t, r.Primitives(), 2, "a rejected primitive is not registered")
			for ty := 0x50; ty <= 0xFF; ty++ {
				_, ok := r.Owner(uint8(ty))
				require.False(t, ok, "type %#x owned after a rejected registration", ty)
			}
			for ty := 0x00; ty <= 0x1F; ty++ {
				_, ok := r.Owner(uint8(ty))
				require.False(t, ok, "type %#x owned after a rejected registration", ty)
			}
			// The rejection left nothing behind: a primitive with a fresh name, section and
			// range still registers, and so does the name/section the rejected one asked for.
			require.NoError(t, r.Register(newFakePrim("c", 9, 0x80, 0x8F)))
		})
	}
}

func TestRegistryExtOverlapIsRangeTaken(t *testing.T) {
	r := registryWith(t)
	err := r.Register(newFakePrim("c", 9, 0x2F, 0x30))
	assert.ErrorIs(t, err, extension.ErrDuplicate)
	assert.ErrorIs(t, err, commitlog.ErrRangeTaken, "the entry-type registry's reason is kept")
	assert.True(t, errors.Is(r.Register(newFakePrim("d", 10, 0x05, 0x10)), commitlog.ErrRangeTaken))
}

func TestRegistryExtOwner(t *testing.T) {
	r := registryWith(t)
	require.NoError(t, r.Register(newFakePrim("top", 255, 0xF0, 0xFF)))
	require.NoError(t, r.Register(newFakePrim("single", 0, 0x30, 0x30)))
	for ty, want := range map[uint8]int{0x20: 0, 0x27: 0, 0x2F: 0, 0x40: 1, 0x4F: 1, 0xF0: 2, 0xFF: 2, 0x30: 3} {
		o, ok := r.Owner(ty)
		assert.True(t, ok, "type %#x", ty)
		assert.Equal(t, want, o, "type %#x", ty)
	}
	for _, ty := range []uint8{0x00, 0x01, 0x0F, 0x10, 0x1F, 0x31, 0x3F, 0x50, 0xEF} {
		_, ok := r.Owner(ty)
		assert.False(t, ok, "type %#x is unowned", ty)
	}
	ps := r.Primitives()
	require.Len(t, ps, 4)
	for i, name := range []string{"a", "b", "top", "single"} {
		assert.Equal(t, name, ps[i].Name(), "registration order is owner order")
	}
}

func TestRegistryExtBuiltins(t *testing.T) {
	var r extension.Registry
	require.NoError(t, r.Register(kv.New(1)))
	require.NoError(t, r.Register(run.New(1)))
	o, ok := r.Owner(kv.TypePut)
	assert.True(t, ok)
	assert.Equal(t, 0, o)
	o, ok = r.Owner(run.TypeBegin)
	assert.True(t, ok)
	assert.Equal(t, 1, o)
	assert.ErrorIs(t, r.Register(kv.New(1)), extension.ErrDuplicate, "a second kv")
	assert.ErrorIs(t, r.Register(newFakePrim("vector", 7, 0x10, 0x10)), extension.ErrDuplicate,
		"the kv range is taken")
}
