package main

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A result is one cell of the table: one series at one number of committers.
type result struct {
	series     series
	committers int
	commits    int           // completed inside the measured window
	elapsed    time.Duration // the measured window
	p50, p99   time.Duration
	err        error
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.commits) / r.elapsed.Seconds()
}

// Phases of a cell, read by every committer after each commit.
const (
	warmingUp int32 = iota
	measuring
	stopping
)

// runCell opens s in a fresh directory under parent, runs n committers for warmup and then
// for d, and removes the directory. A commit counts, and its latency is kept, if it completed
// inside the measured window: commits/s is then completions per second of the window, as an
// observer of the engine would see them.
func runCell(s series, n int, parent string, warmup, d time.Duration) (res result) {
	res = result{series: s, committers: n}
	dir, err := os.MkdirTemp(parent, "inmem-bench-")
	if err != nil {
		res.err = err
		return res
	}
	defer os.RemoveAll(dir)
	st, err := s.open(dir)
	if err != nil {
		res.err = fmt.Errorf("open: %w", err)
		return res
	}
	defer func() {
		if err := st.close(); err != nil && res.err == nil {
			res.err = fmt.Errorf("close: %w", err)
		}
	}()
	commits := make([]func() error, n)
	for g := range commits {
		if commits[g], err = st.committer(g); err != nil {
			res.err = fmt.Errorf("committer %d: %w", g, err)
			return res
		}
	}

	var phase atomic.Int32
	lats := make([][]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g, commit := range commits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Load() != stopping {
				start := time.Now()
				if err := commit(); err != nil {
					errs[g] = err
					return
				}
				lat := time.Since(start)
				if phase.Load() == measuring {
					lats[g] = append(lats[g], lat)
				}
			}
		}()
	}
	time.Sleep(warmup)
	phase.Store(measuring)
	start := time.Now()
	time.Sleep(d)
	phase.Store(stopping)
	res.elapsed = time.Since(start)
	wg.Wait()

	for g, err := range errs {
		if err != nil {
			res.err = fmt.Errorf("committer %d: %w", g, err)
			return res
		}
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	res.commits = len(all)
	if len(all) > 0 {
		res.p50 = all[len(all)/2]
		res.p99 = all[len(all)*99/100]
	}
	return res
}
