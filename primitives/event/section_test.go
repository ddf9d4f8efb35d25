package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/chunked"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	runB = extension.RunID{4}
	runC = extension.RunID{5}
	runs = []extension.RunID{run, runB, runC}
)

// commitAt applies one transaction of r at version appending events of type typ.
func commitAt(t testing.TB, s *Store, sh extension.Shard, r extension.RunID, version uint64, typ string, payloads ...string) {
	t.Helper()
	tx := s.NewTx(r, version-1)
	for _, p := range payloads {
		require.NoError(t, tx.Append(typ, []byte(p)))
	}
	c := &extensiontest.Commit{RunID: r, Snap: version - 1, Ver: version, TS: 1_700_000_000_000_000 + int64(version)}
	es := tx.Entries(nil, c)
	for j := range es {
		es[j].TxID = version
	}
	require.NoError(t, sh.Apply(es))
}

const (
	frozenAt = 5
	lastStep = 8
)

// step applies version v of a history over three runs; the tests freeze it at frozenAt.
func step(t testing.TB, s *Store, sh extension.Shard, v uint64) {
	t.Helper()
	switch v {
	case 1:
		commitAt(t, s, sh, run, 1, "start", `{"a":1}`, `[]`, `"é"`)
	case 2:
		commitAt(t, s, sh, runB, 2, "tool.call", `{"tool":"search","args":{"q":"x"}}`)
	case 3:
		commitAt(t, s, sh, run, 3, "t", `1`)
	case 4: // no events (another primitive's commit)
	case 5:
		commitAt(t, s, sh, run, 5, "t", `2`, `3`)
		commitAt(t, s, sh, runB, 5, "t", `null`)
	case 6:
		commitAt(t, s, sh, run, 6, "after", `4`)
	case 7:
		commitAt(t, s, sh, runC, 7, "new run", `{}`)
	case 8:
		commitAt(t, s, sh, runB, 8, "t", `5`, `6`)
	default:
		t.Fatalf("no step %d", v)
	}
}

func steps(t testing.TB, s *Store, sh extension.Shard, from, to uint64) {
	t.Helper()
	for v := from; v <= to; v++ {
		step(t, s, sh, v)
	}
}

func writeSection(t testing.TB, fv extension.FrozenView) []byte {
	t.Helper()
	sec, err := extensiontest.Section(fv)
	require.NoError(t, err)
	return sec
}

// load loads every chunk of sec into a fresh store.
func load(sec []byte) (*Store, extension.Shard, error) {
	s := New(1)
	sh := s.NewShard(0)
	return s, sh, extensiontest.LoadSection(sec, []extension.Shard{sh})
}

// sameEvents compares logs; no events is no events, nil or not.
func sameEvents(t *testing.T, want, got []Event, msgAndArgs ...any) {
	t.Helper()
	if len(want) == 0 {
		assert.Empty(t, got, msgAndArgs...)
		return
	}
	assert.Equal(t, want, got, msgAndArgs...)
}

func TestSectionRoundTrip(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	steps(t, s, sh, 1, frozenAt)
	fv := sh.Freeze(frozenAt)
	steps(t, s, sh, frozenAt+1, lastStep)
	sec := writeSection(t, fv)

	ls, lsh, err := load(sec)
	require.NoError(t, err)
	for _, r := range runs {
		want := s.Events(r, frozenAt)
		sameEvents(t, want, ls.Events(r, frozenAt), "run %s at the frozen version", r)
		sameEvents(t, want, ls.Events(r, math.MaxUint64), "run %s: nothing of the later commits", r)
		assert.NoError(t, VerifyChain(slices.All(ls.Events(r, math.MaxUint64))))
	}
	require.Len(t, ls.Events(run, frozenAt), 6)
	require.Len(t, ls.Events(runB, frozenAt), 2)
	assert.Empty(t, ls.Events(runC, math.MaxUint64))
	assert.Len(t, ls.Events(run, 3), 4, "a reader below the frozen version still sees a prefix")
	assert.Equal(t, `"é"`, string(ls.Events(run, 1)[2].Payload))

	// The later appends chain on: the loaded store ends exactly where the original does.
	steps(t, ls, lsh, frozenAt+1, lastStep)
	for _, r := range runs {
		es := ls.Events(r, math.MaxUint64)
		assert.Equal(t, s.Events(r, math.MaxUint64), es, "run %s after the later commits", r)
		assert.NoError(t, VerifyChain(slices.All(es)), "run %s", r)
	}
	es := ls.Events(run, math.MaxUint64)
	require.Len(t, es, 7)
	assert.Equal(t, es[5].Hash, es[6].PrevHash)
	assert.EqualValues(t, 6, es[6].Seq)

	// The loaded store writes what it loaded.
	again, _, err := load(writeSection(t, lsh.Freeze(frozenAt)))
	require.NoError(t, err)
	for _, r := range runs {
		sameEvents(t, s.Events(r, frozenAt), again.Events(r, math.MaxUint64), "run %s", r)
	}
}

