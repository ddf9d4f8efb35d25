package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/inmemdb/inmem"
)

// ---------------------------------------------------------------------------------------------
// 7. Replay a run at any step, and diff two runs that diverged.

func (d *demo) replay(ctx context.Context) error {
	d.out.section(7, "Replay a run at any step; diff two runs that diverged")
	d.out.text(`Every transaction of a run is in its journal. ReplayRunUntil folds the first k of them
into a read-only view: the state the agent saw after step k. Replay writes nothing.`)
	if err := d.replayMiddle(); err != nil {
		return err
	}
	return d.diffTwins(ctx)
}

// replayMiddle replays an agent's run to the middle of its work and checks the view against
// what the agent had done by then.
func (d *demo) replayMiddle() error {
	a := d.agents[0]
	for _, b := range d.agents {
		if b.steps > a.steps {
			a = b
		}
	}
	k := a.steps / 2
	before := d.db.Stats()
	view, err := d.db.ReplayRunUntil(a.run, 1+k) // the setup transaction is the run's first
	if err != nil {
		return err
	}
	counter, _ := view.KV(keyStep)
	pad, _ := view.KV(keyPad)
	if string(counter) != fmt.Sprint(k) || len(view.Events()) != k {
		return fmt.Errorf("%s replayed to step %d shows step key %q and %d events", a.name, k, counter, len(view.Events()))
	}
	if d.db.Stats() != before {
		return fmt.Errorf("replay changed the database's counters")
	}
	last := "(nothing yet)"
	if lines := strings.Split(strings.TrimSpace(string(pad)), "\n"); lines[0] != "" {
		last = lines[len(lines)-1]
	}
	d.out.f("   %s after step %d of %d: step key %s, %d events; its last thought was", a.name, k, a.steps, counter, k)
	d.out.f("     %q", last)
	d.out.f("   Stats() unchanged by the replay: nothing was committed, logged or synced.")
	return d.recall(a)
}

// recall has an agent find, by full-text search over its run, where it last used its current
// tool: one query over KV, JSON, events, state and spans, rankings fused.
func (d *demo) recall(a *agent) error {
	phase, err := d.db.State().Get(a.run, cellPhase)
	if err != nil {
		return err
	}
	_, tool, _ := strings.Cut(string(phase.Value), ": ")
	resp, err := d.db.Search(context.Background(), inmem.SearchRequest{Run: a.run, Query: tool + " tokens", K: 3})
	if err != nil {
		return err
	}
	if len(resp.Hits) == 0 {
		return fmt.Errorf("%s: searching %q found nothing", a.name, tool)
	}
	h := resp.Hits[0].Ref
	d.out.f("   %s recalls %q by search: %d documents scored in 5 primitives (JSON and events", a.name, tool+" tokens", resp.Stats.Scored)
	d.out.f("   indexed, the rest scanned), best fused hit: %v %s.", h.Kind, describeRef(h))
	return nil
}

func describeRef(r inmem.DocRef) string {
	switch r.Kind {
	case inmem.KindEvent:
		return fmt.Sprintf("#%d", r.Seq)
	case inmem.KindTrace:
		return "span " + r.SpanID
	}
	return fmt.Sprintf("%q", r.Key)
}

// diffTwins runs one agent twice from the same seed — a what-if re-run that picks another tool
// at the middle step — and diffs the two runs.
func (d *demo) diffTwins(ctx context.Context) error {
	n := max(2, min(d.cfg.Steps, 20))
	fork := n / 2
	twins := [2]*agent{}
	for i, name := range []string{"twin-a", "twin-b"} {
		twins[i] = &agent{name: name, role: "coder", run: inmem.NewRunID(), abortAt: -1,
			rng: rand.New(rand.NewPCG(d.cfg.Seed, 1<<32))}
		t := twins[i]
		if err := d.db.BeginRun(ctx, t.run, inmem.RunInfo{Name: name, Agent: t.role}); err != nil {
			return err
		}
		if err := d.db.Update(ctx, t.run, t.setup); err != nil {
			return err
		}
		for step := range n {
			c := t.choose()
			if i == 1 && step == fork {
				c.tool = otherTool(c.tool)
			}
			if err := d.db.Update(ctx, t.run, func(tx *inmem.Tx) error { return t.step(tx, c) }); err != nil {
				return err
			}
		}
	}
	diff, err := d.db.DiffRuns(twins[0].run, twins[1].run)
	if err != nil {
		return err
	}
	return d.explainDiff(diff, n, fork)
}

func otherTool(tool string) string {
	if tool == "calculator" {
		return "search"
	}
	return "calculator"
}

// explainDiff prints the twins' diff and checks it says what the fork did.
func (d *demo) explainDiff(diff *inmem.RunDiff, n, fork int) error {
	d.out.f("   twin-a and twin-b ran one seeded agent for %d steps; twin-b took another tool at step %d.", n, fork)
	count := func(es []inmem.DiffEntry, k inmem.PrimitiveKind) int {
		return len(slices.DeleteFunc(slices.Clone(es), func(e inmem.DiffEntry) bool { return e.Kind != k }))
	}
	for _, k := range []inmem.PrimitiveKind{inmem.KindEvent, inmem.KindTrace} {
		if a, r := count(diff.Added, k), count(diff.Removed, k); a != n-fork || r != n-fork {
			return fmt.Errorf("twins' %v: %d added, %d removed after a common prefix; want %d each", k, a, r, n-fork)
		}
	}
	added := count(diff.Added, inmem.KindEvent)
	d.out.f("   DiffRuns: events share a prefix of %d, then each run has %d of its own; spans likewise.", fork, added)
	var kv, memo []string
	for _, e := range diff.Modified {
		switch {
		case e.Kind == inmem.KindKV:
			kv = append(kv, e.Key)
		case e.Kind == inmem.KindJSON && e.Key == docMemo:
			memo = e.Paths
		}
	}
	tool := fmt.Sprintf(keyToolFmt, fork)
	if !slices.Contains(kv, tool) || !slices.Contains(memo, "$.agent") {
		return fmt.Errorf("twins' diff: KV %v, memo paths %v; want %s and $.agent", kv, memo, tool)
	}
	d.out.f("   Modified KV keys: %s; JSON paths in %s: %s.", strings.Join(kv, ", "), docMemo, strings.Join(memo, ", "))
	return nil
}
