package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/inmemdb/inmem"
)

// demoConfig sizes the demo's workload.
type demoConfig struct {
	Agents int    // concurrent agent runs; one of them is aborted
	Steps  int    // step transactions per agent
	Seed   uint64 // seed of the workload's random choices
	// WriterExe is the program the crash section runs as its writer process (this program,
	// or a test binary that plays it); "" skips the section.
	WriterExe string
}

func defaultDemoConfig() demoConfig { return demoConfig{Agents: 16, Steps: 200, Seed: 1} }

func (c demoConfig) validate() error {
	switch {
	case c.Agents < 2:
		return fmt.Errorf("-agents must be at least 2 (one run is aborted, the others end), not %d", c.Agents)
	case c.Agents > 10_000:
		return fmt.Errorf("-agents must be at most 10000, not %d", c.Agents)
	case c.Steps < 1:
		return fmt.Errorf("-steps must be at least 1, not %d", c.Steps)
	case c.Steps > 1_000_000:
		return fmt.Errorf("-steps must be at most 1000000, not %d", c.Steps)
	}
	return nil
}

// Keys of an agent's own run.
const (
	keyPlan    = "plan"
	keyStep    = "step"       // the step counter
	keyPad     = "scratchpad" // the last few thoughts
	keyLeft    = "budget/left"
	keyUsed    = "budget/used" // left + used == runBudget, always
	keyToolFmt = "tool/%06d"   // one tool result per step
	runBudget  = 1_000_000     // tokens per run
	padLines   = 4             // lines kept in the scratchpad
)

// Keys of the shared memory, in GlobalRun.
const (
	keyCounter   = "shared/counter" // +1 per shared transaction
	keyNotes     = "shared/notes"   // one line "#counter …" appended per shared transaction
	notesLines   = 16               // lines kept in the notes
	maxSharing   = 8                // agents that use the shared memory, at most
	keyPool      = "shared/pool"
	keyGranted   = "shared/granted" // pool + granted == sharedBudget, always
	keyByAgent   = "shared/by/"     // + agent name: that agent's increments
	sharedBudget = 10_000_000
)

// updateAttempts is Options.UpdateAttempts for the demo: the shared keys are a hot spot.
const updateAttempts = 100

var (
	roles = []string{"planner", "researcher", "coder", "reviewer"}
	tools = []string{"search", "read_file", "run_tests", "web_fetch", "calculator"}
)

// agent is one agent run and, after the workload, what it did.
type agent struct {
	name, role string
	run        inmem.RunID
	shared     bool // also works on the shared memory in GlobalRun
	abortAt    int  // its tool fails before this step and the run is aborted; -1: never
	rng        *rand.Rand

	// Written by the agent's goroutine, read once it has finished.
	steps       int // step transactions committed
	sharedIncs  int // shared transactions committed
	retries     int // times Update re-ran a function after a conflict
	maxAttempts int // most runs of one Update's function
	aborted     bool
}

// demo holds the state that the sections share.
type demo struct {
	cfg    demoConfig
	out    *printer
	db     *inmem.DB
	agents []*agent
	setups int // setup transactions committed

	// The agent phase.
	wall        time.Duration
	workCommits uint64
	views, torn int           // the reader's views and torn reads among them
	extra       []inmem.RunID // runs the sections after the agents' began (a fork)
}

// runDemo runs the demo, writing its explanation to w. It returns an error if the database does
// not behave as the demo claims (a lost update, a torn read, a write to an ended run accepted,
// counters that do not add up), or if ctx ends first.
func runDemo(ctx context.Context, w io.Writer, cfg demoConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	d := &demo{cfg: cfg, out: &printer{w: w}}
	d.out.f("inmem demo — %s × %s, seed %d", plural(cfg.Agents, "agent"), plural(cfg.Steps, "step"), cfg.Seed)
	defer func() {
		if d.db != nil {
			d.db.Close() // after an error; on success the last section closes it and reports
		}
	}()
	for _, section := range []func(context.Context) error{
		d.open, d.work, d.sharedMemory, d.isolation, d.lifecycle, d.summary, d.replay, d.leave, d.close, d.crash,
	} {
		if err := section(ctx); err != nil {
			return err
		}
	}
	return d.out.err
}

