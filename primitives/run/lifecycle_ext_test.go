package run_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSeq stands in for the sequencer: the table of sequenced-but-unpublished writes.
type fakeSeq struct {
	staged map[extension.Key]extension.Staged
}

// fakeCommit is one system transaction's extension.Commit; its writes reach the shared table
// only when the change validates (as in actors/sequencer.go).
type fakeCommit struct {
	seq     *fakeSeq
	run     extension.RunID
	ver     uint64
	ts      int64
	pending map[extension.Key]extension.Staged
}

func (s *fakeSeq) commit(id extension.RunID, ver uint64) *fakeCommit {
	return &fakeCommit{seq: s, run: id, ver: ver, ts: 1_700_000_000_000_000 + int64(ver),
		pending: map[extension.Key]extension.Staged{}}
}

func (c *fakeCommit) Run() extension.RunID { return c.run }
func (c *fakeCommit) Snapshot() uint64     { return c.ver - 1 }
func (c *fakeCommit) Version() uint64      { return c.ver }
func (c *fakeCommit) Timestamp() int64     { return c.ts }
func (c *fakeCommit) Staged(k extension.Key) (extension.Staged, bool) {
	if st, ok := c.pending[k]; ok {
		return st, true
	}
	st, ok := c.seq.staged[k]
	return st, ok
}
func (c *fakeCommit) Stage(k extension.Key, s extension.Staged) { c.pending[k] = s }

var _ extension.Commit = (*fakeCommit)(nil)

type runEnv struct {
	s      *run.Store
	shards []extension.Shard
	seq    *fakeSeq
	a, b   extension.RunID // on different shards
}

