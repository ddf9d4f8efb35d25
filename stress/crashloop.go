package stress

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/inmemdb/inmem"
)

// ChildEnv names the environment variable that makes a test binary play the crash loop's
// child on the directory it holds (see Child). The seed, the agent count and where each agent
// stands travel beside it.
const (
	ChildEnv  = "INMEM_STRESS_CHILD_DIR"
	seedEnv   = "INMEM_STRESS_SEED"
	agentsEnv = "INMEM_STRESS_AGENTS"
	slotsEnv  = "INMEM_STRESS_SLOTS"
)

// CrashLoop runs cfg.Dir through cycles of a child process (exe, a test binary whose TestMain
// calls Child when ChildEnv is set) that works until it is SIGKILLed at a random moment; the
// parent then recovers the directory and checks it against what the child reported as
// acknowledged — every run on its own, and the commit order as a whole (verifyPrefix). The
// next child resumes where recovery left every run.
func CrashLoop(cfg Config, exe string) *Report {
	w, rng, deadline := start(cfg, 4)
	w.retention = childRetention
	rep := w.report
	for cycle := 0; time.Now().Before(deadline); cycle++ {
		w.allowInFlight()
		err := w.killChild(exe, cfg, time.Duration(rng.Int64N(int64(cfg.Round)))+cfg.Round/4)
		if !rep.check(err == nil, invKilled, "cycle %d: %v", cycle, err) {
			return rep
		}
		rep.Crashes.Add(1)
		wit := NewWitness()
		db, err := inmem.Open(cfg.Dir, crashLoopOptions(wit)) // without retention: nothing commits while it checks
		if !rep.check(err == nil, invR1, "cycle %d: Open after SIGKILL: %v", cycle, err) {
			return rep
		}
		w.opened(db)
		w.adopt(db)
		w.verify(db, nil, w.incAcked.Load(), rng)
		w.verifyPrefix(db, wit, cycle)
		_ = db.Close()
		cfg.logf("crash-loop cycle %d: %d operations acknowledged so far", cycle, rep.Operations.Load())
	}
	return rep
}

// crashLoopOptions are the durable modes' options with the witness registered: the parent and
// every child open the directory with one, or recovery would skip its entries.
func crashLoopOptions(wit *Witness) *inmem.Options {
	o := options()
	o.Primitives = []inmem.Primitive{wit}
	return o
}

// childRetention is what the child's database deletes by itself: ended runs beyond a few, and
// those ended a while ago. Not KeepSteps: the prefix check counts every compaction, and the
// retention actor's are seen by no one — it compacts when its passes happen to run, and a
// compaction leaves no trace but the run's base, which a later one moves on — so there they
// would make the count inexact. The agents' own compactions, reported and resolved one by
// one, keep CompactRun in the crash loop.
var childRetention = inmem.RetentionOptions{MaxEndedRuns: 12, EndedRunTTL: time.Second}

// killChild runs a child for after, then kills it with SIGKILL, learning from its output what
// it had acknowledged. A child that is not there to be killed — it exited by itself, say
// because its Open failed — is an error carrying its stderr: a crash it did not suffer must
// not count as one survived.
func (w *workload) killChild(exe string, cfg Config, after time.Duration) error {
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+cfg.Dir, seedEnv+"="+strconv.FormatUint(cfg.Seed, 10),
		agentsEnv+"="+strconv.Itoa(cfg.Agents), slotsEnv+"="+w.positions())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.listen(out) })
	time.Sleep(after)
	// A child that exited but was not waited for is still a zombie: the signal reaches it and
	// succeeds. The wait status below tells the two apart.
	sigErr := cmd.Process.Signal(syscall.SIGKILL)
	wg.Wait() // the pipe ends with the process
	waitErr := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return nil
	}
	return fmt.Errorf("the child was not killed by SIGKILL (%v; signal: %v; wait: %v); its stderr:\n%s",
		cmd.ProcessState, sigErr, waitErr, bytes.TrimSpace(stderr.Bytes()))
}

