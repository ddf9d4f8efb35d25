package inmem

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/search"
)

// SearchRequest is one full-text search of a run.
//
// Tokens are maximal runs of Unicode letters and digits, lower-cased; a query's distinct tokens
// are its terms. Documents are scored with BM25 (Options.Search.Scorer replaces it) against
// the statistics of the documents the primitive holds in the run at the searched version.
type SearchRequest struct {
	Run   RunID
	Query string
	K     int // hits wanted; ≤ 0 means 10
	// Kinds are the primitives searched (KindKV, KindJSON, KindEvent, KindState, KindTrace);
	// empty means all five. A facade's Search searches its own primitive whatever Kinds says.
	Kinds  []PrimitiveKind
	Budget SearchBudget
	// AtVersion is the snapshot searched: 0 means now. An older version must still be
	// readable: not older than the oldest snapshot a reader holds (ErrInvalidArgument).
	AtVersion uint64
}

// SearchBudget bounds a search. A search that runs out of budget is not an error: it returns
// the best hits found so far with Truncated set.
type SearchBudget struct {
	// MaxTime bounds the search's duration (≤ 0: no bound); checked periodically.
	MaxTime time.Duration
	// MaxCandidates bounds the documents scored, across the primitives searched (≤ 0: no
	// bound). Primitives are searched in kind order and their candidates in a fixed order, so
	// the same snapshot and request truncate to the same hits every time.
	MaxCandidates int
}

// SearchResponse is a search's answer: the best hits, best first.
type SearchResponse struct {
	Hits      []SearchHit
	Truncated bool // the budget stopped the search before every candidate was scored
	Stats     SearchStats
}

// SearchHit is one result. Score is the primitive's score (BM25 unless replaced) when one
// primitive was searched, and the fused score (reciprocal-rank fusion unless replaced) when
// several were. Rank is 1-based.
type SearchHit struct {
	Ref   DocRef
	Score float64
	Rank  int
}

// DocRef points back at what a hit found: a KV key (Key), a JSON document (Key; Path, when
// set, a place in it), an event (Seq), a state cell (Key, its name), a span (SpanID).
type DocRef struct {
	Kind   PrimitiveKind
	Run    RunID
	Key    string
	Seq    uint64
	SpanID string
	Path   string
}

// CompareDocRefs is the total order on references that breaks ties in score, the smaller
// first: Kind, Run, Key, Seq, SpanID, Path.
func CompareDocRefs(a, b DocRef) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), bytes.Compare(a.Run[:], b.Run[:]),
		extension.CompareSearchRefs(extension.SearchRef{Key: a.Key, Seq: a.Seq, SpanID: a.SpanID, Path: a.Path},
			extension.SearchRef{Key: b.Key, Seq: b.Seq, SpanID: b.SpanID, Path: b.Path}))
}

// SearchStats says what a search did.
type SearchStats struct {
	Version uint64                // the snapshot searched
	Scored  int                   // documents scored, every primitive
	ByKind  map[PrimitiveKind]int // documents scored, per primitive searched
	Indexed []PrimitiveKind       // the primitives searched that answered from an index
	Took    time.Duration
}

// Scoring and fusion are interfaces that Options.Search replaces. They are declared in an
// internal package: each doc below shows the methods or fields.
type (
	// Scorer turns a query term into a TermScorer, once per term per search, given the
	// collection statistics at the searched version and how many visible documents hold the
	// term (at least 1):
	//
	//	Term(c SearchCollection, docFreq int) TermScorer
	Scorer = search.Scorer
	// TermScorer scores one term in one document from its count there and the document's
	// length in tokens:
	//
	//	Score(tf, length int) float64
	TermScorer = search.TermScorer
	// SearchCollection is the collection statistics a Scorer gets:
	//
	//	Docs      int     // the documents visible
	//	AvgLength float64 // their average length in tokens
	SearchCollection = search.Stats
	// BM25 is the default Scorer's kind; DefaultBM25 (k1 = 1.2, b = 0.75) is the default:
	//
	//	K1, B float64
	BM25 = search.BM25
	// Fuser combines the rankings of several primitives into the best k:
	//
	//	Fuse(k int, rankings ...[]RankedRef) []RankedRef
	Fuser = search.Fuser[DocRef]
	// RankedRef is a reference in a ranking a Fuser takes and returns:
	//
	//	Doc   DocRef
	//	Score float64
	//	Rank  int // 1-based
	RankedRef = search.Hit[DocRef]
	// RRF is reciprocal-rank fusion, the default Fuser:
	//
	//	K       float64                 // ≤ 0: 60
	//	Compare func(a, b DocRef) int // breaks ties; nil: the reference ranked first wins
	RRF = search.RRF[DocRef]
)

