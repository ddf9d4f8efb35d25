package inmem_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

func allIndexed(o *inmem.Options) { o.Search.Index = facadeKinds }

// bothWays runs test with every primitive indexed and with none (scan).
func bothWays(t *testing.T, test func(t *testing.T, mutate func(*inmem.Options))) {
	t.Run("scan", func(t *testing.T) { test(t, func(*inmem.Options) {}) })
	t.Run("indexed", func(t *testing.T) { test(t, allIndexed) })
}

// TestSearchRelevance: on a small labelled set across the primitives, each query's first hit
// through db.Search is the document it is about.
func TestSearchRelevance(t *testing.T) {
	bothWays(t, func(t *testing.T, mutate func(*inmem.Options)) {
		db := openMem(t, mutate)
		run := newRun(t, db)
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			_ = tx.KV().Put("refund-policy", []byte("Refunds are issued within 14 days of purchase to the original card"))
			_ = tx.KV().Put("shipping", []byte("Orders ship in two business days; express shipping costs extra"))
			_ = tx.JSON().Create("customer", []byte(`{"name":"Ada Lovelace","email":"ada@example.com","tier":"gold"}`))
			_ = tx.JSON().Create("ticket", []byte(`{"subject":"Broken blender","body":"The blender motor stopped after a week"}`))
			_ = tx.Events().Append("tool_call", []byte(`{"tool":"weather","args":{"city":"Lisbon"}}`))
			_ = tx.Events().Append("user_message", []byte(`{"text":"Can I return my blender?"}`))
			_ = tx.State().Set("phase", []byte("awaiting warehouse confirmation"))
			_, err := tx.Traces().Record(inmem.Span{Kind: inmem.SpanToolCall, Name: "lookup_inventory",
				Tags: []string{"warehouse"}, Attributes: []byte(`{"sku":"XJ-9 toaster"}`)})
			return err
		}))
		for _, c := range []struct {
			query string
			want  inmem.DocRef
		}{
			{"refund purchase card", inmem.DocRef{Kind: inmem.KindKV, Run: run, Key: "refund-policy"}},
			{"express shipping", inmem.DocRef{Kind: inmem.KindKV, Run: run, Key: "shipping"}},
			{"ada lovelace", inmem.DocRef{Kind: inmem.KindJSON, Run: run, Key: "customer"}},
			{"blender motor", inmem.DocRef{Kind: inmem.KindJSON, Run: run, Key: "ticket"}},
			{"weather lisbon", inmem.DocRef{Kind: inmem.KindEvent, Run: run, Seq: 0}},
			{"awaiting confirmation", inmem.DocRef{Kind: inmem.KindState, Run: run, Key: "phase"}},
			{"toaster inventory", inmem.DocRef{Kind: inmem.KindTrace, Run: run}},
		} {
			resp, err := db.Search(ctx, inmem.SearchRequest{Run: run, Query: c.query, K: 3})
			require.NoError(t, err)
			require.NotEmpty(t, resp.Hits, c.query)
			got := resp.Hits[0].Ref
			if c.want.Kind == inmem.KindTrace {
				c.want.SpanID = got.SpanID // generated
			}
			require.Equal(t, c.want, got, c.query)
		}
	})
}

