package run

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the logged history: a store with a Source journals each step as where its
// transaction is in the log, and reads it back from there.

// lgLog is a write-ahead log in memory: entries encoded back to back as the log writes them,
// each transaction followed by its commit marker. It is the store's Source: Fetch decodes the
// range asked for, records the call, and can be told to fail or to hand back other entries.
type lgLog struct {
	mu    sync.Mutex
	buf   []byte
	calls [][2]uint64 // every Fetch: LSN, length
	fail  error       // Fetch returns it, if set
	// swap rewrites what a fetch at an LSN decoded, to play a log that holds something else there.
	swap map[uint64]func([]commitlog.Entry) []commitlog.Entry
}

// write logs a transaction, setting each entry's LSN as the log stage does, then its commit
// marker. It returns where the transaction's entries are: from the first to the end of the
// last, the marker excluded.
func (l *lgLog) write(t testing.TB, tx []commitlog.Entry) (at uint64, n uint32) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	at = uint64(len(l.buf))
	for i := range tx {
		tx[i].LSN = uint64(len(l.buf))
		b, err := commitlog.AppendEntry(l.buf, tx[i])
		require.NoError(t, err)
		l.buf = b
	}
	end := uint64(len(l.buf))
	b, err := commitlog.AppendEntry(l.buf, commitlog.CommitMarker(tx[0].TxID))
	require.NoError(t, err)
	l.buf = b
	return at, uint32(end - at)
}

func (l *lgLog) Fetch(lsn uint64, n int) ([]commitlog.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, [2]uint64{lsn, uint64(n)})
	if l.fail != nil {
		return nil, l.fail
	}
	if n <= 0 || lsn > uint64(len(l.buf)) || uint64(n) > uint64(len(l.buf))-lsn {
		return nil, fmt.Errorf("%w: fake log: range [%d, +%d) outside its %d bytes", dberr.ErrCorruption, lsn, n, len(l.buf))
	}
	b := l.buf[lsn : lsn+uint64(n)]
	var out []commitlog.Entry
	for len(b) > 0 {
		e, k, err := commitlog.DecodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("%w: fake log at %d: %w", dberr.ErrCorruption, lsn, err)
		}
		out = append(out, e)
		b = b[k:]
	}
	if f := l.swap[lsn]; f != nil {
		out = f(out)
	}
	return out, nil
}

func (l *lgLog) takeCalls() [][2]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// lgEnv is a run store whose shards are driven as the sequencer, the log stage and the actors
// would: each transaction is logged (when the store has a log) and then applied.
type lgEnv struct {
	log    *lgLog // nil: an InMemory store
	s      *Store
	shards []*shard
	staged map[extension.Key]extension.Staged
}

func newLgEnv(n int, log *lgLog) *lgEnv {
	e := &lgEnv{log: log, s: New(n), staged: map[extension.Key]extension.Staged{}}
	if log != nil {
		e.s.SetSource(log)
	}
	for i := range n {
		e.shards = append(e.shards, e.s.NewShard(i).(*shard))
	}
	return e
}

func (e *lgEnv) shardOf(id extension.RunID) *shard { return e.shards[id.Shard(len(e.shards))] }

// lgTS is the commit time of version v.
func lgTS(v uint64) int64 { return int64(v)*1000 + 7 }

func (e *lgEnv) at(id extension.RunID, v uint64) *commit {
	return &commit{RunID: id, Ver: v, TS: lgTS(v), StagedAt: e.staged}
}

// apply logs and applies one batch of whole transactions of run id's shard; it returns where
// each transaction is in the log (zeros without a log).
func (e *lgEnv) apply(t testing.TB, id extension.RunID, txs ...[]commitlog.Entry) (where [][2]uint64) {
	t.Helper()
	var batch []commitlog.Entry
	for _, tx := range txs {
		var at uint64
		var n uint32
		if e.log != nil {
			at, n = e.log.write(t, tx)
		}
		where = append(where, [2]uint64{at, uint64(n)})
		batch = append(batch, tx...)
	}
	require.NoError(t, e.shardOf(id).Apply(batch))
	return where
}

// lgPart is a system transaction's part: a lifecycle change or a compaction.
type lgPart interface {
	Validate(extension.Commit) error
	Entries([]commitlog.Entry, extension.Commit) []commitlog.Entry
}

// do commits p at v, with the transaction's other parts' entries after its own (a begin's
// initial state). It returns the transaction, with its LSNs.
func (e *lgEnv) do(t testing.TB, id extension.RunID, v uint64, p lgPart, rest ...commitlog.Entry) []commitlog.Entry {
	t.Helper()
	c := e.at(id, v)
	require.NoError(t, p.Validate(c))
	tx := append(p.Entries(nil, c), rest...)
	for i := range tx {
		tx[i].TxID = v
	}
	e.apply(t, id, tx)
	clear(e.staged) // applied: the sequencer forgets what it staged
	return tx
}

func (e *lgEnv) begin(t testing.TB, id extension.RunID, v uint64) {
	t.Helper()
	ch, err := e.s.Begin(id, Info{Name: fmt.Sprint("run ", id[1])})
	require.NoError(t, err)
	e.do(t, id, v, ch)
}

// lgOp is an operation of another primitive in a transaction of run id: its payload starts
// with the run id.
func lgOp(id extension.RunID, typ, version uint8, body string) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: version, Payload: append(id[:len(id):len(id)], body...)}
}

// lgTx is run id's journaled transaction at v: the step entry the sequencer adds, then ops.
func (e *lgEnv) lgTx(id extension.RunID, v uint64, ops ...commitlog.Entry) []commitlog.Entry {
	tx := e.s.JournalEntries(nil, e.at(id, v))
	tx = append(tx, ops...)
	for i := range tx {
		tx[i].TxID = v
	}
	return tx
}

// replayed is what a replay of the ops of a transaction at v yields: the ops, stamped with v,
// as the log holds them (no LSN, nothing decoded).
func replayed(v uint64, ops ...commitlog.Entry) []commitlog.Entry {
	var out []commitlog.Entry // nil for none, as StepEntries returns
	for _, o := range ops {
		out = append(out, commitlog.Entry{Type: o.Type, Version: o.Version, TxID: v, Payload: o.Payload})
	}
	return out
}

