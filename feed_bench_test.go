package inmem_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// BenchmarkSubscribers: 64 Strict committers put one key each into one run while subscribers
// watch it (bar: commits/s with 1 000 subscribers ≥ 90 % of without; delivery p99 ≤ 2 ms after
// publish). Each of the 1 000 waits for its own key (a supervisor waiting for an approval: it
// gets nothing of this load). With probe, one more subscriber gets every change, to time
// delivery: "deliver-p99-µs" is from the moment the commit's call returned (after its
// publication) to the moment the probe received it (0 if it came first),
// "since-commit-p99-µs" from the commit's timestamp, taken when it was sequenced, before its
// fsync. The probe's own work (a goroutine woken for every commit) costs the committers CPU
// too, so throughput is compared without it.
func BenchmarkSubscribers(b *testing.B) {
	for _, c := range []struct {
		n     int
		probe bool
	}{{0, false}, {1000, false}, {1000, true}} {
		n := c.n
		b.Run(fmt.Sprintf("subscribers=%d/probe=%v", n, c.probe), func(b *testing.B) {
			o := inmem.DefaultOptions()
			db, err := inmem.Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := beginBench(b, db)
			var wg sync.WaitGroup
			for i := range n {
				sub, err := db.Subscribe(context.Background(), inmem.Filter{Runs: []inmem.RunID{run}, KeyPrefix: fmt.Sprint("approval/", i)})
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					for range sub.C() {
					}
				})
			}
			acked := make([]int64, b.N)
			received := make([]int64, b.N)
			var sinceCommit []time.Duration
			if c.probe {
				probe, err := db.Subscribe(context.Background(), inmem.Filter{Runs: []inmem.RunID{run}, Buffer: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					for c := range probe.C() {
						now := time.Now()
						i, _ := strconv.Atoi(strings.TrimPrefix(c.Key, "k/"))
						received[i] = now.UnixNano()
						sinceCommit = append(sinceCommit, now.Sub(c.Time))
					}
				})
			}
			before := db.Stats()
			lat := runCommitters(b, 64, func(g, i int) error {
				err := db.KV().Put(context.Background(), run, "k/"+strconv.Itoa(i), benchValue)
				acked[i] = time.Now().UnixNano()
				return err
			})
			after := db.Stats()
			reportCommits(b, lat, after.Syncs-before.Syncs, after.Commits-before.Commits)
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			wg.Wait() // Close ended every subscription: the probe has all it will get
			if !c.probe {
				return
			}
			var delays []time.Duration
			for i := range acked {
				if received[i] == 0 {
					b.Fatalf("change %d never delivered", i)
				}
				delays = append(delays, time.Duration(max(received[i]-acked[i], 0)))
			}
			slices.Sort(delays)
			slices.Sort(sinceCommit)
			b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "deliver-p99-µs")
			b.ReportMetric(float64(sinceCommit[len(sinceCommit)*99/100].Microseconds()), "since-commit-p99-µs")
		})
	}
}
