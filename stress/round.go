package stress

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/inmemdb/inmem"
)

// Config sizes a stress run.
type Config struct {
	Duration time.Duration // how long the whole run lasts (rounds start until it is over)
	Round    time.Duration // the length of one round of work between crashes or reopens
	Agents   int           // concurrent agents, each writing its own runs
	Seed     uint64
	Dir      string // the database directory of the modes that use the real filesystem
	// Logf, if set, hears a line per round.
	Logf func(format string, args ...any)
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// start returns a mode's workload, its random source (stream tells the modes apart) and the
// moment the mode stops starting rounds.
func start(cfg Config, stream uint64) (*workload, *rand.Rand, time.Time) {
	w := newWorkload(cfg.Seed, cfg.Agents, new(Report))
	return w, rand.New(rand.NewPCG(cfg.Seed, stream)), time.Now().Add(cfg.Duration)
}

// options are the database options of every durable mode: small segments and frequent
// snapshots, so that rounds cross segment roll-overs, snapshots and WAL retirement.
func options() *inmem.Options {
	o := inmem.DefaultOptions()
	o.SegmentSize = 256 << 10
	o.Snapshot.WALSizeThreshold = 128 << 10
	o.Snapshot.RetentionCount = 2
	o.UpdateAttempts = 1000 // the shared counter is a hot spot
	return o
}

// work runs the agents on db for d, with a snapshotter and a replay checker beside them, and
// returns once all have stopped. stop, if not nil, is called at a random moment within d
// instead of at its end (a crash); the agents then go on until d is over or they fail.
func (w *workload) work(db *inmem.DB, d time.Duration, rng *rand.Rand, snapshots bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx, db) })
	wg.Go(func() { w.replayWhileWriting(ctx, db, rand.New(rand.NewPCG(rng.Uint64(), 1))) })
	if snapshots {
		wg.Go(func() { w.snapshotWhileWriting(ctx, db) })
	}
	wg.Wait()
}

func (w *workload) snapshotWhileWriting(ctx context.Context, db *inmem.DB) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := db.Snapshot()
			if err != nil {
				return // closed, crashed or poisoned: the round is ending
			}
			w.report.Snapshots.Add(1)
			w.tell("snap")
		}
	}
}

// replayWhileWriting replays runs while their agents commit, compact, fork and delete them: a
// view of k steps must equal the model of the first k transactions, however the replay and
// the commits interleave.
func (w *workload) replayWhileWriting(ctx context.Context, db *inmem.DB, rng *rand.Rand) {
	for ctx.Err() == nil {
		// Only a run whose begin was acknowledged (a fork's base is known then) and that its
		// agent has not begun to delete: once it has, the id may hold the next slot's run.
		var ts []*tracker
		for _, t := range w.all() {
			if t.begun.Load() && !t.delTried.Load() && !t.gone.Load() {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		t := ts[rng.IntN(len(ts))]
		v, err := db.ReplayRun(t.run)
		if err != nil || t.delTried.Load() || t.gone.Load() {
			// Gone (retention), the database going away, or its agent began deleting it during the
			// replay: the next slot may have begun the id again before it ended.
			time.Sleep(time.Millisecond)
			continue
		}
		got, err := replayed(v).image()
		want := t.fold(v.Steps()).image()
		w.report.check(err == nil && got == want, invReplayAt, "run %s replayed at %d steps while writing:\nwant\n%s\ngot\n%s",
			t.run, v.Steps(), want, got)
		w.report.Replays.Add(1)
	}
}
