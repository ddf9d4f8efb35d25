package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/inmemdb/inmem"
)

// ---------------------------------------------------------------------------------------------
// 8. Runs that leave: fork a run at a step, delete ended runs, and the memory comes back.

func (d *demo) leave(ctx context.Context) error {
	d.out.section(8, "Fork a run at a step; delete the ended runs, and the memory comes back")
	if err := d.fork(ctx); err != nil {
		return err
	}
	return d.deleteEnded(ctx)
}

// fork forks the busiest agent's run at the middle of its work and checks the fork.
func (d *demo) fork(ctx context.Context) error {
	a := d.busiest()
	k := 1 + a.steps/2 // the setup transaction is the run's first step
	fork := inmem.NewRunID()
	if err := d.db.ForkRun(ctx, a.run, k, fork, inmem.RunInfo{Name: a.name + "-what-if"}); err != nil {
		return err
	}
	meta, err := d.db.Run(fork)
	if err != nil {
		return err
	}
	events, err := d.db.Events().Range(fork, 0, 1<<62)
	if err != nil {
		return err
	}
	if meta.ForkedFrom == nil || meta.ForkedFrom.Step != k || len(events) != a.steps/2 {
		return fmt.Errorf("fork of %s at step %d: ForkedFrom %v, %d events", a.name, k, meta.ForkedFrom, len(events))
	}
	if err := d.db.Events().VerifyChain(fork); err != nil {
		return err
	}
	d.out.f("   ForkRun(%s, step %d) began %s, whose step 0 is that state, in one transaction;",
		a.name, k, meta.Info.Name)
	d.out.f("   its %d events kept their hashes (VerifyChain passes); RunMetadata.ForkedFrom says step %d.", len(events), k)
	if err := d.db.KV().Put(ctx, fork, keyStep, []byte("what if")); err != nil {
		return err
	}
	d.out.f("   The fork goes on on its own (a write to it leaves %s as it was), then ends.", a.name)
	return d.db.EndRun(ctx, fork)
}

func (d *demo) busiest() *agent {
	a := d.agents[0]
	for _, b := range d.agents {
		if b.steps > a.steps {
			a = b
		}
	}
	return a
}

// deleteEnded ends the runs still active (the twins), deletes one run by hand, then turns
// retention on and lets it delete every other ended run, showing the heap before and after.
func (d *demo) deleteEnded(ctx context.Context) error {
	runs, err := d.db.ListRuns(inmem.RunFilter{})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status != inmem.RunActive {
			continue
		}
		if err := d.db.DeleteRun(ctx, r.ID); !errors.Is(err, inmem.ErrRunActive) {
			return fmt.Errorf("DeleteRun of active run %s: want ErrRunActive, got %v", r.Info.Name, err)
		}
		if err := d.db.EndRun(ctx, r.ID); err != nil {
			return err
		}
	}
	a := d.agents[0]
	if err := d.db.DeleteRun(ctx, a.run); err != nil {
		return err
	}
	if _, err := d.db.ReplayRun(a.run); !errors.Is(err, inmem.ErrRunNotFound) {
		return fmt.Errorf("replay of deleted %s: %v", a.name, err)
	}
	d.out.f("   DeleteRun(%s) — once ended: an active run is ErrRunActive — is one system transaction;", a.name)
	d.out.f("   afterwards the run is as one that never existed (ReplayRun: %v).", inmem.ErrRunNotFound)
	before := heap()
	if err := d.db.SetRetention(inmem.RetentionOptions{EndedRunTTL: time.Nanosecond}); err != nil {
		return err
	}
	deleted, err := d.awaitNoRuns(ctx)
	if err != nil {
		return err
	}
	after := heap()
	d.out.f("   Retention (EndedRunTTL, MaxEndedRuns; here SetRetention with a TTL of 1 ns) deleted the")
	d.out.f("   other %d: heap in use %s before, %s after (runtime.ReadMemStats after a GC).", deleted, mib(before), mib(after))
	return nil
}

// awaitNoRuns waits for retention to delete every run, and returns how many it deleted.
func (d *demo) awaitNoRuns(ctx context.Context) (uint64, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		left, err := d.db.ListRuns(inmem.RunFilter{})
		if err != nil {
			return 0, err
		}
		if len(left) == 0 {
			return d.db.Metrics().RetentionDeleted, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("retention left %d runs after a minute", len(left))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// heap is the bytes of live heap objects after a garbage collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
