// Package retention is the actor that deletes ended runs a database no longer keeps — those
// that ended longer ago than a time to live, and the oldest beyond a count — and compacts the
// history of every run to its last steps. It deletes only ended runs: Active and Orphaned ones
// are never in the list it is given.
//
// The actor knows nothing of the engine: it is given a way to list the ended runs and a way to
// delete one (a DeleteRun, a logged system transaction of its own). It deletes one run at a
// time (compacts one at a time) and waits for each one's commit before the next, so it never has more than one
// commit in the pipeline: in a durable mode a deletion shares the group commit's fsync with
// whatever commits are waiting, and the commits around it wait for at most one more entry.
package retention

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/inmemdb/inmem/extension"
)

// Policy says which ended runs are deleted. The zero Policy keeps every run.
type Policy struct {
	TTL       time.Duration // delete runs that ended longer ago than this; 0: keep them however old
	MaxEnded  int           // keep at most this many ended runs, deleting the oldest; 0: no limit
	KeepSteps int           // compact every run's history to its last KeepSteps steps; 0: keep all
}

// Enabled reports whether the policy ever deletes or compacts anything.
func (p Policy) Enabled() bool { return p.TTL > 0 || p.MaxEnded > 0 || p.KeepSteps > 0 }

// History is a run's history as the actor lists them: its first and last step.
type History struct {
	Run         extension.RunID
	First, Last int
}

// Compactions returns, for each run of hs whose history holds more than KeepSteps steps after
// its base, the step to compact it to (CompactRun's argument: the first step kept), in the
// order of hs.
func (p Policy) Compactions(hs []History) []History {
	if p.KeepSteps <= 0 {
		return nil
	}
	var out []History
	for _, h := range hs {
		if h.Last-h.First > p.KeepSteps {
			out = append(out, History{Run: h.Run, First: h.Last - p.KeepSteps + 1, Last: h.Last})
		}
	}
	return out
}

// Ended is an ended run, as the actor lists them.
type Ended struct {
	Run     extension.RunID
	EndedAt time.Time
}

// Doomed returns the runs of ended the policy deletes at now, oldest first (by end time, then
// id): every run that ended before now - TTL, then the oldest beyond MaxEnded.
func (p Policy) Doomed(ended []Ended, now time.Time) []extension.RunID {
	slices.SortFunc(ended, func(a, b Ended) int {
		return cmp.Or(a.EndedAt.Compare(b.EndedAt), slices.Compare(a.Run[:], b.Run[:]))
	})
	n := 0 // the oldest n are doomed
	if p.TTL > 0 {
		cutoff := now.Add(-p.TTL)
		for n < len(ended) && ended[n].EndedAt.Before(cutoff) {
			n++
		}
	}
	if p.MaxEnded > 0 {
		n = max(n, len(ended)-p.MaxEnded)
	}
	out := make([]extension.RunID, n)
	for i := range out {
		out[i] = ended[i].Run
	}
	return out
}

// Interval is the longest time between two passes: half the TTL, at most a minute (a run is
// never kept much past its time) and at least minInterval.
func (p Policy) Interval() time.Duration {
	if p.TTL > 0 {
		return max(min(p.TTL/2, time.Minute), minInterval)
	}
	return time.Minute
}

// minInterval bounds how often passes run, however short the TTL: each lists every ended run.
const minInterval = 10 * time.Millisecond

// settle is how long a pass waits after a run ends, so that runs ending together are dealt
// with in one pass.
const settle = 10 * time.Millisecond

// Config wires an Actor.
type Config struct {
	Policy
	Ended  func() []Ended                                       // the ended runs now
	Delete func(ctx context.Context, run extension.RunID) error // delete one run; its commit done when it returns
	// Histories lists every run's history, Compact compacts one (CompactRun); needed with
	// KeepSteps only.
	Histories func() []History
	Compact   func(ctx context.Context, run extension.RunID, step int) error
	Now       func() time.Time
	// Deleted is called after each deletion; Failed with a deletion's or a compaction's error
	// (the pass stops there and the next one tries again); Passed after a pass that deleted or
	// compacted something, with how many of each.
	Deleted func(run extension.RunID)
	Failed  func(run extension.RunID, err error)
	Passed  func(deleted, compacted int)
}

// Actor runs passes: every Policy.Interval, and soon after Kick.
type Actor struct {
	cfg    Config
	kick   chan struct{}
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start starts the actor. Stop it with Stop.
func Start(cfg Config) *Actor {
	ctx, cancel := context.WithCancel(context.Background())
	a := &Actor{cfg: cfg, kick: make(chan struct{}, 1), cancel: cancel}
	a.done.Go(func() { a.run(ctx) })
	return a
}

// Kick asks for a pass soon (a run ended, and MaxEnded is set). It never blocks.
func (a *Actor) Kick() {
	select {
	case a.kick <- struct{}{}:
	default: // a pass is due already
	}
}

// KickIfCounting is Kick when the policy keeps a count of ended runs (MaxEnded): a run that
// ends may put one over it.
func (a *Actor) KickIfCounting() {
	if a.cfg.MaxEnded > 0 {
		a.Kick()
	}
}

// Stop ends the actor, interrupting a pass between two deletions, and waits for it.
func (a *Actor) Stop() {
	a.cancel()
	a.done.Wait()
}

func (a *Actor) run(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Interval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-a.kick:
			select { // let the runs ending together end
			case <-ctx.Done():
				return
			case <-time.After(settle):
			}
		}
		a.pass(ctx)
	}
}

// pass deletes every run the policy dooms now, one after the other, then compacts the
// histories that are too long.
func (a *Actor) pass(ctx context.Context) {
	deleted, compacted := 0, 0
	defer func() {
		if deleted+compacted > 0 && a.cfg.Passed != nil {
			a.cfg.Passed(deleted, compacted)
		}
	}()
	for _, run := range a.cfg.Doomed(a.cfg.Ended(), a.cfg.Now()) {
		if ctx.Err() != nil {
			return
		}
		if err := a.cfg.Delete(ctx, run); err != nil {
			a.cfg.Failed(run, err)
			return
		}
		a.cfg.Deleted(run)
		deleted++
	}
	if a.cfg.KeepSteps <= 0 {
		return
	}
	for _, h := range a.cfg.Compactions(a.cfg.Histories()) {
		if ctx.Err() != nil {
			return
		}
		if err := a.cfg.Compact(ctx, h.Run, h.First); err != nil {
			a.cfg.Failed(h.Run, err)
			return
		}
		compacted++
	}
}
