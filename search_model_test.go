package inmem_test

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// The search model test: random writes to a run across the five primitives; at random
// versions (held by open transactions) and after reopening, every facade's search returns what
// a brute-force BM25 over a reference model of the run's documents at that version returns,
// and db.Search their reciprocal-rank fusion — with every primitive indexed, and with none.

var searchWords = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}

// searchModel is the run's searchable documents: per kind, reference → text.
type searchModel map[inmem.PrimitiveKind]map[inmem.DocRef]string

func (m searchModel) clone() searchModel {
	c := searchModel{}
	for k, docs := range m {
		c[k] = maps.Clone(docs)
	}
	return c
}

func words(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = searchWords[r.IntN(len(searchWords))]
		if r.IntN(4) == 0 {
			w[i] = strings.ToUpper(w[i]) // tokens are lower-cased
		}
	}
	return strings.Join(w, " ")
}

func modelTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// bruteBM25 ranks docs for query the way the database must: BM25 (k1 1.2, b 0.75, Lucene's
// idf) over the documents given, terms summed in query order, ties by reference.
func bruteBM25(docs map[inmem.DocRef]string, query string, k int) []inmem.SearchHit {
	var terms []string
	for _, t := range modelTokens(query) {
		if !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	type doc struct {
		ref    inmem.DocRef
		tf     map[string]int
		length int
	}
	var all []doc
	sum := 0
	df := map[string]int{}
	for ref, text := range docs {
		toks := modelTokens(text)
		d := doc{ref: ref, tf: map[string]int{}, length: len(toks)}
		for _, t := range toks {
			if d.tf[t] == 0 {
				df[t]++
			}
			d.tf[t]++
		}
		sum += len(toks)
		all = append(all, d)
	}
	if len(all) == 0 {
		return nil
	}
	n, avg := float64(len(all)), float64(sum)/float64(len(all))
	var hits []inmem.SearchHit
	for _, d := range all {
		score, hit := 0.0, false
		for _, t := range terms {
			f := float64(d.tf[t])
			if f == 0 {
				continue
			}
			hit = true
			dfi := float64(df[t])
			idf := math.Log(1 + (n-dfi+0.5)/(dfi+0.5))
			norm := 1 - 0.75 + 0.75*float64(d.length)/avg
			score += idf * (f * (1.2 + 1)) / (f + 1.2*norm)
		}
		if hit {
			hits = append(hits, inmem.SearchHit{Ref: d.ref, Score: score})
		}
	}
	sortHits(hits)
	return topHits(hits, k)
}

func sortHits(hits []inmem.SearchHit) {
	slices.SortFunc(hits, func(a, b inmem.SearchHit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), inmem.CompareDocRefs(a.Ref, b.Ref))
	})
}

func topHits(hits []inmem.SearchHit, k int) []inmem.SearchHit {
	hits = hits[:min(k, len(hits))]
	for i := range hits {
		hits[i].Rank = i + 1
	}
	return hits
}

// bruteRRF fuses per-kind rankings with reciprocal-rank fusion, k = 60.
func bruteRRF(rankings [][]inmem.SearchHit, k int) []inmem.SearchHit {
	score := map[inmem.DocRef]float64{}
	var order []inmem.DocRef
	for _, r := range rankings {
		for i, h := range r {
			if _, ok := score[h.Ref]; !ok {
				order = append(order, h.Ref)
			}
			score[h.Ref] += 1 / (60 + float64(i+1))
		}
	}
	var hits []inmem.SearchHit
	for _, ref := range order {
		hits = append(hits, inmem.SearchHit{Ref: ref, Score: score[ref]})
	}
	sortHits(hits)
	return topHits(hits, k)
}

func requireHits(t *testing.T, want, got []inmem.SearchHit, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		require.Equal(t, want[i].Ref, got[i].Ref, "%s: hit %d", msg, i)
		require.InDelta(t, want[i].Score, got[i].Score, 1e-9, "%s: hit %d", msg, i)
		require.Equal(t, i+1, got[i].Rank, msg)
	}
}