// lgWant is a step as the test committed it: the Step the journal should index, and the
// entries it should replay.
type lgWant struct {
	step Step
	ops  []commitlog.Entry
}

// lgReplay collects what Entries yields: the entries, and the error that ended it (nil if
// none did). It fails the test if anything is yielded after an error.
func lgReplay(t testing.TB, j Journal) ([]commitlog.Entry, error) {
	t.Helper()
	var out []commitlog.Entry
	var failed error
	for e, err := range j.Entries() {
		require.NoError(t, failed, "yielded after the error")
		if err != nil {
			failed = err
			continue
		}
		out = append(out, e)
	}
	return out, failed
}

func lgJournal(t testing.TB, s *Store, id extension.RunID, at uint64) Journal {
	t.Helper()
	j, ok := s.Journal(id, at)
	require.True(t, ok, "run %s at %d", id, at)
	return j
}

func lgIDs() (a, b, c extension.RunID) {
	return extension.RunID{0x71, 1, 0x42}, extension.RunID{0x71, 2, 0x42}, extension.RunID{0x71, 3, 0x42}
}

// lgHistory commits the same history into e, logged or not, and returns what each run's
// journal should hold: a and b begun plainly, c with an initial state (its step 0); steps of
// several operations, none (a6), a batch of two (a7, a8), interleaved between the runs.
func lgHistory(t testing.TB, e *lgEnv) (base map[extension.RunID]lgWant, steps map[extension.RunID][]lgWant) {
	t.Helper()
	a, b, c := lgIDs()
	base = map[extension.RunID]lgWant{}
	steps = map[extension.RunID][]lgWant{}
	e.begin(t, a, 1)
	e.begin(t, b, 2)
	ch, err := e.s.BeginWith(c, Info{Name: "forked"})
	require.NoError(t, err)
	state := []commitlog.Entry{lgOp(c, 0x10, 1, "state 1"), lgOp(c, 0x30, 2, "state 2")}
	tx := e.do(t, c, 3, ch, state...)
	require.Equal(t, TypeBase, tx[1].Type)
	var baseAt, baseLen uint64
	if e.log != nil { // the base spans its RunBase entry and the state, not the begin
		baseAt, baseLen = tx[1].LSN, uint64(len(e.log.buf))-commitlog.MarkerSize-tx[1].LSN
	}
	base[a] = lgWant{step: Step{Version: 1, Timestamp: lgTS(1)}}
	base[b] = lgWant{step: Step{Version: 2, Timestamp: lgTS(2)}}
	base[c] = lgWant{step: Step{Version: 3, Timestamp: lgTS(3), At: baseAt, Len: uint32(baseLen), End: 2}, ops: replayed(3, state...)}

	end := map[extension.RunID]uint32{c: 2}
	add := func(id extension.RunID, v uint64, where [2]uint64, ops []commitlog.Entry) {
		end[id] += uint32(len(ops))
		s := Step{Version: v, Timestamp: lgTS(v), End: end[id]}
		if e.log != nil {
			s.At, s.Len = where[0], uint32(where[1])
		} else { // in memory, At indexes the journal's entries
			s.At = uint64(end[id]) - uint64(len(ops))
		}
		steps[id] = append(steps[id], lgWant{step: s, ops: replayed(v, ops...)})
	}
	commitStep := func(id extension.RunID, v uint64, ops ...commitlog.Entry) {
		add(id, v, e.apply(t, id, e.lgTx(id, v, ops...))[0], ops)
	}
	commitStep(a, 4, lgOp(a, 0x10, 1, "x"), lgOp(a, 0x21, 2, "y"))
	commitStep(b, 5, lgOp(b, 0x10, 1, "p"))
	commitStep(a, 6) // a transaction of no operations
	a7, a8 := []commitlog.Entry{lgOp(a, 0x10, 1, "z")}, []commitlog.Entry{lgOp(a, 0x40, 1, "w1"), lgOp(a, 0x10, 1, "w2")}
	where := e.apply(t, a, e.lgTx(a, 7, a7...), e.lgTx(a, 8, a8...)) // one batch
	add(a, 7, where[0], a7)
	add(a, 8, where[1], a8)
	commitStep(b, 9, lgOp(b, 0x10, 1, "q"), lgOp(b, 0x20, 1, "r"), lgOp(b, 0x30, 1, ""))
	commitStep(c, 10, lgOp(c, 0x10, 1, "t"))
	return base, steps
}

func allOps(base lgWant, steps []lgWant) []commitlog.Entry {
	out := append([]commitlog.Entry(nil), base.ops...)
	for _, s := range steps {
		out = append(out, s.ops...)
	}
	return out
}

