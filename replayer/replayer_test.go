package replayer_test

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/replayer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ---------------------------------------------------------------------------------------------
// Fake primitives. None of them is a real primitive: they only follow the extension contract.

// Entry types owned by the fakes; typeUnowned belongs to nobody.
const (
	typeNotes   uint8 = 0x40 // notes owns 0x40–0x41
	typeLog     uint8 = 0x50
	typePlain   uint8 = 0x60
	typeCounter uint8 = 0x70
	typeUnowned uint8 = 0xF0
)

// notesConfig is shared by a notes primitive and every Fresh copy of it: it records the
// ChangedPaths calls and can be told to fail them, or to scribble past its Apply batch.
type notesConfig struct {
	calls    [][2]string // (before, after) of every ChangedPaths call
	err      error       // returned by ChangedPaths
	scribble bool        // Apply appends a bogus log entry to its batch (legal Go; must stay local)
}

type write struct {
	version uint64
	value   string
	deleted bool
}

// notes is a keyed primitive: a payload is a 16-byte run id then "key=value" (a write) or
// "-key" (a tombstone). It keeps every write with its commit version, so reads at a version
// work. It is Replayable, a Lister (unordered) and a PathDiffer.
type notes struct {
	probe   *notesConfig
	runs    map[extension.RunID]map[string][]write
	applied []uint64 // TxIDs in the order Apply saw them
	shards  int      // NewShard calls
}

func newNotes() *notes { return &notes{probe: new(notesConfig)} }

func (n *notes) Name() string               { return "notes" }
func (n *notes) SectionID() uint8           { return 40 }
func (n *notes) EntryTypes() (lo, hi uint8) { return typeNotes, typeNotes + 1 }
func (n *notes) NewShard(int) extension.Shard {
	n.shards++
	return notesShard{n}
}
func (n *notes) Fresh() extension.Primitive { return &notes{probe: n.probe} }

func (n *notes) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	var items []extension.Item
	for key, ws := range n.runs[run] {
		var last *write
		for i := range ws {
			if ws[i].version <= version {
				last = &ws[i]
			}
		}
		if last != nil && !last.deleted {
			items = append(items, extension.Item{Key: key, Value: []byte(last.value)})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	return items, false
}

func (n *notes) ChangedPaths(before, after []byte) ([]string, error) {
	n.probe.calls = append(n.probe.calls, [2]string{string(before), string(after)})
	if n.probe.err != nil {
		return nil, n.probe.err
	}
	return []string{"changed:" + string(before) + "->" + string(after)}, nil
}

type notesShard struct{ n *notes }

func (s notesShard) Apply(batch []commitlog.Entry) error {
	if s.n.probe.scribble {
		batch = append(batch, entry(typeLog, 99, extension.RunID{}, "scribbled"))
		batch = batch[:len(batch)-1]
	}
	for _, e := range batch {
		run, body, err := splitRun(e.Payload)
		if err != nil {
			return err
		}
		var w write
		key, value, isSet := strings.Cut(body, "=")
		switch {
		case isSet && key != "":
			w = write{version: e.TxID, value: value}
		case !isSet && strings.HasPrefix(body, "-") && len(body) > 1:
			key, w = body[1:], write{version: e.TxID, deleted: true}
		default:
			return fmt.Errorf("notes: cannot decode %q", body)
		}
		if s.n.runs == nil {
			s.n.runs = make(map[extension.RunID]map[string][]write)
		}
		if s.n.runs[run] == nil {
			s.n.runs[run] = make(map[string][]write)
		}
		s.n.runs[run][key] = append(s.n.runs[run][key], w)
		s.n.applied = append(s.n.applied, e.TxID)
	}
	return nil
}
func (s notesShard) Freeze(uint64) extension.FrozenView { return extension.Unsnapshotted("notes") }
func (s notesShard) DropRun(extension.RunID, uint64)    {}

func (s notesShard) LoadSection(r io.Reader) error {
	return extension.Unsnapshotted("notes").LoadSection(r)
}

func splitRun(p []byte) (extension.RunID, string, error) {
	var run extension.RunID
	if len(p) < commitlog.RunIDSize {
		return run, "", fmt.Errorf("payload of %d bytes has no run id", len(p))
	}
	copy(run[:], p)
	return run, string(p[commitlog.RunIDSize:]), nil
}

// seqLog is a sequence primitive: a payload is a run id then a message, appended in commit
// order. Its items are ordered, keyed by position.
type seqLog struct {
	runs map[extension.RunID][]write
}

func (l *seqLog) Name() string                 { return "log" }
func (l *seqLog) SectionID() uint8             { return 50 }
func (l *seqLog) EntryTypes() (lo, hi uint8)   { return typeLog, typeLog }
func (l *seqLog) NewShard(int) extension.Shard { return logShard{l} }
func (l *seqLog) Fresh() extension.Primitive   { return new(seqLog) }

func (l *seqLog) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	var items []extension.Item
	for _, w := range l.runs[run] {
		if w.version <= version {
			items = append(items, extension.Item{Key: fmt.Sprintf("%03d", len(items)), Value: []byte(w.value)})
		}
	}
	return items, true
}