// ---------------------------------------------------------------------------------------------
// 1. Open a database and begin the runs.

func (d *demo) open(ctx context.Context) error {
	d.out.section(1, "Open a database and begin the runs")
	opts := inmem.DefaultOptions()
	opts.Durability = inmem.InMemory
	opts.UpdateAttempts = updateAttempts
	opts.Search.Index = []inmem.PrimitiveKind{inmem.KindJSON, inmem.KindEvent} // the rest is searched by scanning
	db, err := inmem.Open("", opts)
	if err != nil {
		return err
	}
	d.db = db
	d.out.text(`An InMemory database keeps everything in RAM: no files, nothing survives the process.`)

	d.agents = newAgents(d.cfg)
	for _, a := range d.agents {
		tags := []string{"demo", a.role}
		if a.shared {
			tags = append(tags, "shared")
		}
		if err := db.BeginRun(ctx, a.run, inmem.RunInfo{Name: a.name, Agent: a.role, Tags: tags}); err != nil {
			return fmt.Errorf("BeginRun %s: %w", a.name, err)
		}
		if err := db.Update(ctx, a.run, a.setup); err != nil {
			return fmt.Errorf("setting up %s: %w", a.name, err)
		}
		d.setups++
	}
	if err := db.Update(ctx, inmem.GlobalRun, setupShared); err != nil {
		return fmt.Errorf("setting up the shared memory: %w", err)
	}
	d.setups++
	names := d.agents[0].name + ", " + d.agents[1].name
	if len(d.agents) > 2 {
		names += ", …"
	}
	d.out.f("   Began %d runs with BeginRun (%s), each with a plan and a budget of", len(d.agents), names)
	d.out.f("   %s tokens. GlobalRun, the scope shared by all runs, got a counter, notes and a token pool.",
		num(runBudget))
	return nil
}

// newAgents draws the workload's structure from the seed: names, roles, who shares, who fails.
func newAgents(cfg demoConfig) []*agent {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	agents := make([]*agent, cfg.Agents)
	for i := range agents {
		role := roles[i%len(roles)]
		agents[i] = &agent{
			name: fmt.Sprintf("%s-%02d", role, i), role: role, run: inmem.NewRunID(), abortAt: -1,
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
		}
	}
	for _, i := range rng.Perm(cfg.Agents)[:min(maxSharing, max(2, cfg.Agents/2))] {
		agents[i].shared = true
	}
	agents[rng.IntN(cfg.Agents)].abortAt = max(1, cfg.Steps/2+rng.IntN(cfg.Steps/2+1))
	return agents
}

// setup writes a run's first state: KV keys, a JSON memo and a state cell, in one transaction.
func (a *agent) setup(tx *inmem.Tx) error {
	kv := tx.KV()
	return errors.Join(
		kv.Put(keyPlan, fmt.Appendf(nil, "plan v1 of %s: understand the task", a.name)),
		putInt(kv, keyStep, 0),
		kv.Put(keyPad, nil),
		putInt(kv, keyLeft, runBudget),
		putInt(kv, keyUsed, 0),
		tx.JSON().Create(docMemo, []byte(`{"agent":"`+a.name+`","last":null}`)),
		tx.State().Init(cellPhase, []byte("planning")),
	)
}

// The JSON document and the state cell every run keeps beside its KV keys.
const (
	docMemo   = "memo"
	cellPhase = "phase"
)

func setupShared(tx *inmem.Tx) error {
	kv := tx.KV()
	return errors.Join(
		putInt(kv, keyCounter, 0), kv.Put(keyNotes, nil),
		putInt(kv, keyPool, sharedBudget), putInt(kv, keyGranted, 0),
	)
}