// Logged steps are indexed where they are in the log and replay exactly the transactions'
// operations, each stamped with its step's version; the journal keeps no payload.
func TestLoggedStepsReplay(t *testing.T) {
	log := &lgLog{}
	e := newLgEnv(1, log)
	base, steps := lgHistory(t, e)
	a, b, c := lgIDs()
	for _, id := range []extension.RunID{a, b, c} {
		j := lgJournal(t, e.s, id, mvcc.Latest)
		require.Equal(t, 0, j.First(), "run %s", id)
		require.Equal(t, len(steps[id]), j.Last(), "run %s", id)
		s, ops := j.Step(0)
		assert.Equal(t, base[id].step, s, "base of %s", id)
		assert.Equal(t, len(base[id].ops), ops, "base of %s", id)
		var want []Step
		for n, w := range steps[id] {
			want = append(want, w.step)
			s, ops := j.Step(n + 1)
			assert.Equal(t, w.step, s, "run %s step %d", id, n+1)
			assert.True(t, s.logged(), "run %s step %d", id, n+1)
			assert.Equal(t, len(w.ops), ops, "run %s step %d", id, n+1)
			got, err := j.StepEntries(n + 1)
			require.NoError(t, err)
			assert.Equal(t, w.ops, got, "run %s step %d", id, n+1)
		}
		assert.Equal(t, want, j.Steps(), "run %s", id)
		got, err := j.StepEntries(0)
		require.NoError(t, err)
		assert.Equal(t, base[id].ops, got, "base of %s", id)
		all, err := lgReplay(t, j)
		require.NoError(t, err)
		assert.Equal(t, allOps(base[id], steps[id]), all, "run %s", id)
		assert.Equal(t, len(all), j.Ops(), "run %s", id)
	}
	assert.True(t, base[c].step.logged(), "the initial state is logged with the begin")
	assert.Zero(t, e.s.HistoryBytes(), "logged steps keep no payload in memory")

	// A reader at 6 sees a's steps 4 and 6 alone, and reads them from the log.
	j := lgJournal(t, e.s, a, 6)
	assert.Equal(t, []Step{steps[a][0].step, steps[a][1].step}, j.Steps())
	all, err := lgReplay(t, j)
	require.NoError(t, err)
	assert.Equal(t, steps[a][0].ops, all)
	n, ops, _ := e.s.Counts(a, 6)
	assert.Equal(t, []int{2, 2}, []int{n, ops})

	// The same history without a log replays the same, from memory.
	mem := newLgEnv(1, nil)
	memBase, memSteps := lgHistory(t, mem)
	for _, id := range []extension.RunID{a, b, c} {
		all, err := lgReplay(t, lgJournal(t, mem.s, id, mvcc.Latest))
		require.NoError(t, err)
		assert.Equal(t, allOps(memBase[id], memSteps[id]), all)
		assert.Equal(t, allOps(base[id], steps[id]), all)
	}
	assert.Positive(t, mem.s.HistoryBytes(), "in memory, the history is kept")
}

// Reading a logged step back asks the Source for exactly its bytes, [At, At+Len), one fetch
// a step, only for the steps read; a base that is not logged is not fetched.
func TestLoggedFetchRanges(t *testing.T) {
	log := &lgLog{}
	e := newLgEnv(1, log)
	base, steps := lgHistory(t, e)
	a, _, c := lgIDs()
	require.Empty(t, log.takeCalls(), "committing reads nothing back")
	ranges := func(ws ...lgWant) [][2]uint64 {
		var out [][2]uint64
		for _, w := range ws {
			out = append(out, [2]uint64{w.step.At, uint64(w.step.Len)})
		}
		return out
	}

	_, err := lgReplay(t, lgJournal(t, e.s, a, mvcc.Latest))
	require.NoError(t, err)
	assert.Equal(t, ranges(steps[a]...), log.takeCalls(), "run a")
	_, err = lgReplay(t, lgJournal(t, e.s, c, mvcc.Latest))
	require.NoError(t, err)
	assert.Equal(t, ranges(append([]lgWant{base[c]}, steps[c]...)...), log.takeCalls(), "run c: its base, then its step")

	_, err = lgJournal(t, e.s, a, mvcc.Latest).StepEntries(4)
	require.NoError(t, err)
	assert.Equal(t, ranges(steps[a][3]), log.takeCalls())

	for range lgJournal(t, e.s, a, mvcc.Latest).Entries() {
		break // a reader that stops at the first entry reads one step
	}
	assert.Equal(t, ranges(steps[a][0]), log.takeCalls())
}

// What the log gives back where a step is must be exactly that step, or the step is damaged:
// ErrCorruption, nothing of the step yielded, and a replay stops there. An error of the log
// itself reaches the reader as the log reported it.
func TestLoggedStepDamaged(t *testing.T) {
	_, b, _ := lgIDs()
	cases := map[string]func([]commitlog.Entry) []commitlog.Entry{
		"an entry of another run": func(es []commitlog.Entry) []commitlog.Entry {
			es[1].Payload = append(b[:len(b):len(b)], es[1].Payload[commitlog.RunIDSize:]...)
			return es
		},
		"an entry of another version": func(es []commitlog.Entry) []commitlog.Entry {
			es[2].TxID--
			return es
		},
		"the step entry of another version": func(es []commitlog.Entry) []commitlog.Entry {
			es[0].TxID++
			return es
		},
		"one entry fewer": func(es []commitlog.Entry) []commitlog.Entry { return es[:len(es)-1] },
		"one entry more":  func(es []commitlog.Entry) []commitlog.Entry { return append(es, es[len(es)-1]) },
		"another step":    func(es []commitlog.Entry) []commitlog.Entry { return nil },
		"a commit marker": func(es []commitlog.Entry) []commitlog.Entry { return append(es[:2], commitlog.CommitMarker(8)) },
		"nothing but ops": func(es []commitlog.Entry) []commitlog.Entry { return es[1:2] },
		"a run lifecycle": func(es []commitlog.Entry) []commitlog.Entry {
			es[1].Type = TypeEnd
			return es
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			log := &lgLog{}
			e := newLgEnv(1, log)
			_, steps := lgHistory(t, e)
			a, b, _ := lgIDs()
			bad := steps[a][3] // step 4 of a, at version 8: a step entry and two ops
			log.swap = map[uint64]func([]commitlog.Entry) []commitlog.Entry{bad.step.At: damage}
			j := lgJournal(t, e.s, a, mvcc.Latest)

			got, err := j.StepEntries(4)
			require.ErrorIs(t, err, dberr.ErrCorruption)
			assert.Empty(t, got, "nothing of a damaged step")
			assert.Contains(t, err.Error(), fmt.Sprint("version ", bad.step.Version))

			all, err := lgReplay(t, j)
			require.ErrorIs(t, err, dberr.ErrCorruption)
			assert.Equal(t, allOps(lgWant{}, steps[a][:3]), all, "the steps before, then the error")

			got, err = j.StepEntries(1)
			require.NoError(t, err, "the other steps read")
			assert.Equal(t, steps[a][0].ops, got)
			all, err = lgReplay(t, lgJournal(t, e.s, b, mvcc.Latest))
			require.NoError(t, err, "the other runs read")
			assert.Equal(t, allOps(lgWant{}, steps[b]), all)
		})
	}
}