// TestSearchBudgets: a candidate budget truncates to the same hits every time; an expired
// MaxTime returns Truncated, not an error.
func TestSearchBudgets(t *testing.T) {
	bothWays(t, func(t *testing.T, mutate func(*inmem.Options)) {
		db := openMem(t, mutate)
		run := newRun(t, db)
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			for i := range 50 {
				_ = tx.KV().Put(fmt.Sprintf("k%02d", i), []byte(fmt.Sprintf("alpha %s", words2(i))))
				_ = tx.JSON().Create(fmt.Sprintf("d%02d", i), []byte(fmt.Sprintf(`{"t":"alpha %s"}`, words2(i))))
			}
			return nil
		}))
		req := inmem.SearchRequest{Run: run, Query: "alpha bravo", K: 5, Budget: inmem.SearchBudget{MaxCandidates: 30}}
		first, err := db.Search(ctx, req)
		require.NoError(t, err)
		require.True(t, first.Truncated)
		require.Equal(t, 30, first.Stats.Scored)
		require.Len(t, first.Hits, 5)
		for range 5 {
			again, err := db.Search(ctx, req)
			require.NoError(t, err)
			require.Equal(t, first.Hits, again.Hits)
			require.True(t, again.Truncated)
		}
		full, err := db.Search(ctx, inmem.SearchRequest{Run: run, Query: "alpha bravo", K: 5})
		require.NoError(t, err)
		require.False(t, full.Truncated)
		require.Equal(t, 100, full.Stats.Scored)

		timed, err := db.Search(ctx, inmem.SearchRequest{Run: run, Query: "alpha", Budget: inmem.SearchBudget{MaxTime: time.Nanosecond}})
		require.NoError(t, err)
		require.True(t, timed.Truncated)
		timed, err = db.JSON().Search(ctx, inmem.SearchRequest{Run: run, Query: "alpha", Budget: inmem.SearchBudget{MaxTime: time.Nanosecond}})
		require.NoError(t, err)
		require.True(t, timed.Truncated)
	})
}

func words2(i int) string {
	if i%3 == 0 {
		return "bravo charlie"
	}
	return "delta"
}

// TestTxSearchSnapshot: a transaction searches its snapshot; a commit after Begin is not seen,
// nor are the transaction's own writes.
func TestTxSearchSnapshot(t *testing.T) {
	bothWays(t, func(t *testing.T, mutate func(*inmem.Options)) {
		db := openMem(t, mutate)
		run := newRun(t, db)
		require.NoError(t, db.KV().Put(ctx, run, "old", []byte("zebra")))
		tx, err := db.Begin(run, true)
		require.NoError(t, err)
		defer tx.Rollback()
		require.NoError(t, db.KV().Put(ctx, run, "new", []byte("zebra")))
		require.NoError(t, db.JSON().Create(ctx, run, "doc", []byte(`{"a":"zebra"}`)))
		require.NoError(t, tx.KV().Put("mine", []byte("zebra")))
		resp, err := tx.Search(inmem.SearchRequest{Query: "zebra"})
		require.NoError(t, err)
		require.Len(t, resp.Hits, 1)
		require.Equal(t, "old", resp.Hits[0].Ref.Key)
		now, err := db.Search(ctx, inmem.SearchRequest{Run: run, Query: "zebra"})
		require.NoError(t, err)
		require.Len(t, now.Hits, 3)
		_, err = tx.Search(inmem.SearchRequest{Run: inmem.NewRunID(), Query: "zebra"})
		require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	})
}

// TestSearchDeleteRun: a deleted run has nothing to find; begun again under the same id it
// finds only its new data; a search at a version before the deletion, still held, finds the old.
func TestSearchDeleteRun(t *testing.T) {
	bothWays(t, func(t *testing.T, mutate func(*inmem.Options)) {
		db := openMem(t, mutate)
		run := newRun(t, db)
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			_ = tx.KV().Put("k", []byte("walrus"))
			_ = tx.JSON().Create("d", []byte(`{"a":"walrus"}`))
			_ = tx.Events().Append("e", []byte(`"walrus"`))
			_ = tx.State().Set("c", []byte("walrus"))
			_, err := tx.Traces().Record(inmem.Span{Kind: inmem.SpanToolCall, Name: "walrus"})
			return err
		}))
		old, err := db.Begin(run, false)
		require.NoError(t, err)
		require.NoError(t, db.EndRun(ctx, run))
		require.NoError(t, db.DeleteRun(ctx, run))
		_, err = db.Search(ctx, inmem.SearchRequest{Run: run, Query: "walrus"})
		require.ErrorIs(t, err, inmem.ErrRunNotFound)
		held, err := old.Search(inmem.SearchRequest{Query: "walrus"})
		require.NoError(t, err)
		require.Len(t, held.Hits, 5, "a reader from before the deletion still finds what it saw")
		old.Rollback()

		require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{}))
		resp, err := db.Search(ctx, inmem.SearchRequest{Run: run, Query: "walrus"})
		require.NoError(t, err)
		require.Empty(t, resp.Hits)
		require.NoError(t, db.KV().Put(ctx, run, "k2", []byte("walrus again")))
		_, err = db.Events().Append(ctx, run, "e", []byte(`"walrus"`))
		require.NoError(t, err)
		resp, err = db.Search(ctx, inmem.SearchRequest{Run: run, Query: "walrus"})
		require.NoError(t, err)
		require.Len(t, resp.Hits, 2)
		for _, h := range resp.Hits {
			require.Contains(t, []inmem.DocRef{{Kind: inmem.KindKV, Run: run, Key: "k2"}, {Kind: inmem.KindEvent, Run: run}}, h.Ref)
		}
	})
}