// ---------------------------------------------------------------------------------------------
// 2. Agents at work: one transaction per step, several keys at once.

func (d *demo) work(ctx context.Context) error {
	d.out.section(2, "Agents at work: one transaction per step, all six primitives at once")
	d.out.text(`Each agent is a goroutine; each step is one db.Update on its own run that reads the plan,
step counter, scratchpad and budget, writes six KV keys back, appends an event, sets a state
cell, updates a JSON memo at a path and records a trace span — all or nothing.`)
	before := d.db.Stats().Commits
	start := time.Now()
	err := d.runAgents(ctx)
	d.wall = time.Since(start)
	d.workCommits = d.db.Stats().Commits - before
	if err != nil {
		return err
	}
	steps := 0
	for _, a := range d.agents {
		steps += a.steps
	}
	d.out.f("   %s step transactions committed by %d agents in %v.", num(steps), len(d.agents),
		d.wall.Round(time.Millisecond))
	if err := d.checkPrimitives(); err != nil {
		return err
	}
	d.out.f("   Every run holds exactly one event (hash chain verified), one span, one state-cell")
	d.out.f("   version and one memo version per committed step: no step was half applied.")
	return nil
}

// runAgents runs every agent and, beside them, the reader of section 4, until all agents are done.
func (d *demo) runAgents(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		if err := d.read(done); err != nil {
			cancel(fmt.Errorf("reader: %w", err))
		}
	})
	var agents sync.WaitGroup
	for _, a := range d.agents {
		agents.Go(func() {
			if err := a.work(ctx, d.db, d.cfg.Steps); err != nil {
				cancel(fmt.Errorf("%s: %w", a.name, err))
			}
		})
	}
	agents.Wait()
	close(done)
	reader.Wait()
	return context.Cause(ctx)
}

// work takes the agent's steps, then ends its run (or aborts it, if its tool failed).
func (a *agent) work(ctx context.Context, db *inmem.DB, steps int) error {
	for i := range steps {
		if i == a.abortAt {
			break
		}
		c := a.choose() // drawn outside the transaction: Update may run its function again
		if err := a.update(ctx, db, a.run, func(tx *inmem.Tx) error { return a.step(tx, c) }); err != nil {
			return err
		}
		a.steps++
		if c.share {
			if err := a.update(ctx, db, inmem.GlobalRun, func(tx *inmem.Tx) error { return a.share(tx, c) }); err != nil {
				return err
			}
			a.sharedIncs++
		}
	}
	if a.abortAt >= 0 {
		a.aborted = true
		return db.AbortRun(ctx, a.run, a.abortReason())
	}
	return db.EndRun(ctx, a.run)
}

func (a *agent) abortReason() string {
	return fmt.Sprintf("tool web_fetch failed 3 times in a row after %d steps", a.abortAt)
}

// update is db.Update that also counts how often fn ran: every run but the last was a conflict.
func (a *agent) update(ctx context.Context, db *inmem.DB, run inmem.RunID, fn func(*inmem.Tx) error) error {
	attempts := 0
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		attempts++
		return fn(tx)
	})
	a.retries += attempts - 1
	a.maxAttempts = max(a.maxAttempts, attempts)
	return err
}

// choice is what one step does, drawn from the agent's seeded generator.
type choice struct {
	tool   string
	cost   int  // tokens the step spends from the run's budget
	replan bool // the step rewrites the plan
	share  bool // the step also works on the shared memory
	grant  int  // tokens it claims from the shared pool
}

func (a *agent) choose() choice {
	return choice{
		tool:   tools[a.rng.IntN(len(tools))],
		cost:   100 + a.rng.IntN(900),
		replan: a.rng.IntN(20) == 0,
		share:  a.shared && a.rng.IntN(2) == 0,
		grant:  1 + a.rng.IntN(100),
	}
}

