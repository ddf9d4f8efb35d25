package kv_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/primitives/kv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSeq stands in for the sequencer: the table of sequenced-but-unpublished writes.
type fakeSeq struct {
	staged map[extension.Key]extension.Staged
}

func newFakeSeq() *fakeSeq { return &fakeSeq{staged: map[extension.Key]extension.Staged{}} }

// fakeCommit is the extension.Commit of one transaction: its writes are staged in pending and
// reach the shared table only if the transaction validates (as in actors/sequencer.go).
type fakeCommit struct {
	seq      *fakeSeq
	run      extension.RunID
	snap     uint64
	ver      uint64
	ts       int64
	pending  map[extension.Key]extension.Staged
	stageLog []extension.Key
}

func (s *fakeSeq) commit(run extension.RunID, snap, ver uint64) *fakeCommit {
	return &fakeCommit{seq: s, run: run, snap: snap, ver: ver, ts: int64(ver) * 1000,
		pending: map[extension.Key]extension.Staged{}}
}

func (c *fakeCommit) Run() extension.RunID { return c.run }
func (c *fakeCommit) Snapshot() uint64     { return c.snap }
func (c *fakeCommit) Version() uint64      { return c.ver }
func (c *fakeCommit) Timestamp() int64     { return c.ts }
func (c *fakeCommit) Staged(k extension.Key) (extension.Staged, bool) {
	if st, ok := c.pending[k]; ok {
		return st, true
	}
	st, ok := c.seq.staged[k]
	return st, ok
}
func (c *fakeCommit) Stage(k extension.Key, s extension.Staged) {
	c.pending[k] = s
	c.stageLog = append(c.stageLog, k)
}

var _ extension.Commit = (*fakeCommit)(nil)

// sequence validates part as the sequencer does and, if it passes, stages its writes and
// returns its entries stamped with the commit version.
func sequence(part extension.TxPart, c *fakeCommit) ([]commitlog.Entry, error) {
	if err := part.Validate(c); err != nil {
		return nil, err
	}
	for k, st := range c.pending {
		c.seq.staged[k] = st
	}
	es := part.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.ver
	}
	return es, nil
}

// kvEnv is a two-shard store with one run on each shard.
type kvEnv struct {
	s      *kv.Store
	shards []extension.Shard
	a, b   extension.RunID // a.Shard(2) != b.Shard(2)
	seq    *fakeSeq
}

func newKVEnv(t *testing.T) *kvEnv {
	t.Helper()
	e := &kvEnv{s: kv.New(2), seq: newFakeSeq()}
	e.shards = []extension.Shard{e.s.NewShard(0), e.s.NewShard(1)}
	e.a = extension.RunID{0xA1}
	for i := range 256 {
		e.b = extension.RunID{0xB0, byte(i)}
		if e.b.Shard(2) != e.a.Shard(2) {
			break
		}
	}
	require.NotEqual(t, e.a.Shard(2), e.b.Shard(2))
	return e
}

// commitTx sequences tx at version ver and applies its entries to the run's shard.
func (e *kvEnv) commitTx(t *testing.T, tx *kv.Tx, run extension.RunID, snap, ver uint64) {
	t.Helper()
	es, err := sequence(tx, e.seq.commit(run, snap, ver))
	require.NoError(t, err)
	require.NoError(t, e.shards[run.Shard(2)].Apply(es))
}

// write commits puts (value != nil) and deletes (value == nil) of run at ver.
func (e *kvEnv) write(t *testing.T, run extension.RunID, ver uint64, kvs map[string][]byte) {
	t.Helper()
	tx := e.s.NewTx(run, ver-1)
	for k, v := range kvs {
		if v == nil {
			require.NoError(t, tx.Delete(k))
		} else {
			require.NoError(t, tx.Put(k, v))
		}
	}
	e.commitTx(t, tx, run, ver-1, ver)
}