var facadeKinds = []inmem.PrimitiveKind{inmem.KindKV, inmem.KindJSON, inmem.KindEvent, inmem.KindState, inmem.KindTrace}

// checkSearch compares every facade's search, and db.Search, with the model, at version (0:
// now) or in tx when tx is not nil.
func checkSearch(t *testing.T, db *inmem.DB, run inmem.RunID, m searchModel, r *rand.Rand, version uint64, tx *inmem.Tx) {
	t.Helper()
	for range 4 {
		query, k := words(r, 1+r.IntN(3)), 1+r.IntN(8)
		req := inmem.SearchRequest{Run: run, Query: query, K: k, AtVersion: version}
		var rankings [][]inmem.SearchHit
		for _, kind := range facadeKinds {
			want := bruteBM25(m[kind], query, k)
			rankings = append(rankings, want)
			var got inmem.SearchResponse
			var err error
			if tx != nil {
				got, err = tx.Search(inmem.SearchRequest{Query: query, K: k, Kinds: []inmem.PrimitiveKind{kind}})
			} else {
				got, err = facadeSearch(db, kind, req)
			}
			require.NoError(t, err)
			require.False(t, got.Truncated)
			requireHits(t, want, got.Hits, fmt.Sprintf("%v %q k=%d at %d", kind, query, k, version))
		}
		var got inmem.SearchResponse
		var err error
		if tx != nil {
			got, err = tx.Search(inmem.SearchRequest{Query: query, K: k})
		} else {
			got, err = db.Search(ctx, req)
		}
		require.NoError(t, err)
		requireHits(t, bruteRRF(rankings, k), got.Hits, fmt.Sprintf("fused %q k=%d at %d", query, k, version))
	}
}

func facadeSearch(db *inmem.DB, kind inmem.PrimitiveKind, req inmem.SearchRequest) (inmem.SearchResponse, error) {
	switch kind {
	case inmem.KindKV:
		return db.KV().Search(ctx, req)
	case inmem.KindJSON:
		return db.JSON().Search(ctx, req)
	case inmem.KindEvent:
		return db.Events().Search(ctx, req)
	case inmem.KindState:
		return db.State().Search(ctx, req)
	case inmem.KindTrace:
		return db.Traces().Search(ctx, req)
	}
	panic(kind)
}