func TestLoggedSourceErrors(t *testing.T) {
	log := &lgLog{}
	e := newLgEnv(1, log)
	_, steps := lgHistory(t, e)
	a, _, _ := lgIDs()
	j := lgJournal(t, e.s, a, mvcc.Latest)

	io := errors.New("read /wal/0000.seg: input/output error")
	log.fail = io
	got, err := j.StepEntries(2)
	require.ErrorIs(t, err, io, "the log's own error")
	assert.NotErrorIs(t, err, dberr.ErrCorruption, "an I/O failure is not corruption")
	assert.Empty(t, got)
	all, err := lgReplay(t, j)
	require.ErrorIs(t, err, io)
	assert.NotErrorIs(t, err, dberr.ErrCorruption)
	assert.Empty(t, all)

	gone := fmt.Errorf("%w: segment 0 released", dberr.ErrCorruption)
	log.fail = gone
	_, err = j.StepEntries(1)
	require.ErrorIs(t, err, gone, "the log says it is corruption: it stays so")
	assert.ErrorIs(t, err, dberr.ErrCorruption)

	log.fail = nil
	all, err = lgReplay(t, j)
	require.NoError(t, err, "the next read succeeds")
	assert.Equal(t, allOps(lgWant{}, steps[a]), all)
}

// lgSection writes the section of e's shards frozen at v and checks that each chunk is in
// the current format.
func lgSection(t testing.TB, e *lgEnv, v uint64) []byte {
	t.Helper()
	sec, err := extensiontest.Section(extensiontest.Freeze(e.shards, v)...)
	require.NoError(t, err)
	chunks, err := extensiontest.Chunks(sec)
	require.NoError(t, err)
	for _, c := range chunks {
		require.EqualValues(t, sectionFormat, c.Body[0], "chunk of %s", c.Run)
	}
	return sec
}

// lgSameJournal checks that got is want: every step as indexed, and what it replays.
func lgSameJournal(t testing.TB, want, got Journal, what string) {
	t.Helper()
	require.Equal(t, want.First(), got.First(), what)
	require.Equal(t, want.Last(), got.Last(), what)
	for n := want.First(); n <= want.Last(); n++ {
		ws, wops := want.Step(n)
		gs, gops := got.Step(n)
		assert.Equal(t, ws, gs, "%s: step %d", what, n)
		assert.Equal(t, wops, gops, "%s: step %d", what, n)
	}
	wantAll, err := lgReplay(t, want)
	require.NoError(t, err, what)
	gotAll, err := lgReplay(t, got)
	require.NoError(t, err, what)
	assert.Equal(t, wantAll, gotAll, what)
}

// A snapshot of a logged store writes each logged step as where it is (format 4); loaded into
// a store over the same log, the journals are the same and read back from the log.
func TestLoggedSectionRoundTrip(t *testing.T) {
	log := &lgLog{}
	e := newLgEnv(2, log)
	_, steps := lgHistory(t, e)
	a, b, c := lgIDs()
	ids := []extension.RunID{a, b, c}

	for _, v := range []uint64{6, 10} {
		fresh := newLgEnv(3, log)
		require.NoError(t, extensiontest.LoadSection(lgSection(t, e, v), fresh.shards))
		for _, id := range ids {
			lgSameJournal(t, lgJournal(t, e.s, id, v), lgJournal(t, fresh.s, id, mvcc.Latest), fmt.Sprintf("run %s frozen at %d", id, v))
		}
		assert.Zero(t, fresh.s.HistoryBytes(), "loaded logged steps keep no payload")
		var want []commitlog.Range
		for _, id := range ids {
			want = append(want, lgJournalRanges(lgJournal(t, e.s, id, v))...)
		}
		assert.Equal(t, lgSorted(want), lgRetained(t, fresh, math.MaxUint64), "frozen at %d: the loaded steps are retained", v)
	}

	// The loaded journal goes on, logged.
	fresh := newLgEnv(1, log)
	require.NoError(t, extensiontest.LoadSection(lgSection(t, e, 10), fresh.shards))
	op := lgOp(a, 0x10, 1, "after the snapshot")
	where := fresh.apply(t, a, fresh.lgTx(a, 11, op))[0]
	j := lgJournal(t, fresh.s, a, mvcc.Latest)
	require.Equal(t, len(steps[a])+1, j.Last())
	s, n := j.Step(j.Last())
	assert.Equal(t, Step{Version: 11, Timestamp: lgTS(11), At: where[0], Len: uint32(where[1]), End: uint32(len(allOps(lgWant{}, steps[a])) + 1)}, s)
	assert.Equal(t, 1, n)
	all, err := lgReplay(t, j)
	require.NoError(t, err)
	assert.Equal(t, append(allOps(lgWant{}, steps[a]), replayed(11, op)...), all)
}

// lgCompacted commits run d's history into a logged store: steps at versions 2–5, compacted
// at 6 to step 2 (the state after version 3) — its base logged there, after steps 3 and 4 it
// keeps — then a step at 7.
func lgCompacted(t testing.TB) (e *lgEnv, d extension.RunID, ops map[uint64][]commitlog.Entry, baseOp commitlog.Entry, compactTx []commitlog.Entry) {
	t.Helper()
	e = newLgEnv(1, &lgLog{})
	d = extension.RunID{0x72, 4}
	e.begin(t, d, 1)
	ops = map[uint64][]commitlog.Entry{}
	for v := uint64(2); v <= 5; v++ {
		ops[v] = []commitlog.Entry{lgOp(d, 0x10, 1, fmt.Sprint("op ", v))}
		e.apply(t, d, e.lgTx(d, v, ops[v]...))
	}
	baseOp = lgOp(d, 0x10, 1, "state after 3")
	cp, err := e.s.Compact(d, lgJournal(t, e.s, d, 5), 2, []commitlog.Entry{baseOp})
	require.NoError(t, err)
	compactTx = e.do(t, d, 6, cp)
	require.Equal(t, TypeCompact, compactTx[0].Type)
	ops[7] = []commitlog.Entry{lgOp(d, 0x10, 1, "op 7")}
	e.apply(t, d, e.lgTx(d, 7, ops[7]...))
	return e, d, ops, baseOp, compactTx
}