// DefaultBM25 is the default Scorer.
var DefaultBM25 = search.DefaultBM25

// SearchOptions configures search.
type SearchOptions struct {
	Scorer Scorer // nil: DefaultBM25
	Fuser  Fuser  // nil: RRF{K: 60, Compare: CompareDocRefs}
	// Index lists the primitives that keep an inverted index per run (KindKV, KindJSON,
	// KindEvent, KindState, KindTrace). Each is maintained by the shard actor that applies
	// the primitive's commits, so a commit of an indexed primitive costs more (see
	// docs/design.md, Search); a primitive not listed does no work for search at commit, and a
	// search scans the run's documents instead.
	Index []PrimitiveKind
}

// searchKinds are the searchable primitives, in the order a search visits them.
var searchKinds = []PrimitiveKind{KindKV, KindJSON, KindEvent, KindState, KindTrace}

func checkSearchKinds(what string, kinds []PrimitiveKind) error {
	for _, k := range kinds {
		if !slices.Contains(searchKinds, k) {
			return dberr.Invalid("%s: %v is not a searchable primitive", what, k)
		}
	}
	return nil
}

// searchable returns the primitive of kind k.
func (db *DB) searchable(k PrimitiveKind) extension.Searchable {
	switch k {
	case KindKV:
		return db.kv
	case KindJSON:
		return db.docs
	case KindEvent:
		return db.events
	case KindState:
		return db.states
	case KindTrace:
		return db.traces
	}
	return nil
}

// configureSearch tells each searchable primitive how to rank and whether to index, before
// the engine creates the shards.
func (db *DB) configureSearch() {
	cfg := extension.SearchConfig{Compare: extension.CompareSearchRefs, Scorer: db.opts.Search.Scorer}
	for _, k := range searchKinds {
		db.searchable(k).ConfigureSearch(cfg, slices.Contains(db.opts.Search.Index, k))
	}
}

// Search searches the run's primitives (req.Kinds, all five if empty) at one snapshot and
// fuses their rankings (reciprocal-rank fusion, k = 60, unless Options.Search.Fuser replaces
// it). The snapshot (now, or req.AtVersion) is pinned for the search's duration, as a
// transaction's is: the same snapshot and request give the same hits in the same order. An
// unknown or deleted run is ErrRunNotFound.
func (db *DB) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	if err := checkContext(ctx); err != nil {
		return SearchResponse{}, err
	}
	if err := db.usable(); err != nil {
		return SearchResponse{}, err
	}
	s := req.AtVersion
	if s == 0 {
		s = db.clock.Pin()
	} else if !db.clock.PinAt(s) {
		return SearchResponse{}, dberr.Invalid("Search: version %d is not readable (published %d, oldest readable %d)",
			s, db.clock.Now(), db.clock.Oldest())
	}
	defer db.clock.Unpin(s)
	if err := db.runCheck(req.Run, s, false); err != nil {
		return SearchResponse{}, err
	}
	return db.searchAt(ctx, req, s)
}