func (e *kvEnv) trim(oldest uint64) {
	for _, sh := range e.shards {
		sh.(extension.Trimmer).Trim(oldest)
	}
}

func getStr(s *kv.Store, run extension.RunID, key string, snap uint64) (string, bool) {
	v, ok := s.Get(run, key, snap)
	return string(v), ok
}

func TestKVExtTxReadYourWrites(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"k": []byte("stored"), "gone": []byte("x")})

	tx := e.s.NewTx(e.a, 1)
	assert.True(t, tx.Empty())
	v, err := tx.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "stored", string(v), "the snapshot's value")
	_, err = tx.Get("absent")
	assert.ErrorIs(t, err, dberr.ErrNotFound)

	buf := []byte("mine")
	require.NoError(t, tx.Put("k", buf))
	buf[0] = 'X' // Put copied the value
	v, err = tx.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "mine", string(v), "own write, copied at Put")
	require.NoError(t, tx.Put("k", []byte("mine2")))
	v, _ = tx.Get("k")
	assert.Equal(t, "mine2", string(v), "the last write wins inside the transaction")

	require.NoError(t, tx.Delete("gone"))
	_, err = tx.Get("gone")
	assert.ErrorIs(t, err, dberr.ErrNotFound, "deleted by the transaction")
	require.NoError(t, tx.Put("gone", []byte("back")))
	v, err = tx.Get("gone")
	require.NoError(t, err)
	assert.Equal(t, "back", string(v))

	require.NoError(t, tx.Put("empty", nil))
	v, err = tx.Get("empty")
	require.NoError(t, err, "an empty value is a value")
	assert.Empty(t, v)
	assert.False(t, tx.Empty())

	// Nothing reaches the store before the commit is applied.
	got, ok := getStr(e.s, e.a, "k", 99)
	assert.True(t, ok)
	assert.Equal(t, "stored", got)
	_, ok = e.s.Get(e.a, "empty", 99)
	assert.False(t, ok)

	// Other runs do not see run a's keys.
	txB := e.s.NewTx(e.b, 1)
	_, err = txB.Get("k")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
}

func TestKVExtTxManyKeys(t *testing.T) {
	// More writes than the linear-scan threshold: lookups go through the index.
	e := newKVEnv(t)
	tx := e.s.NewTx(e.a, 0)
	const n = 40
	for i := range n {
		require.NoError(t, tx.Put(fmt.Sprintf("k%02d", i), []byte{byte(i)}))
	}
	for i := 0; i < n; i += 3 {
		require.NoError(t, tx.Delete(fmt.Sprintf("k%02d", i)))
	}
	for i := 1; i < n; i += 4 {
		require.NoError(t, tx.Put(fmt.Sprintf("k%02d", i), []byte{byte(i), 1}))
	}
	want := func(i int) ([]byte, bool) {
		switch {
		case i%4 == 1:
			return []byte{byte(i), 1}, true
		case i%3 == 0:
			return nil, false
		}
		return []byte{byte(i)}, true
	}
	for i := range n {
		v, err := tx.Get(fmt.Sprintf("k%02d", i))
		w, ok := want(i)
		if ok {
			require.NoError(t, err, "k%02d", i)
			assert.Equal(t, w, v, "k%02d", i)
		} else {
			assert.ErrorIs(t, err, dberr.ErrNotFound, "k%02d", i)
		}
	}
	es := tx.Entries(nil, e.seq.commit(e.a, 0, 1))
	require.Len(t, es, n, "one entry per written key")
	for i, en := range es {
		assert.Equal(t, fmt.Sprintf("k%02d", i), entryKey(t, en), "entries in first-write order")
	}
	e.commitTx(t, tx, e.a, 0, 1)
	for i := range n {
		v, ok := e.s.Get(e.a, fmt.Sprintf("k%02d", i), 1)
		w, wok := want(i)
		assert.Equal(t, wok, ok, "k%02d", i)
		assert.Equal(t, w, v, "k%02d", i)
	}
}

