package inmem

import (
	"errors"
	"expvar"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/histogram"
	"github.com/inmemdb/inmem/snapshotter"
)

// metrics is what the database records as it runs, for Metrics.
type metrics struct {
	commit       histogram.Histogram // µs per durable commit, from the call to its outcome
	sync         histogram.Histogram // µs per fdatasync of the log
	batchCommits histogram.Histogram // commits per published batch
	batchBytes   histogram.Histogram // payload bytes per published batch
	snapshot     histogram.Histogram // ms per snapshot
	lagged       atomic.Uint64       // subscriptions ended with ErrLagged
	// retentionDeleted counts the runs the retention actor deleted.
	retentionDeleted atomic.Uint64
}

// Distribution is a recorded distribution: how many values, their sum, the largest, and counts
// in power-of-two buckets (Buckets[i] counts the values v with 2^(i-1) ≤ v < 2^i; Buckets[0]
// the zeros) from which quantiles are estimated (an upper bound: the top of a bucket).
type Distribution struct {
	Count, Sum, Max uint64
	Buckets         [histogram.Buckets]uint64
}

// Quantile estimates the q-quantile (0 < q ≤ 1) from above.
func (d Distribution) Quantile(q float64) uint64 { return histogram.Snapshot(d).Quantile(q) }

// Mean is the average value, 0 when empty.
func (d Distribution) Mean() float64 { return histogram.Snapshot(d).Mean() }

// Metrics is a database's counters, distributions and sizes at one moment (Metrics).
type Metrics struct {
	Stats // the counters

	CommitLatency Distribution // µs from a write call to its outcome, durable modes only
	SyncLatency   Distribution // µs per fdatasync of the log
	BatchCommits  Distribution // commits per batch (the group-commit factor)
	BatchBytes    Distribution // payload bytes per batch

	SnapshotLatency Distribution // ms per snapshot, from its cut to its file durable

	WALBytesOnDisk int64 // bytes of log segments on disk (not yet retired)
	// HistoryBytesOnDisk is the bytes of run history kept out of the log (wal/history):
	// retired segments and history files still read by a retained step.
	HistoryBytesOnDisk int64
	// HistoryCacheHits and HistoryCacheMisses count the steps read back for replay, diff,
	// RunSteps and export that the history cache (Options.History.CacheBytes) answered, and
	// those read from disk. Strict and Buffered only.
	HistoryCacheHits, HistoryCacheMisses uint64
	SnapshotBytes                        int64 // bytes of the snapshot files kept
	// StateBytes is each primitive's share of the newest snapshot, by name: the live state
	// as last written (its journal, for "run"). Durable modes only; nil before a snapshot.
	StateBytes map[string]int64
	// HistoryBytes is the payload bytes the runs' histories hold in memory: all of it in
	// InMemory mode; in Strict and Buffered, where history is read back from the log, only
	// steps loaded from a snapshot written before it was (the steps cached are not counted).
	HistoryBytes int64
	Runs         map[RunStatus]int
	Recovery     time.Duration // how long Open recovered

	Subscriptions int    // live subscriptions
	Lagged        uint64 // subscriptions ended with ErrLagged

	RetentionDeleted uint64 // runs the retention actor deleted (Options.Retention)
}

// Metrics returns the database's metrics. The distributions cost the commit path a few atomic
// adds; the sizes are measured now (a listing of the directory and of the runs): call it as
// often as a dashboard refreshes, not per commit.
func (db *DB) Metrics() Metrics {
	m := Metrics{Stats: db.Stats(),
		CommitLatency:   Distribution(db.metrics.commit.Snapshot()),
		SyncLatency:     Distribution(db.metrics.sync.Snapshot()),
		BatchCommits:    Distribution(db.metrics.batchCommits.Snapshot()),
		BatchBytes:      Distribution(db.metrics.batchBytes.Snapshot()),
		SnapshotLatency: Distribution(db.metrics.snapshot.Snapshot()),
		HistoryBytes:    db.runs.HistoryBytes(),
		Lagged:          db.metrics.lagged.Load(), Runs: map[RunStatus]int{},
		RetentionDeleted: db.metrics.retentionDeleted.Load(),
	}
	if db.feed != nil {
		m.Subscriptions = db.feed.Subscriptions()
	}
	if db.recovery != nil {
		m.Recovery = db.recovery.Duration
	}
	if runs, err := db.ListRuns(RunFilter{}); err == nil {
		for _, r := range runs {
			m.Runs[r.Status]++
		}
	}
	if db.dir != "" {
		m.WALBytesOnDisk, m.HistoryBytesOnDisk, m.SnapshotBytes = db.diskSizes()
		m.HistoryCacheHits, m.HistoryCacheMisses = db.history.Stats()
		m.StateBytes = db.stateBytes()
	}
	return m
}

