package inmem

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/event"
	jsondoc "github.com/inmemdb/inmem/primitives/json"
	"github.com/inmemdb/inmem/primitives/kv"
	"github.com/inmemdb/inmem/primitives/state"
	"github.com/inmemdb/inmem/primitives/trace"
)

// Tx is a transaction of one run: it reads the snapshot taken when it began, sees its own
// writes, and commits atomically across every primitive it touched. A Tx is for one goroutine.
//
// Isolation is snapshot isolation with optimistic concurrency, first committer wins: a commit
// fails with ErrConflict if a key (or document) it read changed after its snapshot. What it
// did not read does not conflict, so SI's anomalies are allowed: write skew (two transactions
// each read what the other writes, both commit), and phantoms — a transaction that listed keys
// (List, Scan) commits even if another commit has since added a key the listing would now
// show. A transaction that must not miss such a key reads it (or a key every writer updates)
// explicitly.
type Tx struct {
	db       *DB
	run      RunID
	snapshot uint64
	writable bool
	done     bool

	parts   []extension.TxPart // one per primitive touched, in first-touch order
	kv      *kv.Tx
	kvTx    KVTx
	events  *event.Tx
	eventTx EventTx
	state   *state.Tx
	stateTx StateTx
	json    *jsondoc.Tx
	jsonTx  JSONTx
	traces  *trace.Tx
	traceTx TraceTx
	ext     map[string]extension.TxPart // parts of Options.Primitives, by primitive name
}

// CommitOptions adjusts one commit.
type CommitOptions struct {
	// Sync makes this commit durable before it returns, whatever the durability mode.
	Sync bool
}

// Begin starts a transaction of run. A writable transaction must be committed or rolled back;
// a read-only one should be rolled back to release its snapshot. Update and View do both.
func (db *DB) Begin(id RunID, writable bool) (*Tx, error) {
	if err := db.usable(); err != nil {
		return nil, err
	}
	if writable && db.readOnly {
		return nil, ErrReadOnly
	}
	s := db.clock.Pin()
	if err := db.runCheck(id, s, writable); err != nil {
		db.clock.Unpin(s)
		return nil, err
	}
	return db.newTx(id, s, writable), nil
}

// newTx returns a transaction of run at snapshot s, pinned by the caller.
func (db *DB) newTx(id RunID, s uint64, writable bool) *Tx {
	tx := &Tx{db: db, run: id, snapshot: s, writable: writable}
	tx.kvTx.tx, tx.eventTx.tx, tx.stateTx.tx, tx.jsonTx.tx, tx.traceTx.tx = tx, tx, tx, tx, tx
	return tx
}

// TxPart is one primitive's buffered share of a transaction (the extension interface).
type TxPart = extension.TxPart

// Part returns the transaction's part of p, a primitive registered through Options.Primitives,
// creating it with newPart — at the transaction's run and snapshot — on first use. This is how
// a primitive defined outside inmem writes: at commit its part is validated and logged with the
// built-in ones, atomically. An unregistered primitive is ErrInvalidArgument.
func (tx *Tx) Part(p Primitive, newPart func(run RunID, snapshot uint64) TxPart) (TxPart, error) {
	if err := tx.check(false); err != nil {
		return nil, err
	}
	if p == nil || newPart == nil {
		return nil, dberr.Invalid("Part: nil primitive or constructor")
	}
	if part, ok := tx.ext[p.Name()]; ok {
		return part, nil
	}
	if !slices.ContainsFunc(tx.db.opts.Primitives, func(q Primitive) bool { return q.Name() == p.Name() }) {
		return nil, dberr.Invalid("primitive %q is not in Options.Primitives", p.Name())
	}
	if tx.ext == nil {
		tx.ext = make(map[string]extension.TxPart)
	}
	part := newPart(tx.run, tx.snapshot)
	if part == nil {
		return nil, dberr.Invalid("Part: the constructor of %q returned nil", p.Name())
	}
	tx.ext[p.Name()] = part
	tx.parts = append(tx.parts, part)
	return part, nil
}

// Run returns the transaction's run.
func (tx *Tx) Run() RunID { return tx.run }

// check returns the error for an operation on tx, if any.
func (tx *Tx) check(write bool) error {
	switch {
	case tx.done:
		return ErrTxDone
	case write && !tx.writable:
		return ErrTxReadOnly
	}
	return tx.db.usable()
}

// Commit commits the transaction. A transaction without writes commits without touching the
// sequencer or the log. See CommitWith.
func (tx *Tx) Commit(ctx context.Context) error { return tx.CommitWith(ctx, CommitOptions{}) }

// CommitWith commits with options. ErrConflict (or ErrVersionMismatch) means a concurrent commit
// won; the transaction had no effect.
//
// ctx bounds admission only: a context already done commits nothing, and one that ends while
// the commit waits for room in the pipeline returns ctx.Err() with nothing committed. Once the
// pipeline has accepted the commit, CommitWith waits for its outcome and reports it, whatever
// ctx does: an error always means the transaction did not commit (ErrPoisoned is the one
// nuance: see its doc). A nil ctx is ErrInvalidArgument.
func (tx *Tx) CommitWith(ctx context.Context, o CommitOptions) error {
	_, err := tx.commit(ctx, o)
	return err
}