// entryKey decodes the key of a KV payload (run id, uvarint length, key, value).
func entryKey(t *testing.T, e commitlog.Entry) string {
	t.Helper()
	p := e.Payload[commitlog.RunIDSize:]
	n, w := binary.Uvarint(p)
	require.Positive(t, w)
	return string(p[w : w+int(n)])
}

func TestKVExtTxRejectsBadInput(t *testing.T) {
	e := newKVEnv(t)
	tx := e.s.NewTx(e.a, 0)
	_, err := tx.Get("")
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Put("", []byte("v")), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Delete(""), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Put("\xc3", nil), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Put(strings.Repeat("k", kv.MaxKeySize+1), nil), dberr.ErrTooLarge)
	assert.ErrorIs(t, tx.Delete(strings.Repeat("k", kv.MaxKeySize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, tx.Put("k", make([]byte, kv.MaxValueSize+1)), dberr.ErrTooLarge)
	assert.True(t, tx.Empty(), "rejected writes buffer nothing")
	assert.Empty(t, tx.Entries(nil, e.seq.commit(e.a, 0, 1)))
	_, err = tx.Get("k")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
}

func TestKVExtCheckLimits(t *testing.T) {
	assert.ErrorIs(t, kv.CheckKey(""), dberr.ErrInvalidArgument)
	assert.NoError(t, kv.CheckKey("k"))
	assert.NoError(t, kv.CheckKey(strings.Repeat("k", 4096)))
	assert.NoError(t, kv.CheckKey(strings.Repeat("é", 2048)), "4096 bytes of two-byte runes")
	assert.ErrorIs(t, kv.CheckKey(strings.Repeat("k", 4097)), dberr.ErrTooLarge)
	assert.ErrorIs(t, kv.CheckKey(strings.Repeat("é", 2048)+"k"), dberr.ErrTooLarge)
	for _, bad := range []string{"\xff", "ok\xc3", "\xed\xa0\x80" /* surrogate */, "a\x80b"} {
		err := kv.CheckKey(bad)
		assert.ErrorIs(t, err, dberr.ErrInvalidArgument, "%q", bad)
	}
	assert.NoError(t, kv.CheckKey("日本語/キー"))
	assert.NoError(t, kv.CheckValue(nil))
	assert.NoError(t, kv.CheckValue(make([]byte, 16<<20)))
	assert.ErrorIs(t, kv.CheckValue(make([]byte, 16<<20+1)), dberr.ErrTooLarge)

	e := newKVEnv(t)
	tx := e.s.NewTx(e.a, 0)
	big := bytes.Repeat([]byte{7}, kv.MaxValueSize)
	require.NoError(t, tx.Put(strings.Repeat("k", kv.MaxKeySize), big), "both at the limit")
	e.commitTx(t, tx, e.a, 0, 1)
	v, ok := e.s.Get(e.a, strings.Repeat("k", kv.MaxKeySize), 1)
	require.True(t, ok)
	assert.True(t, bytes.Equal(big, v), "a limit-sized value survives the payload round trip")
}

func TestKVExtTxList(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"a/1": {1}, "a/2": {2}, "a/3": {3}, "b/1": {4}, "ab": {5}})
	e.write(t, e.a, 2, map[string][]byte{"a/2": nil})
	e.write(t, e.b, 3, map[string][]byte{"a/other-run": {9}})

	assert.Equal(t, []string{"a/1", "a/2", "a/3"}, e.s.NewTx(e.a, 1).List("a/"))
	assert.Equal(t, []string{"a/1", "a/3"}, e.s.NewTx(e.a, 2).List("a/"), "deleted key excluded")
	assert.Empty(t, e.s.NewTx(e.a, 0).List(""))
	assert.Equal(t, []string{"a/1", "a/3", "ab", "b/1"}, e.s.Keys(e.a, "", 3))
	assert.Equal(t, []string{"a/other-run"}, e.s.Keys(e.b, "", 3))

	tx := e.s.NewTx(e.a, 2)
	require.NoError(t, tx.Put("a/0", []byte("new")))
	require.NoError(t, tx.Put("a/1", []byte("over")))
	require.NoError(t, tx.Delete("a/3"))
	require.NoError(t, tx.Put("a/2", []byte("revived")))
	require.NoError(t, tx.Put("c", []byte("c")))
	require.NoError(t, tx.Delete("never")) // deleting what does not exist lists nothing
	require.NoError(t, tx.Put("zz", nil))
	require.NoError(t, tx.Delete("zz"))
	assert.Equal(t, []string{"a/0", "a/1", "a/2"}, tx.List("a/"))
	assert.Equal(t, []string{"a/0", "a/1", "a/2", "ab", "b/1", "c"}, tx.List(""))
	assert.Equal(t, []string{"a/0", "a/1", "a/2", "ab"}, tx.List("a"))
	assert.Empty(t, tx.List("zz"))
	assert.Empty(t, tx.List("nope"))
}

