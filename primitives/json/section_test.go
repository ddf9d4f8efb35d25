package json

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"github.com/inmemdb/inmem/internal/mvcc"
	"math"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/jsonvalid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var otherRun = extension.RunID{8}

// commitRun runs fn in a transaction of r at snapshot version-1 and applies it at version.
func commitRun(t testing.TB, s *Store, sh *shard, r extension.RunID, version uint64, fn func(tx *Tx)) {
	t.Helper()
	tx := s.NewTx(r, version-1)
	fn(tx)
	c := &commit{RunID: r, Snap: version - 1, Ver: version, TS: int64(version)}
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.Ver
	}
	require.NoError(t, sh.Apply(es))
	if logApplied != nil {
		logApplied(es)
	}
}

// logApplied, when set, sees the entries commitRun applies.
var logApplied func([]commitlog.Entry)

// Apply takes the ops a transaction already parsed from Entry.Decoded; what it builds from the
// payload alone (recovery, replay) must be the same.
func TestApplyOfPayloadsEqualsApplyOfDecoded(t *testing.T) {
	s, sh := newStore()
	replica, replicaShard := newStore()
	logApplied = func(es []commitlog.Entry) {
		for _, e := range es {
			require.NotNil(t, e.Decoded, "a transaction's entry carries its decoded ops")
			e.Decoded = nil
			require.NoError(t, replicaShard.Apply([]commitlog.Entry{e}))
		}
	}
	defer func() { logApplied = nil }()
	steps(t, s, sh, 1, lastStep)
	assert.Equal(t, fingerprint(t, s), fingerprint(t, replica))
}

func writeSection(t testing.TB, fv extension.FrozenView) []byte {
	t.Helper()
	sec, err := extensiontest.Section(fv)
	require.NoError(t, err)
	return sec
}

// load loads every chunk of sec into a fresh store.
func load(sec []byte) (*Store, *shard, error) {
	s, sh := newStore()
	return s, sh, extensiontest.LoadSection(sec, []*shard{sh})
}

// docState is everything a reader sees of a document, and what validation reads of it.
type docState struct {
	Text    string // Get at "$"
	Version uint64
	Commit  uint64 // of the newest version: what Validate compares snapshots with
	Value   any
}

// dump is what store s shows of run r at snapshot.
func dump(t *testing.T, s *Store, r extension.RunID, snapshot uint64) map[string]docState {
	t.Helper()
	out := map[string]docState{}
	for _, k := range s.Keys(r, snapshot) {
		b, err := s.Get(r, k, "$", snapshot)
		require.NoError(t, err, k)
		d, ok := s.Doc(r, k, snapshot)
		require.True(t, ok, k)
		out[k] = docState{Text: string(b), Version: d.Version, Commit: s.Chain(r, k, snapshot).At(snapshot).Commit, Value: d.Value}
	}
	return out
}

// step applies version v of a history over three runs; the snapshot tests freeze it at
// frozenAt, in the middle.
func step(t testing.TB, s *Store, sh *shard, v uint64) {
	t.Helper()
	switch v {
	case 1:
		commitRun(t, s, sh, run, 1, func(tx *Tx) {
			require.NoError(t, tx.Create("a", []byte(`{"x":1,"list":[1,2.50,-0,1e10,"s"],"empty":{},"arr":[],"n":null,"t":true,"f":false}`)))
			require.NoError(t, tx.Create("gone", []byte(`"bye"`)))
			require.NoError(t, tx.Create("scalar", []byte(`12345678901234567890.000`)))
		})
	case 2:
		commitRun(t, s, sh, run, 2, func(tx *Tx) {
			require.NoError(t, tx.Patch("a", []PatchOp{
				{Op: "set", Path: "$.o.p[0]", Value: []byte(`{"<html>":"é & \u2028 \"q\"","":[]}`)},
				{Op: "delete", Path: "$.x"},
			}))
			require.NoError(t, tx.Create("deep", []byte(nested(MaxDepth))))
		})
	case 3:
		commitRun(t, s, sh, run, 3, func(tx *Tx) { require.NoError(t, tx.Set("a", "$.list[5]", []byte(`{"z":0}`))) })
	case 4:
		commitRun(t, s, sh, run, 4, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("gone")) })
	case 5:
		commitRun(t, s, sh, otherRun, 5, func(tx *Tx) { require.NoError(t, tx.Create("b", []byte(`[1,{"k":"v"}]`))) })
	case 6:
		commitRun(t, s, sh, run, 6, func(tx *Tx) { require.NoError(t, tx.Delete("a", "$.list[0]")) })
	case 7:
		commitRun(t, s, sh, otherRun, 7, func(tx *Tx) { require.NoError(t, tx.Set("b", "$[2]", []byte(`"x"`))) })
	// After the freeze.
	case 8:
		commitRun(t, s, sh, run, 8, func(tx *Tx) {
			require.NoError(t, tx.Set("a", "$.later", []byte(`1`)))
			require.NoError(t, tx.Create("gone", []byte(`"back"`)))
			require.NoError(t, tx.Create("new", []byte(`{}`)))
		})
	case 9:
		commitRun(t, s, sh, run, 9, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("scalar")) })
	case 10:
		commitRun(t, s, sh, thirdRun, 10, func(tx *Tx) { require.NoError(t, tx.Create("c", []byte(`1`))) })
	case 11:
		commitRun(t, s, sh, otherRun, 11, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("b")) })
	default:
		t.Fatalf("no step %d", v)
	}
}

