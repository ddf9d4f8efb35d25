package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/inmemdb/inmem/internal/mvcc"
	"maps"
	"slices"
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
	r := s.Chain(run, "c", mvcc.Latest)
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
	assert.Nil(t, s.Chain(run, "c", mvcc.Latest))
}

// FuzzApply checks Apply against a reference model. The script argument is a sequence of
// cell writes, commits, applies and trims (see stScript) played through transactions, which
// validate and encode well-formed entries as the engine does, and through a plain map per
// commit version holding each cell's value and version counter: +1 per transaction that
// changes the cell, a delete of a live cell included, and never back, so that a cell deleted
// and created again goes on from its old counter. The model also predicts which transactions
// fail validation, and how. After every applied batch the shard must read exactly as the
// model, at the newest version and at an older one, and at the end at every version still
// readable. Then typ and payload are applied as one more entry, whatever they hold, because
// Apply reads data from disk: it must not panic, must reject with ErrMalformed what the
// documented layout does not allow (leaving the shard unchanged), and must apply exactly what
// the layout encodes otherwise.
func FuzzApply(f *testing.F) {
	f.Add([]byte{}, TypeInit, encode(run, "c", 1, 5, []byte("v")))
	f.Add([]byte{}, TypeTransition, encode(run, "c", 1<<40, -5, nil))
	f.Add([]byte{}, TypeDelete, encode(run, "c", 3, 5, nil))
	f.Add([]byte{}, TypeSet, []byte{})
	// Init, Set, CAS right and wrong, Delete, a CAS on the deleted cell, Init again (the counter
	// goes on), a second Init of a live cell (refused), and a Delete of a missing cell.
	f.Add(stOps(
		stWrite(stOpInit, 0, 0, 1), stCommit(0), stApply(0),
		stWrite(stOpSet, 0, 0, 2), stCommit(1), stApply(0),
		stWrite(stOpCAS, 0, 0, 1<<3), stCommit(2), stApply(1), // expects the current version
		stWrite(stOpCAS, 0, 0, 0), stCommit(3), // one behind: a mismatch
		stWrite(stOpDelete, 0, 0, 0), stCommit(4), stApply(2),
		stWrite(stOpCAS, 0, 0, 1<<3), stCommit(5), // the cell is gone: a mismatch
		stWrite(stOpInit, 0, 0, 3), stCommit(6), stApply(3),
		stWrite(stOpInit, 0, 0, 4), stCommit(7),
		stWrite(stOpDelete, 0, 2, 0), stCommit(8), stApply(4),
	), TypeDelete, encode(run, "a", 9, 5, nil))
	// Several writes to a cell in one transaction (one bump), transactions of both runs in one
	// batch writing one cell twice (the second sees the first's staged counter), a trim, and
	// creating again a cell deleted before the trim.
	f.Add(stOps(
		stWrite(stOpInit, 0, 1, 1), stWrite(stOpSet, 0, 1, 2), stWrite(stOpCAS, 0, 1, 1<<3), stCommit(0),
		stWrite(stOpSet, 1, 1, 3), stCommit(1),
		stWrite(stOpSet, 0, 1, 4), stWrite(stOpDelete, 0, 3, 0), stCommit(2),
		stWrite(stOpDelete, 0, 1, 0), stWrite(stOpInit, 0, 1, 5), stCommit(3), stApply(1),
		stWrite(stOpDelete, 0, 1, 0), stCommit(4), stApply(0), stTrim(9),
		stWrite(stOpInit, 0, 1, 6), stWrite(stOpInit, 1, 1, 7), stCommit(5), stApply(2),
	), TypeSet, encode(extension.RunID{8}, "b", 2, -7, []byte("raw")))
	f.Fuzz(func(t *testing.T, script []byte, typ uint8, payload []byte) {
		m := newStScript(t)
		m.play(script)
		m.applyRaw(typ, payload)
		for v := m.floor; v <= m.published; v++ {
			m.check(v)
		}
	})
}