func TestKVExtListAddsToReadSet(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"p/1": {1}, "p/2": {2}, "q": {3}})

	tx := e.s.NewTx(e.a, 1)
	require.Equal(t, []string{"p/1", "p/2"}, tx.List("p/"))
	require.NoError(t, tx.Put("out", []byte("x")))
	e.write(t, e.a, 2, map[string][]byte{"p/2": []byte("changed")})
	err := tx.Validate(e.seq.commit(e.a, 1, 3))
	var ce *dberr.ConflictError
	require.ErrorAs(t, err, &ce, "a listed key changed")
	assert.Equal(t, "p/2", ce.Key)

	// A key that appears under the prefix later is a phantom: allowed (package doc).
	tx = e.s.NewTx(e.a, 2)
	require.Equal(t, []string{"p/1", "p/2"}, tx.List("p/"))
	require.NoError(t, tx.Put("out", []byte("x")))
	e.write(t, e.a, 3, map[string][]byte{"p/3": {3}, "q": {4}})
	assert.NoError(t, tx.Validate(e.seq.commit(e.a, 2, 4)))
}

func TestKVExtValidate(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"k": []byte("v1"), "j": []byte("j1")})

	// Read at the snapshot of the latest write: no conflict.
	tx := e.s.NewTx(e.a, 1)
	_, err := tx.Get("k")
	require.NoError(t, err)
	require.NoError(t, tx.Put("k", []byte("v2")))
	es, err := sequence(tx, e.seq.commit(e.a, 1, 2))
	require.NoError(t, err)
	require.Len(t, es, 1)
	// The write is staged (sequenced) but not applied: a reader at 1 must lose against it.
	stale := e.s.NewTx(e.a, 1)
	_, err = stale.Get("k")
	require.NoError(t, err)
	require.NoError(t, stale.Put("other", []byte("x")))
	err = stale.Validate(e.seq.commit(e.a, 1, 3))
	var ce *dberr.ConflictError
	require.True(t, errors.As(err, &ce), "staged write conflicts: %v", err)
	assert.ErrorIs(t, err, dberr.ErrConflict)
	assert.Equal(t, "k", ce.Key)
	assert.Equal(t, "kv", ce.Primitive)
	assert.Equal(t, e.a.String(), ce.Run)

	// Now applied (and no longer staged): still a conflict, from the chain's latest version.
	require.NoError(t, e.shards[e.a.Shard(2)].Apply(es))
	delete(e.seq.staged, extension.Key{Section: kv.SectionID, Run: e.a, Name: "k"})
	assert.ErrorIs(t, stale.Validate(e.seq.commit(e.a, 1, 3)), dberr.ErrConflict)
	// An absent key that appears after the snapshot conflicts too.
	ghost := e.s.NewTx(e.a, 0)
	_, err = ghost.Get("j")
	require.ErrorIs(t, err, dberr.ErrNotFound, "j did not exist at 0")
	err = ghost.Validate(e.seq.commit(e.a, 0, 3))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "j", ce.Key)
	// A reader at the new snapshot is fine; a read of a key nobody wrote is fine.
	fresh := e.s.NewTx(e.a, 2)
	_, _ = fresh.Get("k")
	_, _ = fresh.Get("nobody")
	require.NoError(t, fresh.Put("k", []byte("v3")))
	assert.NoError(t, fresh.Validate(e.seq.commit(e.a, 2, 3)))

	// The same key name in another run does not conflict.
	other := e.s.NewTx(e.b, 0)
	_, _ = other.Get("k")
	require.NoError(t, other.Put("k", []byte("b")))
	assert.NoError(t, other.Validate(e.seq.commit(e.b, 0, 3)))
}

