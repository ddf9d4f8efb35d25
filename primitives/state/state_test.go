package state

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
	if c.TS == 0 {
		c.TS = 1000 + int64(c.Ver) // a recognisable commit time
	}
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.Ver
	}
	require.NoError(t, sh.Apply(es))
}

// commitOne runs fn in a transaction at snapshot version-1 and applies it at version.
func commitOne(t *testing.T, s *Store, sh *shard, version uint64, fn func(tx *Tx)) {
	t.Helper()
	tx := s.NewTx(run, version-1)
	fn(tx)
	apply(t, sh, tx, &commit{Snap: version - 1, Ver: version})
}

func cell(t *testing.T, s *Store, name string, snapshot uint64) Cell {
	t.Helper()
	c, ok := s.Get(run, name, snapshot)
	require.True(t, ok, "cell %q at %d", name, snapshot)
	return c
}

func TestInitGetAndInitExisting(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Init("c", []byte("a"))) })
	assert.Equal(t, Cell{Value: []byte("a"), Version: 1, UpdatedAt: 1001}, cell(t, s, "c", 1))
	_, ok := s.Get(run, "c", 0)
	assert.False(t, ok, "invisible below its commit")

	tx := s.NewTx(run, 1)
	require.NoError(t, tx.Init("c", []byte("b")))
	assert.ErrorIs(t, tx.Validate(&commit{Snap: 1, Ver: 2}), dberr.ErrAlreadyExists)

	// An Init staged by a sequenced, unapplied commit counts too.
	staged := &commit{Snap: 1, Ver: 3}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "d"}, extension.Staged{Version: 2, Aux: 1})
	tx = s.NewTx(run, 1)
	require.NoError(t, tx.Init("d", nil))
	assert.ErrorIs(t, tx.Validate(staged), dberr.ErrAlreadyExists)
}

func TestSetCreatesAndBumps(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte("1"))) })
	assert.Equal(t, uint64(1), cell(t, s, "c", 1).Version)
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte("2"))) })
	c := cell(t, s, "c", 2)
	assert.Equal(t, uint64(2), c.Version)
	assert.Equal(t, "2", string(c.Value))
	assert.Equal(t, uint64(1), cell(t, s, "c", 1).Version, "old version still readable")
}

func TestCAS(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Init("c", []byte("1"))) })
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.CAS("c", 1, []byte("2"))) })
	assert.Equal(t, Cell{Value: []byte("2"), Version: 2, UpdatedAt: 1002}, cell(t, s, "c", 2))

	tx := s.NewTx(run, 2)
	require.NoError(t, tx.CAS("c", 1, []byte("x")))
	err := tx.Validate(&commit{Snap: 2, Ver: 3})
	var vm *dberr.VersionMismatchError
	require.ErrorAs(t, err, &vm)
	assert.ErrorIs(t, err, dberr.ErrVersionMismatch)
	assert.Equal(t, dberr.VersionMismatchError{Key: "c", Expected: 1, Actual: 2}, *vm)

	// CAS on a missing cell is a mismatch, whatever the expected version.
	tx = s.NewTx(run, 2)
	require.NoError(t, tx.CAS("missing", 0, []byte("x")))
	require.ErrorAs(t, tx.Validate(&commit{Snap: 2, Ver: 3}), &vm)
	assert.Equal(t, uint64(0), vm.Actual)

	// A CAS against a staged (sequenced, unapplied) write sees the staged counter.
	staged := &commit{Snap: 2, Ver: 4}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "c"}, extension.Staged{Version: 3, Aux: 3})
	tx = s.NewTx(run, 2)
	require.NoError(t, tx.CAS("c", 2, []byte("y")))
	require.ErrorAs(t, tx.Validate(staged), &vm)
	assert.Equal(t, uint64(3), vm.Actual)
	tx = s.NewTx(run, 2)
	require.NoError(t, tx.CAS("c", 3, []byte("y")))
	require.NoError(t, tx.Validate(staged))
	assert.Equal(t, extension.Staged{Version: 4, Aux: 4}, staged.StagedAt[extension.Key{Section: SectionID, Run: run, Name: "c"}])
}