// stateBytes is each primitive's section size in the newest snapshot; nil if there is none.
func (db *DB) stateBytes() map[string]int64 {
	fs := db.fs()
	infos, err := snapshotter.List(fs, filepath.Join(db.dir, snapshotDir))
	if err != nil || len(infos) == 0 {
		return nil
	}
	sizes, err := snapshotter.SectionSizes(fs, infos[len(infos)-1].Path)
	if err != nil {
		return nil
	}
	out := make(map[string]int64, len(sizes))
	for id, n := range sizes {
		if owner, ok := db.registry.SectionOwner(id); ok {
			out[db.registry.Primitives()[owner].Name()] = n
		}
	}
	return out
}

// diskSizes adds up the log's segments, its history directory and the snapshot files.
func (db *DB) diskSizes() (wal, history, snaps int64) {
	fs, walPath := db.fs(), filepath.Join(db.dir, walDir)
	if bases, err := commitlog.ListSegments(fs, walPath); err == nil {
		for _, b := range bases {
			n, _ := fs.Stat(filepath.Join(walPath, commitlog.SegmentName(b)))
			wal += n
		}
	}
	histPath := filepath.Join(walPath, commitlog.HistoryDir)
	if names, err := fs.List(histPath); err == nil {
		for _, name := range names {
			n, _ := fs.Stat(filepath.Join(histPath, name))
			history += n
		}
	}
	if infos, err := snapshotter.List(fs, filepath.Join(db.dir, snapshotDir)); err == nil {
		for _, in := range infos {
			n, _ := fs.Stat(in.Path)
			snaps += n
		}
	}
	return wal, history, snaps
}

// String prints the metrics as a table.
func (m Metrics) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "commits %d  conflicts %d  batches %d  syncs %d  WAL bytes written %d  snapshots %d\n",
		m.Commits, m.Conflicts, m.Batches, m.Syncs, m.Stats.WALBytes, m.Snapshots)
	fmt.Fprintf(&b, "%-22s %10s %10s %10s %10s\n", "distribution", "count", "p50", "p99", "max")
	for _, d := range []struct {
		name string
		d    Distribution
	}{{"commit latency µs", m.CommitLatency}, {"fsync latency µs", m.SyncLatency},
		{"batch commits", m.BatchCommits}, {"batch bytes", m.BatchBytes}, {"snapshot ms", m.SnapshotLatency}} {
		fmt.Fprintf(&b, "%-22s %10d %10d %10d %10d\n", d.name, d.d.Count, d.d.Quantile(0.5), d.d.Quantile(0.99), d.d.Max)
	}
	fmt.Fprintf(&b, "log on disk %d bytes, history out of the log %d bytes, snapshots %d bytes, recovery took %v\n",
		m.WALBytesOnDisk, m.HistoryBytesOnDisk, m.SnapshotBytes, m.Recovery)
	fmt.Fprintf(&b, "history steps read back: %d from the cache, %d from disk\n", m.HistoryCacheHits, m.HistoryCacheMisses)
	fmt.Fprintf(&b, "runs: active %d, completed %d, failed %d, orphaned %d\n",
		m.Runs[RunActive], m.Runs[RunCompleted], m.Runs[RunFailed], m.Runs[RunOrphaned])
	fmt.Fprintf(&b, "history in memory %d bytes; state in the newest snapshot:", m.HistoryBytes)
	for _, name := range slices.Sorted(maps.Keys(m.StateBytes)) {
		fmt.Fprintf(&b, " %s %d", name, m.StateBytes[name])
	}
	fmt.Fprintf(&b, "\nsubscriptions %d, lagged %d, runs deleted by retention %d\n", m.Subscriptions, m.Lagged, m.RetentionDeleted)
	return b.String()
}

// errExpvarTaken is what PublishExpvar logs for a name expvar already has.
var errExpvarTaken = errors.New("inmem: expvar name already published")

// PublishExpvar publishes db.Metrics() under name in the expvar package (served at
// /debug/vars by net/http when expvar is imported). expvar names are process-wide and cannot
// be unpublished: publish a database once, under a name no one else uses; a name already
// taken is left as it is.
func PublishExpvar(db *DB, name string) {
	if expvar.Get(name) != nil {
		db.opts.Logger.Warn("inmem: PublishExpvar: name taken", "name", name, "err", errExpvarTaken)
		return
	}
	expvar.Publish(name, expvar.Func(func() any { return db.Metrics() }))
}
