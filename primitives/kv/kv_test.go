package kv

import (
	"bytes"
	"encoding/binary"
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
	assert.NotNil(t, s.Chain(run, "k", mvcc.Latest))

	sh.Trim(4) // every reader is past the tombstone: the key goes
	assert.Nil(t, s.Chain(run, "k", mvcc.Latest))
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

// FuzzApply checks Apply against a reference model. The script argument is a sequence of
// writes, commits, applies and trims (see kvScript) played through transactions, which encode
// well-formed entries as the engine does, and through a plain map per commit version; after
// every applied batch the shard must read exactly as the model, at the newest version and at an
// older one, and at the end at every version still readable. Then typ and payload are applied as
// one more entry, whatever they hold, because Apply reads data from disk: it must not panic,
// must reject with ErrMalformed what the documented layout does not allow (leaving the shard
// unchanged), and must apply exactly what the layout encodes otherwise.
func FuzzApply(f *testing.F) {
	f.Add([]byte{}, uint8(TypePut), encode(run, "k", []byte("v")))
	f.Add([]byte{}, uint8(TypeDelete), encode(run, "k", nil))
	f.Add([]byte{}, uint8(TypePut), []byte{})
	// Put, overwrite, delete and re-put one key, committed and applied one at a time.
	f.Add(kvOps(
		kvPut(0, 0, 1), kvCommit, kvApply(0),
		kvPut(0, 0, 2), kvCommit, kvApply(0),
		kvDel(0, 0), kvCommit, kvApply(1),
		kvPut(0, 0, 3), kvCommit, kvApply(2),
	), uint8(TypeDelete), encode(run, "a", nil))
	// Several transactions of both runs in one batch, a put of an empty value (live, unlike a
	// delete), a key that prefixes another, a put then delete in one transaction, and a trim
	// that lets a tombstone go before the key is written again.
	f.Add(kvOps(
		kvPut(0, 0, 9), kvPut(0, 1, 0), kvPut(1, 0, 17), kvCommit,
		kvPut(0, 2, 4), kvDel(0, 2), kvDel(1, 0), kvCommit, kvApply(1),
		kvDel(0, 0), kvCommit, kvApply(0), kvTrim(3),
		kvPut(0, 0, 5), kvDel(1, 3), kvCommit, kvApply(2),
	), uint8(TypePut), encode(extension.RunID{8}, "ab", []byte("raw")))
	f.Fuzz(func(t *testing.T, script []byte, typ uint8, payload []byte) {
		m := newKVScript(t)
		m.play(script)
		m.applyRaw(typ, payload)
		for v := m.floor; v <= m.published; v++ {
			m.check(v)
		}
	})
}

// The runs and keys a FuzzApply script writes: two runs, so that a write landing on the wrong
// run shows, and few keys, one a prefix of another, so that writes collide and Keys' prefix
// filter has something to filter.
var (
	fuzzRuns = []extension.RunID{run, {8}}
	fuzzKeys = []string{"a", "ab", "b", "c"}
)

// Script op kinds (the op byte's low 3 bits); see kvScript.
const (
	kvOpPut    = 0 // 1 and 2 put as well: writes are most of a script
	kvOpDelete = 3 // 4 as well
	kvOpCommit = 5
	kvOpApply  = 6
	kvOpTrim   = 7
)

// Seed script builders: run and key index fuzzRuns and fuzzKeys.
func kvPut(run, key int, arg byte) []byte { return []byte{byte(kvOpPut | key<<3 | run<<5), arg} }
func kvDel(run, key int) []byte           { return []byte{byte(kvOpDelete | key<<3 | run<<5), 0} }
func kvApply(arg byte) []byte             { return []byte{kvOpApply, arg} }
func kvTrim(arg byte) []byte              { return []byte{kvOpTrim, arg} }
func kvOps(ops ...[]byte) []byte          { return bytes.Join(ops, nil) }

var kvCommit = []byte{kvOpCommit, 0}

// kvRef names one key of one run.
type kvRef struct {
	run extension.RunID
	key string
}

// kvModel is the reference state at one commit version: the live keys and their values.
type kvModel map[kvRef][]byte

// kvScript plays a FuzzApply script on a shard and on the model side by side. A script is
// a sequence of two-byte ops, an op byte and an argument:
//
//	op&7 0-2  put fuzzKeys[op>>3&3] of fuzzRuns[op>>5&1]: the argument repeated arg&7 times
//	op&7 3-4  delete that key
//	op&7 5    commit the open transaction (a transaction is of one run: a write to the other
//	          run commits it first)
//	op&7 6    apply the batch of committed transactions, then compare the newest version and
//	          an older one the argument picks
//	op&7 7    trim to a version the argument picks among those still readable
//
// The script's end commits and applies what is pending.
type kvScript struct {
	t         *testing.T
	s         *Store
	sh        *shard
	hist      []kvModel // hist[v] is the model at version v; hist[0] is empty
	published uint64    // versions up to here are applied
	floor     uint64    // trimmed to here: older versions are no longer readable
	tx        *Tx
	txRun     extension.RunID
	pending   []kvWrite // the open transaction's writes, in order
	batch     []commitlog.Entry
	runs      []extension.RunID // every run written, for the comparisons
	keys      []string          // every key written
}

type kvWrite struct {
	key     string
	value   []byte
	deleted bool
}

// kvMaxOps bounds a script so that one input runs fast.
const kvMaxOps = 256

func newKVScript(t *testing.T) *kvScript {
	s, sh := newStore()
	return &kvScript{t: t, s: s, sh: sh, hist: []kvModel{{}},
		runs: slices.Clone(fuzzRuns), keys: slices.Clone(fuzzKeys)}
}

func (m *kvScript) play(script []byte) {
	for i := 0; i+1 < len(script) && i < 2*kvMaxOps; i += 2 {
		op, arg := script[i], script[i+1]
		r, key := fuzzRuns[op>>5&1], fuzzKeys[op>>3&3]
		switch k := op & 7; {
		case k < kvOpDelete:
			m.write(r, kvWrite{key: key, value: bytes.Repeat([]byte{arg}, int(arg&7))})
		case k < kvOpCommit:
			m.write(r, kvWrite{key: key, deleted: true})
		case k == kvOpCommit:
			m.commit()
		case k == kvOpApply:
			m.apply()
			m.check(m.published)
			m.check(m.floor + uint64(arg)%(m.published-m.floor+1))
		default:
			m.floor += uint64(arg) % (m.published - m.floor + 1)
			m.sh.Trim(m.floor)
		}
	}
	m.commit()
	m.apply()
	m.check(m.published)
}

func (m *kvScript) write(r extension.RunID, w kvWrite) {
	if m.tx != nil && m.txRun != r {
		m.commit()
	}
	if m.tx == nil {
		m.tx, m.txRun = m.s.NewTx(r, m.published), r
	}
	if w.deleted {
		require.NoError(m.t, m.tx.Delete(w.key))
	} else {
		require.NoError(m.t, m.tx.Put(w.key, w.value))
	}
	m.pending = append(m.pending, w)
}

// commit turns the open transaction into entries at the next version and moves the model to
// that version: its writes in order, the last write to a key winning.
func (m *kvScript) commit() {
	if m.tx == nil {
		return
	}
	c := &commit{RunID: m.txRun, Snap: m.published, Ver: uint64(len(m.hist))}
	require.NoError(m.t, m.tx.Validate(c))
	for _, e := range m.tx.Entries(nil, c) {
		e.TxID = c.Ver
		m.batch = append(m.batch, e)
	}
	next := maps.Clone(m.hist[len(m.hist)-1])
	for _, w := range m.pending {
		if w.deleted {
			delete(next, kvRef{m.txRun, w.key})
		} else {
			next[kvRef{m.txRun, w.key}] = w.value
		}
	}
	m.hist = append(m.hist, next)
	m.tx, m.pending = nil, nil
}

// apply applies the batch as the engine does, then reuses the batch slice as the engine may.
func (m *kvScript) apply() {
	require.NoError(m.t, m.sh.Apply(m.batch))
	clear(m.batch)
	m.batch = m.batch[:0]
	m.published = uint64(len(m.hist) - 1)
}

// applyRaw applies an arbitrary entry at the next version: the shard must agree with the
// model's own reading of the documented payload layout, rejecting exactly what it rejects.
func (m *kvScript) applyRaw(typ uint8, payload []byte) {
	orig := bytes.Clone(payload)
	err := m.sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: m.published + 1, Payload: payload}})
	require.Equal(m.t, orig, payload, "Apply must not modify the payload")
	next := maps.Clone(m.hist[len(m.hist)-1])
	ref, value, deleted, ok := refDecodeKV(typ, payload)
	if !ok {
		require.ErrorIs(m.t, err, ErrMalformed, "type %#x payload %x", typ, payload)
	} else {
		require.NoError(m.t, err, "type %#x payload %x", typ, payload)
		if deleted {
			delete(next, ref)
		} else {
			next[ref] = value
		}
		if !slices.Contains(m.runs, ref.run) {
			m.runs = append(m.runs, ref.run)
		}
		if !slices.Contains(m.keys, ref.key) {
			m.keys = append(m.keys, ref.key)
		}
	}
	m.hist = append(m.hist, next)
	m.published++
	m.check(m.published)
}