// A compacted run's base is where its compaction is in the log, after the steps it keeps; it
// replays unpacked, stamped with the version of the last step it folds, and round-trips
// through a snapshot (once refused as "steps out of log order").
func TestLoggedSectionCompacted(t *testing.T) {
	e, d, ops, baseOp, compactTx := lgCompacted(t)
	j := lgJournal(t, e.s, d, mvcc.Latest)
	require.Equal(t, 2, j.First())
	require.Equal(t, 5, j.Last())
	baseStep, n := j.Step(2)
	assert.Equal(t, 1, n)
	assert.EqualValues(t, 3, baseStep.Version, "the version of the last step folded")
	assert.Equal(t, lgTS(3), baseStep.Timestamp)
	assert.Equal(t, compactTx[0].LSN, baseStep.At, "the base is the compaction's entry in the log")
	enc, err := commitlog.AppendEntry(nil, compactTx[0])
	require.NoError(t, err)
	assert.Equal(t, len(enc), int(baseStep.Len), "the compaction's entry, whole")
	kept := j.Steps()
	require.Len(t, kept, 3)
	require.Greater(t, baseStep.At, kept[0].At, "the base is logged after the steps it keeps")
	require.Greater(t, baseStep.At, kept[1].At)
	require.Less(t, baseStep.At, kept[2].At)
	assert.Zero(t, e.s.HistoryBytes())
	want := append(replayed(3, baseOp), replayed(4, ops[4]...)...)
	want = append(append(want, replayed(5, ops[5]...)...), replayed(7, ops[7]...)...)
	all, err := lgReplay(t, j)
	require.NoError(t, err)
	assert.Equal(t, want, all)
	before := lgJournal(t, e.s, d, 5)
	require.Equal(t, 0, before.First(), "a reader older than the compaction reads the history before it")
	all, err = lgReplay(t, before)
	require.NoError(t, err)
	var whole []commitlog.Entry
	for v := uint64(2); v <= 5; v++ {
		whole = append(whole, replayed(v, ops[v]...)...)
	}
	assert.Equal(t, whole, all)

	for _, v := range []uint64{5, 6, 7} {
		fresh := newLgEnv(1, e.log)
		require.NoError(t, extensiontest.LoadSection(lgSection(t, e, v), fresh.shards), "frozen at %d", v)
		lgSameJournal(t, lgJournal(t, e.s, d, v), lgJournal(t, fresh.s, d, mvcc.Latest), fmt.Sprint("frozen at ", v))
		assert.Zero(t, fresh.s.HistoryBytes())
	}
}

// lgEncodedOp is an in-memory entry of a section: type, version, payload.
func lgEncodedOp(b []byte, o commitlog.Entry) []byte {
	b = append(b, o.Type, o.Version)
	b = binary.AppendUvarint(b, uint64(len(o.Payload)))
	return append(b, o.Payload...)
}

// lgRecord is a chunk body's record, in format 4 or 3 (with the begin's version) or 2.
func lgRecord(format byte, commit, began uint64, started int64, info string) []byte {
	b := binary.AppendUvarint([]byte{format}, commit)
	if format >= formatInline {
		b = binary.AppendUvarint(b, began)
	}
	b = append(b, byte(Active))
	b = binary.LittleEndian.AppendUint64(b, uint64(started))
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.AppendUvarint(b, 0) // no reason
	b = binary.AppendUvarint(b, uint64(len(info)))
	return append(b, info...)
}