type logShard struct{ l *seqLog }

func (s logShard) Apply(batch []commitlog.Entry) error {
	for _, e := range batch {
		run, msg, err := splitRun(e.Payload)
		if err != nil {
			return err
		}
		if s.l.runs == nil {
			s.l.runs = make(map[extension.RunID][]write)
		}
		s.l.runs[run] = append(s.l.runs[run], write{version: e.TxID, value: msg})
	}
	return nil
}
func (s logShard) Freeze(uint64) extension.FrozenView { return extension.Unsnapshotted("log") }
func (s logShard) DropRun(extension.RunID, uint64)    {}

func (s logShard) LoadSection(r io.Reader) error {
	return extension.Unsnapshotted("log").LoadSection(r)
}

// plain is NOT Replayable, but is a Lister with a fixed item: if Compare ever looked at it, the
// item would show up in a diff.
type plain struct{ applied int }

func (p *plain) Name() string                 { return "plain" }
func (p *plain) SectionID() uint8             { return 60 }
func (p *plain) EntryTypes() (lo, hi uint8)   { return typePlain, typePlain }
func (p *plain) NewShard(int) extension.Shard { return plainShard{p} }
func (p *plain) Items(extension.RunID, uint64) ([]extension.Item, bool) {
	return []extension.Item{{Key: "always", Value: []byte("there")}}, false
}

type plainShard struct{ p *plain }

func (s plainShard) Apply(batch []commitlog.Entry) error { s.p.applied += len(batch); return nil }
func (s plainShard) Freeze(uint64) extension.FrozenView  { return extension.Unsnapshotted("plain") }
func (s plainShard) DropRun(extension.RunID, uint64)     {}

func (s plainShard) LoadSection(r io.Reader) error {
	return extension.Unsnapshotted("plain").LoadSection(r)
}

// counter is Replayable but not a Lister: it only counts the entries applied to it.
type counter struct{ n int }

func (c *counter) Name() string                 { return "counter" }
func (c *counter) SectionID() uint8             { return 70 }
func (c *counter) EntryTypes() (lo, hi uint8)   { return typeCounter, typeCounter }
func (c *counter) NewShard(int) extension.Shard { return counterShard{c} }
func (c *counter) Fresh() extension.Primitive   { return new(counter) }

type counterShard struct{ c *counter }

func (s counterShard) Apply(batch []commitlog.Entry) error { s.c.n += len(batch); return nil }
func (s counterShard) Freeze(uint64) extension.FrozenView  { return extension.Unsnapshotted("counter") }
func (s counterShard) DropRun(extension.RunID, uint64)     {}

