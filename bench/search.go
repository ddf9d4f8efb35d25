package main

// The search comparison: inmem's index (internal/search) against bleve's in-memory indexes on
// the same generated documents and queries, top 10, latencies measured in one run with the
// engines taking turns.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/custom" // registers the "custom" analyzer type
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/character"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/inmemdb/inmem/internal/search"
	"github.com/inmemdb/inmem/internal/search/corpus"
)

type searchConfig struct {
	docs, vocab, queries, rounds int
	seed                         uint64
	engines                      []string
}

var searchEngineNames = []string{"inmem", "bleve", "bleve-scorch"}

func parseSearchFlags(args []string, stderr io.Writer) (searchConfig, error) {
	var c searchConfig
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.docs, "docs", 100_000, "documents (~1 KiB of JSON each)")
	fs.IntVar(&c.vocab, "vocab", 50_000, "distinct words the documents are drawn from (Zipf, s = 1.1)")
	fs.IntVar(&c.queries, "queries", 200, "distinct three-word queries")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds; each engine runs every query once per round, the engines' order alternating")
	fs.Uint64Var(&c.seed, "seed", 42, "seed of the documents and queries")
	engines := fs.String("engines", strings.Join(searchEngineNames, ","), "comma-separated: inmem, bleve (NewMemOnly: upsidedown on gtreap), bleve-scorch (scorch with no path: in-memory segments)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 || c.docs < 1 || c.queries < 1 || c.rounds < 1 || c.vocab < 10 {
		return c, fmt.Errorf("search: -docs, -queries, -rounds must be positive, -vocab at least 10, and no arguments")
	}
	for _, e := range strings.Split(*engines, ",") {
		if e = strings.TrimSpace(e); !slices.Contains(searchEngineNames, e) {
			return c, fmt.Errorf("search: unknown engine %q (known: %s)", e, strings.Join(searchEngineNames, ","))
		}
		c.engines = append(c.engines, e)
	}
	return c, nil
}

// searcher is one engine under test: it answers a query with the ids of its top 10.
type searcher interface {
	search(query string) ([]string, error)
	close() error
}

// searchResult is one engine's measurements.
type searchResult struct {
	engine   string
	build    time.Duration
	heap     uint64 // bytes the built index holds, roughly (live heap after a GC)
	docs     int
	took     []time.Duration
	hitsSeen int        // hits returned over all queries: a sanity check that every engine finds something
	first    [][]string // each query's hits in the first round
}

func runSearch(args []string, stdout, stderr io.Writer) error {
	c, err := parseSearchFlags(args, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s/%s, %d CPUs: %d documents, vocabulary %d, %d queries × %d rounds, top 10\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), c.docs, c.vocab, c.queries, c.rounds)
	cp := corpus.New(c.seed, c.vocab)
	docs := make([]string, c.docs)
	for i := range docs {
		docs[i] = cp.Doc(i)
	}
	queries := cp.Queries(c.queries)

	engines := make([]searcher, len(c.engines))
	results := make([]*searchResult, len(c.engines))
	for i, name := range c.engines {
		s, r, err := buildSearcher(name, docs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer s.close()
		engines[i], results[i] = s, r
		fmt.Fprintf(stderr, "%s: built in %v\n", name, r.build.Round(time.Millisecond))
	}
	for round := range c.rounds {
		for j := range engines {
			i := j
			if round%2 == 1 {
				i = len(engines) - 1 - j // alternate the order: neither side always runs right after a GC of the other's garbage
			}
			if err := measure(engines[i], results[i], queries); err != nil {
				return fmt.Errorf("%s: %w", c.engines[i], err)
			}
		}
	}
	printSearch(stdout, results)
	fmt.Fprintf(stdout, "\nsame top: the share of the first engine's top 10 that the engine also returned, over the queries.\n")
	return nil
}

func buildSearcher(name string, docs []string) (searcher, *searchResult, error) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	var s searcher
	var err error
	switch name {
	case "inmem":
		s, err = newInmemSearcher(docs)
	case "bleve":
		s, err = newBleveSearcher(docs, false)
	case "bleve-scorch":
		s, err = newBleveSearcher(docs, true)
	}
	if err != nil {
		return nil, nil, err
	}
	r := &searchResult{engine: name, build: time.Since(start), docs: len(docs)}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		r.heap = after.HeapAlloc - before.HeapAlloc
	}
	return s, r, nil
}

func measure(s searcher, r *searchResult, queries []string) error {
	for _, q := range queries {
		start := time.Now()
		hits, err := s.search(q)
		r.took = append(r.took, time.Since(start))
		if err != nil {
			return err
		}
		r.hitsSeen += len(hits)
		if len(r.first) < len(queries) {
			r.first = append(r.first, hits)
		}
	}
	return nil
}