// Sections of formats 3 and 2 carry their steps' entries; they load into a logged store and
// replay from memory, and the run's later, logged steps make one journal with them that
// replays whole, in order, and is written back in format 4.
func TestLoggedOldFormats(t *testing.T) {
	id := extension.RunID{0x73, 1}
	old := map[uint64][]commitlog.Entry{
		2: {lgOp(id, 0x10, 1, "a"), lgOp(id, 0x22, 2, "b")},
		4: {lgOp(id, 0x10, 1, "c")},
	}
	for _, format := range []byte{formatInline, formatNoBase} {
		t.Run(fmt.Sprint("format ", format), func(t *testing.T) {
			body := lgRecord(format, 5, 1, lgTS(1), `{"name":"old"}`)
			if format >= formatInline { // the base: step 0 at the begin, no entries, not forked
				body = binary.AppendUvarint(body, 0)
				body = binary.AppendUvarint(body, 1)
				body = binary.LittleEndian.AppendUint64(body, uint64(lgTS(1)))
				body = append(body, 0)
				body = binary.AppendUvarint(body, 0)
			}
			body = binary.AppendUvarint(body, 2)
			for _, v := range []uint64{2, 4} {
				body = binary.AppendUvarint(body, v)
				body = binary.LittleEndian.AppendUint64(body, uint64(lgTS(v)))
				body = binary.AppendUvarint(body, uint64(len(old[v])))
				for _, o := range old[v] {
					body = lgEncodedOp(body, o)
				}
			}
			log := &lgLog{}
			e := newLgEnv(1, log)
			require.NoError(t, e.shards[0].LoadSection(extension.NewChunk(id, body)))
			j := lgJournal(t, e.s, id, mvcc.Latest)
			want := append(replayed(2, old[2]...), replayed(4, old[4]...)...)
			assert.Equal(t, []Step{{Version: 2, Timestamp: lgTS(2), At: 0, End: 2}, {Version: 4, Timestamp: lgTS(4), At: 2, End: 3}}, j.Steps())
			all, err := lgReplay(t, j)
			require.NoError(t, err)
			assert.Equal(t, want, all)
			assert.Empty(t, log.takeCalls(), "in-memory steps are not read from the log")
			assert.EqualValues(t, 3*commitlog.RunIDSize+3, e.s.HistoryBytes())
			assert.Empty(t, e.s.Retained(math.MaxUint64), "nothing of this history is in the log")

			// Later steps are logged.
			later := map[uint64][]commitlog.Entry{
				6: {lgOp(id, 0x10, 1, "d")},
				7: {lgOp(id, 0x30, 1, "e"), lgOp(id, 0x10, 1, "f")},
			}
			var where [][2]uint64
			for _, v := range []uint64{6, 7} {
				where = append(where, e.apply(t, id, e.lgTx(id, v, later[v]...))...)
			}
			j = lgJournal(t, e.s, id, mvcc.Latest)
			require.Equal(t, 4, j.Last())
			wantSteps := []Step{
				{Version: 2, Timestamp: lgTS(2), At: 0, End: 2}, {Version: 4, Timestamp: lgTS(4), At: 2, End: 3},
				{Version: 6, Timestamp: lgTS(6), At: where[0][0], Len: uint32(where[0][1]), End: 4},
				{Version: 7, Timestamp: lgTS(7), At: where[1][0], Len: uint32(where[1][1]), End: 6},
			}
			assert.Equal(t, wantSteps, j.Steps())
			want = append(append(want, replayed(6, later[6]...)...), replayed(7, later[7]...)...)
			all, err = lgReplay(t, j)
			require.NoError(t, err)
			assert.Equal(t, want, all, "the old steps from memory, then the logged ones")
			assert.Equal(t, [][2]uint64{where[0], where[1]}, log.takeCalls(), "only the logged steps are fetched")
			for n, v := range []uint64{2, 4, 6, 7} {
				got, err := j.StepEntries(n + 1)
				require.NoError(t, err)
				assert.Equal(t, replayed(v, append(old[v], later[v]...)...), got, "step %d", n+1)
			}
			assert.Equal(t, []commitlog.Range{lgRange(where[0]), lgRange(where[1])}, lgRetained(t, e, math.MaxUint64),
				"the logged steps alone are retained")

			// Written back, the mixed journal is format 4 and loads the same.
			fresh := newLgEnv(2, log)
			require.NoError(t, extensiontest.LoadSection(lgSection(t, e, 7), fresh.shards))
			lgSameJournal(t, j, lgJournal(t, fresh.s, id, mvcc.Latest), "written back")
			assert.Equal(t, e.s.HistoryBytes(), fresh.s.HistoryBytes())
		})
	}
}

// lgRange is the range of the log where e.apply put a transaction.
func lgRange(w [2]uint64) commitlog.Range { return commitlog.Range{LSN: w[0], Len: uint32(w[1])} }

// lgEntryRange is the range of the log one logged entry fills.
func lgEntryRange(t testing.TB, e commitlog.Entry) commitlog.Range {
	t.Helper()
	enc, err := commitlog.AppendEntry(nil, e)
	require.NoError(t, err)
	return commitlog.Range{LSN: e.LSN, Len: uint32(len(enc))}
}

// lgSorted sorts ranges by LSN, each once: as the log's owner takes them (commitlog.RetireBelow).
func lgSorted(rs []commitlog.Range) []commitlog.Range {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b commitlog.Range) int { return cmp.Compare(a.LSN, b.LSN) })
	return slices.Compact(rs)
}

// lgRetained is what e's store retains below below, sorted; each range must be whole entries
// of the log, as the log's owner copies them.
func lgRetained(t testing.TB, e *lgEnv, below uint64) []commitlog.Range {
	t.Helper()
	rs := lgSorted(e.s.Retained(below))
	for _, r := range rs {
		require.Less(t, r.LSN, below)
		_, err := e.log.Fetch(r.LSN, int(r.Len))
		require.NoError(t, err, "retained range %+v", r)
	}
	e.log.takeCalls()
	return rs
}

// lgJournalRanges is the ranges of the log j's steps and base are at.
func lgJournalRanges(j Journal) []commitlog.Range {
	var out []commitlog.Range
	for _, s := range append([]Step{j.base}, j.Steps()...) {
		if s.logged() {
			out = append(out, commitlog.Range{LSN: s.At, Len: s.Len})
		}
	}
	return out
}

// Retained is the ranges of the log below a bound that a journal a reader may still read has
// a step or a base in: every run's, each a step's range exactly.
func TestLoggedRetained(t *testing.T) {
	e := newLgEnv(2, &lgLog{})
	assert.Empty(t, e.s.Retained(math.MaxUint64), "an empty store")
	mem := newLgEnv(1, nil)
	lgHistory(t, mem)
	assert.Empty(t, mem.s.Retained(math.MaxUint64), "nothing logged")

	a, b, _ := lgIDs()
	e.begin(t, a, 1)
	e.begin(t, b, 2)
	assert.Empty(t, e.s.Retained(math.MaxUint64), "runs without steps")
	b3 := lgRange(e.apply(t, b, e.lgTx(b, 3, lgOp(b, 0x10, 1, "b3")))[0])
	assert.Equal(t, []commitlog.Range{b3}, lgRetained(t, e, math.MaxUint64))
	a4 := lgRange(e.apply(t, a, e.lgTx(a, 4, lgOp(a, 0x10, 1, "a4"), lgOp(a, 0x20, 1, "a4'")))[0])
	b5 := lgRange(e.apply(t, b, e.lgTx(b, 5, lgOp(b, 0x10, 1, "b5")))[0])
	e.apply(t, a, e.lgTx(a, 6)) // no operations: still a range of the log
	a6 := lgRange([2]uint64{b5.End() + commitlog.MarkerSize, uint64(commitlog.EncodedSize(stepSize))})
	assert.Equal(t, []commitlog.Range{b3, a4, b5, a6}, lgRetained(t, e, math.MaxUint64), "every run's steps")

	assert.Empty(t, lgRetained(t, e, b3.LSN), "nothing below the first step")
	assert.Equal(t, []commitlog.Range{b3}, lgRetained(t, e, b3.LSN+1), "a step that starts below the bound")
	assert.Equal(t, []commitlog.Range{b3}, lgRetained(t, e, a4.LSN))
	assert.Equal(t, []commitlog.Range{b3, a4}, lgRetained(t, e, b5.LSN))
	assert.Equal(t, []commitlog.Range{b3, a4, b5}, lgRetained(t, e, a6.LSN))
	assert.Equal(t, []commitlog.Range{b3, a4, b5, a6}, lgRetained(t, e, a6.End()-1))

	// A logged base is retained from the begin on.
	c := extension.RunID{0x71, 9}
	fe := newLgEnv(1, &lgLog{})
	ch, err := fe.s.BeginWith(c, Info{})
	require.NoError(t, err)
	tx := fe.do(t, c, 1, ch, lgOp(c, 0x10, 1, "state"))
	base := commitlog.Range{LSN: tx[1].LSN, Len: uint32(lgEntryRange(t, tx[1]).Len + lgEntryRange(t, tx[2]).Len)}
	assert.Equal(t, []commitlog.Range{base}, lgRetained(t, fe, math.MaxUint64), "the base: its RunBase entry and its state")
}

