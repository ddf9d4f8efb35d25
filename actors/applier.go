package actors

import (
	"context"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
)

// Applier is the last pipeline stage before publication: it hands each batch to every shard
// actor that owns some of its entries, and each actor applies exactly its own (primitive,
// shard) share. Recovery uses the same path: WAL transactions are batches like live commits
// (SPEC 8 step 3), fanned out by entry-type range with no per-primitive code.
//
// Submit is called from one goroutine at a time (the stage before it), so its scratch state
// needs no lock.
type Applier struct {
	registry  *extension.Registry
	shards    int
	actors    []*shardActor // index: owner*shards + shard
	publisher *Publisher
	touched   []bool // scratch for Submit, one per actor
	order     []int  // scratch for Submit
}

// shardMsg is what a shard actor receives: a batch to apply its share of, or a task to run on
// its state between batches (a request that must see exactly the batches before it).
type shardMsg struct {
	batch *Batch
	task  func(extension.Shard)
}

type shardActor struct {
	owner, shard int
	state        extension.Shard
	trimmer      extension.Trimmer // nil if the shard keeps no old versions
	in           *mailbox.Mailbox[shardMsg]
	scratch      []commitlog.Entry // this actor's share of the batch at hand
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

// StartApplier starts one actor per shard in the group.
func StartApplier(cfg ApplierConfig) *Applier {
	a := &Applier{registry: cfg.Registry, shards: cfg.Count, publisher: cfg.Publisher}
	for i, sh := range cfg.Shards {
		act := &shardActor{owner: i / cfg.Count, shard: i % cfg.Count, state: sh,
			in: mailbox.New[shardMsg](cfg.Mailbox)}
		act.trimmer, _ = sh.(extension.Trimmer)
		a.actors = append(a.actors, act)
		name := fmt.Sprintf("%s/%d", cfg.Registry.Primitives()[act.owner].Name(), act.shard)
		cfg.Group.Go(name, func() error { return act.run(a, cfg.Clock, cfg.Group) })
	}
	a.touched = make([]bool, len(a.actors))
	return a
}

// Submit sends b to every actor owning one of its entries. The batch is published once the
// last of them has applied its share.
func (a *Applier) Submit(b *Batch) {
	order := a.order[:0]
	for _, c := range b.Commits {
		c.shard = c.Run.Shard(a.shards)
		for _, e := range c.Entries {
			owner, ok := a.registry.Owner(e.Type)
			if !ok {
				a.reset(order)
				b.Fail(fmt.Errorf("entry type %#02x has no owner", e.Type))
				a.publisher.Complete(b)
				return
			}
			if idx := owner*a.shards + c.shard; !a.touched[idx] {
				a.touched[idx] = true
				order = append(order, idx)
			}
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

// Ask runs task on every shard actor, each between the batches sent before and after it, and
// waits until all are done. Tasks run concurrently on the actors. It fails only if the actors
// have stopped or ctx ends first (tasks already queued still run).
func (a *Applier) Ask(ctx context.Context, task func(owner, shard int, s extension.Shard)) error {
	done := make(chan struct{}, len(a.actors)) // buffered: a task never waits for the asker
	sent := 0
	for _, act := range a.actors {
		msg := shardMsg{task: func(s extension.Shard) {
			task(act.owner, act.shard, s)
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

// share collects the entries of b this actor owns, in commit order, into its scratch buffer.
func (act *shardActor) share(a *Applier, b *Batch) []commitlog.Entry {
	out := act.scratch[:0]
	for _, c := range b.Commits {
		if c.shard != act.shard {
			continue
		}
		for _, e := range c.Entries {
			if owner, _ := a.registry.Owner(e.Type); owner == act.owner {
				out = append(out, e)
			}
		}
	}
	act.scratch = out
	return out
}

// run is a shard actor's loop. After a failed Apply the shard's state is suspect: the actor
// applies nothing more but goes on completing batches (as failed) so no commit waits forever.
func (act *shardActor) run(a *Applier, clock *mvcc.Clock, group *Group) error {
	var failure error
	var msgs []shardMsg
	for {
		var ok bool
		msgs, ok = act.in.Receive(msgs[:0], 0)
		for _, m := range msgs {
			if m.task != nil {
				m.task(act.state)
				continue
			}
			b := m.batch
			if failure == nil {
				if err := act.state.Apply(act.share(a, b)); err != nil {
					failure = fmt.Errorf("apply batch %d–%d: %w", b.First, b.Last, err)
					group.Fail(failure) // stop accepting commits now, not at shutdown
				}
			}
			if failure != nil {
				b.Fail(failure)
			}
			a.done(b)
		}
		clear(msgs)
		clear(act.scratch) // drop payload references until the next batch
		if failure == nil && act.trimmer != nil {
			act.trimmer.Trim(clock.Oldest())
		}
		if !ok {
			return failure
		}
	}
}