// randomStep writes a few random operations in tx and applies them to m.
func randomStep(t *testing.T, tx *inmem.Tx, r *rand.Rand, m searchModel, run inmem.RunID, nextSeq *uint64) {
	for range 1 + r.IntN(4) {
		switch r.IntN(9) {
		case 0, 1:
			key, text := fmt.Sprintf("k%d", r.IntN(6)), words(r, 1+r.IntN(6))
			require.NoError(t, tx.KV().Put(key, []byte(text)))
			m[inmem.KindKV][inmem.DocRef{Kind: inmem.KindKV, Run: run, Key: key}] = key + " " + text
		case 2:
			key := fmt.Sprintf("k%d", r.IntN(6))
			require.NoError(t, tx.KV().Delete(key))
			delete(m[inmem.KindKV], inmem.DocRef{Kind: inmem.KindKV, Run: run, Key: key})
		case 3:
			key, text := fmt.Sprintf("d%d", r.IntN(6)), words(r, 1+r.IntN(6))
			ref := inmem.DocRef{Kind: inmem.KindJSON, Run: run, Key: key}
			if _, ok := m[inmem.KindJSON][ref]; ok {
				require.NoError(t, tx.JSON().DeleteDoc(key))
			}
			if r.IntN(4) == 0 {
				delete(m[inmem.KindJSON], ref)
				continue
			}
			doc := fmt.Sprintf(`{"note":%q,"n":%d,"tags":[%q]}`, text, r.IntN(9), searchWords[r.IntN(3)])
			require.NoError(t, tx.JSON().Create(key, []byte(doc)))
			m[inmem.KindJSON][ref] = "note " + text + " n tags " + jsonTag(doc)
		case 4, 5:
			text := words(r, 1+r.IntN(5))
			require.NoError(t, tx.Events().Append("obs", []byte(fmt.Sprintf(`{"msg":%q}`, text))))
			m[inmem.KindEvent][inmem.DocRef{Kind: inmem.KindEvent, Run: run, Seq: *nextSeq}] = "obs msg " + text
			*nextSeq++
		case 6:
			name, text := fmt.Sprintf("c%d", r.IntN(4)), words(r, 1+r.IntN(4))
			require.NoError(t, tx.State().Set(name, []byte(text)))
			m[inmem.KindState][inmem.DocRef{Kind: inmem.KindState, Run: run, Key: name}] = text
		case 7:
			name := fmt.Sprintf("c%d", r.IntN(4))
			ref := inmem.DocRef{Kind: inmem.KindState, Run: run, Key: name}
			if _, ok := m[inmem.KindState][ref]; ok {
				require.NoError(t, tx.State().Delete(name))
				delete(m[inmem.KindState], ref)
			}
		case 8:
			name, tag, attr := words(r, 1+r.IntN(3)), searchWords[r.IntN(len(searchWords))], words(r, 1)
			id, err := tx.Traces().Record(inmem.Span{Kind: inmem.SpanToolCall, Name: name, Tags: []string{tag},
				Attributes: []byte(fmt.Sprintf(`{"arg":%q}`, attr))})
			require.NoError(t, err)
			m[inmem.KindTrace][inmem.DocRef{Kind: inmem.KindTrace, Run: run, SpanID: id}] = name + " " + tag + " arg " + attr
		}
	}
}

func jsonTag(doc string) string {
	i := strings.Index(doc, `"tags":["`) + len(`"tags":["`)
	return doc[i : i+strings.IndexByte(doc[i:], '"')]
}

func TestSearchModel(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprint("indexed=", indexed), func(t *testing.T) {
			for seed := range uint64(3) {
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { searchModelRun(t, seed, indexed) })
			}
		})
	}
}

func searchModelRun(t *testing.T, seed uint64, indexed bool) {
	r := rand.New(rand.NewPCG(seed, 99))
	dir := t.TempDir()
	opts := func(o *inmem.Options) {
		o.Durability = inmem.Buffered
		o.Shards = 2
		if indexed {
			o.Search.Index = facadeKinds
		}
	}
	db := openDir(t, dir, opts)
	defer func() { db.Close() }()
	run := newRun(t, db)
	other := newRun(t, db) // a second run in the same shards: never found by run's searches
	require.NoError(t, db.KV().Put(ctx, other, "k0", []byte("alpha bravo charlie")))
	m := searchModel{}
	for _, k := range facadeKinds {
		m[k] = map[inmem.DocRef]string{}
	}
	var seq uint64
	type held struct {
		tx      *inmem.Tx
		version uint64
		m       searchModel
	}
	var holds []held
	for range 40 {
		info, err := db.Step(ctx, run, func(tx *inmem.Tx) error {
			randomStep(t, tx, r, m, run, &seq)
			return nil
		})
		require.NoError(t, err)
		if r.IntN(3) == 0 { // hold this version: searches at it must still see it later
			tx, err := db.Begin(run, false)
			require.NoError(t, err)
			holds = append(holds, held{tx, info.Version, m.clone()})
		}
		if r.IntN(5) == 0 {
			checkSearch(t, db, run, m, r, 0, nil)
		}
	}
	for _, h := range holds {
		checkSearch(t, db, run, h.m, r, h.version, nil)
		checkSearch(t, db, run, h.m, r, 0, h.tx)
		h.tx.Rollback()
	}
	checkSearch(t, db, run, m, r, 0, nil)
	for _, snapshot := range []bool{false, true} {
		db = reopen(t, db, dir, snapshot, opts)
		checkSearch(t, db, run, m, r, 0, nil)
	}
}