// lengthScorer scores a term by the document's length alone: shorter first, whatever BM25
// says.
type lengthScorer struct{}

func (lengthScorer) Term(inmem.SearchCollection, int) inmem.TermScorer { return lengthScorer{} }
func (lengthScorer) Score(tf, length int) float64                      { return 1 / float64(length) }

// lastFuser ranks the last ranking's documents only, in reverse.
type lastFuser struct{}

func (lastFuser) Fuse(k int, rankings ...[]inmem.RankedRef) []inmem.RankedRef {
	var out []inmem.RankedRef
	last := rankings[len(rankings)-1]
	for i := len(last) - 1; i >= 0; i-- {
		out = append(out, inmem.RankedRef{Doc: last[i].Doc, Score: float64(len(out))})
	}
	return out
}

// TestSearchSwapScorerFuser: Options.Search's Scorer and Fuser replace BM25 and RRF.
func TestSearchSwapScorerFuser(t *testing.T) {
	fill := func(db *inmem.DB) inmem.RunID {
		run := newRun(t, db)
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			_ = tx.KV().Put("long", []byte("quokka quokka quokka quokka and a great many other words besides these"))
			_ = tx.KV().Put("short", []byte("quokka once"))
			_, err := tx.Traces().Record(inmem.Span{Kind: inmem.SpanToolCall, Name: "quokka"})
			return err
		}))
		return run
	}
	for _, indexed := range []bool{false, true} {
		def := openMem(t, func(o *inmem.Options) {
			if indexed {
				allIndexed(o)
			}
		})
		run := fill(def)
		resp, err := def.KV().Search(ctx, inmem.SearchRequest{Run: run, Query: "quokka"})
		require.NoError(t, err)
		require.Equal(t, "long", resp.Hits[0].Ref.Key, "BM25: four occurrences beat one")

		swapped := openMem(t, func(o *inmem.Options) {
			o.Search.Scorer, o.Search.Fuser = lengthScorer{}, lastFuser{}
			if indexed {
				allIndexed(o)
			}
		})
		run = fill(swapped)
		resp, err = swapped.KV().Search(ctx, inmem.SearchRequest{Run: run, Query: "quokka"})
		require.NoError(t, err)
		require.Equal(t, "short", resp.Hits[0].Ref.Key, "the length scorer prefers the short one")
		fused, err := swapped.Search(ctx, inmem.SearchRequest{Run: run, Query: "quokka", Kinds: []inmem.PrimitiveKind{inmem.KindTrace, inmem.KindKV}})
		require.NoError(t, err)
		require.Len(t, fused.Hits, 1, "the fuser keeps the last ranking only: traces, searched after KV")
		require.Equal(t, inmem.KindTrace, fused.Hits[0].Ref.Kind)
	}
}

// TestSearchInvalid: bad kinds, unreadable versions.
func TestSearchInvalid(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	_, err := db.Search(ctx, inmem.SearchRequest{Run: run, Kinds: []inmem.PrimitiveKind{inmem.KindRun}})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	_, err = db.Search(ctx, inmem.SearchRequest{Run: run, AtVersion: 1 << 40})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	_, err = inmem.Open("", &inmem.Options{Durability: inmem.InMemory, Search: inmem.SearchOptions{Index: []inmem.PrimitiveKind{inmem.KindOther}}})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
}
