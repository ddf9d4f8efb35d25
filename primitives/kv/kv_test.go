package kv

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var run = extension.RunID{7}

type commit = extensiontest.Commit

func newStore() (*Store, *shard) {
	s := New(1)
	return s, s.NewShard(0).(*shard)
}

// apply validates and applies tx at version, as the engine does.
func apply(t *testing.T, sh *shard, tx *Tx, c *commit) {
	t.Helper()
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.Ver
	}
	require.NoError(t, sh.Apply(es))
}

func TestTxReadsOwnWritesAndApplies(t *testing.T) {
	s, sh := newStore()
	tx := s.NewTx(run, 0)
	require.NoError(t, tx.Put("a", []byte("1")))
	require.NoError(t, tx.Put("b", []byte("2")))
	require.NoError(t, tx.Delete("b"))
	v, err := tx.Get("a")
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	_, err = tx.Get("b")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	assert.Equal(t, []string{"a"}, tx.List(""))
	apply(t, sh, tx, &commit{Ver: 1})

	got, ok := s.Get(run, "a", 1)
	assert.True(t, ok)
	assert.Equal(t, "1", string(got))
	_, ok = s.Get(run, "a", 0)
	assert.False(t, ok, "invisible below its version")
	_, ok = s.Get(run, "b", 1)
	assert.False(t, ok)
	assert.Equal(t, []string{"a"}, s.Keys(run, "", 1))
}

func TestValidateConflictsOnNewerWrites(t *testing.T) {
	s, sh := newStore()
	w := s.NewTx(run, 0)
	require.NoError(t, w.Put("k", []byte("v")))
	apply(t, sh, w, &commit{Ver: 1})

	reader := s.NewTx(run, 0) // read k at snapshot 0 (absent), then k appeared at 1
	_, err := reader.Get("k")
	require.ErrorIs(t, err, dberr.ErrNotFound)
	require.NoError(t, reader.Put("out", nil))
	err = reader.Validate(&commit{Snap: 0, Ver: 2})
	var ce *dberr.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "k", ce.Key)

	// A write that is only staged (sequenced, not applied) conflicts as well.
	staged := &commit{Snap: 1, Ver: 3}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "k"}, extension.Staged{Version: 2})
	r2 := s.NewTx(run, 1)
	_, err = r2.Get("k")
	require.NoError(t, err)
	assert.ErrorIs(t, r2.Validate(staged), dberr.ErrConflict)

	blind := s.NewTx(run, 0)
	require.NoError(t, blind.Put("k", []byte("x")))
	assert.NoError(t, blind.Validate(&commit{Snap: 0, Ver: 4}), "blind writes never conflict")
}

func TestKeyAndValueLimits(t *testing.T) {
	assert.ErrorIs(t, CheckKey(""), dberr.ErrInvalidArgument)
	assert.NoError(t, CheckKey(strings.Repeat("k", MaxKeySize)))
	assert.ErrorIs(t, CheckKey(strings.Repeat("k", MaxKeySize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, CheckKey("\xff"), dberr.ErrInvalidArgument)
	assert.NoError(t, CheckValue(make([]byte, MaxValueSize)))
	assert.ErrorIs(t, CheckValue(make([]byte, MaxValueSize+1)), dberr.ErrTooLarge)
}

func TestTrimDropsOldVersionsAndDeadKeys(t *testing.T) {
	s, sh := newStore()
	for v := uint64(1); v <= 3; v++ {
		tx := s.NewTx(run, 0)
		require.NoError(t, tx.Put("k", []byte{byte(v)}))
		apply(t, sh, tx, &commit{Ver: v})
	}
	del := s.NewTx(run, 0)
	require.NoError(t, del.Delete("k"))
	apply(t, sh, del, &commit{Ver: 4})

	sh.Trim(2) // a reader pinned at 2 still needs version 2
	v, ok := s.Get(run, "k", 2)
	require.True(t, ok)
	assert.Equal(t, []byte{2}, v)
	assert.NotNil(t, s.chain(run, "k"))

	sh.Trim(4) // every reader is past the tombstone: the key goes
	assert.Nil(t, s.chain(run, "k"))
	assert.Empty(t, s.Keys(run, "", 4))
	assert.Zero(t, sh.Listed())
}

func TestApplyRejectsMalformedPayloads(t *testing.T) {
	_, sh := newStore()
	good := encode(run, "k", []byte("v"))
	for name, e := range map[string]commitlog.Entry{
		"short":            {Type: TypePut, Version: 1, Payload: good[:10]},
		"no key length":    {Type: TypePut, Version: 1, Payload: good[:16]},
		"key past the end": {Type: TypePut, Version: 1, Payload: append(append(run[:], 0x7f), 'k')},
		"empty key":        {Type: TypePut, Version: 1, Payload: append(run[:], 0)},
		"delete w/ value":  {Type: TypeDelete, Version: 1, Payload: good},
		"unknown type":     {Type: 0x1F, Version: 1, Payload: good},
		"version 2":        {Type: TypePut, Version: 2, Payload: good},
	} {
		assert.ErrorIs(t, sh.Apply([]commitlog.Entry{e}), ErrMalformed, name)
	}
}

func FuzzApply(f *testing.F) {
	f.Add(uint8(TypePut), encode(run, "k", []byte("v")))
	f.Add(uint8(TypeDelete), encode(run, "k", nil))
	f.Add(uint8(TypePut), []byte{})
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		_, sh := newStore()
		_ = sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: 1, Payload: payload}})
	})
}
