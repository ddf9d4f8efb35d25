package stress

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
)

// InProcess runs rounds of work on cfg.Dir, Strict and Buffered in turn, with a clean Close and
// Open between rounds, and checks every run after each reopen.
func InProcess(cfg Config) *Report {
	w, rng, deadline := start(cfg, 0)
	w.retention = inProcessRetention
	rep := w.report
	for round := 0; time.Now().Before(deadline); round++ {
		o := options()
		o.Retention = w.retention
		if round%2 == 1 {
			o.Durability = inmem.Buffered
		}
		db, err := inmem.Open(cfg.Dir, o)
		if !w.recovered(db, err, round, rng) {
			return rep
		}
		w.work(db, cfg.Round, rng, true)
		rep.check(db.Close() == nil, invR1, "round %d: Close failed", round)
		rep.Reopens.Add(1)
		cfg.logf("in-process round %d: %d operations so far", round, rep.Operations.Load())
	}
	return rep
}

// What each mode's database deletes and compacts by itself, beside the agents' own deletions
// and compactions. InProcess: ended runs after a time to live shorter than a round (a pass runs
// every half of it, and the actor starts afresh with each Open). InMemory: all three, the
// retention actor running while the checks do. CrashFS: a count and a step limit, so that
// power is lost during retention passes too. Faults: none, so that there the compaction bases
// are exactly the agents'. CrashLoop: see childRetention.
var (
	inProcessRetention = inmem.RetentionOptions{EndedRunTTL: 200 * time.Millisecond}
	inMemoryRetention  = inmem.RetentionOptions{EndedRunTTL: 400 * time.Millisecond, MaxEndedRuns: 16, KeepSteps: 12}
	crashFSRetention   = inmem.RetentionOptions{MaxEndedRuns: 24, KeepSteps: 10}
)

// InMemory runs rounds of work on one InMemory database — nothing to reopen: its state lives
// only in the process — and checks every run after each round. There a lone commit runs the
// pipeline on its committer's goroutine (actors.Pipeline.Submit), so this is where that path
// meets concurrent commits, conflicts, replays and reads.
func InMemory(cfg Config) *Report {
	w, rng, deadline := start(cfg, 5)
	w.retention = inMemoryRetention
	rep := w.report
	o := options()
	o.Durability = inmem.InMemory
	o.Retention = w.retention
	db, err := inmem.Open("", o)
	if !w.recovered(db, err, 0, rng) {
		return rep
	}
	for round := 0; time.Now().Before(deadline); round++ {
		w.work(db, cfg.Round, rng, false) // no snapshots in InMemory mode
		w.verify(db, nil, w.incAcked.Load(), rng)
		cfg.logf("in-memory round %d: %d operations so far", round, rep.Operations.Load())
	}
	rep.check(db.Close() == nil, invR1, "Close failed")
	return rep
}

// recovered checks a database just opened (err is Open's) and resumes the runs its agents will
// go on with; false if the round cannot start (the database is then closed).
func (w *workload) recovered(db *inmem.DB, err error, round int, rng *rand.Rand) bool {
	if !w.report.check(err == nil, invR1, "round %d: Open: %v", round, err) {
		return false
	}
	w.verify(db, nil, w.incAcked.Load(), rng)
	if err := w.resume(db); !w.report.check(err == nil, invStatus, "round %d: resume: %v", round, err) {
		_ = db.Close()
		return false
	}
	return true
}

// crashDir is the database directory on the simulated filesystem.
const crashDir = "/db"

// CrashFS runs rounds of Strict work on a crash-simulating filesystem; each round ends in a
// simulated power loss at a random moment (unsynced bytes and directory entries lost or kept at
// random), and the next round recovers from what the crash left.
func CrashFS(cfg Config) *Report {
	w, rng, deadline := start(cfg, 1)
	w.retention = crashFSRetention
	rep := w.report
	fs := vfs.NewCrashFS()
	if err := fs.MkdirAll(crashDir); err != nil {
		rep.violate(invR1, "mkdir: %v", err)
		return rep
	}
	_ = fs.SyncDir("/")
	for round := 0; time.Now().Before(deadline); round++ {
		o := options()
		o.FS = fs
		o.Retention = w.retention
		db, err := inmem.Open(crashDir, o)
		if !w.recovered(db, err, round, rng) {
			return rep
		}
		crashed := make(chan *vfs.CrashFS, 1)
		var lo durable // written by the timer's goroutine, read after crashed delivers
		var incLo int64
		at := time.Duration(rng.Int64N(int64(cfg.Round)))
		crashRNG := rand.New(rand.NewPCG(rng.Uint64(), 2))
		// Every other round, a disk that writes unsynced pages back in any order.
		crash := fs.Crash
		if round%2 == 1 {
			crash = fs.CrashPages
		}
		timer := time.AfterFunc(at, func() {
			lo, incLo = w.acknowledged(), w.incAcked.Load() // acknowledged before the crash: must survive it
			crashed <- crash(crashRNG)
		})
		w.work(db, cfg.Round, rng, true)
		if timer.Stop() { // the round ended first: crash now
			lo, incLo = w.acknowledged(), w.incAcked.Load()
			fs = crash(crashRNG)
		} else {
			fs = <-crashed
		}
		_ = db.Close()
		rep.Crashes.Add(1)
		w.checkCrash(fs, lo, incLo, rng, round)
		cfg.logf("crash-fs round %d: %d operations so far", round, rep.Operations.Load())
	}
	return rep
}

// checkCrash opens the crashed image once to verify it against the bounds; the next round's
// Open (which verifies again, with nothing in flight) then proves recovery idempotent.
func (w *workload) checkCrash(fs vfs.FS, lo durable, incLo int64, rng *rand.Rand, round int) {
	o := options() // without retention: it would change what the checks compare
	o.FS = fs
	db, err := inmem.Open(crashDir, o)
	if !w.report.check(err == nil, invR1, "round %d: Open after a crash: %v", round, err) {
		return
	}
	w.verify(db, lo, incLo, rng)
	_ = db.Close()
}

// Faults runs rounds of Strict work on the real filesystem through an error-injecting one that
// fails one write or fsync at a random moment: the log is poisoned, the round's
// commits fail, and the next Open recovers what reached the disk.
func Faults(cfg Config) *Report {
	w, rng, deadline := start(cfg, 3)
	rep := w.report
	for round := 0; time.Now().Before(deadline); round++ {
		inject := vfs.NewInjectFS(vfs.OS)
		o := options()
		o.FS = inject
		o.Snapshot.OnClose = false
		db, err := inmem.Open(cfg.Dir, o)
		if !w.recovered(db, err, round, rng) {
			return rep
		}
		op := []vfs.Op{vfs.OpSync, vfs.OpWrite}[rng.IntN(2)]
		inject.Inject(vfs.Fault{Op: op, Nth: 1 + rng.IntN(200), Path: "wal", Err: fmt.Errorf("stress: injected %v failure", op)})
		w.work(db, cfg.Round, rng, false)
		_ = db.Close() // returns the poison, if the fault fired
		rep.Crashes.Add(1)
		cfg.logf("faults round %d: %d operations so far, %d %v calls failed", round, rep.Operations.Load(),
			inject.Failures(op), op)
	}
	return rep
}