// A compaction's base is retained, and so is the history before it while a reader may read it.
func TestLoggedRetainedCompaction(t *testing.T) {
	e := newLgEnv(1, &lgLog{})
	d, other := extension.RunID{0x72, 4}, extension.RunID{0x72, 5}
	e.begin(t, d, 1)
	e.begin(t, other, 2)
	var w []commitlog.Range // d's steps at versions 3, 4, 5
	for v := uint64(3); v <= 5; v++ {
		w = append(w, lgRange(e.apply(t, d, e.lgTx(d, v, lgOp(d, 0x10, 1, fmt.Sprint(v))))[0]))
	}
	compact := func(v uint64, step int) commitlog.Range {
		cp, err := e.s.Compact(d, lgJournal(t, e.s, d, mvcc.Latest), step, []commitlog.Entry{lgOp(d, 0x10, 1, "base")})
		require.NoError(t, err)
		return lgEntryRange(t, e.do(t, d, v, cp)[0])
	}
	sh := e.shardOf(d)

	base6 := compact(6, 2) // folds versions 3 and 4; keeps 5
	require.Greater(t, base6.LSN, w[2].LSN)
	all := []commitlog.Range{w[0], w[1], w[2], base6}
	assert.Equal(t, all, lgRetained(t, e, math.MaxUint64), "a reader before the compaction reads versions 3 and 4")
	assert.Equal(t, all[:3], lgRetained(t, e, base6.LSN))
	sh.Trim(5)
	assert.Equal(t, all, lgRetained(t, e, math.MaxUint64), "a reader at 5 still may")
	sh.Trim(6)
	assert.Equal(t, []commitlog.Range{w[2], base6}, lgRetained(t, e, math.MaxUint64), "the step kept and the base")
	assert.Equal(t, []commitlog.Range{w[2]}, lgRetained(t, e, base6.LSN), "the base starts at the bound")

	base7 := compact(7, 3) // folds version 5: the base alone is left
	assert.Equal(t, []commitlog.Range{w[2], base6, base7}, lgRetained(t, e, math.MaxUint64), "the history before the second compaction")
	later := lgRange(e.apply(t, other, e.lgTx(other, 8, lgOp(other, 0x10, 1, "later")))[0])
	sh.Trim(7)
	assert.Equal(t, []commitlog.Range{base7, later}, lgRetained(t, e, math.MaxUint64), "the compacted base, and the other run's step")
	got, err := lgReplay(t, lgJournal(t, e.s, d, mvcc.Latest))
	require.NoError(t, err)
	assert.Equal(t, replayed(5, lgOp(d, 0x10, 1, "base")), got)
}

// A deleted run's history is retained until no reader can see the run.
func TestLoggedRetainedDeletedRun(t *testing.T) {
	e := newLgEnv(1, &lgLog{})
	a, b, c := lgIDs()
	idle := extension.RunID{0x71, 8}
	for i, id := range []extension.RunID{a, b, c, idle} {
		e.begin(t, id, uint64(1+i))
	}
	wa := lgRange(e.apply(t, a, e.lgTx(a, 5, lgOp(a, 0x10, 1, "a5")))[0])
	wb := lgRange(e.apply(t, b, e.lgTx(b, 6, lgOp(b, 0x10, 1, "b6")))[0])
	end, err := e.s.End(a, false, "")
	require.NoError(t, err)
	e.do(t, a, 7, end)
	sh := e.shardOf(a)
	sh.DropRun(a, 8) // the engine fans a deletion out to every primitive's DropRun
	_, ok := e.s.Journal(a, 8)
	assert.False(t, ok, "deleted at 8")
	assert.Equal(t, []commitlog.Range{wa, wb}, lgRetained(t, e, math.MaxUint64), "a reader at 7 may still replay it")
	sh.Trim(7)
	assert.Equal(t, []commitlog.Range{wa, wb}, lgRetained(t, e, math.MaxUint64), "a reader at 7 may still replay it")
	got, err := lgReplay(t, lgJournal(t, e.s, a, 7))
	require.NoError(t, err)
	assert.Equal(t, replayed(5, lgOp(a, 0x10, 1, "a5")), got)
	sh.Trim(8)
	assert.Equal(t, 4, sh.listing.list.Len(), "still listed: one run of four gone does not relist")
	assert.Equal(t, []commitlog.Range{wb}, lgRetained(t, e, math.MaxUint64), "no reader sees the deleted run")
	sh.DropRun(b, 9)
	sh.Trim(9)
	assert.Empty(t, e.s.Retained(math.MaxUint64), "no run with a step left")
}