func TestDeleteAndRecreateContinuesTheCounter(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Init("c", []byte("1"))) })
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte("2"))) })
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Delete("c")) })
	_, ok := s.Get(run, "c", 3)
	assert.False(t, ok)

	// A CAS with the pre-delete version fails on the deleted cell…
	tx := s.NewTx(run, 3)
	require.NoError(t, tx.CAS("c", 2, []byte("x")))
	assert.ErrorIs(t, tx.Validate(&commit{Snap: 3, Ver: 4}), dberr.ErrVersionMismatch)

	sh.Trim(3) // trimming keeps the tombstone and its counter
	commitOne(t, s, sh, 4, func(tx *Tx) { require.NoError(t, tx.Init("c", []byte("again"))) })
	c := cell(t, s, "c", 4)
	assert.Equal(t, uint64(4), c.Version, "the counter went on from the tombstone")
	assert.Equal(t, "again", string(c.Value))

	// …and on the re-created one: no ABA.
	tx = s.NewTx(run, 4)
	require.NoError(t, tx.CAS("c", 2, []byte("x")))
	var vm *dberr.VersionMismatchError
	require.ErrorAs(t, tx.Validate(&commit{Snap: 4, Ver: 5}), &vm)
	assert.Equal(t, uint64(4), vm.Actual)
}

func TestOneBumpPerTransaction(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Init("c", []byte("1")))
		require.NoError(t, tx.Set("c", []byte("2")))
		require.NoError(t, tx.CAS("c", 1, []byte("3"))) // checked against the tx's own write
	})
	assert.Equal(t, Cell{Value: []byte("3"), Version: 1, UpdatedAt: 1001}, cell(t, s, "c", 1))

	// Init then Delete of a missing cell leaves it missing with its counter unchanged.
	commitOne(t, s, sh, 2, func(tx *Tx) {
		require.NoError(t, tx.Init("d", []byte("1")))
		require.NoError(t, tx.Delete("d"))
	})
	_, ok := s.Get(run, "d", 2)
	assert.False(t, ok)
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Init("d", nil)) })
	assert.Equal(t, uint64(1), cell(t, s, "d", 3).Version)

	// Writes are checked in order: Delete then CAS fails, Delete then Init succeeds.
	tx := s.NewTx(run, 3)
	require.NoError(t, tx.Delete("c"))
	require.NoError(t, tx.CAS("c", 1, nil))
	assert.ErrorIs(t, tx.Validate(&commit{Snap: 3, Ver: 4}), dberr.ErrVersionMismatch)
	commitOne(t, s, sh, 4, func(tx *Tx) {
		require.NoError(t, tx.Delete("c"))
		require.NoError(t, tx.Init("c", []byte("new")))
	})
	assert.Equal(t, uint64(2), cell(t, s, "c", 4).Version)
}

func TestReadConflicts(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte("1"))) })

	reader := s.NewTx(run, 1)
	_, err := reader.Get("c")
	require.NoError(t, err)
	require.NoError(t, reader.Set("out", nil))
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte("2"))) })
	err = reader.Validate(&commit{Snap: 1, Ver: 3})
	var ce *dberr.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, dberr.ConflictError{Primitive: "state", Run: run.String(), Key: "c"}, *ce)

	// A change that is only staged conflicts as well, appearance included.
	staged := &commit{Snap: 2, Ver: 4}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "new"}, extension.Staged{Version: 3, Aux: 1})
	r2 := s.NewTx(run, 2)
	_, err = r2.Get("new")
	require.ErrorIs(t, err, dberr.ErrNotFound)
	require.NoError(t, r2.Set("out", nil))
	assert.ErrorIs(t, r2.Validate(staged), dberr.ErrConflict)

	// Listing reads every listed cell.
	r3 := s.NewTx(run, 1)
	assert.Equal(t, []string{"c"}, r3.List())
	require.NoError(t, r3.Set("out", nil))
	assert.ErrorIs(t, r3.Validate(&commit{Snap: 1, Ver: 3}), dberr.ErrConflict)

	// Blind writes never conflict.
	blind := s.NewTx(run, 0)
	require.NoError(t, blind.Set("c", []byte("x")))
	assert.NoError(t, blind.Validate(staged))
}

func TestReadYourWrites(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Init("a", []byte("1")))
		require.NoError(t, tx.Init("b", []byte("1")))
	})
	tx := s.NewTx(run, 1)
	require.NoError(t, tx.Set("a", []byte("2")))
	require.NoError(t, tx.Delete("b"))
	require.NoError(t, tx.Init("c", []byte("3")))
	got, err := tx.Get("a")
	require.NoError(t, err)
	assert.Equal(t, Cell{Value: []byte("2"), Version: 2}, got, "the predicted version")
	_, err = tx.Get("b")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	got, err = tx.Get("c")
	require.NoError(t, err)
	assert.Equal(t, Cell{Value: []byte("3"), Version: 1}, got)
	assert.Empty(t, tx.reads, "own writes are not reads")
	assert.Equal(t, []string{"a", "c"}, tx.List())
	assert.Equal(t, []string{"a", "b"}, tx.reads, "the snapshot's listed names are")

	// Values are copied at write time.
	buf := []byte("v")
	tx2 := s.NewTx(run, 1)
	require.NoError(t, tx2.Set("x", buf))
	buf[0] = 'w'
	got, _ = tx2.Get("x")
	assert.Equal(t, "v", string(got.Value))
}