func (s counterShard) LoadSection(r io.Reader) error {
	return extension.Unsnapshotted("counter").LoadSection(r)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

// Owner indexes of the standard registry: plain is registered first so owners are not all 0.
const (
	ownerPlain = iota
	ownerNotes
	ownerLog
	ownerCounter
)

type fixture struct {
	reg     *extension.Registry
	plain   *plain
	notes   *notes
	log     *seqLog
	counter *counter
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{reg: new(extension.Registry), plain: new(plain), notes: newNotes(),
		log: new(seqLog), counter: new(counter)}
	for _, p := range []extension.Primitive{f.plain, f.notes, f.log, f.counter} {
		require.NoError(t, f.reg.Register(p))
	}
	owner, ok := f.reg.Owner(typeNotes)
	require.True(t, ok)
	require.Equal(t, ownerNotes, owner)
	return f
}

func entry(typ uint8, tx uint64, run extension.RunID, body string) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: 1, TxID: tx,
		Payload: append(append([]byte(nil), run[:]...), body...)}
}

// keyedEntries writes kv (key → value) to notes, one transaction per key, from version 1.
func keyedEntries(run extension.RunID, kv map[string]string) []commitlog.Entry {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var es []commitlog.Entry
	for i, k := range keys {
		es = append(es, entry(typeNotes, uint64(i+1), run, k+"="+kv[k]))
	}
	return es
}

// seqEntries appends msgs to the log, from version first.
func seqEntries(run extension.RunID, first uint64, msgs ...string) []commitlog.Entry {
	var es []commitlog.Entry
	for i, m := range msgs {
		es = append(es, entry(typeLog, first+uint64(i), run, m))
	}
	return es
}

func replay(t *testing.T, f *fixture, run extension.RunID, es []commitlog.Entry) *replayer.View {
	t.Helper()
	v, err := replayer.Replay(f.reg, run, entriesOf(es))
	require.NoError(t, err)
	require.NotNil(t, v)
	return v
}

// items lists what the replayed instance of owner holds for the view's run, as "key=value".
func items(v *replayer.View, owner int) []string {
	l, ok := v.Primitive(owner).(extension.Lister)
	if !ok {
		return nil
	}
	its, _ := l.Items(v.Run, v.Version)
	out := []string{}
	for _, it := range its {
		out = append(out, it.Key+"="+string(it.Value))
	}
	return out
}

func change(owner int, key, before, after string) replayer.Change {
	c := replayer.Change{Owner: owner, Key: key}
	if before != "" {
		c.Before = []byte(before)
	}
	if after != "" {
		c.After = []byte(after)
	}
	return c
}

// ---------------------------------------------------------------------------------------------
// Replay.