const (
	frozenAt = 7
	lastStep = 11
)

var thirdRun = extension.RunID{9}

func steps(t testing.TB, s *Store, sh *shard, from, to uint64) {
	t.Helper()
	for v := from; v <= to; v++ {
		step(t, s, sh, v)
	}
}

func TestSectionRoundTrip(t *testing.T) {
	s, sh := newStore()
	steps(t, s, sh, 1, frozenAt)
	fv := sh.Freeze(frozenAt)
	steps(t, s, sh, frozenAt+1, lastStep)
	sh.Trim(frozenAt) // the engine pins the frozen version: trimming keeps what it sees
	sec := writeSection(t, fv)

	ls, lsh, err := load(sec)
	require.NoError(t, err)
	runs := []extension.RunID{run, otherRun, thirdRun}
	for _, r := range runs {
		want := dump(t, s, r, frozenAt)
		assert.Equal(t, want, dump(t, ls, r, frozenAt), "run %s at the frozen version", r)
		assert.Equal(t, want, dump(t, ls, r, math.MaxUint64), "run %s: nothing of the later commits", r)
	}
	assert.Equal(t, []string{"a", "deep", "scalar"}, ls.Keys(run, frozenAt), "the deleted document is absent")
	assert.Nil(t, ls.Chain(run, "gone", mvcc.Latest), "no tombstone is loaded")
	assert.Empty(t, ls.Keys(thirdRun, math.MaxUint64))
	a := dump(t, ls, run, frozenAt)["a"]
	assert.Equal(t, []uint64{4, 6}, []uint64{a.Version, a.Commit}, "document version and last commit")
	assert.Equal(t, `{"arr":[],"empty":{},"f":false,"list":[2.50,-0,1e10,"s",{"z":0}],"n":null,`+
		`"o":{"p":[{"":[],"\u003chtml\u003e":"é \u0026 \u2028 \"q\""}]},"t":true}`, a.Text)
	assert.Equal(t, `12345678901234567890.000`, dump(t, ls, run, frozenAt)["scalar"].Text)
	for _, r := range runs {
		for k, d := range dump(t, s, r, frozenAt) {
			loaded, _ := ls.Doc(r, k, frozenAt)
			assert.Equal(t, appendValue(nil, d.Value), appendValue(nil, loaded.Value), "%s encodes the same", k)
		}
	}

	// Every path reads the same, errors included.
	for _, p := range []string{"$.list", "$.list[3]", "$.list[4].z", "$.o.p[0]", "$.empty", "$.arr",
		"$.n", "$.nope", "$.list[9]", "$.t.x", "$.arr[0]", "$.empty[0]", "$["} {
		want, werr := s.Get(run, "a", p, frozenAt)
		got, gerr := ls.Get(run, "a", p, frozenAt)
		assert.Equal(t, string(want), string(got), p)
		assert.Equal(t, werr == nil, gerr == nil, p)
		for _, sentinel := range []error{dberr.ErrNotFound, dberr.ErrTypeMismatch, dberr.ErrInvalidPath} {
			assert.Equal(t, errors.Is(werr, sentinel), errors.Is(gerr, sentinel), "%s: %v vs %v", p, werr, gerr)
		}
	}

	// Validation sees the same state: a transaction whose snapshot predates a document's last
	// write conflicts; limits count the loaded document's nesting; existence is the same.
	for name, fn := range map[string]func(st *Store) error{
		"stale snapshot": func(st *Store) error {
			tx := st.NewTx(otherRun, 4)
			require.NoError(t, tx.Set("b", "$[0]", []byte(`0`)))
			return tx.Validate(&commit{RunID: otherRun, Snap: 4, Ver: 8})
		},
		"fresh snapshot": func(st *Store) error {
			tx := st.NewTx(otherRun, 7)
			require.NoError(t, tx.Set("b", "$[0]", []byte(`0`)))
			return tx.Validate(&commit{RunID: otherRun, Snap: 7, Ver: 8})
		},
		"create existing": func(st *Store) error {
			tx := st.NewTx(run, 7)
			require.NoError(t, tx.Create("a", []byte(`1`)))
			return tx.Validate(&commit{RunID: run, Snap: 7, Ver: 8})
		},
		"too deep": func(st *Store) error {
			tx := st.NewTx(run, 7)
			require.NoError(t, tx.Set("deep", "$"+strings.Repeat("[0]", MaxDepth), []byte(`[]`)))
			return tx.Validate(&commit{RunID: run, Snap: 7, Ver: 8})
		},
	} {
		orig, osh := newStore()
		steps(t, orig, osh, 1, frozenAt)
		werr, gerr := fn(orig), fn(ls)
		assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(gerr), name)
		if name != "fresh snapshot" {
			assert.Error(t, gerr, name)
		}
	}

	// The commits after the freeze replay on the loaded store to the original's state.
	steps(t, ls, lsh, frozenAt+1, lastStep)
	for _, r := range runs {
		assert.Equal(t, dump(t, s, r, lastStep), dump(t, ls, r, lastStep), "run %s after the later commits", r)
	}
	ver, err := ls.Version(run, "a", lastStep)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), ver, "the document's counter continues")

	// A section of the loaded store loads to the same state again.
	again, _, err := load(writeSection(t, lsh.Freeze(lastStep)))
	require.NoError(t, err)
	for _, r := range runs {
		assert.Equal(t, dump(t, s, r, lastStep), dump(t, again, r, lastStep))
	}
}