// commit commits tx and returns its commit; nil if tx wrote nothing. first, if any, are parts
// that go before the transaction's own, in a system commit (a begin with its initial state).
func (tx *Tx) commit(ctx context.Context, o CommitOptions, first ...extension.TxPart) (*actors.Commit, error) {
	if err := checkContext(ctx); err != nil {
		return nil, err // the transaction stays open: the caller may commit it with a context
	}
	if tx.done {
		return nil, ErrTxDone
	}
	tx.done = true
	if err := tx.db.usable(); err != nil || (!tx.hasWrites() && len(first) == 0) {
		tx.db.clock.Unpin(tx.snapshot)
		return nil, err
	}
	c := actors.NewCommit(tx.run, tx.snapshot, append(first, tx.parts...)...)
	c.Sync, c.Pinned, c.System = o.Sync, true, len(first) > 0 // the sequencer unpins after validation
	return c, tx.db.submit(ctx, c)
}

// Rollback discards the transaction. It is safe to call after Commit (it does nothing then),
// so `defer tx.Rollback()` is the idiom.
func (tx *Tx) Rollback() {
	if tx.done {
		return
	}
	tx.done = true
	tx.db.clock.Unpin(tx.snapshot)
}

func (tx *Tx) hasWrites() bool {
	for _, p := range tx.parts {
		if !p.Empty() {
			return true
		}
	}
	return false
}

// Update runs fn in a writable transaction of run and commits it. On ErrConflict or
// ErrVersionMismatch it runs fn again from scratch, with jittered backoff, up to
// Options.UpdateAttempts times, then returns the last error. fn must have no effects outside
// the transaction: it may run more than once. An error from fn rolls back and is returned as is.
//
// **Update does not nest.** Calling Update (or a facade's write, such as KV().Put) from inside
// fn starts a second, independent transaction: it commits on its own, before and regardless of
// the outer one, and the outer one does not see its writes. Use the Tx that fn receives.
//
// ctx bounds what happens before a commit is accepted: fn never runs once ctx is done, the
// backoff between attempts ends with it, and so does the wait for room in the pipeline (see
// Tx.CommitWith). An accepted commit's outcome is always reported: nil means committed, an
// error means not committed.
func (db *DB) Update(ctx context.Context, id RunID, fn func(*Tx) error) error {
	_, _, err := db.update(ctx, "Update", id, fn)
	return err
}

// update is Update, named op in errors; it returns the commit (nil if fn wrote nothing) and
// how many times fn ran.
func (db *DB) update(ctx context.Context, op string, id RunID, fn func(*Tx) error) (*actors.Commit, int, error) {
	if fn == nil {
		return nil, 0, dberr.Invalid("%s: nil function", op)
	}
	if err := checkContext(ctx); err != nil {
		return nil, 0, err
	}
	for attempt := 1; ; attempt++ {
		c, err := db.updateOnce(ctx, id, fn)
		if !retryable(err) {
			return c, attempt, err
		}
		if attempt >= db.opts.UpdateAttempts {
			return nil, attempt, fmt.Errorf("inmem: %s gave up after %d attempts: %w", op, attempt, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, attempt, err
		}
	}
}

func (db *DB) updateOnce(ctx context.Context, id RunID, fn func(*Tx) error) (*actors.Commit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // a done context never runs fn
	}
	tx, err := db.Begin(id, true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // also on panic in fn
	if err := fn(tx); err != nil {
		return nil, err
	}
	return tx.commit(ctx, CommitOptions{})
}

// View runs fn in a read-only transaction of run.
func (db *DB) View(id RunID, fn func(*Tx) error) error {
	if fn == nil {
		return dberr.Invalid("View: nil function")
	}
	tx, err := db.Begin(id, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

func retryable(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrVersionMismatch)
}

// backoff sleeps a random time in [0, 50µs·2^attempt), capped at 10 ms: spreading the retries
// of transactions that collided makes it likely one of them wins the next round.
func backoff(ctx context.Context, attempt int) error {
	limit := min(50*time.Microsecond<<min(attempt, 16), 10*time.Millisecond)
	t := time.NewTimer(rand.N(limit))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// part returns the transaction's part held in *slot, creating it with newPart — at the
// transaction's run and snapshot — and adding it to the commit's parts on first use.
func part[P interface {
	comparable
	extension.TxPart
}](tx *Tx, slot *P, newPart func(extension.RunID, uint64) P) P {
	var none P
	if *slot == none {
		*slot = newPart(tx.run, tx.snapshot)
		tx.parts = append(tx.parts, *slot)
	}
	return *slot
}

func (tx *Tx) kvPart() *kv.Tx        { return part(tx, &tx.kv, tx.db.kv.NewTx) }
func (tx *Tx) jsonPart() *jsondoc.Tx { return part(tx, &tx.json, tx.db.docs.NewTx) }
func (tx *Tx) eventPart() *event.Tx  { return part(tx, &tx.events, tx.db.events.NewTx) }
func (tx *Tx) statePart() *state.Tx  { return part(tx, &tx.state, tx.db.states.NewTx) }
func (tx *Tx) tracePart() *trace.Tx  { return part(tx, &tx.traces, tx.db.traces.NewTx) }