// Replay routes every entry to the fresh instance of its owner, applies them in commit order,
// stamps the view with the run and the last TxID, and never touches the registered instances.
func TestReplayAppliesEntriesInCommitOrderToFreshInstances(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	es := []commitlog.Entry{
		entry(typeNotes, 1, run, "a=1"),
		entry(typeLog, 2, run, "first"),
		entry(typeNotes+1, 3, run, "b=x"), // second type of the notes range
		entry(typeNotes, 4, run, "a=2"),
		entry(typeCounter, 5, run, ""),
		entry(typeLog, 6, run, "second"),
		entry(typeNotes, 7, run, "-b"),
		entry(typePlain, 8, run, "ignored"),
	}
	v := replay(t, f, run, es)

	assert.Equal(t, run, v.Run)
	assert.Equal(t, uint64(8), v.Version)

	n := v.Primitive(ownerNotes).(*notes)
	assert.Equal(t, []uint64{1, 3, 4, 7}, n.applied, "notes entries, in commit order")
	assert.Equal(t, 1, n.shards, "only shard 0 of the fresh instance is created")
	assert.Equal(t, []string{"a=2"}, items(v, ownerNotes), "later writes win, the tombstone removes b")
	old, _ := n.Items(run, 3)
	assert.Equal(t, []extension.Item{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x")}}, old,
		"writes are stamped with their commit versions")
	assert.Equal(t, []string{"000=first", "001=second"}, items(v, ownerLog))
	assert.Equal(t, 1, v.Primitive(ownerCounter).(*counter).n)

	// The live, registered instances stay empty.
	assert.Empty(t, f.notes.runs)
	assert.Empty(t, f.notes.applied)
	assert.Zero(t, f.notes.shards)
	assert.Empty(t, f.log.runs)
	assert.Zero(t, f.counter.n)
	assert.Zero(t, f.plain.applied)
}

// Entries whose type no registered primitive owns (core types, unknown types) are skipped.
func TestReplaySkipsUnownedEntryTypes(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	es := []commitlog.Entry{
		entry(typeNotes, 1, run, "k=v"),
		{Type: commitlog.TypeTransactionCommit, TxID: 1, Payload: []byte("not a notes payload")},
		entry(typeUnowned, 2, run, "garbage that no one decodes"),
		entry(typeLog, 3, run, "m"),
		{Type: 0xFF, TxID: 4, Payload: nil},
	}
	v := replay(t, f, run, es)
	assert.Equal(t, []string{"k=v"}, items(v, ownerNotes))
	assert.Equal(t, []string{"000=m"}, items(v, ownerLog))
	assert.Equal(t, []uint64{1}, v.Primitive(ownerNotes).(*notes).applied)
	assert.Equal(t, uint64(3), v.Version, "the version is the last replayed entry's: skipped ones do not count")
}

// A primitive that is not Replayable has no instance in the view; replayable ones get a new
// instance, distinct from the registered one.
func TestReplayNonReplayablePrimitiveIsNil(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	v := replay(t, f, run, []commitlog.Entry{entry(typePlain, 1, run, "x")})

	assert.Nil(t, v.Primitive(ownerPlain))
	live := f.reg.Primitives()
	for _, owner := range []int{ownerNotes, ownerLog, ownerCounter} {
		p := v.Primitive(owner)
		require.NotNil(t, p, "owner %d", owner)
		assert.NotSame(t, live[owner], p, "owner %d", owner)
		assert.Equal(t, live[owner].Name(), p.Name())
	}
}

// With no entries the view is at version 0 and every replayable instance is empty.
func TestReplayNoEntries(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	for _, es := range [][]commitlog.Entry{nil, {}} {
		v := replay(t, f, run, es)
		assert.Equal(t, uint64(0), v.Version)
		assert.Equal(t, run, v.Run)
		assert.Empty(t, items(v, ownerNotes))
		assert.Empty(t, items(v, ownerLog))
		assert.Zero(t, v.Primitive(ownerCounter).(*counter).n)
		assert.Nil(t, v.Primitive(ownerPlain))
	}
}

// An entry its owner cannot apply means a damaged journal: ErrCorruption, naming the primitive.
func TestReplayApplyErrorIsCorruption(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	for name, bad := range map[string]commitlog.Entry{
		"notes": entry(typeNotes, 2, run, "no separator"),
		"log":   {Type: typeLog, TxID: 2, Payload: []byte("short")},
	} {
		t.Run(name, func(t *testing.T) {
			es := []commitlog.Entry{entry(typeNotes, 1, run, "k=v"), bad, entry(typeLog, 3, run, "m")}
			v, err := replayer.Replay(f.reg, run, entriesOf(es))
			require.Error(t, err)
			assert.Nil(t, v)
			assert.ErrorIs(t, err, dberr.ErrCorruption)
			assert.Contains(t, err.Error(), name)
			assert.Contains(t, err.Error(), run.String())
		})
	}
	assert.Empty(t, f.notes.runs, "the live instance is untouched by a failed replay")
}

// Two replays of the same entries are equal but share nothing: applying more to the first's
// instance leaves the second as it was.
func TestReplayTwiceGivesIndependentInstances(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	es := append(keyedEntries(run, map[string]string{"a": "1", "b": "2"}), seqEntries(run, 3, "x")...)
	v1, v2 := replay(t, f, run, es), replay(t, f, run, es)

	assert.Equal(t, v1.Version, v2.Version)
	assert.Equal(t, items(v1, ownerNotes), items(v2, ownerNotes))
	assert.Equal(t, items(v1, ownerLog), items(v2, ownerLog))
	assert.NotSame(t, v1.Primitive(ownerNotes), v2.Primitive(ownerNotes))
	assert.NotSame(t, v1.Primitive(ownerLog), v2.Primitive(ownerLog))

	require.NoError(t, v1.Primitive(ownerNotes).NewShard(0).Apply([]commitlog.Entry{
		entry(typeNotes, 3, run, "a=changed"), entry(typeNotes, 3, run, "c=new")}))
	require.NoError(t, v1.Primitive(ownerLog).NewShard(0).Apply(seqEntries(run, 3, "y")))

	assert.Equal(t, []string{"a=changed", "b=2", "c=new"}, items(v1, ownerNotes))
	assert.Equal(t, []string{"000=x", "001=y"}, items(v1, ownerLog))
	assert.Equal(t, []string{"a=1", "b=2"}, items(v2, ownerNotes))
	assert.Equal(t, []string{"000=x"}, items(v2, ownerLog))
	assert.Empty(t, f.notes.runs)
}

// Each primitive's Apply gets exactly its own entries, and a shard appending to its batch cannot
// overwrite the share of the primitive applied after it (notes is applied before log).
func TestReplayBatchesDoNotAlias(t *testing.T) {
	f := newFixture(t)
	f.notes.probe.scribble = true
	run := extension.NewRunID()
	es := []commitlog.Entry{
		entry(typeNotes, 1, run, "a=1"),
		entry(typeLog, 2, run, "m1"),
		entry(typeNotes, 3, run, "b=2"),
		entry(typeLog, 4, run, "m2"),
	}
	orig := slices.Clone(es)
	v := replay(t, f, run, es)
	assert.Equal(t, []string{"a=1", "b=2"}, items(v, ownerNotes))
	assert.Equal(t, []string{"000=m1", "001=m2"}, items(v, ownerLog))
	assert.Equal(t, orig, es, "the caller's entries are not modified")
}

// ---------------------------------------------------------------------------------------------
// Compare.

// Keyed items are matched by key: added, removed and modified keys are reported with the
// primitive's owner index, unchanged ones are not, and the PathDiffer is asked about modified
// keys only. A PathDiffer error fails Compare.
func TestCompareKeyed(t *testing.T) {
	f := newFixture(t)
	runA, runB := extension.NewRunID(), extension.NewRunID()
	a := replay(t, f, runA, keyedEntries(runA, map[string]string{"k1": "v1", "k2": "v2", "k3": "v3"}))
	b := replay(t, f, runB, keyedEntries(runB, map[string]string{"k2": "v2", "k3": "v3b", "k4": "v4"}))

	d, err := replayer.Compare(a, b)
	require.NoError(t, err)
	assert.Equal(t, []replayer.Change{change(ownerNotes, "k4", "", "v4")}, d.Added)
	assert.Equal(t, []replayer.Change{change(ownerNotes, "k1", "v1", "")}, d.Removed)
	want := change(ownerNotes, "k3", "v3", "v3b")
	want.Paths = []string{"changed:v3->v3b"}
	assert.Equal(t, []replayer.Change{want}, d.Modified)
	assert.Nil(t, d.Added[0].Before)
	assert.Nil(t, d.Removed[0].After)
	assert.Equal(t, [][2]string{{"v3", "v3b"}}, f.notes.probe.calls, "PathDiffer called for k3 only")

	t.Run("path differ error", func(t *testing.T) {
		boom := errors.New("boom")
		f.notes.probe.err = boom
		d, err := replayer.Compare(a, b)
		require.Error(t, err)
		assert.Nil(t, d)
		assert.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "k3")
	})
}