// Writing runs on the snapshotter's goroutine while the actor applies and trims: run with -race.
func TestSectionWrittenDuringApply(t *testing.T) {
	s, sh := newStore()
	steps(t, s, sh, 1, frozenAt)
	want := dump(t, s, run, frozenAt)
	wait := extensiontest.WriteConcurrently(20, sh.Freeze(frozenAt))
	for v := uint64(frozenAt + 1); v <= frozenAt+200; v++ {
		commitRun(t, s, sh, run, v, func(tx *Tx) {
			require.NoError(t, tx.Set("a", "$.n", []byte(fmt.Sprint(v))))
			require.NoError(t, tx.Set("scalar", "$", []byte(fmt.Sprint(-int(v)))))
		})
		if v%7 == 0 {
			sh.Trim(frozenAt)
		}
	}
	secs, err := wait()
	require.NoError(t, err)
	require.Len(t, secs, 20)
	for _, sec := range secs {
		ls, _, err := load(sec)
		require.NoError(t, err)
		assert.Equal(t, want, dump(t, ls, run, math.MaxUint64))
	}
}

// runChunk is the chunk of run from a store at frozenAt.
func runChunk(t *testing.T) *extension.Chunk {
	t.Helper()
	s, sh := newStore()
	steps(t, s, sh, 1, frozenAt)
	c, err := extensiontest.RunChunk(writeSection(t, sh.Freeze(frozenAt)), run)
	require.NoError(t, err)
	require.NotEmpty(t, c.Body)
	return c
}

// target returns a store holding a document of another run, and its fingerprint.
func target(t *testing.T) (*Store, *shard, string) {
	s, sh := newStore()
	commitRun(t, s, sh, thirdRun, 1, func(tx *Tx) { require.NoError(t, tx.Create("c", []byte(`{"keep":[1]}`))) })
	return s, sh, fingerprint(t, s)
}

// fingerprint is everything s shows of the test runs.
func fingerprint(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	for _, r := range []extension.RunID{run, otherRun, thirdRun} {
		d := dump(t, s, r, math.MaxUint64)
		for _, k := range s.Keys(r, math.MaxUint64) {
			fmt.Fprintf(&b, "%s %q v%d c%d %s\n", r, k, d[k].Version, d[k].Commit, d[k].Text)
		}
	}
	return b.String()
}

