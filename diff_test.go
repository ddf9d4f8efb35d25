package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keysOf renders diff entries as "kind key" for comparison.
func keysOf(es []inmem.DiffEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%v %s", e.Kind, e.Key))
	}
	return out
}

func puts(t testing.TB, db *inmem.DB, run inmem.RunID, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, db.KV().Put(ctx, run, kv[i], []byte(kv[i+1])))
	}
}

// A = {k1, k2, k3}, B = {k2, k3 changed, k4}: k4 added, k1 removed, k3 modified, k2 not listed.
func TestDiffRunsKeyed(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	puts(t, db, a, "k1", "1", "k2", "2", "k3", "3")
	puts(t, db, b, "k2", "2", "k3", "three", "k4", "4")
	d, err := db.DiffRuns(a, b)
	require.NoError(t, err)
	assert.Equal(t, a, d.A)
	assert.Equal(t, b, d.B)
	assert.Equal(t, []inmem.DiffEntry{{Kind: inmem.KindKV, Primitive: "kv", Key: "k4", After: []byte("4")}}, d.Added)
	assert.Equal(t, []inmem.DiffEntry{{Kind: inmem.KindKV, Primitive: "kv", Key: "k1", Before: []byte("1")}}, d.Removed)
	assert.Equal(t, []inmem.DiffEntry{{Kind: inmem.KindKV, Primitive: "kv", Key: "k3", Before: []byte("3"),
		After: []byte("three")}}, d.Modified)

	_, err = db.State().Set(ctx, a, "phase", []byte(`"plan"`))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, b, "phase", []byte(`"plan"`))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, b, "phase", []byte(`"act"`))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, a, "only-a", []byte(`1`))
	require.NoError(t, err)
	d, err = db.DiffRuns(a, b)
	require.NoError(t, err)
	assert.Equal(t, []string{"kv k3", "state phase"}, keysOf(d.Modified), "a cell's value differs")
	assert.Equal(t, []string{"kv k1", "state only-a"}, keysOf(d.Removed))

	_, err = db.State().Set(ctx, a, "phase", []byte(`"x"`))
	require.NoError(t, err)
	_, err = db.State().Set(ctx, a, "phase", []byte(`"act"`))
	require.NoError(t, err)
	d, err = db.DiffRuns(a, b)
	require.NoError(t, err)
	assert.Equal(t, []string{"kv k3"}, keysOf(d.Modified), "same value after different histories: no difference")
}

// For JSON documents in both runs the changed paths are listed.
func TestDiffRunsJSONPaths(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	doc := []byte(`{"goal":"ship","plan":{"steps":["a","b"],"owner":"x"},"n":1}`)
	for _, r := range []inmem.RunID{a, b} {
		require.NoError(t, db.JSON().Create(ctx, r, "plan", doc))
		require.NoError(t, db.JSON().Create(ctx, r, "same", []byte(`{"k":[1,2]}`)))
	}
	require.NoError(t, db.JSON().Patch(ctx, b, "plan", []inmem.PatchOp{
		{Op: "set", Path: "$.plan.steps[2]", Value: []byte(`"c"`)},
		{Op: "set", Path: "$.plan.owner", Value: []byte(`"y"`)},
		{Op: "delete", Path: "$.n"},
	}))
	require.NoError(t, db.JSON().Create(ctx, a, "only-a", []byte(`true`)))
	d, err := db.DiffRuns(a, b)
	require.NoError(t, err)
	require.Len(t, d.Modified, 1)
	m := d.Modified[0]
	assert.Equal(t, inmem.KindJSON, m.Kind)
	assert.Equal(t, "plan", m.Key)
	assert.ElementsMatch(t, []string{"$.n", "$.plan.owner", "$.plan.steps[2]"}, m.Paths)
	assert.JSONEq(t, string(doc), string(m.Before))
	assert.Equal(t, []string{"json only-a"}, keysOf(d.Removed))
	assert.Empty(t, d.Added)
}