func TestKVExtBlindWritesNeverConflict(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"k": []byte("v1")})
	// Staged and unapplied newer writes to k.
	w := e.s.NewTx(e.a, 1)
	require.NoError(t, w.Put("k", []byte("v2")))
	_, err := sequence(w, e.seq.commit(e.a, 1, 2))
	require.NoError(t, err)

	blind := e.s.NewTx(e.a, 0)
	require.NoError(t, blind.Put("k", []byte("blind")))
	require.NoError(t, blind.Delete("j"))
	v, err := blind.Get("k") // reads its own write: not a read of the store
	require.NoError(t, err)
	assert.Equal(t, "blind", string(v))
	c := e.seq.commit(e.a, 0, 3)
	es, err := sequence(blind, c)
	require.NoError(t, err, "blind writes never conflict")
	require.Len(t, es, 2)

	// Validate staged every write at the commit's version.
	st, ok := e.seq.staged[extension.Key{Section: kv.SectionID, Run: e.a, Name: "k"}]
	require.True(t, ok)
	assert.Equal(t, extension.Staged{Version: 3}, st)
	st, ok = e.seq.staged[extension.Key{Section: kv.SectionID, Run: e.a, Name: "j"}]
	require.True(t, ok)
	assert.Equal(t, extension.Staged{Version: 3, Deleted: true}, st)

	// A read-only part: nothing to validate against, nothing to log.
	ro := e.s.NewTx(e.a, 3)
	_, _ = ro.Get("k")
	assert.True(t, ro.Empty())
	assert.Empty(t, ro.Entries(nil, e.seq.commit(e.a, 3, 4)))
}

func TestKVExtEntriesApply(t *testing.T) {
	e := newKVEnv(t)
	for _, run := range []extension.RunID{e.a, e.b} {
		tx := e.s.NewTx(run, 0)
		require.NoError(t, tx.Put("x", []byte("x1")))
		require.NoError(t, tx.Put("y", []byte("y1")))
		es := tx.Entries(nil, e.seq.commit(run, 0, 1))
		require.Len(t, es, 2)
		for _, en := range es {
			assert.Equal(t, kv.TypePut, en.Type)
			assert.EqualValues(t, 1, en.Version)
			assert.Zero(t, en.TxID, "the engine stamps TxID")
			assert.Equal(t, run[:], en.Payload[:commitlog.RunIDSize], "payload starts with the run id")
		}
		e.commitTx(t, tx, run, 0, 1)

		tx = e.s.NewTx(run, 1)
		require.NoError(t, tx.Delete("x"))
		require.NoError(t, tx.Put("y", []byte("y2")))
		es = tx.Entries(nil, e.seq.commit(run, 1, 2))
		require.Len(t, es, 2)
		assert.Equal(t, kv.TypeDelete, es[0].Type)
		assert.Equal(t, kv.TypePut, es[1].Type)
		e.commitTx(t, tx, run, 1, 2)
	}
	for _, run := range []extension.RunID{e.a, e.b} {
		_, ok := e.s.Get(run, "x", 0)
		assert.False(t, ok, "nothing at version 0")
		v, ok := getStr(e.s, run, "x", 1)
		assert.True(t, ok)
		assert.Equal(t, "x1", v)
		_, ok = e.s.Get(run, "x", 2)
		assert.False(t, ok, "deleted at 2")
		v, _ = getStr(e.s, run, "y", 1)
		assert.Equal(t, "y1", v)
		v, _ = getStr(e.s, run, "y", 2)
		assert.Equal(t, "y2", v)
		v, _ = getStr(e.s, run, "y", 1000)
		assert.Equal(t, "y2", v)
		assert.Equal(t, []string{"x", "y"}, e.s.Keys(run, "", 1))
		assert.Equal(t, []string{"y"}, e.s.Keys(run, "", 2))
	}

	// A batch of several transactions applies in order.
	var batch []commitlog.Entry
	for ver := uint64(3); ver <= 5; ver++ {
		tx := e.s.NewTx(e.a, ver-1)
		require.NoError(t, tx.Put("z", []byte{byte(ver)}))
		es, err := sequence(tx, e.seq.commit(e.a, ver-1, ver))
		require.NoError(t, err)
		batch = append(batch, es...)
	}
	require.NoError(t, e.shards[e.a.Shard(2)].Apply(batch))
	for ver := uint64(3); ver <= 5; ver++ {
		v, ok := e.s.Get(e.a, "z", ver)
		assert.True(t, ok)
		assert.Equal(t, []byte{byte(ver)}, v)
	}
}

