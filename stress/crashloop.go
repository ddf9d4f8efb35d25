package stress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/inmemdb/inmem"
)

// ChildEnv names the environment variable that makes a test binary play the crash loop's
// child on the directory it holds (see Child). The seed and agent count travel beside it.
const (
	ChildEnv  = "INMEM_STRESS_CHILD_DIR"
	seedEnv   = "INMEM_STRESS_SEED"
	agentsEnv = "INMEM_STRESS_AGENTS"
)

// CrashLoop runs cfg.Dir through cycles of a child process (exe, a test binary whose TestMain
// calls Child when ChildEnv is set) that works until it is SIGKILLed at a random moment; the
// parent then recovers the directory and checks it against what the child reported as
// acknowledged — every run on its own, and the commit order as a whole (verifyPrefix). The
// next child resumes where recovery left every run.
func CrashLoop(cfg Config, exe string) *Report {
	w, rng, deadline := start(cfg, 4)
	rep := w.report
	for cycle := 0; time.Now().Before(deadline); cycle++ {
		w.allowInFlight()
		err := w.killChild(exe, cfg, time.Duration(rng.Int64N(int64(cfg.Round)))+cfg.Round/4)
		if !rep.check(err == nil, invKilled, "cycle %d: %v", cycle, err) {
			return rep
		}
		rep.Crashes.Add(1)
		wit := NewWitness()
		db, err := inmem.Open(cfg.Dir, crashLoopOptions(wit))
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

// killChild runs a child for after, then kills it with SIGKILL, learning from its output what
// it had acknowledged. A child that is not there to be killed — it exited by itself, say
// because its Open failed — is an error carrying its stderr: a crash it did not suffer must
// not count as one survived.
func (w *workload) killChild(exe string, cfg Config, after time.Duration) error {
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+cfg.Dir, seedEnv+"="+strconv.FormatUint(cfg.Seed, 10),
		agentsEnv+"="+strconv.Itoa(cfg.Agents))
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

// allowInFlight lets every unfinished run gain one transaction the next child commits but
// does not live to report: its agent may have it in flight when the child is killed. The
// same for the shared counter, one increment per agent: a child killed before it reported
// its first increment may have landed some (listen allows them only once a report comes).
func (w *workload) allowInFlight() {
	for _, t := range w.all() {
		if t.ended.Load() == endNone {
			t.attempted.Store(t.acked.Load() + 1)
		}
	}
	w.incAttempted.Store(w.incAcked.Load() + int64(w.agents))
}

// listen learns from a child's lines (see Child). Every line was printed after the database
// acknowledged what it reports, so what it says must survive; each agent may have one more
// transaction, and the counter one more increment per agent, in flight.
func (w *workload) listen(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var a, run, n int
		var v uint64
		switch line := sc.Text(); {
		case sscan(line, "ack %d %d %d %d", &a, &run, &n, &v):
			t := w.tracked(a, run)
			t.acked.Store(int64(n))
			t.attempted.Store(int64(n + 1))
			w.ackedVersion(v)
			w.report.Operations.Add(1)
		case sscan(line, "begin %d %d", &a, &run):
			w.tracked(a, run).attempted.Store(1)
		case sscan(line, "end %d %d %d", &a, &run, &n):
			t := w.tracked(a, run)
			t.ended.Store(int32(n))
			t.attempted.Store(t.acked.Load())
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

func sscan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

// tracked returns agent a's r-th run's tracker, creating it.
func (w *workload) tracked(a, r int) *tracker {
	id := runID(w.seed, a, r)
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.trackers[id]
	if !ok {
		t = &tracker{agent: a, r: r, run: id}
		w.trackers[id] = t
	}
	w.next[a] = max(w.next[a], r+1)
	return t
}

// adopt tracks the runs a child began without living to say so: the workload's own, by their
// derivation, with nothing acknowledged and one begin attempted. Any other run stays unknown
// and verify reports it (R4).
func (w *workload) adopt(db *inmem.DB) {
	runs, _ := db.ListRuns(inmem.RunFilter{})
	for _, r := range runs {
		for a := range w.agents {
			w.mu.Lock()
			next := w.next[a]
			_, known := w.trackers[r.ID]
			w.mu.Unlock()
			if !known && r.ID == runID(w.seed, a, next) {
				w.tracked(a, next).attempted.Store(1)
			}
		}
	}
	for _, t := range w.all() {
		t.attempted.Store(max(t.attempted.Load(), 1)) // a begin may have landed unreported
	}
}

// Child is the crash loop's writer process: it opens dir, finds where each agent's runs stand,
// and works until it is killed, printing "begin a r", "ack a r n v" (run r of agent a holds n
// acknowledged transactions, the last at commit version v), "end a r kind", "inc v" and "snap"
// lines, each after the acknowledgement. It returns an exit status.
func Child(dir string, out io.Writer) int {
	seed, _ := strconv.ParseUint(os.Getenv(seedEnv), 10, 64)
	agents, _ := strconv.Atoi(os.Getenv(agentsEnv))
	wit := NewWitness()
	db, err := inmem.Open(dir, crashLoopOptions(wit))
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
	if err := w.pickUp(db); err != nil {
		fmt.Fprintln(os.Stderr, "stress child: resume:", err)
		return 1
	}
	w.work(db, time.Hour, rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano()))), true)
	_ = db.Close()
	return 0
}

// pickUp finds each agent's last run and, if it is unfinished, resumes it from the
// transactions it holds.
func (w *workload) pickUp(db *inmem.DB) error {
	for a := range w.agents {
		r := 0
		for db.RunStatus(runID(w.seed, a, r)) != inmem.RunNotFound {
			r++
		}
		w.next[a] = r
		if r == 0 {
			continue
		}
		last := &tracker{agent: a, r: r - 1, run: runID(w.seed, a, r-1)}
		if st := db.RunStatus(last.run); st != inmem.RunActive && st != inmem.RunOrphaned {
			continue
		}
		m, err := db.Run(last.run)
		if err != nil {
			return err
		}
		last.acked.Store(int64(m.TxCount))
		last.attempted.Store(int64(m.TxCount))
		w.trackers[last.run] = last
		w.current[a] = last
	}
	return w.resume(db)
}
