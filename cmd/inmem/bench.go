package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem"
)

// benchConfig sizes `inmem bench`: the durable-commit workload of commit_bench_test.go — each
// committer commits one-key transactions (a 100-byte value) to its own run — in Strict and Buffered
// mode, at each committer count, for Duration each. The comparison with other engines is the bench/
// module's; this is inmem alone, on the machine at hand.
type benchConfig struct {
	Duration   time.Duration
	Committers []int
	Dir        string // where the databases go; a temporary directory by default
}

// benchResult is one cell of the table.
type benchResult struct {
	mode           inmem.Durability
	committers     int
	commits        int
	elapsed        time.Duration
	p50, p99       time.Duration
	syncsPerCommit float64
}

func (r benchResult) rate() float64 { return float64(r.commits) / r.elapsed.Seconds() }

func benchCommand(args []string, stdout, stderr io.Writer) int {
	cfg := benchConfig{Duration: 2 * time.Second, Committers: []int{1, 8, 64, 256}}
	fs := newFlagSet("inmem bench", stderr, "[-duration 2s] [-committers 1,8,64,256] [-dir d]",
		"Measures durable commits/s of concurrent committers, Strict and Buffered, with a\nprogress bar, then prints a table and a plot.")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each cell runs")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the databases (default: a temporary one, removed after)")
	committers := fs.String("committers", "1,8,64,256", "comma-separated committer counts")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var err error
	if cfg.Committers, err = parseCounts(*committers); err != nil || cfg.Duration <= 0 || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "inmem bench: committer counts must be positive integers and the duration positive\n")
		return exitUsage
	}
	results, err := runBench(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "inmem bench: %v\n", err)
		return exitFail
	}
	printBench(stdout, results)
	return exitOK
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100_000 {
			return nil, fmt.Errorf("bad committer count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runBench runs every cell, drawing a progress bar on progress.
func runBench(cfg benchConfig, progress io.Writer) ([]benchResult, error) {
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "inmem-bench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	var results []benchResult
	modes := []inmem.Durability{inmem.Strict, inmem.Buffered}
	total := time.Duration(len(modes)*len(cfg.Committers)) * cfg.Duration
	bar := &progressBar{w: progress, total: total}
	for _, mode := range modes {
		for _, n := range cfg.Committers {
			bar.label = fmt.Sprintf("%v, %d committers", mode, n)
			r, err := benchCell(fmt.Sprintf("%s/%v-%d", dir, mode, n), mode, n, cfg.Duration, bar)
			if err != nil {
				return nil, err
			}
			results = append(results, r)
		}
	}
	bar.finish()
	return results, nil
}

// benchCell measures one mode and committer count in a fresh database.
func benchCell(dir string, mode inmem.Durability, committers int, d time.Duration, bar *progressBar) (benchResult, error) {
	o := inmem.DefaultOptions()
	o.Durability = mode
	o.Snapshot.OnClose = false
	db, err := inmem.Open(dir, o)
	if err != nil {
		return benchResult{}, err
	}
	defer db.Close()
	ctx := context.Background()
	runs := make([]inmem.RunID, committers)
	for i := range runs {
		runs[i] = inmem.NewRunID()
		if err := db.BeginRun(ctx, runs[i], inmem.RunInfo{Name: "bench"}); err != nil {
			return benchResult{}, err
		}
	}
	value := make([]byte, 100)
	before := db.Stats()
	start := time.Now()
	deadline := start.Add(d)
	lat := make([][]time.Duration, committers)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for g := range committers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := db.KV().Put(ctx, runs[g], "k", value); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			bar.advance(time.Since(start), d)
		}
	}
	bar.done(d)
	if p := firstErr.Load(); p != nil {
		return benchResult{}, *p
	}
	after := db.Stats()
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := benchResult{mode: mode, committers: committers, commits: len(all), elapsed: time.Since(start)}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
		r.syncsPerCommit = float64(after.Syncs-before.Syncs) / float64(after.Commits-before.Commits)
	}
	return r, nil
}

// progressBar draws one line, redrawn in place: the share of the whole run done.
type progressBar struct {
	w       io.Writer
	total   time.Duration
	elapsed time.Duration // of the cells finished
	label   string
}

func (b *progressBar) advance(inCell, cell time.Duration) {
	drawBar(b.w, float64(b.elapsed+min(inCell, cell))/float64(b.total), b.label)
}

func (b *progressBar) done(cell time.Duration) {
	b.elapsed += cell
	b.advance(0, 0)
}

func (b *progressBar) finish() { fmt.Fprintln(b.w) }

// printBench prints the table, then the plot: one bar per cell, commits/s on a shared scale.
func printBench(w io.Writer, results []benchResult) {
	fmt.Fprintf(w, "%-8s %10s %12s %9s %9s %13s\n", "mode", "committers", "commits/s", "p50", "p99", "fsyncs/commit")
	top := 0.0
	for _, r := range results {
		fmt.Fprintf(w, "%-8v %10d %12s %9v %9v %13.4f\n", r.mode, r.committers, num(int(r.rate())),
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.syncsPerCommit)
		top = max(top, r.rate())
	}
	fmt.Fprintln(w)
	for _, r := range results {
		n := 0
		if top > 0 {
			n = int(50 * r.rate() / top)
		}
		fmt.Fprintf(w, "%-8v %4d │%s %s/s\n", r.mode, r.committers, strings.Repeat("█", n), num(int(r.rate())))
	}
}