// kvPayload builds a payload by hand: run id, uvarint(klen), key, value.
func kvPayload(run extension.RunID, klen uint64, key, value string) []byte {
	p := append([]byte(nil), run[:]...)
	p = binary.AppendUvarint(p, klen)
	return append(append(p, key...), value...)
}

func TestKVExtApplyMalformed(t *testing.T) {
	run := extension.RunID{0xA1}
	good := kvPayload(run, 1, "k", "v")
	cases := map[string]commitlog.Entry{
		"nil payload":       {Type: kv.TypePut, Version: 1},
		"15 bytes":          {Type: kv.TypePut, Version: 1, Payload: good[:15]},
		"only the run id":   {Type: kv.TypePut, Version: 1, Payload: good[:16]},
		"truncated uvarint": {Type: kv.TypePut, Version: 1, Payload: append(run[:16:16], 0x80)},
		"overlong uvarint":  {Type: kv.TypePut, Version: 1, Payload: append(run[:16:16], bytes.Repeat([]byte{0xff}, 11)...)},
		"huge key length":   {Type: kv.TypePut, Version: 1, Payload: kvPayload(run, 1<<62, "k", "")},
		"key past the end":  {Type: kv.TypePut, Version: 1, Payload: kvPayload(run, 5, "ab", "")},
		"key one past end":  {Type: kv.TypeDelete, Version: 1, Payload: kvPayload(run, 3, "ab", "")},
		"key over limit":    {Type: kv.TypePut, Version: 1, Payload: kvPayload(run, kv.MaxKeySize+1, strings.Repeat("k", kv.MaxKeySize+1), "")},
		"zero-length key":   {Type: kv.TypePut, Version: 1, Payload: kvPayload(run, 0, "", "v")},
		"delete with value": {Type: kv.TypeDelete, Version: 1, Payload: good},
		"unknown type 0x12": {Type: 0x12, Version: 1, Payload: good},
		"unknown type 0x1F": {Type: 0x1F, Version: 1, Payload: good},
		"core type":         {Type: commitlog.TypeTransactionCommit, Version: 1, Payload: good},
		"version 0":         {Type: kv.TypePut, Version: 0, Payload: good},
		"version 2":         {Type: kv.TypePut, Version: 2, Payload: good},
	}
	for name, en := range cases {
		s := kv.New(1)
		sh := s.NewShard(0)
		en.TxID = 1
		var err error
		require.NotPanics(t, func() { err = sh.Apply([]commitlog.Entry{en}) }, name)
		assert.ErrorIs(t, err, kv.ErrMalformed, name)
		assert.Empty(t, s.Keys(run, "", 1), "%s: nothing applied", name)
	}
	// The boundary cases that are well-formed.
	s := kv.New(1)
	sh := s.NewShard(0)
	require.NoError(t, sh.Apply([]commitlog.Entry{
		{Type: kv.TypePut, Version: 1, TxID: 1, Payload: kvPayload(run, 2, "ab", "")},
		{Type: kv.TypeDelete, Version: 1, TxID: 1, Payload: kvPayload(run, 1, "c", "")},
		{Type: kv.TypePut, Version: 1, TxID: 1, Payload: kvPayload(run, kv.MaxKeySize, strings.Repeat("m", kv.MaxKeySize), "v")},
	}))
	v, ok := s.Get(run, "ab", 1)
	assert.True(t, ok)
	assert.Empty(t, v)
	v, ok = s.Get(run, strings.Repeat("m", kv.MaxKeySize), 1)
	assert.True(t, ok)
	assert.Equal(t, "v", string(v))
}

