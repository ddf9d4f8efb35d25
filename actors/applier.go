package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
)

// Applier is the last pipeline stage before publication. Shard i of every primitive is owned by
// one actor, the shard actor i: it receives each batch holding commits of its runs and applies
// each primitive's share of them to that primitive's shard i. One actor per shard index, not
// per (primitive, shard): a transaction touches all its primitives through one hand-off, and
// shards of one index never run in parallel with each other — with as many shards as
// processors, that parallelism would only add wake-ups. Recovery uses the same path: WAL
// transactions are batches like live commits, fanned out by entry-type range
// with no per-primitive code.
//
// Submit is called from one goroutine at a time (the stage before it), so its scratch state
// needs no lock.
type Applier struct {
	registry  *extension.Registry
	shards    int
	actors    []*shardActor // index: shard
	publisher *Publisher
	clock     *mvcc.Clock
	group     *Group
	touched   []bool // scratch for Submit, one per actor
	order     []int  // scratch for Submit
}

// shardMsg is what a shard actor receives: a batch to apply its share of, or a task to run on
// its state between batches (a request that must see exactly the batches before it).
type shardMsg struct {
	batch *Batch
	task  func(act *shardActor)
}

type shardActor struct {
	// own is held while the shard state is in use: by the actor's goroutine for each drain of
	// its mailbox, or by a committer applying its own commit (Applier.claim). failure, once set
	// (a failed Apply), makes the actor apply nothing more: the state is suspect.
	own     sync.Mutex
	failure error

	shard    int
	states   []extension.Shard   // index: owner (the primitive's place in the registry)
	names    []string            // index: owner
	trimmers []extension.Trimmer // index: owner; nil if the shard keeps no old versions
	whole    []bool              // index: owner; the primitive journals whole transactions
	// journalers is scratch for split: the journaling owners of the commit at hand.
	journalers []int
	in         *mailbox.Mailbox[shardMsg]
	shares     [][]commitlog.Entry // scratch: each owner's share of the batch at hand
}

// ApplierConfig wires an Applier.
type ApplierConfig struct {
	Registry  *extension.Registry
	Shards    []extension.Shard // index: owner*Count + shard
	Count     int               // shards per primitive
	Publisher *Publisher
	Clock     *mvcc.Clock
	Group     *Group
	Mailbox   int // capacity of each shard actor's mailbox
}

// StartApplier starts one actor per shard index in the group.
func StartApplier(cfg ApplierConfig) *Applier {
	a := &Applier{registry: cfg.Registry, shards: cfg.Count, publisher: cfg.Publisher,
		clock: cfg.Clock, group: cfg.Group}
	prims := cfg.Registry.Primitives()
	for shard := range cfg.Count {
		act := &shardActor{shard: shard, in: mailbox.New[shardMsg](cfg.Mailbox),
			shares: make([][]commitlog.Entry, len(prims))}
		for owner, p := range prims {
			state := cfg.Shards[owner*cfg.Count+shard]
			trimmer, _ := state.(extension.Trimmer)
			act.states = append(act.states, state)
			act.names = append(act.names, p.Name())
			act.trimmers = append(act.trimmers, trimmer)
			act.whole = append(act.whole, cfg.Registry.WholeTransactions(owner))
		}
		a.actors = append(a.actors, act)
		cfg.Group.Go(fmt.Sprintf("shard/%d", shard), func() error { return act.run(a) })
	}
	a.touched = make([]bool, len(a.actors))
	return a
}

// Submit sends b to every actor owning one of its commits' runs. The batch is published once
// the last of them has applied its share.
func (a *Applier) Submit(b *Batch) {
	order := a.order[:0]
	for _, c := range b.Commits {
		c.shard = c.Run.Shard(a.shards)
		if err := a.owned(c); err != nil {
			a.reset(order)
			b.Fail(err)
			a.publisher.Complete(b)
			return
		}
		if len(c.Entries) > 0 && !a.touched[c.shard] {
			a.touched[c.shard] = true
			order = append(order, c.shard)
		}
	}
	a.order = order
	a.reset(order)
	if len(order) == 0 {
		a.publisher.Complete(b)
		return
	}
	b.parts.Store(int32(len(order)))
	for _, idx := range order {
		// Actor mailboxes close only after the last Submit, so this fails only while the
		// engine is torn down after a failure; the batch then fails with it.
		if err := a.actors[idx].in.Send(context.Background(), shardMsg{batch: b}); err != nil {
			b.Fail(err)
			a.done(b)
		}
	}
}

// owned checks that every entry of c has an owning primitive.
func (a *Applier) owned(c *Commit) error {
	for _, e := range c.Entries {
		if _, ok := a.registry.Owner(e.Type); !ok {
			return fmt.Errorf("entry type %#02x has no owner", e.Type)
		}
	}
	return nil
}

// claim takes the state of the shard actor of run for the caller, if the actor is idle: not
// draining its mailbox, and nothing in it. The caller applies with applyClaimed, then releases
// the actor with act.own.Unlock.
func (a *Applier) claim(run extension.RunID) (*shardActor, bool) {
	act := a.actors[run.Shard(a.shards)]
	if !act.own.TryLock() {
		return nil, false
	}
	if act.in.Len() > 0 {
		act.own.Unlock()
		return nil, false
	}
	return act, true
}