// The runs and cells a FuzzApply script writes: two runs, so that a write landing on the wrong
// run shows, and few cells, so that writes collide.
var (
	fuzzRuns  = []extension.RunID{run, {8}}
	fuzzNames = []string{"a", "b", "c", "d"}
)

// Script op kinds (the op byte's low 3 bits); see stScript.
const (
	stOpInit   = 0
	stOpSet    = 1 // 2 sets as well
	stOpCAS    = 3
	stOpDelete = 4
	stOpCommit = 5
	stOpApply  = 6
	stOpTrim   = 7
)

// Seed script builders: run and name index fuzzRuns and fuzzNames.
func stWrite(kind, run, name int, arg byte) []byte {
	return []byte{byte(kind | name<<3 | run<<5), arg}
}
func stCommit(arg byte) []byte   { return []byte{stOpCommit, arg} }
func stApply(arg byte) []byte    { return []byte{stOpApply, arg} }
func stTrim(arg byte) []byte     { return []byte{stOpTrim, arg} }
func stOps(ops ...[]byte) []byte { return bytes.Join(ops, nil) }

// stRef names one cell of one run.
type stRef struct {
	run  extension.RunID
	name string
}

// stCell is the model of a cell: live or deleted, and its counter either way.
type stCell struct {
	live    bool
	value   []byte
	version uint64
	ts      int64
}

// stModel is the reference state at one commit version; a cell never written is absent, with
// counter 0.
type stModel map[stRef]stCell

// stWriteOp is one buffered write of the open transaction.
type stWriteOp struct {
	kind     int // stOpInit, stOpSet, stOpCAS or stOpDelete
	name     string
	expected uint64
	value    []byte
}

// stScript plays a FuzzApply script on a shard and on the model side by side. A script is a
// sequence of two-byte ops, an op byte and an argument:
//
//	op&7 0    Init fuzzNames[op>>3&3] of fuzzRuns[op>>5&1], the argument repeated arg&7 times
//	op&7 1-2  Set it
//	op&7 3    CAS it, expecting the version the transaction sees plus arg>>3&3, minus 1
//	op&7 4    Delete it
//	op&7 5    commit the open transaction at a timestamp made of the argument (a transaction
//	          is of one run: a write to the other run commits it first)
//	op&7 6    apply the batch of committed transactions, then compare the newest version and
//	          an older one the argument picks
//	op&7 7    trim to a version the argument picks among those still readable
//
// The script's end commits and applies what is pending.
type stScript struct {
	t         *testing.T
	s         *Store
	sh        *shard
	hist      []stModel // hist[v] is the model at version v; hist[0] is empty
	published uint64    // versions up to here are applied
	floor     uint64    // trimmed to here: older versions are no longer readable
	staged    map[extension.Key]extension.Staged
	tx        *Tx
	txRun     extension.RunID
	pending   []stWriteOp
	batch     []commitlog.Entry
	runs      []extension.RunID // every run written, for the comparisons
	names     []string          // every cell written
}

// stMaxOps bounds a script so that one input runs fast.
const stMaxOps = 256

func newStScript(t *testing.T) *stScript {
	s, sh := newStore()
	return &stScript{t: t, s: s, sh: sh, hist: []stModel{{}}, staged: map[extension.Key]extension.Staged{},
		runs: slices.Clone(fuzzRuns), names: slices.Clone(fuzzNames)}
}

func (m *stScript) play(script []byte) {
	for i := 0; i+1 < len(script) && i < 2*stMaxOps; i += 2 {
		op, arg := script[i], script[i+1]
		switch k := int(op & 7); k {
		case stOpCommit:
			m.commit(arg)
		case stOpApply:
			m.apply()
			m.check(m.published)
			m.check(m.floor + uint64(arg)%(m.published-m.floor+1))
		case stOpTrim:
			m.floor += uint64(arg) % (m.published - m.floor + 1)
			m.sh.Trim(m.floor)
		default:
			if k == stOpSet+1 {
				k = stOpSet
			}
			m.write(fuzzRuns[op>>5&1], k, fuzzNames[op>>3&3], arg)
		}
	}
	m.commit(0)
	m.apply()
	m.check(m.published)
}