func TestKVExtTrim(t *testing.T) {
	e := newKVEnv(t)
	e.write(t, e.a, 1, map[string][]byte{"k": []byte("k1"), "d": []byte("d1")})
	e.write(t, e.a, 2, map[string][]byte{"k": []byte("k2")})
	e.write(t, e.a, 3, map[string][]byte{"k": []byte("k3")})
	e.write(t, e.a, 4, map[string][]byte{"d": nil})
	e.write(t, e.a, 5, map[string][]byte{"ghost": nil}) // a delete of a key that never existed

	e.trim(2) // a reader pinned at 2
	for snap, want := range map[uint64]string{2: "k2", 3: "k3", 4: "k3"} {
		v, ok := getStr(e.s, e.a, "k", snap)
		assert.True(t, ok, "k at %d", snap)
		assert.Equal(t, want, v, "k at %d", snap)
	}
	v, ok := getStr(e.s, e.a, "k", 1)
	assert.True(t, ok, "an unpinned reader below the kept version gets the kept one")
	assert.Equal(t, "k2", v)
	v, ok = getStr(e.s, e.a, "d", 3)
	assert.True(t, ok, "d is still visible to the reader pinned below its tombstone")
	assert.Equal(t, "d1", v)
	assert.Equal(t, []string{"d", "k"}, e.s.Keys(e.a, "", 3))
	assert.Equal(t, []string{"k"}, e.s.Keys(e.a, "", 4))

	e.trim(3) // pinned at 3: still below the tombstone at 4
	v, ok = getStr(e.s, e.a, "d", 3)
	assert.True(t, ok)
	assert.Equal(t, "d1", v)

	e.trim(5) // every reader is past the tombstones: the keys go
	for _, snap := range []uint64{1, 3, 4, 5, 100} {
		_, ok = e.s.Get(e.a, "d", snap)
		assert.False(t, ok, "d at %d after trim", snap)
		_, ok = e.s.Get(e.a, "ghost", snap)
		assert.False(t, ok)
		assert.Equal(t, []string{"k"}, e.s.Keys(e.a, "", snap), "Keys at %d", snap)
	}
	v, _ = getStr(e.s, e.a, "k", 1)
	assert.Equal(t, "k3", v, "only the newest version of k is left")

	// A transaction that reads the removed key at its snapshot sees it absent, and a new write
	// to it starts a fresh history.
	tx := e.s.NewTx(e.a, 5)
	_, err := tx.Get("d")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	e.write(t, e.a, 6, map[string][]byte{"d": []byte("d6")})
	_, ok = e.s.Get(e.a, "d", 5)
	assert.False(t, ok)
	v, ok = getStr(e.s, e.a, "d", 6)
	assert.True(t, ok)
	assert.Equal(t, "d6", v)
	assert.ErrorIs(t, tx.Validate(e.seq.commit(e.a, 5, 7)), dberr.ErrConflict,
		"the key reappeared after the snapshot")
}