func TestNamesSortedAndLive(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		for _, n := range []string{"z", "b", "m", "a"} {
			require.NoError(t, tx.Set(n, nil))
		}
	})
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Delete("m")) })
	assert.Equal(t, []string{"a", "b", "m", "z"}, s.Names(run, 1))
	assert.Equal(t, []string{"a", "b", "z"}, s.Names(run, 2))
	assert.Empty(t, s.Names(extension.RunID{9}, 2))
}

func TestLimits(t *testing.T) {
	assert.ErrorIs(t, CheckName(""), dberr.ErrInvalidArgument)
	assert.NoError(t, CheckName(strings.Repeat("n", MaxNameSize)))
	assert.ErrorIs(t, CheckName(strings.Repeat("n", MaxNameSize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, CheckName("\xff"), dberr.ErrInvalidArgument)
	assert.NoError(t, CheckValue(make([]byte, MaxValueSize)))
	assert.ErrorIs(t, CheckValue(make([]byte, MaxValueSize+1)), dberr.ErrTooLarge)
	s, _ := newStore()
	tx := s.NewTx(run, 0)
	assert.ErrorIs(t, tx.Set("", nil), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Init("n", make([]byte, MaxValueSize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, tx.Delete("\xff"), dberr.ErrInvalidArgument)
	assert.True(t, tx.Empty())
}

func TestTrimKeepsTombstones(t *testing.T) {
	s, sh := newStore()
	for v := uint64(1); v <= 3; v++ {
		commitOne(t, s, sh, v, func(tx *Tx) { require.NoError(t, tx.Set("c", []byte{byte(v)})) })
	}
	commitOne(t, s, sh, 4, func(tx *Tx) { require.NoError(t, tx.Delete("c")) })
	sh.Trim(2)
	assert.Equal(t, []byte{2}, cell(t, s, "c", 2).Value)
	sh.Trim(4)
	assert.Zero(t, sh.Listed())
	r := s.chain(run, "c")
	require.NotNil(t, r, "the tombstone stays")
	assert.True(t, r.Latest().Deleted)
	assert.Equal(t, uint64(4), r.Latest().Value.Version, "a delete is a change: +1")
}

func TestApplyRejectsMalformedPayloads(t *testing.T) {
	s, sh := newStore()
	good := encode(run, "c", 1, 5, []byte("v"))
	for name, e := range map[string]commitlog.Entry{
		"short":             {Type: TypeSet, Version: 1, Payload: good[:10]},
		"no name length":    {Type: TypeSet, Version: 1, Payload: good[:16]},
		"name past the end": {Type: TypeSet, Version: 1, Payload: append(append(run[:], 0x7f), 'c')},
		"empty name":        {Type: TypeSet, Version: 1, Payload: append(run[:], 0)},
		"no version":        {Type: TypeSet, Version: 1, Payload: append(run[:], 1, 'c')},
		"no timestamp":      {Type: TypeSet, Version: 1, Payload: append(run[:], 1, 'c', 1)},
		"live at version 0": {Type: TypeInit, Version: 1, Payload: encode(run, "c", 0, 5, nil)},
		"delete w/ value":   {Type: TypeDelete, Version: 1, Payload: good},
		"unknown type":      {Type: 0x4F, Version: 1, Payload: good},
		"version 2":         {Type: TypeSet, Version: 2, Payload: good},
	} {
		assert.ErrorIs(t, sh.Apply([]commitlog.Entry{e}), ErrMalformed, name)
	}
	// A batch with a malformed entry applies nothing.
	bad := []commitlog.Entry{
		{Type: TypeSet, Version: 1, TxID: 1, Payload: good},
		{Type: TypeSet, Version: 1, TxID: 1, Payload: good[:10]},
	}
	assert.ErrorIs(t, sh.Apply(bad), ErrMalformed)
	assert.Nil(t, s.chain(run, "c"))
}

func FuzzApply(f *testing.F) {
	f.Add(TypeInit, encode(run, "c", 1, 5, []byte("v")))
	f.Add(TypeTransition, encode(run, "c", 1<<40, -5, nil))
	f.Add(TypeDelete, encode(run, "c", 3, 5, nil))
	f.Add(TypeSet, []byte{})
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		s, sh := newStore()
		err := sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: 1, Payload: payload}})
		if err == nil {
			s.Names(run, 1)
		}
	})
}