func TestLoadSectionTruncated(t *testing.T) {
	c := runChunk(t)
	orig, osh := newStore()
	steps(t, orig, osh, 1, frozenAt)
	want := dump(t, orig, run, frozenAt)

	s, sh, _ := target(t)
	require.NoError(t, sh.LoadSection(bytes.NewReader(extensiontest.Encode(c))), "a streamed chunk loads")
	assert.Equal(t, want, dump(t, s, run, frozenAt))

	for cut := range extensiontest.ChunkCuts(c) {
		s, sh, fp := target(t)
		err := sh.LoadSection(cut.Chunk)
		require.ErrorIs(t, err, dberr.ErrCorruption, cut.What)
		require.Equal(t, fp, fingerprint(t, s), cut.What)
	}
	// A body cut at a record boundary is a valid, smaller table (the format has no count);
	// anything else fails. Either way what loads is part of what was written.
	failed := 0
	for cut := range extensiontest.BodyCuts(c) {
		s, sh, fp := target(t)
		if err := sh.LoadSection(cut.Chunk); err != nil {
			require.ErrorIs(t, err, dberr.ErrCorruption, cut.What)
			require.Equal(t, fp, fingerprint(t, s), cut.What)
			failed++
			continue
		}
		for k, d := range dump(t, s, run, frozenAt) {
			assert.Equal(t, want[k], d, "%s: %s", cut.What, k)
		}
	}
	assert.Greater(t, failed, len(c.Body)*9/10)
}

func TestLoadSectionFlippedBytes(t *testing.T) {
	c := runChunk(t)
	failed := 0
	for d := range extensiontest.Flips(c) {
		s, sh, fp := target(t)
		err := sh.LoadSection(d.Chunk)
		if err != nil {
			require.ErrorIs(t, err, dberr.ErrCorruption, d.What)
			require.Equal(t, fp, fingerprint(t, s), d.What)
			failed++
			continue
		}
		require.NotPanics(t, func() { _ = fingerprint(t, s) })
		if d.At == 0 {
			t.Fatalf("format byte accepted: %s", d.What)
		}
	}
	assert.Greater(t, failed, len(c.Body))
}