// Writing runs on the snapshotter's goroutine while the actor appends: run with -race.
func TestSectionWrittenDuringApply(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	steps(t, s, sh, 1, frozenAt)
	want := map[extension.RunID][]Event{}
	for _, r := range runs {
		want[r] = s.Events(r, frozenAt)
	}
	wait := extensiontest.WriteConcurrently(20, sh.Freeze(frozenAt))
	for v := uint64(frozenAt + 1); v <= frozenAt+300; v++ {
		commitAt(t, s, sh, runs[v%3], v, "t", fmt.Sprint(v))
	}
	secs, err := wait()
	require.NoError(t, err)
	require.Len(t, secs, 20)
	for _, sec := range secs {
		ls, _, err := load(sec)
		require.NoError(t, err)
		for _, r := range runs {
			sameEvents(t, want[r], ls.Events(r, math.MaxUint64), "run %s", r)
		}
	}
}

// runChunk is the chunk of run from a store at frozenAt.
func runChunk(t testing.TB) *extension.Chunk {
	t.Helper()
	s := New(1)
	sh := s.NewShard(0)
	steps(t, s, sh, 1, frozenAt)
	c, err := extensiontest.RunChunk(writeSection(t, sh.Freeze(frozenAt)), run)
	require.NoError(t, err)
	require.NotEmpty(t, c.Body)
	return c
}

// target returns a store holding events of another run, and its fingerprint.
func target(t *testing.T) (*Store, extension.Shard, string) {
	s := New(1)
	sh := s.NewShard(0)
	commitAt(t, s, sh, runC, 1, "keep", `1`)
	return s, sh, fingerprint(s)
}

func fingerprint(s *Store) string {
	return fmt.Sprint(s.Events(run, math.MaxUint64), s.Events(runB, math.MaxUint64), s.Events(runC, math.MaxUint64))
}

func TestLoadSectionTruncated(t *testing.T) {
	c := runChunk(t)
	s, sh, _ := target(t)
	require.NoError(t, sh.LoadSection(bytes.NewReader(extensiontest.Encode(c))), "a streamed chunk loads")
	require.Len(t, s.Events(run, math.MaxUint64), 6)

	for d := range extensiontest.ChunkCuts(c) {
		s, sh, fp := target(t)
		require.ErrorIs(t, sh.LoadSection(d.Chunk), dberr.ErrCorruption, d.What)
		require.Equal(t, fp, fingerprint(s), d.What)
	}
	// The body holds its event count: any cut fails.
	for d := range extensiontest.BodyCuts(c) {
		s, sh, fp := target(t)
		require.ErrorIs(t, sh.LoadSection(d.Chunk), dberr.ErrCorruption, d.What)
		require.Equal(t, fp, fingerprint(s), d.What)
	}
}

func TestLoadSectionFlippedBytes(t *testing.T) {
	failed, broken := 0, 0
	for d := range extensiontest.Flips(runChunk(t)) {
		s, sh, fp := target(t)
		if err := sh.LoadSection(d.Chunk); err != nil {
			require.ErrorIs(t, err, dberr.ErrCorruption, d.What)
			require.Equal(t, fp, fingerprint(s), d.What)
			failed++
			continue
		}
		require.NotEqual(t, 0, d.At, "format byte accepted: %s", d.What)
		// Accepted (a changed type, payload, timestamp, commit or hash): the stored hashes
		// are trusted, so VerifyChain is what notices.
		if VerifyChain(slices.All(s.Events(run, math.MaxUint64))) != nil {
			broken++
		}
	}
	assert.Greater(t, failed, 0)
	assert.Greater(t, broken, 0)
}

// body builds a chunk body from raw events: seq, commit, type, payload, hash.
type raw struct {
	seq, commit  uint64
	typ, payload string
}

func body(count int, evs ...raw) []byte {
	b := []byte{sectionFormat}
	b = binary.AppendUvarint(b, uint64(count))
	for _, e := range evs {
		b = binary.AppendUvarint(b, e.seq)
		b = binary.AppendUvarint(b, e.commit)
		b = binary.LittleEndian.AppendUint64(b, 7)
		b = binary.AppendUvarint(b, uint64(len(e.typ)))
		b = append(b, e.typ...)
		b = binary.AppendUvarint(b, uint64(len(e.payload)))
		b = append(b, e.payload...)
		b = append(b, make([]byte, 32)...)
	}
	return b
}

