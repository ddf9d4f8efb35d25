package state

import (
	"github.com/inmemdb/inmem/internal/mvcc"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A deleted cell's tombstone is in the snapshot with its counter: after loading, re-creating
// the cell continues from it and a stale CAS still fails (no ABA across a snapshot).
func TestSectionKeepsTombstoneCounters(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	applyEntry := func(version uint64, typ uint8, name string, cellVersion uint64, value []byte) {
		p := encode(run, name, cellVersion, int64(version)*10, value)
		require.NoError(t, sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: version, Payload: p}}))
	}
	applyEntry(1, TypeInit, "c", 1, []byte("a"))
	applyEntry(2, TypeSet, "c", 2, []byte("b"))
	applyEntry(3, TypeDelete, "c", 3, nil)
	applyEntry(4, TypeInit, "live", 1, []byte("x"))
	applyEntry(5, TypeSet, "live", 2, []byte("later"))

	sec, err := extensiontest.Section(sh.Freeze(4))
	require.NoError(t, err)
	fresh := New(1)
	require.NoError(t, extensiontest.LoadSection(sec, []extension.Shard{fresh.NewShard(0)}))

	live := fresh.Chain(run, "live", mvcc.Latest).At(4)
	require.NotNil(t, live)
	assert.Equal(t, Cell{Value: []byte("x"), Version: 1, UpdatedAt: 40}, live.Value)
	dead := fresh.Chain(run, "c", mvcc.Latest).Latest()
	require.NotNil(t, dead, "the tombstone is kept")
	assert.True(t, dead.Deleted)
	assert.Equal(t, uint64(3), dead.Value.Version)
	assert.Equal(t, uint64(3), dead.Commit)
}

// FuzzLoadSection: any chunk body either loads or fails with nothing changed; never a panic.
func FuzzLoadSection(f *testing.F) {
	s := New(1)
	sh := s.NewShard(0)
	p := encode(run, "cell", 2, 99, []byte("v"))
	require.NoError(f, sh.Apply([]commitlog.Entry{{Type: TypeSet, Version: 1, TxID: 1, Payload: p}}))
	sec, err := extensiontest.Section(sh.Freeze(1))
	require.NoError(f, err)
	f.Add(sec[extension.ChunkHeaderSize:])
	f.Fuzz(func(t *testing.T, body []byte) {
		fresh := New(1)
		fsh := fresh.NewShard(0)
		if err := fsh.LoadSection(extension.NewChunk(run, body)); err != nil {
			assert.Nil(t, fresh.Chain(run, "cell", mvcc.Latest), "a failed load changes nothing")
		}
	})
}