func TestLoadSectionRejects(t *testing.T) {
	rec := func(doc ...byte) []byte { return append([]byte{1, 9, 0, 1, 'k'}, doc...) }
	deep := func(n int) []byte {
		b := []byte{1}
		for range n - 1 {
			b = append(b, tagArray, 1)
		}
		return append(b, tagArray, 0)
	}
	s, sh, _ := target(t)
	require.NoError(t, sh.LoadSection(extension.NewChunk(run, rec(1, tagObject, 3,
		0, tagNull, 1, 'a', tagNumber, 3, '-', '1', '0', 2, 'b', 'c', tagArray, 2, tagTrue, tagString, 2, 0xc3, 0xa9))))
	assert.Equal(t, `{"":null,"a":-10,"bc":[true,"é"]}`, get(t, s, "k", "$", 9))
	_, sh, _ = target(t)
	require.NoError(t, sh.LoadSection(extension.NewChunk(run, rec(deep(MaxDepth)...))))

	for name, body := range map[string][]byte{
		"empty":                {},
		"format 2":             {2},
		"tombstone":            {1, 9, 1, 1, 'k', 0},
		"commit 0":             {1, 0, 0, 1, 'k', 1, tagNull},
		"no version":           rec(),
		"version 0":            rec(0, tagNull),
		"no value":             rec(1),
		"unknown tag":          rec(1, 7),
		"leading zero":         rec(1, tagNumber, 2, '0', '1'),
		"not a number":         rec(1, tagNumber, 3, 'n', 'a', 'n'),
		"empty number":         rec(1, tagNumber, 0),
		"number past the end":  rec(1, tagNumber, 2, '1'),
		"string past the end":  rec(1, tagString, 5, 'a'),
		"invalid UTF-8":        rec(1, tagString, 1, 0xff),
		"invalid member name":  rec(1, tagObject, 1, 1, 0xff, tagNull),
		"duplicate member":     rec(1, tagObject, 2, 1, 'a', tagNull, 1, 'a', tagNull),
		"unsorted members":     rec(1, tagObject, 2, 1, 'b', tagNull, 1, 'a', tagNull),
		"member count":         rec(1, tagObject, 3, 0, tagNull),
		"element count":        rec(1, tagArray, 3, tagNull, tagNull),
		"huge count":           rec(1, tagArray, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"bad count varint":     rec(1, tagArray, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"too deep":             rec(deep(MaxDepth + 1)...),
		"trailing byte":        append(rec(1, tagNull), 0),
		"second record broken": append(rec(1, tagNull), 9, 0, 1, 'm', 1, 7),
	} {
		s, sh, fp := target(t)
		err := sh.LoadSection(extension.NewChunk(run, body))
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.Equal(t, fp, fingerprint(t, s), name)
	}
}

func TestValidNumber(t *testing.T) {
	for _, n := range []string{"0", "-0", "1", "-12", "1.5", "0.0", "1e5", "1E+5", "-1.25e-10", "12345678901234567890"} {
		assert.True(t, jsonvalid.Number([]byte(n)), n)
		v, err := parseValue([]byte(n))
		require.NoError(t, err, n)
		assert.Equal(t, stdjson.Number(n), v, n)
	}
	for _, n := range []string{"", "-", "01", "-01", "1.", ".5", "1e", "1e+", "+1", "0x1", "1.5.5", "Infinity", "NaN", "1_0", "--1", "1e5e5"} {
		assert.False(t, jsonvalid.Number([]byte(n)), n)
		v, err := parseValue([]byte(n))
		_, isNum := v.(stdjson.Number)
		assert.False(t, err == nil && isNum, n)
	}
}

func FuzzLoadSection(f *testing.F) {
	s, sh := newStore()
	steps(f, s, sh, 1, frozenAt)
	chunks, err := extensiontest.Chunks(writeSection(f, sh.Freeze(frozenAt)))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range chunks {
		f.Add(c.Body)
	}
	f.Add([]byte{1, 9, 0, 1, 'k', 1, tagObject, 1, 1, 'a', tagArray, 1, tagNumber, 1, '1'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, sh := newStore()
		err := sh.LoadSection(extension.NewChunk(run, body))
		if err != nil {
			if !errors.Is(err, dberr.ErrCorruption) {
				t.Fatalf("error %v is not ErrCorruption", err)
			}
			if len(s.Keys(run, math.MaxUint64)) != 0 {
				t.Fatal("a rejected chunk loaded documents")
			}
			return
		}
		// Accepted: every document reads, and writes and loads back to the same.
		sec, err := extensiontest.Section(sh.Freeze(math.MaxUint64))
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := load(sec)
		if err != nil {
			t.Fatalf("a loaded section does not load again: %v", err)
		}
		for _, k := range s.Keys(run, math.MaxUint64) {
			a, err := s.Get(run, k, "$", math.MaxUint64)
			if err != nil {
				t.Fatalf("%q: %v", k, err)
			}
			b, err := again.Get(run, k, "$", math.MaxUint64)
			if err != nil || !bytes.Equal(a, b) {
				t.Fatalf("%q: %s, then %s %v", k, a, b, err)
			}
			if !stdjson.Valid(a) {
				t.Fatalf("%q: invalid JSON %s", k, a)
			}
		}
	})
}

// BenchmarkLoadSection loads a chunk of 20,000 documents of ~1.5 KB (as JSON text) each.
func BenchmarkLoadSection(b *testing.B) {
	s, sh := newStore()
	var doc strings.Builder
	doc.WriteString(`{"items":[`)
	for i := range 20 {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"id":%d,"name":"item %d","price":%d.25,"tags":["a","b"],"ok":true}`, i, i, i)
	}
	doc.WriteString(`],"owner":{"name":"someone","since":1700000000}}`)
	for v := uint64(1); v <= 20; v++ {
		commitRun(b, s, sh, run, v, func(tx *Tx) {
			for i := range 1000 {
				require.NoError(b, tx.Create(fmt.Sprintf("doc-%d-%d", v, i), []byte(doc.String())))
			}
		})
	}
	chunks, err := extensiontest.Chunks(writeSection(b, sh.Freeze(20)))
	require.NoError(b, err)
	require.Len(b, chunks, 1)
	body := chunks[0].Body
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		_, sh := newStore()
		if err := sh.LoadSection(extension.NewChunk(run, body)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(20_000*doc.Len())/float64(b.Elapsed().Seconds())/float64(b.N)/1e6, "json-MB/s")
}