func TestLoadSectionRejects(t *testing.T) {
	ok := body(2, raw{0, 1, "t", "1"}, raw{1, 1, "u", ""})
	s, sh, _ := target(t)
	require.NoError(t, sh.LoadSection(extension.NewChunk(run, ok)))
	es := s.Events(run, math.MaxUint64)
	require.Len(t, es, 2)
	assert.Equal(t, Event{Seq: 1, Type: "u", Payload: []byte{}, Timestamp: 7, Commit: 1}, es[1])

	for name, b := range map[string][]byte{
		"empty":          {},
		"format 2":       {2, 1},
		"no count":       {sectionFormat},
		"count 0":        body(0),
		"count too big":  body(3, raw{0, 1, "t", "1"}, raw{1, 1, "u", ""}),
		"huge count":     append([]byte{sectionFormat}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"trailing bytes": append(bytes.Clone(ok), 0),
		"seq from 1":     body(1, raw{1, 1, "t", "1"}),
		"seq gap":        body(2, raw{0, 1, "t", "1"}, raw{2, 1, "t", "1"}),
		"seq repeated":   body(2, raw{0, 1, "t", "1"}, raw{0, 1, "t", "1"}),
		"commit 0":       body(1, raw{0, 0, "t", "1"}),
		"commit goes back": body(3, raw{0, 5, "t", "1"}, raw{1, 6, "t", "1"},
			raw{2, 5, "t", "1"}),
		"empty type":        body(1, raw{0, 1, "", "1"}),
		"type too long":     body(1, raw{0, 1, string(make([]byte, MaxTypeSize+1)), "1"}),
		"type not UTF-8":    body(1, raw{0, 1, "\xff", "1"}),
		"payload too large": body(1, raw{0, 1, "t", string(make([]byte, MaxPayloadSize+1))}),
		"hash cut":          body(1, raw{0, 1, "t", "1"})[:len(body(1, raw{0, 1, "t", "1"}))-1],
	} {
		s, sh, fp := target(t)
		err := sh.LoadSection(extension.NewChunk(run, b))
		assert.ErrorIs(t, err, dberr.ErrCorruption, name)
		assert.Equal(t, fp, fingerprint(s), name)
	}

	// A second chunk of a run is damage, not an append.
	s, sh, _ = target(t)
	fp := fingerprint(s)
	assert.ErrorIs(t, sh.LoadSection(extension.NewChunk(runC, ok)), dberr.ErrCorruption)
	assert.Equal(t, fp, fingerprint(s))
}

// Loading allocates per block of the log (5 blocks for 200 events), not per event: types and
// payloads alias the chunk body.
func TestLoadSectionAllocations(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	for v := uint64(1); v <= 100; v++ {
		commitAt(t, s, sh, run, v, "t", `{"n":1}`, `[2]`)
	}
	chunks, err := extensiontest.Chunks(writeSection(t, sh.Freeze(100)))
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	b := chunks[0].Body
	allocs := testing.AllocsPerRun(20, func() {
		fresh := New(1).NewShard(0)
		if err := fresh.LoadSection(extension.NewChunk(run, b)); err != nil {
			t.Fatal(err)
		}
	})
	assert.Less(t, allocs, 30.0, "200 events load in a few dozen allocations at most")
}

func FuzzLoadSection(f *testing.F) {
	f.Add(runChunk(f).Body)
	f.Add([]byte{sectionFormat, 1, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 't', 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(1)
		sh := s.NewShard(0)
		err := sh.LoadSection(extension.NewChunk(run, b))
		es := s.Events(run, math.MaxUint64)
		if err != nil {
			if !errors.Is(err, dberr.ErrCorruption) {
				t.Fatalf("error %v is not ErrCorruption", err)
			}
			if len(es) != 0 {
				t.Fatal("a rejected chunk loaded events")
			}
			return
		}
		// Accepted: a contiguous log, ordered by commit, linked, that writes and loads back.
		if len(es) == 0 {
			t.Fatal("an accepted chunk loaded nothing")
		}
		for i, e := range es {
			if e.Seq != uint64(i) || (i > 0 && (e.PrevHash != es[i-1].Hash || e.Commit < es[i-1].Commit)) {
				t.Fatalf("event %d: %+v", i, e)
			}
		}
		again, _, err := load(writeSection(t, sh.Freeze(math.MaxUint64)))
		if err != nil {
			t.Fatalf("a loaded log does not load again: %v", err)
		}
		if got := again.Events(run, math.MaxUint64); fmt.Sprint(got) != fmt.Sprint(es) {
			t.Fatalf("wrote %v, loaded %v", es, got)
		}
	})
}

// BenchmarkLoadSection loads a ~100 MB chunk of 1M events (bar: loading such a snapshot must
// stay well under 0.5 s).
func BenchmarkLoadSection(b *testing.B) {
	var es chunked.List[Event]
	payload := []byte(`{"tool":"search","args":{"query":"some words to look up","limit":10},"ok":true}`)
	for i := range 1_000_000 {
		e := Event{Seq: uint64(i), Type: "tool.call", Payload: payload, Timestamp: int64(i), Commit: uint64(i/4 + 1)}
		prev, _ := es.Last()
		e.PrevHash = prev.Hash // zero for the first
		e.Hash = Hash(e)
		es.Append(e)
	}
	body := appendEvents(nil, es.View())
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		s := New(1)
		if err := s.NewShard(0).LoadSection(extension.NewChunk(run, body)); err != nil {
			b.Fatal(err)
		}
		if s.Log(run, math.MaxUint64).Len() != es.Len() {
			b.Fatal("short log")
		}
	}
}
