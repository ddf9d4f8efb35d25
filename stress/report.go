package stress

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Invariants a check guards, by the names the design gives them.
const (
	invR1       = "R1 deterministic: the same files recover to the same state"
	invR3       = "R3 prefix-consistent: each run holds a prefix of its transactions, whole"
	invR4       = "R4 never invents data: nothing beyond what was attempted"
	invR5       = "R5 no acknowledged commit lost"
	invChain    = "the event chain verifies"
	invLostUpd  = "no lost update: the shared counter counts every acknowledged increment"
	invReplay   = "P1-P3: ReplayRun equals the run's live state"
	invReplayAt = "P5/P6: ReplayRunUntil(k) equals the first k transactions, every time"
	invStatus   = "run status: an acknowledged end or abort survives"
	invPrefix   = "R3 across runs: recovery keeps versions 1..N of the commit order, every acknowledged one among them"
	invKilled   = "the crash loop's child works until SIGKILL ends it"

	invDeleted    = "DeleteRun: a deleted run is as one never begun (no status, every read ErrRunNotFound), and stays deleted"
	invVanish     = "a run vanishes only if deleted: by its agent once ended, or by retention once it may have ended (Active and Orphaned never)"
	invReuse      = "DeleteRun: a deleted id begun again holds only its new run's content"
	invFork       = "ForkRun: step 0 is the source's fold at ForkedFrom's step, cells at version 1, the source's events with their seqs and hashes"
	invCompact    = "CompactRun: an acknowledged compaction survives; replay before the base is ErrHistoryCompacted, from it on the model"
	invAgentOrder = "R3 across an agent's runs: a later run survives only with everything its agent did before it"
)

// Report is what a stress run did and found. Violations make it fail.
type Report struct {
	Operations atomic.Int64 // run transactions acknowledged
	Increments atomic.Int64 // shared-counter increments acknowledged (conflicts retried)
	Snapshots  atomic.Int64
	Replays    atomic.Int64 // replays compared with the model
	Crashes    atomic.Int64 // SIGKILLs or simulated power losses survived
	Reopens    atomic.Int64 // clean Close and Open cycles
	// Compactions, Deletions and Forks count the agents' acknowledged CompactRun, DeleteRun and
	// ForkRun calls; Vanished the ended runs found deleted by retention (or by a deletion whose
	// acknowledgement a crash cut off).
	Compactions atomic.Int64
	Deletions   atomic.Int64
	Forks       atomic.Int64
	Vanished    atomic.Int64
	// Cut counts the forks, compactions and deletions found landed though their
	// acknowledgement never reached the workload (a crash, a fault or a close came first; for
	// a deletion, also retention's, landed before its agent's): the in-flight cases the
	// all-or-nothing checks are about.
	CutForks, CutCompactions, CutDeletions atomic.Int64

	mu         sync.Mutex
	verified   map[string]int64
	violations []string
}

func (r *Report) verify(inv string) {
	r.mu.Lock()
	if r.verified == nil {
		r.verified = map[string]int64{}
	}
	r.verified[inv]++
	r.mu.Unlock()
}

func (r *Report) violate(inv, format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, inv+": "+fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// check records one verification of inv: ok, or a violation described by format and args.
func (r *Report) check(ok bool, inv, format string, args ...any) bool {
	if ok {
		r.verify(inv)
	} else {
		r.violate(inv, format, args...)
	}
	return ok
}

// merge adds what o verified and found, and its replay count, to r.
func (r *Report) merge(o *Report) {
	o.mu.Lock()
	verified, violations := o.verified, slices.Clone(o.violations)
	o.mu.Unlock()
	r.Replays.Add(o.Replays.Load())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verified == nil {
		r.verified = map[string]int64{}
	}
	for inv, n := range verified {
		r.verified[inv] += n
	}
	r.violations = append(r.violations, violations...)
}

// Violations returns what was found broken.
func (r *Report) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.violations)
}

// String summarizes the run: counts, then each invariant with how often it was verified.
func (r *Report) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "operations %d, shared increments %d, snapshots %d, replays checked %d, crashes survived %d, clean reopens %d\n",
		r.Operations.Load(), r.Increments.Load(), r.Snapshots.Load(), r.Replays.Load(), r.Crashes.Load(), r.Reopens.Load())
	fmt.Fprintf(&b, "forks %d, compactions %d, deletions %d, runs found deleted by retention %d; "+
		"found landed though unacknowledged: forks %d, compactions %d, deletions %d\n",
		r.Forks.Load(), r.Compactions.Load(), r.Deletions.Load(), r.Vanished.Load(),
		r.CutForks.Load(), r.CutCompactions.Load(), r.CutDeletions.Load())
	for _, inv := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.verified {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "  %-80s verified %d times\n", inv, r.verified[inv])
	}
	fmt.Fprintf(&b, "violations: %d\n", len(r.violations))
	for _, v := range r.violations {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}