// applyClaimed applies b, a batch of commits of the claimed actor's runs, on the caller's
// goroutine, as the actor would, and completes it.
func (a *Applier) applyClaimed(act *shardActor, b *Batch) {
	for _, c := range b.Commits {
		c.shard = act.shard
		if err := a.owned(c); err != nil {
			b.Fail(err)
		}
	}
	if b.Err() == nil {
		act.applyBatch(a, b)
		if act.failure == nil {
			act.trim(a.clock.Oldest())
		}
	}
	a.publisher.Complete(b)
}

func (a *Applier) reset(order []int) {
	for _, idx := range order {
		a.touched[idx] = false
	}
}

// done counts one share of b as applied; the last one completes the batch.
func (a *Applier) done(b *Batch) {
	if b.parts.Add(-1) == 0 {
		a.publisher.Complete(b)
	}
}

// Ask runs task on every primitive's every shard, each on its shard actor between the batches
// sent before and after it, and waits until all are done. Actors run their tasks concurrently,
// one primitive after the other. It fails only if the actors have stopped or ctx ends first
// (tasks already queued still run).
func (a *Applier) Ask(ctx context.Context, task func(owner, shard int, s extension.Shard)) error {
	done := make(chan struct{}, len(a.actors)) // buffered: a task never waits for the asker
	sent := 0
	for _, act := range a.actors {
		msg := shardMsg{task: func(act *shardActor) {
			for owner, s := range act.states {
				task(owner, act.shard, s)
			}
			done <- struct{}{}
		}}
		if err := act.in.Send(ctx, msg); err != nil {
			return err
		}
		sent++
	}
	for range sent {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops every shard actor once it has drained its mailbox.
func (a *Applier) Close() {
	for _, act := range a.actors {
		act.in.Close()
	}
}

// split sorts the entries of commits of this actor's shard into each owner's share, in commit
// order, in one pass over each commit, up to the first run deletion; it returns how many commits
// it went through, the deletion excluded. A primitive that journals whole transactions gets
// every entry of each transaction that holds one of its own; it gets no other.
func (act *shardActor) split(a *Applier, commits []*Commit) int {
	for i, c := range commits {
		if c.shard != act.shard {
			continue
		}
		if deletion(c) {
			return i
		}
		journalers := act.journalers[:0]
		for _, e := range c.Entries {
			owner, _ := a.registry.Owner(e.Type) // Submit checked every type has one
			switch {
			case !act.whole[owner]:
				act.shares[owner] = append(act.shares[owner], e)
			case !slices.Contains(journalers, owner):
				journalers = append(journalers, owner)
			}
		}
		for _, owner := range journalers {
			act.shares[owner] = append(act.shares[owner], c.Entries...)
		}
		act.journalers = journalers
	}
	return len(commits)
}

// deletion reports whether c is a run's deletion: a system transaction of one entry that every
// primitive applies (DropRun) rather than the one owning its type.
func deletion(c *Commit) bool {
	return len(c.Entries) == 1 && c.Entries[0].Type == extension.TypeRunDelete
}

// apply applies the actor's share of b, primitive by primitive; a run's deletion is applied
// by every primitive at its place in commit order, between the shares before and after it.
func (act *shardActor) apply(a *Applier, b *Batch) error {
	for commits := b.Commits; len(commits) > 0; {
		n := act.split(a, commits)
		if err := act.applyShares(b); err != nil {
			return err
		}
		if commits = commits[n:]; len(commits) > 0 { // a deletion
			e := commits[0].Entries[0]
			for _, s := range act.states {
				s.DropRun(commits[0].Run, e.TxID)
			}
			commits = commits[1:]
		}
	}
	return nil
}

// applyShares applies each owner's share, and empties it.
func (act *shardActor) applyShares(b *Batch) error {
	defer act.drop()
	for owner, share := range act.shares {
		if len(share) == 0 {
			continue
		}
		if err := act.states[owner].Apply(share); err != nil {
			return fmt.Errorf("apply batch %d–%d, %s/%d: %w", b.First, b.Last, act.names[owner], act.shard, err)
		}
	}
	return nil
}

// run is a shard actor's loop. After a failed Apply the shards' state is suspect: the actor
// applies nothing more but goes on completing batches (as failed) so no commit waits forever.
func (act *shardActor) run(a *Applier) error {
	var msgs []shardMsg
	for {
		var ok bool
		msgs, ok = act.in.Receive(msgs[:0], 0)
		act.own.Lock()
		for _, m := range msgs {
			if m.task != nil {
				m.task(act)
				continue
			}
			act.applyBatch(a, m.batch)
			a.done(m.batch)
		}
		if act.failure == nil {
			act.trim(a.clock.Oldest())
		}
		failure := act.failure
		act.own.Unlock()
		clear(msgs)
		if !ok {
			return failure
		}
	}
}

// applyBatch applies the actor's share of b, unless an earlier Apply failed; a failure stops
// the engine and fails b.
func (act *shardActor) applyBatch(a *Applier, b *Batch) {
	if act.failure == nil {
		if err := act.apply(a, b); err != nil {
			act.failure = err
			a.group.Fail(err) // stop accepting commits now, not at shutdown
		}
	}
	if act.failure != nil {
		b.Fail(act.failure)
	}
}

// drop empties every owner's share, so the actor holds no payload between batches.
func (act *shardActor) drop() {
	for owner, share := range act.shares {
		clear(share)
		act.shares[owner] = share[:0]
	}
}

func (act *shardActor) trim(oldest uint64) {
	for _, t := range act.trimmers {
		if t != nil {
			t.Trim(oldest)
		}
	}
}