// Events and spans are sequences: their common prefix, then what each run added after it.
func TestDiffRunsSequences(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	appendAll := func(run inmem.RunID, types ...string) {
		for _, typ := range types {
			_, err := db.Events().Append(ctx, run, typ, []byte(`{"x":1}`))
			require.NoError(t, err)
		}
	}
	appendAll(a, "plan", "search", "answer")
	appendAll(b, "plan", "search", "retry", "answer")
	record := func(run inmem.RunID, names ...string) {
		for _, n := range names {
			_, err := db.Traces().Record(ctx, run, inmem.Span{Kind: inmem.SpanThought, Name: n})
			require.NoError(t, err)
		}
	}
	record(a, "think", "decide")
	record(b, "think")
	d, err := db.DiffRuns(a, b)
	require.NoError(t, err)
	assert.Equal(t, []string{"event 2", "event 3"}, keysOf(d.Added), "after the common prefix of two events")
	assert.JSONEq(t, `{"type":"retry","payload":{"x":1}}`, string(d.Added[0].After))
	require.Len(t, d.Removed, 2)
	assert.Equal(t, "event 2", keysOf(d.Removed)[0])
	assert.Equal(t, inmem.KindTrace, d.Removed[1].Kind)
	assert.JSONEq(t, `{"kind":"thought","name":"decide"}`, string(d.Removed[1].Before))
	assert.Empty(t, d.Modified, "sequences are never modified, only extended")
}

// A run against itself: no difference. diff(A, B).Added is diff(B, A).Removed, and Modified
// swaps Before and After — on random histories over every primitive.
func TestDiffRunsSymmetry(t *testing.T) {
	db := openMem(t)
	runs := replayWorkload(t, db, 7, 400)
	for _, a := range runs {
		d, err := db.DiffRuns(a, a)
		require.NoError(t, err)
		assert.Empty(t, d.Added)
		assert.Empty(t, d.Removed)
		assert.Empty(t, d.Modified)
		for _, b := range runs {
			ab, err := db.DiffRuns(a, b)
			require.NoError(t, err)
			ba, err := db.DiffRuns(b, a)
			require.NoError(t, err)
			require.Equal(t, len(ab.Added), len(ba.Removed))
			for i := range ab.Added {
				x, y := ab.Added[i], ba.Removed[i]
				require.Equal(t, []any{x.Kind, x.Key, x.After}, []any{y.Kind, y.Key, y.Before})
			}
			require.Equal(t, len(ab.Modified), len(ba.Modified))
			for i := range ab.Modified {
				x, y := ab.Modified[i], ba.Modified[i]
				require.Equal(t, []any{x.Kind, x.Key, x.Before, x.After}, []any{y.Kind, y.Key, y.After, y.Before})
				require.Equal(t, slices.Sorted(slices.Values(x.Paths)), slices.Sorted(slices.Values(y.Paths)))
			}
		}
	}
}

// Two runs with the same history from different agents' point of view: replaying them gives
// identical views, and the diff is empty, however their commits interleaved.
func TestDiffRunsOfIdenticalHistories(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 100 {
		k, v := fmt.Sprint("k", rng.IntN(10)), fmt.Append(nil, i)
		for _, r := range []inmem.RunID{a, b} {
			require.NoError(t, db.Update(ctx, r, func(tx *inmem.Tx) error {
				if err := tx.KV().Put(k, v); err != nil {
					return err
				}
				return tx.Events().Append("put", fmt.Appendf(nil, `{"k":%q}`, k))
			}))
		}
	}
	d, err := db.DiffRuns(a, b)
	require.NoError(t, err)
	assert.Empty(t, d.Added)
	assert.Empty(t, d.Removed)
	assert.Empty(t, d.Modified)
}

func TestPrimitiveKindString(t *testing.T) {
	for k, want := range map[inmem.PrimitiveKind]string{inmem.KindKV: "kv", inmem.KindJSON: "json",
		inmem.KindEvent: "event", inmem.KindState: "state", inmem.KindTrace: "trace", inmem.KindRun: "run",
		inmem.KindOther: "other", 0: "unknown", 200: "kind(200)"} {
		assert.Equal(t, want, k.String())
	}
}