// step is one step of the agent's own run: several keys read and written atomically.
func (a *agent) step(tx *inmem.Tx, c choice) error {
	kv := tx.KV()
	plan, err := kv.Get(keyPlan)
	if err != nil {
		return err
	}
	pad, err := kv.Get(keyPad)
	if err != nil {
		return err
	}
	n, err1 := getInt(kv, keyStep)
	left, err2 := getInt(kv, keyLeft)
	used, err3 := getInt(kv, keyUsed)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	cost := min(c.cost, left)
	if c.replan {
		plan = fmt.Appendf(nil, "plan v%d of %s: revised after step %d", planVersion(plan)+1, a.name, n)
	}
	thought := fmt.Sprintf("step %d: %s with %s, %d tokens", n, firstWords(plan), c.tool, cost)
	record := fmt.Appendf(nil, `{"step":%d,"tool":%q,"tokens":%d}`, n, c.tool, cost)
	_, spanErr := tx.Traces().Record(inmem.Span{Kind: inmem.SpanToolCall, Name: c.tool, Attributes: record})
	return errors.Join(
		kv.Put(keyPlan, plan),
		putInt(kv, keyStep, n+1),
		kv.Put(keyPad, appendLine(pad, thought, padLines)),
		kv.Put(fmt.Sprintf(keyToolFmt, n), fmt.Appendf(nil, "%s: ok", c.tool)),
		putInt(kv, keyLeft, left-cost),
		putInt(kv, keyUsed, used+cost),
		tx.Events().Append("step", record),
		tx.JSON().Set(docMemo, "$.last", record),
		tx.State().Set(cellPhase, fmt.Appendf(nil, "step %d: %s", n, c.tool)),
		spanErr,
	)
}