// positions says where each agent stands, for the next child: the slot it is on (its run in
// progress, or the next to begin), as "r0,r1,…". Only the parent knows: a slot whose run is
// not there may never have begun or have been deleted, and the database cannot tell which.
func (w *workload) positions() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ps []string
	for a := range w.agents {
		r := w.next[a]
		if t := w.current[a]; t != nil {
			r = t.r
		}
		ps = append(ps, strconv.Itoa(r))
	}
	return strings.Join(ps, ",")
}

// allowInFlight lets every agent's slot in progress gain what the next child may do to it
// without living to report it: one more transaction, its end once all its transactions were
// acknowledged, its deletion once ended. Later slots begin by reports, or are adopted. The
// same for the shared counter, one increment per agent: a child killed before it reported its
// first increment may have landed some (listen allows them only once a report comes).
func (w *workload) allowInFlight() {
	w.mu.Lock()
	current := slices.Clone(w.current)
	w.mu.Unlock()
	for _, t := range current {
		if t == nil || !t.begun.Load() {
			continue
		}
		w.inFlight(t)
	}
	w.incAttempted.Store(w.incAcked.Load() + int64(w.agents))
}

// inFlight allows t the action its agent may have in flight after what was reported of it.
func (w *workload) inFlight(t *tracker) {
	switch {
	case t.ended.Load() != endNone:
		t.attempted.Store(t.acked.Load())
		if deletes(t.key) {
			t.delTried.Store(true)
		}
	case t.acked.Load() == int64(t.length()):
		t.attempted.Store(t.acked.Load())
		t.endTried.Store(true)
	default:
		t.attempted.Store(t.acked.Load() + 1)
	}
}

// listen learns from a child's lines (see Child). Every line was printed after the database
// acknowledged what it reports, so what it says must survive; each agent may have one more
// action in flight (inFlight), and the counter one more increment per agent.
func (w *workload) listen(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var a, run, n, kind, sa, sr, k int
		var v uint64
		switch line := sc.Text(); {
		case sscan(line, "ack %d %d %d %d", &a, &run, &n, &v):
			t := w.tracked(a, run)
			t.acked.Store(int64(n))
			w.inFlight(t)
			w.ackedVersion(v)
			w.report.Operations.Add(1)
		case sscan(line, "begin %d %d %d %d %d %d", &a, &run, &kind, &sa, &sr, &k):
			t := w.tracked(a, run)
			t.fork.Store(&forkPoint{src: w.tracked(sa, sr), step: k})
			w.report.Forks.Add(1)
			w.begunReported(t)
		case sscan(line, "begin %d %d %d", &a, &run, &kind):
			w.begunReported(w.tracked(a, run))
		case sscan(line, "cbeg %d %d %d", &a, &run, &n):
			t := w.tracked(a, run)
			t.baseHi.Store(int64(n))
			t.pendingBase.Store(int64(n))
		case sscan(line, "cack %d %d %d", &a, &run, &n):
			t := w.tracked(a, run)
			t.baseLo.Store(int64(n))
			t.pendingBase.Store(0)
			w.compactions.Add(1)
			w.report.Compactions.Add(1)
		case sscan(line, "end %d %d %d", &a, &run, &n):
			t := w.tracked(a, run)
			t.ended.Store(int32(n))
			w.inFlight(t)
		case sscan(line, "del %d %d", &a, &run):
			w.tracked(a, run).gone.Store(true)
			w.report.Deletions.Add(1)
		case line == "snap":
			w.report.Snapshots.Add(1)
		case sscan(line, "inc %d", &v):
			w.ackedVersion(v)
			w.incAcked.Add(1)
			w.incAttempted.Store(w.incAcked.Load() + int64(w.agents))
			w.report.Increments.Add(1)
		}
	}
}

// begunReported records a begin the child reported; the run's first transaction may be in
// flight.
func (w *workload) begunReported(t *tracker) {
	t.begun.Store(true)
	w.inFlight(t)
}

func sscan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

// adopt tracks the run a child began without living to say so: the next slot of its agent,
// nothing acknowledged, nothing attempted after the begin. Any other run stays unknown and
// verify reports it (R4).
func (w *workload) adopt(db *inmem.DB) {
	runs, _ := db.ListRuns(inmem.RunFilter{})
	for _, r := range runs {
		a, s, ok := parseSlot(r.Info.Name)
		if !ok || a < 0 || a >= w.agents {
			continue
		}
		w.mu.Lock()
		_, known := w.trackers[slot{a, s}]
		adopt := !known && s == w.next[a] && r.ID == slotID(w.seed, a, s)
		w.mu.Unlock()
		if adopt {
			w.tracked(a, s)
		}
	}
}