func newRunEnv(t *testing.T) *runEnv {
	t.Helper()
	e := &runEnv{s: run.New(2), seq: &fakeSeq{staged: map[extension.Key]extension.Staged{}}}
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

// sequence validates ch at ver and, if it passes, stages it; it returns the stamped entries.
func (e *runEnv) sequence(ch *run.Change, id extension.RunID, ver uint64) ([]commitlog.Entry, error) {
	c := e.seq.commit(id, ver)
	if err := ch.Validate(c); err != nil {
		return nil, err
	}
	for k, st := range c.pending {
		e.seq.staged[k] = st
	}
	es := ch.Entries(nil, c)
	for i := range es {
		es[i].TxID = ver
	}
	return es, nil
}

// do sequences and applies ch at ver, then forgets the staged write (published).
func (e *runEnv) do(t *testing.T, ch *run.Change, id extension.RunID, ver uint64) error {
	t.Helper()
	es, err := e.sequence(ch, id, ver)
	if err != nil {
		return err
	}
	require.NoError(t, e.shards[id.Shard(2)].Apply(es))
	clear(e.seq.staged)
	return nil
}

func (e *runEnv) begin(t *testing.T, id extension.RunID, info run.Info) *run.Change {
	t.Helper()
	ch, err := e.s.Begin(id, info)
	require.NoError(t, err)
	return ch
}

func (e *runEnv) end(t *testing.T, id extension.RunID, failed bool, reason string) *run.Change {
	t.Helper()
	ch, err := e.s.End(id, failed, reason)
	require.NoError(t, err)
	return ch
}

func TestRunExtLifecycleValidation(t *testing.T) {
	e := newRunEnv(t)
	for _, id := range []extension.RunID{e.a, e.b} {
		assert.ErrorIs(t, e.do(t, e.end(t, id, false, ""), id, 1), dberr.ErrRunNotFound, "end of unknown")
		assert.ErrorIs(t, e.do(t, e.end(t, id, true, "x"), id, 1), dberr.ErrRunNotFound, "abort of unknown")

		require.NoError(t, e.do(t, e.begin(t, id, run.Info{Name: "n"}), id, 1))
		err := e.do(t, e.begin(t, id, run.Info{Name: "again"}), id, 2)
		assert.ErrorIs(t, err, dberr.ErrRunExists, "begin of an existing run")
		assert.NotErrorIs(t, err, dberr.ErrRunNotActive)

		require.NoError(t, e.do(t, e.end(t, id, false, ""), id, 2))
		assert.ErrorIs(t, e.do(t, e.end(t, id, false, ""), id, 3), dberr.ErrRunNotActive, "end of completed")
		assert.ErrorIs(t, e.do(t, e.end(t, id, true, "late"), id, 3), dberr.ErrRunNotActive, "abort of completed")
		assert.ErrorIs(t, e.do(t, e.begin(t, id, run.Info{}), id, 3), dberr.ErrRunExists, "begin of completed")
		assert.Equal(t, run.Completed, e.s.Status(id, 3), "failed validations changed nothing")
	}

	// Abort, then everything but a read is refused.
	id := extension.RunID{0xC0}
	require.NoError(t, e.do(t, e.begin(t, id, run.Info{}), id, 4))
	require.NoError(t, e.do(t, e.end(t, id, true, "boom"), id, 5))
	assert.ErrorIs(t, e.do(t, e.end(t, id, false, ""), id, 6), dberr.ErrRunNotActive, "end of failed")
	assert.Equal(t, run.Failed, e.s.Status(id, 6))
}

func TestRunExtStagedStatus(t *testing.T) {
	e := newRunEnv(t)
	// A begin sequenced but not applied: a second begin fails, an end validates against it.
	_, err := e.sequence(e.begin(t, e.a, run.Info{}), e.a, 1)
	require.NoError(t, err)
	assert.Equal(t, run.NotFound, e.s.Status(e.a, 1), "not applied")
	_, err = e.sequence(e.begin(t, e.a, run.Info{}), e.a, 2)
	assert.ErrorIs(t, err, dberr.ErrRunExists)
	assert.NoError(t, e.s.CheckRun(e.seq.commit(e.a, 2)), "a staged begin makes the run writable")

	_, err = e.sequence(e.end(t, e.a, false, ""), e.a, 2)
	require.NoError(t, err, "end validates against the staged Active status")
	_, err = e.sequence(e.end(t, e.a, true, "again"), e.a, 3)
	assert.ErrorIs(t, err, dberr.ErrRunNotActive, "the staged end counts")
	assert.ErrorIs(t, e.s.CheckRun(e.seq.commit(e.a, 3)), dberr.ErrRunNotActive)

	// Another run is not affected by a's staged changes.
	_, err = e.sequence(e.end(t, e.b, false, ""), e.b, 3)
	assert.ErrorIs(t, err, dberr.ErrRunNotFound)

	// The staged Completed is what a validation sees even though the store says Active.
	e2 := newRunEnv(t)
	require.NoError(t, e2.do(t, e2.begin(t, e2.a, run.Info{}), e2.a, 1))
	_, err = e2.sequence(e2.end(t, e2.a, false, ""), e2.a, 2)
	require.NoError(t, err)
	assert.Equal(t, run.Active, e2.s.Status(e2.a, 1))
	assert.ErrorIs(t, e2.s.CheckRun(e2.seq.commit(e2.a, 3)), dberr.ErrRunNotActive)
}

func TestRunExtCheckRun(t *testing.T) {
	e := newRunEnv(t)
	assert.NoError(t, e.s.CheckRun(e.seq.commit(extension.GlobalRun, 1)), "GlobalRun is always active")
	err := e.s.CheckRun(e.seq.commit(e.a, 1))
	assert.ErrorIs(t, err, dberr.ErrRunNotFound)
	assert.Contains(t, err.Error(), e.a.String(), "the error names the run")

	require.NoError(t, e.do(t, e.begin(t, e.a, run.Info{}), e.a, 1))
	require.NoError(t, e.do(t, e.begin(t, e.b, run.Info{}), e.b, 2))
	assert.NoError(t, e.s.CheckRun(e.seq.commit(e.a, 3)))
	assert.NoError(t, e.s.CheckRun(e.seq.commit(e.b, 3)))

	require.NoError(t, e.do(t, e.end(t, e.a, false, ""), e.a, 3))
	require.NoError(t, e.do(t, e.end(t, e.b, true, "r"), e.b, 4))
	for _, id := range []extension.RunID{e.a, e.b} {
		err := e.s.CheckRun(e.seq.commit(id, 5))
		assert.ErrorIs(t, err, dberr.ErrRunNotActive)
		assert.NotErrorIs(t, err, dberr.ErrRunNotFound)
	}
	assert.NoError(t, e.s.CheckRun(e.seq.commit(extension.GlobalRun, 5)))
}

func TestRunExtBadChanges(t *testing.T) {
	s := run.New(1)
	s.NewShard(0)
	_, err := s.Begin(extension.GlobalRun, run.Info{})
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	_, err = s.End(extension.GlobalRun, false, "")
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	_, err = s.End(extension.GlobalRun, true, "x")
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	for _, bad := range []string{"{", "nope", `{"a":}`, "\x00"} {
		_, err = s.Begin(extension.RunID{1}, run.Info{Metadata: json.RawMessage(bad)})
		assert.ErrorIs(t, err, dberr.ErrInvalidArgument, "metadata %q", bad)
	}
	for _, good := range []string{"", "null", `{"k":[1,2]}`, `"s"`, "42"} {
		_, err = s.Begin(extension.RunID{1}, run.Info{Metadata: json.RawMessage(good)})
		assert.NoError(t, err, "metadata %q", good)
	}
}

func TestRunExtEntriesApply(t *testing.T) {
	e := newRunEnv(t)
	parent := extension.RunID{0xC0} // a run the sequencer has staged, as if begun before
	e.seq.staged[extension.Key{Section: run.SectionID, Run: parent}] = extension.Staged{Aux: uint64(run.Active)}
	info := run.Info{
		Name: "plan", Agent: "planner", Tags: []string{"x", "y"}, Parent: parent,
		Metadata: json.RawMessage(`{"model":"m","n":[1,2]}`),
	}
	c := e.seq.commit(e.a, 1)
	begin := e.begin(t, e.a, info)
	require.NoError(t, begin.Validate(c))
	assert.False(t, begin.Empty())
	es := begin.Entries(nil, c)
	require.Len(t, es, 1, "a lifecycle change is one entry")
	assert.Equal(t, run.TypeBegin, es[0].Type)
	assert.EqualValues(t, 1, es[0].Version)
	assert.Zero(t, es[0].TxID)
	require.GreaterOrEqual(t, len(es[0].Payload), commitlog.RunIDSize+8)
	assert.Equal(t, e.a[:], es[0].Payload[:commitlog.RunIDSize], "payload starts with the run id")
	assert.EqualValues(t, c.ts, binary.LittleEndian.Uint64(es[0].Payload[commitlog.RunIDSize:]))
	es[0].TxID = 1
	require.NoError(t, e.shards[e.a.Shard(2)].Apply(es))

	_, ok := e.s.Get(e.a, 0)
	assert.False(t, ok, "invisible below its version")
	assert.Equal(t, run.NotFound, e.s.Status(e.a, 0))
	r1, ok := e.s.Get(e.a, 1)
	require.True(t, ok)
	assert.Equal(t, e.a, r1.ID)
	assert.Equal(t, run.Active, r1.Status)
	assert.Equal(t, c.ts, r1.StartedAt)
	assert.Zero(t, r1.EndedAt)
	assert.Empty(t, r1.Reason)
	assert.Equal(t, "plan", r1.Info.Name)
	assert.Equal(t, "planner", r1.Info.Agent)
	assert.Equal(t, []string{"x", "y"}, r1.Info.Tags)
	assert.Equal(t, parent, r1.Info.Parent)
	assert.JSONEq(t, `{"model":"m","n":[1,2]}`, string(r1.Info.Metadata))
	_, ok = e.s.Get(e.b, 1)
	assert.False(t, ok, "the other run is untouched")

	require.NoError(t, e.do(t, e.end(t, e.a, true, "tool crashed: ü"), e.a, 2))
	r2, ok := e.s.Get(e.a, 2)
	require.True(t, ok)
	assert.Equal(t, run.Failed, r2.Status)
	assert.Equal(t, "tool crashed: ü", r2.Reason)
	assert.Equal(t, c.ts, r2.StartedAt, "start time kept")
	assert.Equal(t, e.seq.commit(e.a, 2).ts, r2.EndedAt)
	assert.Equal(t, r1.Info.Name, r2.Info.Name, "info kept")
	assert.JSONEq(t, string(r1.Info.Metadata), string(r2.Info.Metadata))

	// History: the record at 1 is unchanged (records are immutable).
	again, _ := e.s.Get(e.a, 1)
	assert.Equal(t, run.Active, again.Status)
	assert.Zero(t, again.EndedAt)
	assert.Equal(t, run.Active, r1.Status)

	// The other shard: begin and complete with no reason.
	require.NoError(t, e.do(t, e.begin(t, e.b, run.Info{}), e.b, 3))
	require.NoError(t, e.do(t, e.end(t, e.b, false, ""), e.b, 4))
	rb, ok := e.s.Get(e.b, 4)
	require.True(t, ok)
	assert.Equal(t, run.Completed, rb.Status)
	assert.Empty(t, rb.Reason)
	assert.Equal(t, e.seq.commit(e.b, 3).ts, rb.StartedAt)
	assert.Equal(t, e.seq.commit(e.b, 4).ts, rb.EndedAt)
	assert.Equal(t, run.Active, e.s.Status(e.b, 3))
	assert.Equal(t, run.Failed, e.s.Status(e.a, 100))
}

func TestRunExtStatusString(t *testing.T) {
	for s, want := range map[run.Status]string{
		run.NotFound: "not_found", run.Active: "active", run.Completed: "completed",
		run.Failed: "failed", run.Orphaned: "orphaned", run.Status(42): "status(42)",
	} {
		assert.Equal(t, want, s.String())
	}
}

// payload builds run id ‖ i64 time ‖ rest.
func runPayload(id extension.RunID, ts int64, rest ...byte) []byte {
	p := append([]byte(nil), id[:]...)
	p = binary.LittleEndian.AppendUint64(p, uint64(ts))
	return append(p, rest...)
}

func TestRunExtApplyMalformed(t *testing.T) {
	id := extension.RunID{0xA1}
	begin := runPayload(id, 5, []byte(`{"name":"n"}`)...)
	end := runPayload(id, 6, byte(run.Completed))
	cases := map[string]commitlog.Entry{
		"nil payload":            {Type: run.TypeBegin, Version: 1},
		"short run id":           {Type: run.TypeBegin, Version: 1, Payload: id[:10]},
		"no timestamp":           {Type: run.TypeBegin, Version: 1, Payload: id[:]},
		"short timestamp":        {Type: run.TypeBegin, Version: 1, Payload: begin[:commitlog.RunIDSize+7]},
		"begin without info":     {Type: run.TypeBegin, Version: 1, Payload: begin[:commitlog.RunIDSize+8]},
		"begin with bad json":    {Type: run.TypeBegin, Version: 1, Payload: runPayload(id, 5, '{')},
		"begin with wrong shape": {Type: run.TypeBegin, Version: 1, Payload: runPayload(id, 5, []byte(`{"tags":"x"}`)...)},
		"end of unknown run":     {Type: run.TypeEnd, Version: 1, Payload: end},
		"version 0":              {Type: run.TypeBegin, Version: 0, Payload: begin},
		"version 2":              {Type: run.TypeBegin, Version: 2, Payload: begin},
		"unknown type 0x6F":      {Type: 0x6F, Version: 1, Payload: begin},
		"core type":              {Type: 0x00, Version: 1, Payload: begin},
	}
	for name, en := range cases {
		e := newRunEnv(t)
		en.TxID = 1
		var err error
		require.NotPanics(t, func() { err = e.shards[id.Shard(2)].Apply([]commitlog.Entry{en}) }, name)
		assert.ErrorIs(t, err, run.ErrMalformed, name)
		// A rejected entry leaves no trace: the run is still unknown, and validation works.
		assert.Equal(t, run.NotFound, e.s.Status(id, 1), name)
		require.NotPanics(t, func() { err = e.s.CheckRun(e.seq.commit(id, 2)) }, name)
		assert.ErrorIs(t, err, dberr.ErrRunNotFound, name)
		require.NotPanics(t, func() { err = e.do(t, e.begin(t, id, run.Info{}), id, 2) }, name)
		assert.NoError(t, err, "%s: the run can still be begun", name)
	}

	// Entries that need an existing run.
	e := newRunEnv(t)
	sh := e.shards[id.Shard(2)]
	require.NoError(t, sh.Apply([]commitlog.Entry{{Type: run.TypeBegin, Version: 1, TxID: 1, Payload: begin}}))
	for name, en := range map[string]commitlog.Entry{
		"end without status":    {Type: run.TypeEnd, Version: 1, Payload: runPayload(id, 6)},
		"end to not_found":      {Type: run.TypeEnd, Version: 1, Payload: runPayload(id, 6, byte(run.NotFound))},
		"end to status 200":     {Type: run.TypeEnd, Version: 1, Payload: runPayload(id, 6, 200)},
		"end with version 2":    {Type: run.TypeEnd, Version: 2, Payload: end},
		"unknown type 0x6E":     {Type: 0x6E, Version: 1, Payload: end},
		"end payload too short": {Type: run.TypeEnd, Version: 1, Payload: end[:commitlog.RunIDSize+3]},
	} {
		en.TxID = 2
		var err error
		require.NotPanics(t, func() { err = sh.Apply([]commitlog.Entry{en}) }, name)
		assert.ErrorIs(t, err, run.ErrMalformed, name)
		r, ok := e.s.Get(id, 2)
		require.True(t, ok)
		assert.Equal(t, run.Active, r.Status, "%s: the record is unchanged", name)
	}
	require.NoError(t, sh.Apply([]commitlog.Entry{{Type: run.TypeEnd, Version: 1, TxID: 2, Payload: end}}))
	assert.Equal(t, run.Completed, e.s.Status(id, 2))
}

// FuzzRunApply: random lifecycle payloads never panic, and an error is always ErrMalformed.
func FuzzRunApply(f *testing.F) {
	id := extension.RunID{0xA1}
	f.Add(run.TypeBegin, runPayload(id, 5, []byte(`{"name":"n"}`)...), runPayload(id, 6, byte(run.Failed), 'r'))
	f.Add(run.TypeEnd, runPayload(id, 6, byte(run.Completed)), []byte{})
	f.Add(uint8(0x61), runPayload(id, 6, byte(run.Orphaned)), runPayload(id, 6, byte(run.Active)))
	f.Fuzz(func(t *testing.T, typ uint8, first, second []byte) {
		s := run.New(1)
		sh := s.NewShard(0)
		for i, p := range [][]byte{first, second} {
			err := sh.Apply([]commitlog.Entry{{Type: typ + uint8(i), Version: 1, TxID: uint64(i + 1), Payload: bytes.Clone(p)}})
			if err != nil && !errors.Is(err, run.ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
		}
		if len(first) >= commitlog.RunIDSize {
			var rid extension.RunID
			copy(rid[:], first)
			_ = s.Status(rid, 2)
			_ = s.CheckRun(&fakeCommit{run: rid, ver: 3, seq: &fakeSeq{}, pending: map[extension.Key]extension.Staged{}})
		}
	})
}