// Sequences are compared by position: after the common prefix, A's rest is Removed and B's rest
// Added, with their keys. Equal sequences differ in nothing; against an empty one, everything.
func TestCompareSequences(t *testing.T) {
	f := newFixture(t)
	runA, runB := extension.NewRunID(), extension.NewRunID()
	view := func(run extension.RunID, msgs ...string) *replayer.View {
		return replay(t, f, run, seqEntries(run, 1, msgs...))
	}
	a := view(runA, "x", "y", "z")

	d, err := replayer.Compare(a, view(runB, "x", "y", "w", "v"))
	require.NoError(t, err)
	assert.Equal(t, []replayer.Change{change(ownerLog, "002", "z", "")}, d.Removed)
	assert.Equal(t, []replayer.Change{change(ownerLog, "002", "", "w"), change(ownerLog, "003", "", "v")}, d.Added)
	assert.Empty(t, d.Modified, "sequences have no Modified")

	d, err = replayer.Compare(a, view(runB, "x", "y", "z"))
	require.NoError(t, err)
	assert.Equal(t, &replayer.Diff{}, d)

	empty := view(runB)
	d, err = replayer.Compare(a, empty)
	require.NoError(t, err)
	assert.Empty(t, d.Added)
	assert.Equal(t, []replayer.Change{change(ownerLog, "000", "x", ""), change(ownerLog, "001", "y", ""),
		change(ownerLog, "002", "z", "")}, d.Removed)

	d, err = replayer.Compare(empty, a)
	require.NoError(t, err)
	assert.Empty(t, d.Removed)
	assert.Equal(t, []replayer.Change{change(ownerLog, "000", "", "x"), change(ownerLog, "001", "", "y"),
		change(ownerLog, "002", "", "z")}, d.Added)
	assert.Empty(t, f.notes.probe.calls, "the PathDiffer is never asked about sequences")
}

