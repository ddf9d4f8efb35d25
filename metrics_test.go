package inmem_test

import (
	"expvar"
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	db := openDir(t, t.TempDir())
	defer db.Close()
	run := newRun(t, db)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if err := db.KV().Put(ctx, run, fmt.Sprint(g, "/", i), []byte("v")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, db.EndRun(ctx, run))
	_, err := db.Snapshot()
	require.NoError(t, err)
	sub, err := db.Subscribe(ctx, inmem.Filter{})
	require.NoError(t, err)
	defer sub.Close()

	m := db.Metrics()
	assert.Equal(t, uint64(1+200+1), m.CommitLatency.Count, "every durable write timed: begin, puts, end")
	assert.Equal(t, m.Syncs, m.SyncLatency.Count)
	assert.Equal(t, m.Commits, m.BatchCommits.Sum, "every published commit in a batch")
	assert.Equal(t, m.Batches, m.BatchCommits.Count)
	assert.LessOrEqual(t, m.CommitLatency.Quantile(0.5), m.CommitLatency.Quantile(0.99))
	assert.LessOrEqual(t, m.CommitLatency.Quantile(0.99), m.CommitLatency.Max)
	assert.Positive(t, m.WALBytesOnDisk)
	assert.Positive(t, m.SnapshotBytes)
	assert.Equal(t, 1, m.Runs[inmem.RunCompleted])
	assert.Equal(t, 1, m.Subscriptions)
	assert.Positive(t, m.Recovery)
	assert.EqualValues(t, 1, m.SnapshotLatency.Count)
	assert.Zero(t, m.HistoryBytes, "the history is in the log, not in memory")
	assert.Positive(t, m.StateBytes["kv"])
	assert.Positive(t, m.StateBytes["run"])
	s := m.String()
	for _, want := range []string{"commit latency µs", "fsync latency µs", "snapshot ms", "runs: active 0, completed 1",
		"subscriptions 1", "history in memory", " kv "} {
		assert.Contains(t, s, want)
	}

	inmem.PublishExpvar(db, "inmem-test-metrics")
	v := expvar.Get("inmem-test-metrics")
	require.NotNil(t, v)
	assert.Contains(t, v.String(), `"CommitLatency"`)
	inmem.PublishExpvar(db, "inmem-test-metrics") // taken: left as it is, no panic
}

func TestMetricsInMemory(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "k", nil))
	require.NoError(t, db.KV().Put(ctx, run, "key", []byte("value")))
	m := db.Metrics()
	// Each put journaled as the run id, the key's length, the key and the value.
	assert.EqualValues(t, (16+1+1)+(16+1+3+5), m.HistoryBytes, "InMemory keeps the history in memory")
	assert.Zero(t, m.CommitLatency.Count, "not timed in InMemory mode: a clock read would be a tenth of a put")
	assert.Positive(t, m.BatchCommits.Count)
	assert.Zero(t, m.WALBytesOnDisk)
}