func (m *stScript) write(r extension.RunID, kind int, name string, arg byte) {
	if m.tx != nil && m.txRun != r {
		m.commit(0)
	}
	if m.tx == nil {
		m.tx, m.txRun = m.s.NewTx(r, m.published), r
	}
	w := stWriteOp{kind: kind, name: name, value: bytes.Repeat([]byte{arg}, int(arg&7))}
	switch kind {
	case stOpInit:
		require.NoError(m.t, m.tx.Init(name, w.value))
	case stOpSet:
		require.NoError(m.t, m.tx.Set(name, w.value))
	case stOpCAS:
		seen := m.txCell(name)
		w.expected = seen.version + uint64(arg>>3&3) - 1
		require.NoError(m.t, m.tx.CAS(name, w.expected, w.value))
	default:
		w.value = nil
		require.NoError(m.t, m.tx.Delete(name))
	}
	m.pending = append(m.pending, w)
}

// txCell is the cell as the open transaction sees it: the newest committed state, with the
// transaction's own writes so far on top, at the version they will commit with (one more than
// the committed counter, whatever the number of writes).
func (m *stScript) txCell(name string) stCell {
	c := m.hist[len(m.hist)-1][stRef{m.txRun, name}]
	base := c.version
	for _, w := range m.pending {
		if w.name == name {
			c = stCell{live: w.kind != stOpDelete, value: w.value, version: base + 1}
		}
	}
	return c
}

// commit validates the open transaction at the next version and predicts the outcome. The
// writes to each cell are checked in order against the cell as the transaction sees it (Init
// needs it missing, a CAS live at the expected version), cell by cell in the order the cells
// were first written; the first failing write fails the transaction. A committed transaction
// moves the model to that version: each written cell takes its last write's value and the
// commit's timestamp, and its counter goes up by one unless the cell was missing before and
// after.
func (m *stScript) commit(arg byte) {
	if m.tx == nil {
		return
	}
	ver := uint64(len(m.hist))
	c := &commit{RunID: m.txRun, Snap: m.published, Ver: ver, TS: int64(int8(arg))<<32 | int64(ver),
		StagedAt: maps.Clone(m.staged)} // a failing transaction must not stage anything
	err := m.tx.Validate(c)
	prev := m.hist[len(m.hist)-1]
	next := maps.Clone(prev)
	var want error
	var names []string
	for _, w := range m.pending {
		if !slices.Contains(names, w.name) {
			names = append(names, w.name)
		}
	}
	for _, name := range names {
		before := prev[stRef{m.txRun, name}]
		seen := before
		for _, w := range m.pending {
			if w.name != name {
				continue
			}
			switch {
			case want != nil:
			case w.kind == stOpInit && seen.live:
				want = dberr.ErrAlreadyExists
			case w.kind == stOpCAS && (!seen.live || seen.version != w.expected):
				want = &dberr.VersionMismatchError{Key: name, Expected: w.expected, Actual: seen.version}
			}
			seen = stCell{live: w.kind != stOpDelete, value: w.value, version: before.version + 1, ts: c.TS}
		}
		if !before.live && !seen.live {
			seen.version = before.version // missing before and after: nothing changed
		}
		next[stRef{m.txRun, name}] = seen
	}
	var vm *dberr.VersionMismatchError
	switch {
	case want == nil:
		require.NoError(m.t, err)
	case errors.As(want, &vm):
		var got *dberr.VersionMismatchError
		require.ErrorAs(m.t, err, &got)
		require.Equal(m.t, *vm, *got)
	default:
		require.ErrorIs(m.t, err, want)
	}
	if err == nil {
		m.staged = c.StagedAt
		for _, e := range m.tx.Entries(nil, c) {
			e.TxID = ver
			m.batch = append(m.batch, e)
		}
		m.hist = append(m.hist, next)
	}
	m.tx, m.pending = nil, nil
}