// A view compared with itself has no differences.
func TestCompareViewWithItself(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	es := append(keyedEntries(run, map[string]string{"a": "1", "b": "2"}), seqEntries(run, 3, "x", "y")...)
	v := replay(t, f, run, es)
	d, err := replayer.Compare(v, v)
	require.NoError(t, err)
	assert.Equal(t, &replayer.Diff{}, d)
	assert.Empty(t, f.notes.probe.calls)
}

// Over random keyed and sequence contents, Compare is antisymmetric (Added ↔ Removed, Modified
// with Before/After swapped) and the diff turns A's state into B's.
func TestCompareProperties(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "e", "f"}
	vals := []string{"0", "1", "2"}

	// randomRun writes random keys (some overwritten, some deleted) and a random sequence.
	randomRun := func(run extension.RunID) []commitlog.Entry {
		var es []commitlog.Entry
		tx := uint64(0)
		for range rng.IntN(12) {
			tx++
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(4) == 0 {
				es = append(es, entry(typeNotes, tx, run, "-"+k))
			} else {
				es = append(es, entry(typeNotes, tx, run, k+"="+vals[rng.IntN(len(vals))]))
			}
		}
		for range rng.IntN(6) {
			tx++
			es = append(es, entry(typeLog, tx, run, vals[rng.IntN(len(vals))]))
		}
		return es
	}
	swap := func(cs []replayer.Change) []replayer.Change {
		var out []replayer.Change // nil when cs is empty, as Compare leaves it
		for _, c := range cs {
			out = append(out, replayer.Change{Owner: c.Owner, Key: c.Key, Before: c.After, After: c.Before})
		}
		return out
	}
	noPaths := func(cs []replayer.Change) []replayer.Change {
		out := slices.Clone(cs)
		for i := range out {
			out[i].Paths = nil
		}
		return out
	}

	for i := range 200 {
		runA, runB := extension.NewRunID(), extension.NewRunID()
		a, b := replay(t, f, runA, randomRun(runA)), replay(t, f, runB, randomRun(runB))
		ab, err := replayer.Compare(a, b)
		require.NoError(t, err)
		ba, err := replayer.Compare(b, a)
		require.NoError(t, err)

		require.Equal(t, ab.Added, swap(ba.Removed), "iteration %d", i)
		require.Equal(t, ab.Removed, swap(ba.Added), "iteration %d", i)
		require.Equal(t, noPaths(ab.Modified), swap(noPaths(ba.Modified)), "iteration %d", i)

		// Keyed: delete Removed, set Added and Modified; A becomes B.
		state := map[string]string{}
		for _, it := range items(a, ownerNotes) {
			k, v, _ := strings.Cut(it, "=")
			state[k] = v
		}
		// Sequence: drop Removed from A's tail, append Added; A becomes B.
		seq, tail := items(a, ownerLog), []string{}
		for _, c := range ab.Removed {
			switch c.Owner {
			case ownerNotes:
				require.Equal(t, state[c.Key], string(c.Before))
				delete(state, c.Key)
			case ownerLog:
				tail = append(tail, c.Key+"="+string(c.Before))
			default:
				t.Fatalf("unexpected owner %d", c.Owner)
			}
		}
		require.Equal(t, seq[len(seq)-len(tail):], tail, "removed from the tail, iteration %d", i)
		seq = seq[:len(seq)-len(tail)]
		for _, c := range ab.Added {
			switch c.Owner {
			case ownerNotes:
				require.NotContains(t, state, c.Key)
				state[c.Key] = string(c.After)
			case ownerLog:
				seq = append(seq, c.Key+"="+string(c.After))
			default:
				t.Fatalf("unexpected owner %d", c.Owner)
			}
		}
		for _, c := range ab.Modified {
			require.Equal(t, ownerNotes, c.Owner)
			require.Equal(t, state[c.Key], string(c.Before))
			require.NotEqual(t, c.Before, c.After)
			state[c.Key] = string(c.After)
		}
		got := []string{}
		for k, v := range state {
			got = append(got, k+"="+v)
		}
		slices.Sort(got)
		require.Equal(t, items(b, ownerNotes), got, "iteration %d", i)
		require.Equal(t, items(b, ownerLog), seq, "iteration %d", i)
	}
}