// A model check: random puts and deletes on a few keys, trimmed at a lagging oldest version;
// every snapshot ≥ oldest must read exactly what the model says.
func TestKVExtTrimAgainstModel(t *testing.T) {
	e := newKVEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d"}
	// history[k][v] = value after version v (nil: absent)
	history := map[string][]*string{}
	for _, k := range keys {
		history[k] = []*string{nil}
	}
	oldest := uint64(0)
	for ver := uint64(1); ver <= 300; ver++ {
		writes := map[string][]byte{}
		for _, k := range keys {
			prev := history[k][ver-1]
			switch rng.IntN(4) {
			case 0:
				val := fmt.Sprintf("%s@%d", k, ver)
				writes[k] = []byte(val)
				history[k] = append(history[k], &val)
			case 1:
				writes[k] = nil
				history[k] = append(history[k], nil)
			default:
				history[k] = append(history[k], prev)
			}
		}
		if len(writes) > 0 {
			e.write(t, e.a, ver, writes)
		} else {
			e.write(t, e.a, ver, map[string][]byte{"filler": {1}})
		}
		if rng.IntN(3) == 0 {
			oldest = max(oldest, ver-uint64(rng.IntN(6)))
			e.trim(oldest)
		}
		for snap := oldest; snap <= ver; snap++ {
			var live []string
			for _, k := range keys {
				want := history[k][snap]
				v, ok := getStr(e.s, e.a, k, snap)
				if want == nil {
					require.False(t, ok, "ver %d oldest %d: %s at %d should be absent", ver, oldest, k, snap)
				} else {
					require.True(t, ok, "ver %d oldest %d: %s at %d should be %s", ver, oldest, k, snap, *want)
					require.Equal(t, *want, v)
					live = append(live, k)
				}
			}
			got := e.s.Keys(e.a, "", snap)
			got = slicesWithout(got, "filler")
			require.Equal(t, live, got, "Keys at %d", snap)
		}
	}
}

func slicesWithout(s []string, drop string) []string {
	var out []string
	for _, x := range s {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}

// The actor applies and trims while pinned readers read through the store: each must see the
// value of the newest write ≤ its snapshot, including keys removed by trim and written again.
func TestKVExtConcurrentApplyTrimRead(t *testing.T) {
	const last = 6000
	s := kv.New(1)
	sh := s.NewShard(0)
	run := extension.RunID{0xA1}
	var clock mvcc.Clock
	// Version v writes k: a delete when v%4 == 0, else the value v (8 bytes).
	expect := func(snap uint64) (uint64, bool) {
		if snap == 0 || snap%4 == 0 {
			return 0, false
		}
		return snap, true
	}
	stop := make(chan struct{})
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := clock.Pin()
				v, ok := s.Get(run, "k", snap)
				want, wok := expect(snap)
				if ok != wok || ok && binary.LittleEndian.Uint64(v) != want {
					select {
					case errs <- fmt.Sprintf("at %d: got %v %v, want %d %v", snap, v, ok, want, wok):
					default:
					}
				}
				keys := s.Keys(run, "", snap)
				if (len(keys) == 1) != wok {
					select {
					case errs <- fmt.Sprintf("Keys at %d: %v", snap, keys):
					default:
					}
				}
				clock.Unpin(snap)
			}
		}()
	}
	trimmer := sh.(extension.Trimmer)
	for ver := uint64(1); ver <= last; ver++ {
		var p []byte
		typ := kv.TypePut
		if ver%4 == 0 {
			typ, p = kv.TypeDelete, kvPayload(run, 1, "k", "")
		} else {
			p = binary.LittleEndian.AppendUint64(kvPayload(run, 1, "k", ""), ver)
		}
		if err := sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: ver, Payload: p}}); err != nil {
			t.Fatal(err)
		}
		clock.Publish(ver)
		trimmer.Trim(clock.Oldest())
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