// apply applies the batch as the engine does, then reuses the batch slice as the engine may.
// Applied writes leave the sequencer's staged table: validation reads them from the shard.
func (m *stScript) apply() {
	require.NoError(m.t, m.sh.Apply(m.batch))
	clear(m.batch)
	m.batch = m.batch[:0]
	clear(m.staged)
	m.published = uint64(len(m.hist) - 1)
}

// applyRaw applies an arbitrary entry at the next version: the shard must agree with the
// model's own reading of the documented payload layout, rejecting exactly what it rejects.
// An accepted entry sets the cell to what it carries: Apply recomputes nothing.
func (m *stScript) applyRaw(typ uint8, payload []byte) {
	orig := bytes.Clone(payload)
	err := m.sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: m.published + 1, Payload: payload}})
	require.Equal(m.t, orig, payload, "Apply must not modify the payload")
	next := maps.Clone(m.hist[len(m.hist)-1])
	ref, c, ok := refDecodeState(typ, payload)
	if !ok {
		require.ErrorIs(m.t, err, ErrMalformed, "type %#x payload %x", typ, payload)
	} else {
		require.NoError(m.t, err, "type %#x payload %x", typ, payload)
		next[ref] = c
		if !slices.Contains(m.runs, ref.run) {
			m.runs = append(m.runs, ref.run)
		}
		if !slices.Contains(m.names, ref.name) {
			m.names = append(m.names, ref.name)
		}
	}
	m.hist = append(m.hist, next)
	m.published++
	m.check(m.published)
}

// refDecodeState reads a payload by the layout in the package doc: the 16-byte run id, the
// uvarint name length (1 to MaxNameSize), the name, the uvarint cell version, the varint
// timestamp, and the value, which a delete has none of; a live cell's version is at least 1.
// ok is false for anything else.
func refDecodeState(typ uint8, p []byte) (ref stRef, c stCell, ok bool) {
	if typ < TypeInit || typ > TypeDelete || len(p) < commitlog.RunIDSize {
		return ref, c, false
	}
	copy(ref.run[:], p)
	p = p[commitlog.RunIDSize:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n < 1 || n > MaxNameSize || n > uint64(len(p)-w) {
		return ref, c, false
	}
	ref.name, p = string(p[w:w+int(n)]), p[w+int(n):]
	if c.version, w = binary.Uvarint(p); w <= 0 {
		return ref, c, false
	}
	p = p[w:]
	if c.ts, w = binary.Varint(p); w <= 0 {
		return ref, c, false
	}
	c.value, c.live = bytes.Clone(p[w:]), typ != TypeDelete
	if (!c.live && len(c.value) > 0) || (c.live && c.version == 0) {
		return ref, c, false
	}
	return ref, c, true
}

// check compares the shard read at version v with the model: every cell of every run through
// Get (value, version, timestamp), its counter through counterAt (which a deleted cell keeps,
// and which Tx.Get and validation build on), and the listing through Names.
func (m *stScript) check(v uint64) {
	m.t.Helper()
	want := m.hist[v]
	for _, r := range m.runs {
		var live []string
		for _, n := range m.names {
			w := want[stRef{r, n}]
			if w.live {
				live = append(live, n)
			}
			got, ok := m.s.Get(r, n, v)
			if ok != w.live || (ok && (!bytes.Equal(got.Value, w.value) || got.Version != w.version || got.UpdatedAt != w.ts)) {
				m.t.Fatalf("at %d run %v cell %q: got %+v (live %v), model %+v", v, r[0], n, got, ok, w)
			}
			if c := m.s.counterAt(r, n, v); c != w.version {
				m.t.Fatalf("at %d run %v cell %q: counter %d, model %d", v, r[0], n, c, w.version)
			}
		}
		slices.Sort(live)
		if got := m.s.Names(r, v); !slices.Equal(got, live) {
			m.t.Fatalf("at %d run %v: names %q, model %q", v, r[0], got, live)
		}
	}
}