// lgLoggedBody is a format-4 chunk body of a run begun at 1 whose base is empty or logged and
// whose steps at versions 2, 3, … are each logged as places gives them: length, LSN, ops.
func lgLoggedBody(base *[3]uint64, places ...[3]uint64) []byte {
	b := lgRecord(sectionFormat, 9, 1, lgTS(1), `{}`)
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(lgTS(1)))
	b = append(b, 0)
	appendPlace := func(p [3]uint64) {
		for _, x := range p {
			b = binary.AppendUvarint(b, x)
		}
	}
	if base == nil {
		b = append(b, 0, 0) // in memory, no entries
	} else {
		appendPlace(*base)
	}
	b = binary.AppendUvarint(b, uint64(len(places)))
	for i, p := range places {
		b = binary.AppendUvarint(b, uint64(2+i))
		b = binary.LittleEndian.AppendUint64(b, uint64(lgTS(uint64(2+i))))
		appendPlace(p)
	}
	return b
}

// A damaged format-4 section fails to load, as ErrCorruption (ErrMalformed within), changes
// nothing and never panics.
func TestLoggedSectionDamaged(t *testing.T) {
	id := extension.RunID{0x74, 1}
	cases := map[string][]byte{
		"length over 32 bits":      lgLoggedBody(nil, [3]uint64{1 << 32, 100, 1}),
		"length far over 32 bits":  lgLoggedBody(nil, [3]uint64{math.MaxUint64, 100, 1}),
		"more ops than bytes / 3":  lgLoggedBody(nil, [3]uint64{60, 100, 21}),
		"ops of an empty-ish step": lgLoggedBody(nil, [3]uint64{2, 100, 1}),
		"steps overlapping":        lgLoggedBody(nil, [3]uint64{60, 100, 1}, [3]uint64{60, 159, 1}),
		"steps going back":         lgLoggedBody(nil, [3]uint64{60, 100, 1}, [3]uint64{60, 40, 1}),
		"steps going back after a logged base": lgLoggedBody(&[3]uint64{40, 500, 1},
			[3]uint64{60, 100, 1}, [3]uint64{60, 200, 1}, [3]uint64{60, 150, 1}),
		"base length over 32 bits": lgLoggedBody(&[3]uint64{1 << 32, 500, 1}, [3]uint64{60, 100, 1}),
		"base with too many ops":   lgLoggedBody(&[3]uint64{30, 500, 11}, [3]uint64{60, 100, 1}),
		"trailing byte":            append(lgLoggedBody(nil, [3]uint64{60, 100, 1}), 0),
	}
	for name, body := range cases {
		e := newLgEnv(1, &lgLog{})
		var err error
		require.NotPanics(t, func() { err = e.shards[0].LoadSection(extension.NewChunk(id, body)) }, name)
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.ErrorIs(t, err, ErrMalformed, name)
		assert.Empty(t, e.s.Records(mvcc.Latest), name)
		assert.Empty(t, e.s.Retained(math.MaxUint64), name)
	}

	// The well-formed neighbours load, and are written back to load the same: steps back to
	// back, a step of no operations, a base logged after the steps it keeps, a largest length.
	r := func(lsn, n uint64) commitlog.Range { return commitlog.Range{LSN: lsn, Len: uint32(n)} }
	good := map[string]struct {
		body     []byte
		retained []commitlog.Range
	}{
		"back to back":     {lgLoggedBody(nil, [3]uint64{60, 100, 1}, [3]uint64{60, 160, 20}), []commitlog.Range{r(100, 60), r(160, 60)}},
		"no operations":    {lgLoggedBody(nil, [3]uint64{2, 100, 0}), []commitlog.Range{r(100, 2)}},
		"base after steps": {lgLoggedBody(&[3]uint64{40, 500, 1}, [3]uint64{60, 100, 1}, [3]uint64{60, 160, 1}), []commitlog.Range{r(100, 60), r(160, 60), r(500, 40)}},
		"base alone":       {lgLoggedBody(&[3]uint64{40, 500, 1}), []commitlog.Range{r(500, 40)}},
		"largest length":   {lgLoggedBody(nil, [3]uint64{math.MaxUint32, 100, 1}), []commitlog.Range{r(100, math.MaxUint32)}},
		"ops of bytes / 3": {lgLoggedBody(nil, [3]uint64{60, 100, 20}), []commitlog.Range{r(100, 60)}},
	}
	for name, c := range good {
		e := newLgEnv(1, &lgLog{})
		require.NoError(t, e.shards[0].LoadSection(extension.NewChunk(id, c.body)), name)
		assert.Equal(t, c.retained, lgSorted(e.s.Retained(math.MaxUint64)), name)
		again := newLgEnv(1, e.log)
		require.NoError(t, extensiontest.LoadSection(lgSection(t, e, mvcc.Latest), again.shards), name)
		want, got := lgJournal(t, e.s, id, mvcc.Latest), lgJournal(t, again.s, id, mvcc.Latest)
		require.Equal(t, want.Last(), got.Last(), name)
		for n := range want.Last() + 1 {
			ws, wops := want.Step(n)
			gs, gops := got.Step(n)
			assert.Equal(t, ws, gs, "%s: step %d", name, n)
			assert.Equal(t, wops, gops, "%s: step %d", name, n)
		}
	}

	// Every cut of a real section of logged steps and a logged compacted base fails; no flip
	// panics.
	ce, d, _, _, _ := lgCompacted(t)
	chunks, err := extensiontest.Chunks(lgSection(t, ce, mvcc.Latest))
	require.NoError(t, err)
	for _, c := range chunks {
		if c.Run != d {
			continue
		}
		for dmg := range extensiontest.BodyCuts(c) {
			f := newLgEnv(1, ce.log)
			var err error
			require.NotPanics(t, func() { err = f.shards[0].LoadSection(dmg.Chunk) }, dmg.What)
			assert.ErrorIs(t, err, dberr.ErrCorruption, dmg.What)
			assert.Empty(t, f.s.Records(mvcc.Latest), dmg.What)
		}
		for dmg := range extensiontest.Flips(c) {
			f := newLgEnv(1, ce.log)
			require.NotPanics(t, func() {
				if f.shards[0].LoadSection(dmg.Chunk) == nil {
					j, _ := f.s.Journal(d, mvcc.Latest)
					for range j.Entries() { // a flip that loads reads back, or fails, never panics
					}
					f.s.Retained(math.MaxUint64)
				}
			}, dmg.What)
		}
	}
}