// refDecodeKV reads a payload by the layout in the package doc: the 16-byte run id, the
// uvarint key length (1 to MaxKeySize), the key, and the value, which a delete has none of.
// ok is false for anything else.
func refDecodeKV(typ uint8, p []byte) (ref kvRef, value []byte, deleted, ok bool) {
	if (typ != TypePut && typ != TypeDelete) || len(p) < commitlog.RunIDSize {
		return ref, nil, false, false
	}
	copy(ref.run[:], p)
	p = p[commitlog.RunIDSize:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n < 1 || n > MaxKeySize || n > uint64(len(p)-w) {
		return ref, nil, false, false
	}
	ref.key, value = string(p[w:w+int(n)]), bytes.Clone(p[w+int(n):])
	deleted = typ == TypeDelete
	return ref, value, deleted, !deleted || len(value) == 0
}

// check compares the shard read at version v with the model: every key of every run through
// Get, and the listing through Keys, whole and under a prefix.
func (m *kvScript) check(v uint64) {
	m.t.Helper()
	want := m.hist[v]
	for _, r := range m.runs {
		for _, k := range m.keys {
			got, ok := m.s.Get(r, k, v)
			w, wok := want[kvRef{r, k}]
			if ok != wok || !bytes.Equal(got, w) {
				m.t.Fatalf("at %d run %v key %q: got %q (live %v), model %q (live %v)", v, r[0], k, got, ok, w, wok)
			}
		}
		for _, prefix := range []string{"", "a"} {
			var wantKeys []string
			for ref := range want {
				if ref.run == r && strings.HasPrefix(ref.key, prefix) {
					wantKeys = append(wantKeys, ref.key)
				}
			}
			slices.Sort(wantKeys)
			if got := m.s.Keys(r, prefix, v); !slices.Equal(got, wantKeys) {
				m.t.Fatalf("at %d run %v prefix %q: keys %q, model %q", v, r[0], prefix, got, wantKeys)
			}
		}
	}
}