// checkPrimitives verifies, for every agent, that each primitive holds exactly one change per
// committed step: the transactions were atomic across all six.
func (d *demo) checkPrimitives() error {
	for _, a := range d.agents {
		events, err := d.db.Events().Len(a.run)
		if err != nil {
			return err
		}
		spans, err := d.db.Traces().Count(a.run)
		if err != nil {
			return err
		}
		cell, err := d.db.State().Get(a.run, cellPhase)
		if err != nil {
			return err
		}
		memo, err := d.db.JSON().Version(a.run, docMemo)
		if err != nil {
			return err
		}
		if err := d.db.Events().VerifyChain(a.run); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		want := uint64(a.steps)
		if events != want || uint64(spans) != want || cell.Version != want+1 || memo != want+1 {
			return fmt.Errorf("%s committed %d steps but has %d events, %d spans, phase version %d, memo version %d",
				a.name, a.steps, events, spans, cell.Version, memo)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// 3. Shared memory: read-modify-write in GlobalRun, conflicts retried, no lost update.

// share bumps the shared counters, appends a note and claims tokens from the shared pool.
// Every key is read first, so two agents doing this at once conflict.
func (a *agent) share(tx *inmem.Tx, c choice) error {
	kv := tx.KV()
	notes, err := kv.Get(keyNotes)
	if err != nil {
		return err
	}
	count, err1 := getInt(kv, keyCounter)
	mine, err2 := getIntOr(kv, keyByAgent+a.name, 0)
	pool, err3 := getInt(kv, keyPool)
	granted, err4 := getInt(kv, keyGranted)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	grant := min(c.grant, pool)
	return errors.Join(
		putInt(kv, keyCounter, count+1),
		putInt(kv, keyByAgent+a.name, mine+1),
		kv.Put(keyNotes, appendLine(notes, fmt.Sprintf("#%d %s claimed %d tokens", count+1, a.name, grant), notesLines)),
		putInt(kv, keyPool, pool-grant),
		putInt(kv, keyGranted, granted+grant),
	)
}

func (d *demo) sharedMemory(context.Context) error {
	d.out.section(3, "Shared memory: conflicts retried, no lost updates")
	sharing := 0
	for _, a := range d.agents {
		if a.shared {
			sharing++
		}
	}
	d.out.f("   %d agents also, on about half their steps, bump the shared counter, append to the shared", sharing)
	d.out.f("   notes and claim pool tokens: read-modify-write in GlobalRun, so they collide. The later")
	d.out.f("   committer gets ErrConflict and Update re-runs its function on a fresh snapshot (here up to")
	d.out.f("   %d times, Options.UpdateAttempts: the default 10 can run out on a key this hot).", updateAttempts)
	increments, retries, worst := 0, 0, 0
	for _, a := range d.agents {
		increments += a.sharedIncs
		retries += a.retries
		worst = max(worst, a.maxAttempts)
	}
	counter, err := readInt(d.db, inmem.GlobalRun, keyCounter)
	if err != nil {
		return err
	}
	notes, err := d.db.KV().Get(inmem.GlobalRun, keyNotes)
	if err != nil {
		return err
	}
	last, err := lastNote(notes, counter)
	if err != nil {
		return err
	}
	d.out.f("   %s, each retried by Update (%s)", plural(retries, "conflict"), worstText(worst))
	d.out.f("   increments committed %s, counter read back %s, last note #%s", num(increments), num(counter), num(last))
	if counter != increments || last != increments {
		d.out.f("   MISMATCH: %d increments, but the counter says %d and the last note is #%d.",
			increments, counter, last)
		return fmt.Errorf("lost updates: %d increments committed, counter %d, last note #%d", increments, counter, last)
	}
	d.out.f("   → no lost updates: every committed increment is in the counter and the notes.")
	return nil
}

// lastNote returns the number of the last line of the notes, after checking that the lines kept
// are numbered one after the other.
func lastNote(notes []byte, counter int) (int, error) {
	last := 0
	for line := range strings.Lines(string(notes)) {
		var n int
		if _, err := fmt.Sscanf(line, "#%d ", &n); err != nil {
			return 0, fmt.Errorf("shared notes: bad line %q", line)
		}
		if last != 0 && n != last+1 {
			return 0, fmt.Errorf("shared notes: #%d follows #%d", n, last)
		}
		last = n
	}
	if last == 0 && counter != 0 {
		return 0, fmt.Errorf("shared notes are empty, but the counter is %d", counter)
	}
	return last, nil
}

// ---------------------------------------------------------------------------------------------
// 4. Snapshot isolation: a reader never sees half a transaction.

// read runs views until done is closed, one round at least (a tiny workload can finish before
// the reader is first scheduled). Each view reads two keys that writers only change together,
// so their sum is fixed: any other sum is a torn read.
func (d *demo) read(done <-chan struct{}) error {
	rng := rand.New(rand.NewPCG(d.cfg.Seed, 1<<32))
	for round := 0; ; round++ {
		select {
		case <-done:
			if round > 0 {
				return nil
			}
		default:
		}
		a := d.agents[rng.IntN(len(d.agents))]
		for _, v := range []struct {
			run  inmem.RunID
			a, b string
			sum  int
		}{
			{inmem.GlobalRun, keyPool, keyGranted, sharedBudget},
			{a.run, keyLeft, keyUsed, runBudget},
		} {
			err := d.db.View(v.run, func(tx *inmem.Tx) error {
				x, err1 := getInt(tx.KV(), v.a)
				y, err2 := getInt(tx.KV(), v.b)
				if err := errors.Join(err1, err2); err != nil {
					return err
				}
				if x+y != v.sum {
					d.torn++
				}
				return nil
			})
			if err != nil {
				return err
			}
			d.views++
		}
		time.Sleep(20 * time.Microsecond) // leave the writers most of the CPU
	}
}

func (d *demo) isolation(context.Context) error {
	d.out.section(4, "Snapshot isolation: no torn reads")
	d.out.text(`Meanwhile a reader ran db.View over and over on two keys that writers only change together
(tokens move from budget/left to budget/used, from the pool to granted), so their sum is fixed.
A torn read would see one key from before a commit and the other from after it.`)
	if d.torn != 0 {
		d.out.f("   %s views, %d TORN READS", num(d.views), d.torn)
		return fmt.Errorf("%d torn reads in %d views", d.torn, d.views)
	}
	d.out.f("   %s views, 0 torn reads → every view saw one consistent snapshot; none blocked a writer.",
		num(d.views))
	return nil
}

// ---------------------------------------------------------------------------------------------
// 5. Run lifecycle: ended and aborted runs refuse writes.

func (d *demo) lifecycle(ctx context.Context) error {
	d.out.section(5, "Run lifecycle: ended runs refuse writes")
	var ended, aborted *agent
	for _, a := range d.agents {
		switch {
		case a.aborted && aborted == nil:
			aborted = a
		case !a.aborted && ended == nil:
			ended = a
		}
	}
	d.out.f("   Finished agents' runs ended with EndRun; %s's tool failed after %d steps, so its run",
		aborted.name, aborted.abortAt)
	d.out.f("   was aborted with AbortRun(reason). Both keep their data for reading but refuse writes:")
	err := d.db.Update(ctx, ended.run, func(tx *inmem.Tx) error { return putInt(tx.KV(), keyStep, 0) })
	if !errors.Is(err, inmem.ErrRunNotActive) {
		return fmt.Errorf("a write to ended run %s: want ErrRunNotActive, got %v", ended.name, err)
	}
	d.out.f("     %-25s → %v", "db.Update("+ended.name+")", err)
	err = d.db.KV().Put(ctx, aborted.run, keyStep, []byte("0"))
	if !errors.Is(err, inmem.ErrRunNotActive) {
		return fmt.Errorf("a write to aborted run %s: want ErrRunNotActive, got %v", aborted.name, err)
	}
	d.out.f("     %-25s → %v", "db.KV().Put("+aborted.name+")", err)
	return nil
}

// ---------------------------------------------------------------------------------------------
// 6. Summary: the database's own counters, checked against what the agents did.

func (d *demo) summary(context.Context) error {
	d.out.section(6, "Summary")
	st := d.db.Stats()
	var steps, shared, retries, completed, failed int
	for _, a := range d.agents {
		steps += a.steps
		shared += a.sharedIncs
		retries += a.retries
		switch d.db.RunStatus(a.run) {
		case inmem.RunCompleted:
			completed++
		case inmem.RunFailed:
			failed++
		}
	}
	runs := len(d.agents)
	committed := runs + d.setups + steps + shared + runs // begins, setups, steps, shared, ends
	if st.Commits != uint64(committed) {
		return fmt.Errorf("Stats().Commits is %d, but the demo committed %d transactions", st.Commits, committed)
	}
	if st.Conflicts != uint64(retries) {
		return fmt.Errorf("Stats().Conflicts is %d, but Update retried %d times", st.Conflicts, retries)
	}
	p := d.out
	p.f("   runs         %d: %d completed, %d failed", runs, completed, failed)
	p.f("   committed    %s transactions (Stats().Commits) = %d begins + %d setups + %s steps",
		num(st.Commits), runs, d.setups, num(steps))
	p.f("                + %s shared + %d ends and aborts", num(shared), runs)
	p.f("   conflicts    %s (Stats().Conflicts), each one retried by Update", num(st.Conflicts))
	if st.Batches > 0 {
		p.f("   batches      %s, %.1f commits per batch: commits that queue up together are validated",
			num(st.Batches), float64(st.Commits)/float64(st.Batches))
		p.f("                and published as one batch (group commit; InMemory has no fsync to wait for)")
	}
	p.f("   agent phase  %v, %s transactions/s", d.wall.Round(time.Millisecond),
		num(int(float64(d.workCommits)/d.wall.Seconds())))
	p.f("")
	return d.agentTable()
}

// agentTable prints a few agents, each with its counters read back from the database.
func (d *demo) agentTable() error {
	const rows = 4 // and the aborted agent
	p, shown := d.out, 0
	p.f("   %-14s %9s %9s %7s %8s  %s", "agent", "steps", "step key", "shared", "retries", "status")
	for i, a := range d.agents {
		counter, err := readInt(d.db, a.run, keyStep)
		if err != nil {
			return err
		}
		if counter != a.steps {
			return fmt.Errorf("%s committed %d steps, but its step counter is %d", a.name, a.steps, counter)
		}
		shared := "-"
		if a.shared {
			n, err := readInt(d.db, inmem.GlobalRun, keyByAgent+a.name)
			if errors.Is(err, inmem.ErrNotFound) {
				n, err = 0, nil
			}
			if err != nil {
				return err
			}
			if n != a.sharedIncs {
				return fmt.Errorf("%s committed %d shared increments, but its counter is %d", a.name, a.sharedIncs, n)
			}
			shared = strconv.Itoa(n)
		}
		if i < rows || a.aborted {
			shown++
			p.f("   %-14s %9s %9d %7s %8d  %s", a.name, fmt.Sprintf("%d/%d", a.steps, d.cfg.Steps), counter,
				shared, a.retries, d.db.RunStatus(a.run))
		}
	}
	if more := len(d.agents) - shown; more > 0 {
		p.f("   … and %d more agents; every step key and shared counter matches what its agent committed", more)
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// 8. Close.

func (d *demo) close(context.Context) error {
	d.out.section(9, "Close")
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	d.out.f("   db.Close() returned nil: every engine goroutine has exited.")
	return nil
}

// ---------------------------------------------------------------------------------------------
// Helpers.

// printer writes lines and keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) section(n int, title string) {
	p.f("")
	p.f("%d. %s", n, title)
}

// text prints a paragraph, indented.
func (p *printer) text(s string) {
	for line := range strings.Lines(s) {
		p.f("   %s", strings.TrimRight(line, "\n"))
	}
}

func putInt(kv *inmem.KVTx, key string, n int) error {
	return kv.Put(key, strconv.AppendInt(nil, int64(n), 10))
}

func getInt(kv *inmem.KVTx, key string) (int, error) {
	v, err := kv.Get(key)
	if err != nil {
		return 0, err
	}
	return parseInt(key, v)
}

// getIntOr is getInt with a default for a missing key.
func getIntOr(kv *inmem.KVTx, key string, def int) (int, error) {
	n, err := getInt(kv, key)
	if errors.Is(err, inmem.ErrNotFound) {
		return def, nil
	}
	return n, err
}

// readInt reads an integer key outside a transaction.
func readInt(db *inmem.DB, run inmem.RunID, key string) (int, error) {
	v, err := db.KV().Get(run, key)
	if err != nil {
		return 0, err
	}
	return parseInt(key, v)
}

func parseInt(key string, v []byte) (int, error) {
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("key %q holds %q, not an integer", key, v)
	}
	return n, nil
}

// appendLine appends line to the text b, keeping its last keep lines.
func appendLine(b []byte, line string, keep int) []byte {
	out := append(append(b, line...), '\n')
	for bytes.Count(out, []byte("\n")) > keep {
		out = out[bytes.IndexByte(out, '\n')+1:]
	}
	return out
}

// planVersion returns n of a plan "plan vn ...".
func planVersion(plan []byte) int {
	s, _ := strings.CutPrefix(string(plan), "plan v")
	s, _, _ = strings.Cut(s, " ")
	n, _ := strconv.Atoi(s)
	return n
}

// firstWords returns the text of the plan after its header.
func firstWords(plan []byte) string {
	_, s, _ := strings.Cut(string(plan), ": ")
	return s
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return num(n) + " " + thing + "s"
}

// worstText describes the most runs any one Update needed.
func worstText(runs int) string {
	if runs <= 1 {
		return "no transaction had to run twice"
	}
	return fmt.Sprintf("the worst transaction ran %d times", runs)
}

// num formats a count with thousands separators.
func num[T int | uint64](n T) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && s[i-1] != '-' && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
