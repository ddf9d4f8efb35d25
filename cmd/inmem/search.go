package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/inmemdb/inmem"
)

// searchHitJSON is one hit as `inmem search -json` prints it.
type searchHitJSON struct {
	Rank   int     `json:"rank"`
	Score  float64 `json:"score"`
	Kind   string  `json:"kind"`
	Key    string  `json:"key,omitempty"`
	Seq    *uint64 `json:"seq,omitempty"`
	SpanID string  `json:"span_id,omitempty"`
	Path   string  `json:"path,omitempty"`
}

// searchCommand searches one run of a directory opened read-only. The directory's indexes are
// not on disk: a read-only open keeps none, and the search scans the run at the recovered
// state, which ranks exactly as an index would.
func searchCommand(args []string, stdout, stderr io.Writer) int {
	k := 10
	db, rest, asJSON, code := openArgs("search", "[-json] [-k n] <dir> <run> <query>",
		"Searches a run's KV entries, JSON documents, events, state cells and spans (BM25, fused by reciprocal rank).", 2, args, stderr,
		func(fs *flag.FlagSet) { fs.IntVar(&k, "k", 10, "hits to print") })
	if db == nil {
		return code
	}
	defer db.Close()
	run, ok := runArg("search", rest[0], stderr)
	if !ok {
		return exitUsage
	}
	resp, err := db.Search(context.Background(), inmem.SearchRequest{Run: run, Query: rest[1], K: k})
	if err != nil {
		fmt.Fprintf(stderr, "inmem search: %v\n", err)
		return exitFail
	}
	hits := make([]searchHitJSON, len(resp.Hits))
	for i, h := range resp.Hits {
		hits[i] = searchHitJSON{Rank: h.Rank, Score: h.Score, Kind: h.Ref.Kind.String(), Key: h.Ref.Key,
			SpanID: h.Ref.SpanID, Path: h.Ref.Path}
		if h.Ref.Kind == inmem.KindEvent {
			seq := h.Ref.Seq
			hits[i].Seq = &seq
		}
	}
	printResult(stdout, asJSON, hits, func() {
		for _, h := range hits {
			name := h.Key
			switch {
			case h.Seq != nil:
				name = fmt.Sprintf("#%d", *h.Seq)
			case h.SpanID != "":
				name = h.SpanID
			}
			fmt.Fprintf(stdout, "%3d  %.4f  %-5s %s\n", h.Rank, h.Score, h.Kind, name)
		}
		fmt.Fprintf(stdout, "%d hits, %d documents scored at version %d\n", len(hits), resp.Stats.Scored, resp.Stats.Version)
	})
	return exitOK
}