// overlap is the share of a's hits that b also returned for the same query.
func overlap(a, b [][]string) float64 {
	shared, total := 0, 0
	for i := range a {
		total += len(a[i])
		for _, id := range a[i] {
			if slices.Contains(b[i], id) {
				shared++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(shared) / float64(total)
}

func printSearch(w io.Writer, results []*searchResult) {
	fmt.Fprintf(w, "%-13s %10s %10s %9s %9s %9s %9s %7s %9s\n", "engine", "build", "per doc", "heap MiB", "p50", "p99", "mean", "hits/q", "same top")
	for _, r := range results {
		slices.Sort(r.took)
		var sum time.Duration
		for _, d := range r.took {
			sum += d
		}
		n := len(r.took)
		fmt.Fprintf(w, "%-13s %10v %10v %9.0f %9s %9s %9s %7.1f %8.0f%%\n", r.engine, r.build.Round(time.Millisecond),
			(r.build / time.Duration(r.docs)).Round(100*time.Nanosecond), float64(r.heap)/(1<<20),
			fmtDur(r.took[n/2]), fmtDur(r.took[n*99/100]), fmtDur(sum/time.Duration(n)), float64(r.hitsSeen)/float64(n),
			100*overlap(results[0].first, r.first))
	}
}

// inmemSearcher is internal/search's index, holding every document at version 1.
type inmemSearcher struct {
	x *search.Index[int]
	n int
}

func newInmemSearcher(docs []string) (*inmemSearcher, error) {
	x := search.New(search.Config[int]{Compare: func(a, b int) int { return a - b }})
	for i, d := range docs {
		if err := x.Put(i, 1, d); err != nil {
			return nil, err
		}
	}
	return &inmemSearcher{x: x, n: len(docs)}, nil
}

func (s *inmemSearcher) search(query string) ([]string, error) {
	res, err := s.x.Search(context.Background(), 1, search.Request{Query: query, K: 10})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = fmt.Sprint(h.Doc)
	}
	return out, nil
}

func (s *inmemSearcher) close() error { return nil }

// bleveSearcher is a bleve index of one text field analysed as inmem tokenizes: runs of
// letters and digits, lower-cased. No stored fields, no term vectors, no doc values.
type bleveSearcher struct {
	idx bleve.Index
}

const bleveAnalyzer = "inmem-letters-digits"

func init() {
	err := registry.RegisterTokenizer("inmem-letters-digits", func(map[string]any, *registry.Cache) (analysis.Tokenizer, error) {
		return character.NewCharacterTokenizer(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }), nil
	})
	if err != nil {
		panic(err)
	}
}

func bleveMapping(bm25 bool) (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer(bleveAnalyzer, map[string]any{
		"type": "custom", "tokenizer": "inmem-letters-digits", "token_filters": []any{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	text := bleve.NewTextFieldMapping()
	text.Analyzer = bleveAnalyzer
	text.Store, text.IncludeTermVectors, text.IncludeInAll, text.DocValues = false, false, false, false
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("text", text)
	m.DefaultMapping = doc
	m.DefaultAnalyzer = bleveAnalyzer
	if bm25 {
		m.ScoringModel = "bm25"
	}
	return m, nil
}

func newBleveSearcher(docs []string, useScorch bool) (*bleveSearcher, error) {
	m, err := bleveMapping(useScorch)
	if err != nil {
		return nil, err
	}
	var idx bleve.Index
	if useScorch {
		idx, err = bleve.NewUsing("", m, scorch.Name, scorch.Name, nil)
	} else {
		idx, err = bleve.NewMemOnly(m)
	}
	if err != nil {
		return nil, err
	}
	b := idx.NewBatch()
	for i, d := range docs {
		if err := b.Index(fmt.Sprint(i), map[string]any{"text": d}); err != nil {
			return nil, err
		}
		if b.Size() == 1000 || i == len(docs)-1 {
			if err := idx.Batch(b); err != nil {
				return nil, err
			}
			b.Reset()
		}
	}
	return &bleveSearcher{idx: idx}, nil
}

func (s *bleveSearcher) search(query string) ([]string, error) {
	q := bleve.NewMatchQuery(query)
	q.SetField("text")
	q.Analyzer = bleveAnalyzer
	req := bleve.NewSearchRequestOptions(q, 10, 0, false)
	res, err := s.idx.Search(req)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ID
	}
	return out, nil
}

func (s *bleveSearcher) close() error { return s.idx.Close() }