// Compare skips primitives that are not Listers (counter) and those absent from a view
// (plain, not Replayable, though it is a Lister whose live instance always lists an item).
func TestCompareSkipsNonListersAndNilPrimitives(t *testing.T) {
	f := newFixture(t)
	runA, runB := extension.NewRunID(), extension.NewRunID()
	a := replay(t, f, runA, []commitlog.Entry{entry(typeCounter, 1, runA, ""), entry(typePlain, 2, runA, "")})
	b := replay(t, f, runB, []commitlog.Entry{entry(typeCounter, 1, runB, ""), entry(typeCounter, 2, runB, "")})
	require.Nil(t, a.Primitive(ownerPlain))
	require.Equal(t, 1, a.Primitive(ownerCounter).(*counter).n)
	require.Equal(t, 2, b.Primitive(ownerCounter).(*counter).n)

	d, err := replayer.Compare(a, b)
	require.NoError(t, err)
	assert.Equal(t, &replayer.Diff{}, d)

	// A registry holding only primitives Compare cannot use.
	reg := new(extension.Registry)
	require.NoError(t, reg.Register(new(plain)))
	require.NoError(t, reg.Register(new(counter)))
	va, err := replayer.Replay(reg, runA, entriesOf([]commitlog.Entry{entry(typeCounter, 1, runA, "")}))
	require.NoError(t, err)
	vb, err := replayer.Replay(reg, runB, entriesOf(nil))
	require.NoError(t, err)
	d, err = replayer.Compare(va, vb)
	require.NoError(t, err)
	assert.Equal(t, &replayer.Diff{}, d)
}

// entriesOf yields es as a journal yields entries it reads without fail.
func entriesOf(es []commitlog.Entry) iter.Seq2[commitlog.Entry, error] {
	return func(yield func(commitlog.Entry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// A step the journal cannot read back fails the replay with its error, as it is: no view of
// the steps before it is returned as if it were the whole run.
func TestReplayStopsAtAnUnreadableStep(t *testing.T) {
	f := newFixture(t)
	run := extension.NewRunID()
	unreadable := errors.New("step 2 could not be read")
	entries := func(yield func(commitlog.Entry, error) bool) {
		if yield(entry(typeLog, 1, run, "a"), nil) {
			yield(commitlog.Entry{}, unreadable)
		}
	}
	v, err := replayer.Replay(f.reg, run, entries)
	require.ErrorIs(t, err, unreadable)
	assert.Nil(t, v)
}