// searchAt searches at snapshot s, pinned by the caller.
func (db *DB) searchAt(ctx context.Context, req SearchRequest, s uint64) (SearchResponse, error) {
	if err := checkSearchKinds("Search", req.Kinds); err != nil {
		return SearchResponse{}, err
	}
	began := time.Now()
	kinds := searchKinds
	if len(req.Kinds) > 0 {
		kinds = make([]PrimitiveKind, 0, len(req.Kinds))
		for _, k := range searchKinds { // kind order whatever the request's order: deterministic budgets
			if slices.Contains(req.Kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	r := search.Request{Query: req.Query, K: req.K}
	if req.Budget.MaxTime > 0 {
		r.Deadline = began.Add(req.Budget.MaxTime) // one deadline for every primitive
	}
	resp := SearchResponse{Stats: SearchStats{Version: s, ByKind: make(map[PrimitiveKind]int, len(kinds))}}
	rankings := make([][]RankedRef, 0, len(kinds))
	for _, k := range kinds {
		if max := req.Budget.MaxCandidates; max > 0 {
			if r.MaxCandidates = max - resp.Stats.Scored; r.MaxCandidates <= 0 {
				resp.Truncated = true // the budget went to the primitives before this one
				break
			}
		}
		p := db.searchable(k)
		res, err := p.Search(ctx, req.Run, s, r)
		if err != nil {
			return SearchResponse{}, fmt.Errorf("inmem: search %v: %w", k, err)
		}
		resp.Stats.Scored += res.Scored
		resp.Stats.ByKind[k] = res.Scored
		if slices.Contains(db.opts.Search.Index, k) {
			resp.Stats.Indexed = append(resp.Stats.Indexed, k)
		}
		resp.Truncated = resp.Truncated || res.Truncated
		ranking := make([]RankedRef, len(res.Hits))
		for i, h := range res.Hits {
			ranking[i] = RankedRef{Doc: DocRef{Kind: k, Run: req.Run, Key: h.Doc.Key, Seq: h.Doc.Seq,
				SpanID: h.Doc.SpanID, Path: h.Doc.Path}, Score: h.Score, Rank: h.Rank}
		}
		rankings = append(rankings, ranking)
		if res.Truncated && !r.Deadline.IsZero() && !time.Now().Before(r.Deadline) {
			break // out of time: the later primitives would stop at once
		}
	}
	var hits []RankedRef
	switch {
	case len(kinds) == 1 && len(rankings) == 1:
		hits = rankings[0] // one primitive: its own scores, nothing to fuse
	case len(rankings) > 0:
		hits = db.fuser().Fuse(req.K, rankings...)
	}
	resp.Hits = make([]SearchHit, len(hits))
	for i, h := range hits {
		resp.Hits[i] = SearchHit{Ref: h.Doc, Score: h.Score, Rank: i + 1}
	}
	resp.Stats.Took = time.Since(began)
	return resp, nil
}

func (db *DB) fuser() Fuser {
	if f := db.opts.Search.Fuser; f != nil {
		return f
	}
	return RRF{K: search.DefaultRRFK, Compare: CompareDocRefs}
}

// searchOne is a facade's Search: req on primitive k only.
func (db *DB) searchOne(ctx context.Context, k PrimitiveKind, req SearchRequest) (SearchResponse, error) {
	req.Kinds = []PrimitiveKind{k}
	return db.Search(ctx, req)
}

// Search searches the run's KV entries: by key, and by value where the value is UTF-8 text.
// See DB.Search; req.Kinds is ignored.
func (k *KV) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	return k.db.searchOne(ctx, KindKV, req)
}

// Search searches the run's JSON documents by their string values and object keys. See
// DB.Search; req.Kinds is ignored.
func (j *JSON) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	return j.db.searchOne(ctx, KindJSON, req)
}

// Search searches the run's events by type and payload. See DB.Search; req.Kinds is ignored.
func (e *Events) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	return e.db.searchOne(ctx, KindEvent, req)
}

// Search searches the run's state cells by value (UTF-8 values only). See DB.Search;
// req.Kinds is ignored.
func (s *State) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	return s.db.searchOne(ctx, KindState, req)
}

// Search searches the run's spans by name, tags and attributes. See DB.Search; req.Kinds is
// ignored.
func (t *Traces) Search(ctx context.Context, req SearchRequest) (SearchResponse, error) {
	return t.db.searchOne(ctx, KindTrace, req)
}

// Search searches the transaction's run at its snapshot, as DB.Search does. The transaction's
// own writes, not committed yet, are not searched: it finds what the snapshot holds. req.Run
// must be the transaction's run or zero, and req.AtVersion zero (ErrInvalidArgument).
func (tx *Tx) Search(req SearchRequest) (SearchResponse, error) {
	if err := tx.check(false); err != nil {
		return SearchResponse{}, err
	}
	if req.Run != (RunID{}) && req.Run != tx.run {
		return SearchResponse{}, dberr.Invalid("Tx.Search: run %s is not the transaction's run %s", req.Run, tx.run)
	}
	if req.AtVersion != 0 {
		return SearchResponse{}, dberr.Invalid("Tx.Search: AtVersion is the transaction's snapshot")
	}
	req.Run = tx.run
	return tx.db.searchAt(context.Background(), req, tx.snapshot)
}
