// Package stress runs long randomized workloads against inmem and checks them against a plain
// reference model, reporting every invariant it verified by name (the recovery rules R1–R5, the
// replay properties P1–P6, and the primitives' own rules) and every violation it found.
//
// Agents (goroutines) each own a sequence of slots, one run each. A run's transactions are a
// pure function of its slot and their index (ops.go): key-value puts and deletes, JSON
// documents created and patched, events, state cells set and deleted, spans with parents, and
// transactions over several primitives at once; between them, agents increment a counter in
// GlobalRun with a read-modify-write, so that their commits conflict and Update retries, and
// now and then compact their run's history (CompactRun). Runs end or abort, new ones begin:
// plainly, with an initial state (BeginRunWith), or as a fork of another agent's run at a
// random step (ForkRun). A third of the ended runs are deleted by their agent (DeleteRun), and
// the next slot sometimes begins under the deleted run's id; the database's retention actor
// deletes ended runs too. Snapshots are taken and runs replayed while all this goes on.
//
// Because a run's content is a function of how many of its transactions committed, on top of
// its base (nothing, the slot's initial state, or the fold of the forked run at the fork's
// step), the model needs to learn only that number and the base: what was acknowledged is the
// lower bound after any crash, what was attempted the upper one, and the database must hold
// exactly the fold of some count in between (R3, R4, R5) — live, and replayed through its
// journal from its base on (before it, ErrHistoryCompacted). A run the model knows deleted
// must be as one never begun; one it does not must be there, whole, unless a deletion of it —
// its agent's, or retention's once it may have ended — may have landed.
//
// Modes: InProcess (clean Close and Open between rounds, Strict and Buffered), InMemory (one
// database, checked after every round; lone commits run the pipeline inline there), CrashFS (a
// simulated power loss at a random moment of every round), Faults (one failed write or fsync
// poisons the log), CrashLoop (a child process SIGKILLed at random moments, the parent checking
// what it reported as acknowledged).
//
// The crash loop also checks the commit order as a whole, which no per-run check sees: every
// transaction carries a Witness, so the child reports each acknowledgement with its commit
// version, the witness records every run deletion's version, and the parent checks that
// recovery kept exactly the versions 1..N, those among them, counting the lifecycle changes
// and compactions no witness sees — deleted runs' included (prefix.go).
package stress
