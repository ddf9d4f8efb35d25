// Package prometheus exports an inmem database's metrics (inmem.DB.Metrics) to Prometheus.
// It is a module of its own so that the engine's module keeps its short list of dependencies.
//
//	reg.MustRegister(prometheus.NewCollector(db, "inmem"))
//
// Each scrape calls Metrics once: counters as counters, the latency and batch distributions as
// histograms (their power-of-two buckets, latencies in seconds), sizes and counts as gauges.
package prometheus

import (
	"math"

	"github.com/inmemdb/inmem"
	prom "github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector of one database.
type Collector struct {
	db    *inmem.DB
	descs map[string]*prom.Desc
}

// metric names and help, by key; "runs" has the label status.
var metricHelp = map[string]string{
	"commits_total":            "Transactions committed, run lifecycle changes included.",
	"conflicts_total":          "Commits refused with ErrConflict or ErrVersionMismatch.",
	"batches_total":            "Batches the sequencer formed.",
	"syncs_total":              "fdatasync calls on the log.",
	"wal_written_bytes_total":  "Bytes written to the log.",
	"snapshots_total":          "Snapshots written.",
	"commit_latency_seconds":   "From a durable write call to its outcome.",
	"fsync_latency_seconds":    "One fdatasync of the log.",
	"batch_commits":            "Commits per batch.",
	"wal_disk_bytes":           "Bytes of log segments on disk.",
	"snapshot_disk_bytes":      "Bytes of the snapshot files kept.",
	"runs":                     "Runs by status.",
	"subscriptions":            "Live change-feed subscriptions.",
	"lagged_total":             "Subscriptions ended because they fell behind.",
	"snapshot_latency_seconds": "One snapshot, from its cut to its file durable.",
	"history_memory_bytes":     "Payload bytes the runs' histories hold in memory.",
	"history_disk_bytes":       "Bytes of run history kept out of the log.",
	"retention_deleted_total":  "Runs the retention actor deleted.",
}

// NewCollector returns a collector of db's metrics, named namespace_….
func NewCollector(db *inmem.DB, namespace string) *Collector {
	c := &Collector{db: db, descs: map[string]*prom.Desc{}}
	for name, help := range metricHelp {
		var labels []string
		if name == "runs" {
			labels = []string{"status"}
		}
		c.descs[name] = prom.NewDesc(prom.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prom.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prom.Metric) {
	m := c.db.Metrics()
	counter := func(name string, v uint64) {
		ch <- prom.MustNewConstMetric(c.descs[name], prom.CounterValue, float64(v))
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prom.MustNewConstMetric(c.descs[name], prom.GaugeValue, v, labels...)
	}
	counter("commits_total", m.Commits)
	counter("conflicts_total", m.Conflicts)
	counter("batches_total", m.Batches)
	counter("syncs_total", m.Syncs)
	counter("wal_written_bytes_total", m.Stats.WALBytes)
	counter("snapshots_total", m.Snapshots)
	counter("lagged_total", m.Lagged)
	counter("retention_deleted_total", m.RetentionDeleted)
	ch <- histogram(c.descs["commit_latency_seconds"], m.CommitLatency, 1e-6)
	ch <- histogram(c.descs["fsync_latency_seconds"], m.SyncLatency, 1e-6)
	ch <- histogram(c.descs["batch_commits"], m.BatchCommits, 1)
	ch <- histogram(c.descs["snapshot_latency_seconds"], m.SnapshotLatency, 1e-3)
	gauge("wal_disk_bytes", float64(m.WALBytesOnDisk))
	gauge("snapshot_disk_bytes", float64(m.SnapshotBytes))
	gauge("subscriptions", float64(m.Subscriptions))
	gauge("history_memory_bytes", float64(m.HistoryBytes))
	gauge("history_disk_bytes", float64(m.HistoryBytesOnDisk))
	for status, name := range map[inmem.RunStatus]string{inmem.RunActive: "active", inmem.RunCompleted: "completed",
		inmem.RunFailed: "failed", inmem.RunOrphaned: "orphaned"} {
		gauge("runs", float64(m.Runs[status]), name)
	}
}

// histogram turns a Distribution (bucket i: values below 2^i) into a Prometheus histogram
// with cumulative buckets, its values multiplied by scale.
func histogram(d *prom.Desc, dist inmem.Distribution, scale float64) prom.Metric {
	buckets := map[float64]uint64{}
	var cum uint64
	for i, n := range dist.Buckets {
		cum += n
		if n > 0 || i < len(dist.Buckets)-1 && cum > 0 {
			buckets[(math.Ldexp(1, i)-1)*scale] = cum
		}
	}
	return prom.MustNewConstHistogram(d, dist.Count, float64(dist.Sum)*scale, buckets)
}