// Child is the crash loop's writer process: it opens dir, learns where each agent stands, and
// works until it is killed, printing "begin a r kind [srcAgent srcSlot step]", "ack a r n v"
// (the run of agent a's slot r holds n acknowledged transactions, the last at commit version
// v), "cbeg a r base" (a compaction begins) and "cack a r base", "end a r kind", "del a r",
// "inc v" and "snap" lines, each after the acknowledgement (cbeg before the call). It returns
// an exit status.
func Child(dir string, out io.Writer) int {
	seed, _ := strconv.ParseUint(os.Getenv(seedEnv), 10, 64)
	agents, _ := strconv.Atoi(os.Getenv(agentsEnv))
	wit := NewWitness()
	o := crashLoopOptions(wit)
	o.Retention = childRetention
	db, err := inmem.Open(dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress child: open:", err)
		return 1
	}
	// The parent counts the runs each Open marked Orphaned (verifyPrefix), but hears only of
	// its own Opens. It reopened and closed the directory since the last child, marking every
	// run then active, so this Open must have found none.
	if ids := db.LastRecovery().OrphanedRuns; len(ids) > 0 {
		fmt.Fprintln(os.Stderr, "stress child: open marked runs Orphaned behind the parent's back:", ids)
		return 1
	}
	w := newWorkload(seed, max(agents, 1), new(Report))
	w.witness = wit
	w.retention = childRetention
	// An agent that stopped would go on being killed with the others, its silence taken for a
	// crash it survived: exit instead, so that the parent reports it.
	w.stopped = func(a int, err error) {
		fmt.Fprintf(os.Stderr, "stress child: agent %d stopped: %v\n", a, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	w.acked = func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		mu.Unlock()
	}
	if err := w.pickUp(db, os.Getenv(slotsEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "stress child: resume:", err)
		return 1
	}
	w.work(db, time.Hour, rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano()))), true)
	_ = db.Close()
	return 0
}

// pickUp makes each agent go on from the slot positions names (see positions), and learns the
// runs there are from the database — each agent's run in progress, and the runs the agents
// may fork — then resumes the Orphaned ones.
func (w *workload) pickUp(db *inmem.DB, positions string) error {
	ps := strings.Split(positions, ",")
	if len(ps) != w.agents {
		return fmt.Errorf("positions %q for %d agents", positions, w.agents)
	}
	for a, p := range ps {
		r, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("positions %q: %w", positions, err)
		}
		w.current[a] = w.tracked(a, r)
	}
	runs, err := db.ListRuns(inmem.RunFilter{})
	if err != nil {
		return err
	}
	for _, r := range runs {
		a, s, ok := parseSlot(r.Info.Name)
		if !ok || a < 0 || a >= w.agents {
			return fmt.Errorf("run %s (%q) is no agent's", r.ID, r.Info.Name)
		}
		t := w.tracked(a, s)
		t.begun.Store(true)
		t.acked.Store(int64(r.TxCount))
		t.attempted.Store(int64(r.TxCount))
		switch r.Status {
		case inmem.RunCompleted:
			t.ended.Store(endCompleted)
		case inmem.RunFailed:
			t.ended.Store(endFailed)
		}
		if f := r.ForkedFrom; f != nil {
			var fm forkMeta
			if err := json.Unmarshal(r.Info.Metadata, &fm); err != nil {
				return fmt.Errorf("run %s forked: %w", r.ID, err)
			}
			t.fork.Store(&forkPoint{src: w.tracked(fm.Src[0], fm.Src[1]), step: f.Step})
		}
		first, err := firstStep(db, r.ID)
		if err != nil {
			return err
		}
		t.baseLo.Store(int64(first))
		t.baseHi.Store(int64(first))
	}
	for a, p := range ps { // tracked moved next on past every run found
		r, _ := strconv.Atoi(p)
		w.next[a] = r + 1
	}
	return w.resume(db)
}
