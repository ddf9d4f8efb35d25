package kv

import (
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/search/tableindex"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// section writes s's shards frozen at version and loads the chunks into a fresh store of n
// shards, routing each chunk by run as the engine does.
func sectionRoundTrip(t testing.TB, s *Store, version uint64, n int) (*Store, []byte) {
	t.Helper()
	sec, err := extensiontest.Section(extensiontest.Freeze(shardsOf(s), version)...)
	require.NoError(t, err)
	fresh := New(n)
	for i := range n {
		fresh.NewShard(i)
	}
	require.NoError(t, extensiontest.LoadSection(sec, shardsOf(fresh)))
	return fresh, sec
}

// shardsOf returns s's shards, as the engine holds them.
func shardsOf(s *Store) []*shard {
	out := make([]*shard, s.Len())
	for i := range out {
		out[i] = &shard{tableindex.NewShard(s.Shard(i), nil, searchText)}
	}
	return out
}

func TestSectionRoundTrip(t *testing.T) {
	s := New(2)
	sh := []*shard{s.NewShard(0).(*shard), s.NewShard(1).(*shard)}
	other := extension.RunID{9, 9}
	write := func(r extension.RunID, version uint64, fn func(*Tx)) {
		tx := s.NewTx(r, version-1)
		fn(tx)
		apply(t, sh[r.Shard(2)], tx, &commit{RunID: r, Ver: version})
	}
	write(run, 1, func(tx *Tx) { _ = tx.Put("a", []byte("1")); _ = tx.Put("gone", []byte("x")) })
	write(other, 2, func(tx *Tx) { _ = tx.Put("empty", []byte{}) })
	write(run, 3, func(tx *Tx) { _ = tx.Delete("gone"); _ = tx.Put("a", []byte("2")) })
	write(run, 4, func(tx *Tx) { _ = tx.Put("a", []byte("after")); _ = tx.Put("new", []byte("n")) })

	fresh, _ := sectionRoundTrip(t, s, 3, 3)
	assert.Equal(t, []string{"a"}, fresh.Keys(run, "", 3))
	v, ok := fresh.Get(run, "a", 3)
	require.True(t, ok)
	assert.Equal(t, "2", string(v), "the value at the frozen version, not the later one")
	assert.Equal(t, uint64(3), fresh.Chain(run, "a", mvcc.Latest).Latest().Commit, "with its commit version")
	_, ok = fresh.Get(run, "gone", 3)
	assert.False(t, ok, "a deleted key is absent")
	v, ok = fresh.Get(other, "empty", 3)
	require.True(t, ok)
	assert.Empty(t, v)
}

func TestSectionDamageChangesNothing(t *testing.T) {
	s, sh := newStore()
	tx := s.NewTx(run, 0)
	require.NoError(t, tx.Put("key", []byte("value")))
	apply(t, sh, tx, &commit{Ver: 1})
	_, section := sectionRoundTrip(t, s, 1, 1)
	for cut := extension.ChunkHeaderSize + 2; cut < len(section); cut++ { // a lone format byte is a valid empty body
		fresh, fsh := newStore()
		chunk := extension.NewChunk(run, section[extension.ChunkHeaderSize:cut])
		assert.Error(t, fsh.LoadSection(chunk), "cut at %d", cut)
		assert.Empty(t, fresh.Keys(run, "", 1))
	}
}

// FuzzLoadSection: any chunk body either loads or fails with nothing changed; never a panic.
func FuzzLoadSection(f *testing.F) {
	s, sh := newStore()
	tx := s.NewTx(run, 0)
	_ = tx.Put("key", []byte("value"))
	_ = tx.Put("k2", nil)
	require.NoError(f, tx.Validate(&commit{Ver: 1}))
	es := tx.Entries(nil, &commit{Ver: 1})
	for i := range es {
		es[i].TxID = 1
	}
	require.NoError(f, sh.Apply(es))
	sec, err := extensiontest.Section(sh.Freeze(1))
	require.NoError(f, err)
	f.Add(sec[extension.ChunkHeaderSize:])
	f.Add([]byte{1, 1, 0, 1, 'k', 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		fresh, fsh := newStore()
		if err := fsh.LoadSection(extension.NewChunk(run, body)); err != nil {
			assert.Empty(t, fresh.Keys(run, "", ^uint64(0)), "a failed load changes nothing")
		}
	})
}
