package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
)

// Mailbox capacities: deep enough that 256 committers rarely wait on a full sequencer mailbox,
// small enough that backpressure starts before memory grows without bound.
const (
	sequencerMailbox = 4096
	shardMailbox     = 1024
	// recoveryBatch is how many recovered transactions travel to the shard actors together.
	recoveryBatch = 256
)

// PipelineConfig describes the engine to start.
type PipelineConfig struct {
	Registry      *extension.Registry // the primitives, registered
	Shards        int                 // shards per primitive
	Clock         *mvcc.Clock
	Stats         *Stats
	Guard         RunGuard // may be nil
	MaxBatchBytes int
	// OnFail is called once with the engine's first failure.
	OnFail func(error)
	// OnPublish, if set, is called with every batch as it becomes visible, in version order,
	// recovered ones included, on whichever goroutine publishes it and under the publisher's
	// lock: it must return at once (it delays every commit behind it).
	OnPublish func(*Batch)
	// InlineLoneCommits lets a lone commit run the pipeline on its committer's goroutine when
	// there is no log stage (see Submit). Off, every commit is handed over and Submit returns
	// at once.
	InlineLoneCommits bool
}

// Pipeline is the engine: sequencer → (log) → shard actors → publisher. It starts in recovery:
// only the shard actors and the publisher run, and Recover feeds them the log's transactions.
// Serve then starts the log stage and the sequencer, and commits flow.
type Pipeline struct {
	cfg       PipelineConfig
	group     *Group
	in        *mailbox.Mailbox[*Commit]
	publisher *Publisher
	applier   *Applier
	serving   bool

	inflight   atomic.Int64 // commits submitted and not yet answered
	recovering *Batch       // recovered transactions not yet submitted
	recovered  *Commit      // the last recovered transaction submitted

	// inline is the sequencer when a lone commit may run the pipeline on its committer's
	// goroutine (InlineLoneCommits, and no log stage), else nil. Set by Serve, before any Submit.
	inline *Sequencer
}

// StartPipeline creates every primitive's shards and starts their actors.
func StartPipeline(cfg PipelineConfig) *Pipeline {
	p := &Pipeline{cfg: cfg, group: NewGroup(cfg.OnFail), in: mailbox.New[*Commit](sequencerMailbox)}
	var shards []extension.Shard
	for _, prim := range cfg.Registry.Primitives() {
		for i := range cfg.Shards {
			shards = append(shards, prim.NewShard(i))
		}
	}
	p.publisher = NewPublisher(cfg.Clock, cfg.Stats)
	p.publisher.published = cfg.OnPublish
	p.applier = StartApplier(ApplierConfig{
		Registry: cfg.Registry, Shards: shards, Count: cfg.Shards,
		Publisher: p.publisher, Clock: cfg.Clock, Group: p.group, Mailbox: shardMailbox,
	})
	return p
}

// Recover applies one committed transaction read back from the log. Transactions must come in
// commit order; they bypass validation and the log, which hold them already.
func (p *Pipeline) Recover(version uint64, run extension.RunID, entries []commitlog.Entry) error {
	if err := p.group.Err(); err != nil {
		return err
	}
	b := p.recovering
	if b == nil {
		b = &Batch{First: version}
		p.recovering = b
	}
	c := NewCommit(run, 0)
	c.handOver()
	c.Version, c.Entries = version, entries
	b.Commits = append(b.Commits, c)
	b.Last = version
	if len(b.Commits) >= recoveryBatch {
		p.flushRecovered()
	}
	return nil
}

// flushRecovered hands the pending recovered transactions to the shard actors.
func (p *Pipeline) flushRecovered() {
	b := p.recovering
	if b == nil {
		return
	}
	p.recovering = nil
	p.recovered = b.Commits[len(b.Commits)-1]
	p.publisher.Enqueue(b)
	p.applier.Submit(b)
}

// Serve ends recovery and starts taking commits: it waits until every recovered transaction is
// applied and published, then starts the log stage around log (nil: InMemory, no log) and the
// sequencer, which continues from lastVersion. logEnd is the log's end LSN (0 in InMemory mode).
func (p *Pipeline) Serve(lastVersion, logEnd uint64, log *commitlog.Writer) error {
	p.flushRecovered()
	// Batches publish in order, so the last one's outcome is everyone's.
	if last := p.recovered; last != nil {
		p.recovered = nil
		if err := last.Await(context.Background()); err != nil {
			return fmt.Errorf("apply recovered transactions: %w", err)
		}
	}
	if now := p.cfg.Clock.Now(); now != lastVersion {
		return fmt.Errorf("recovery published version %d, expected %d", now, lastVersion)
	}
	p.publisher.SetLSN(logEnd)
	var next Stage = p.applier
	if log != nil {
		next = startLogStage(log, next, p.publisher, p.group)
	}
	seq := NewSequencer(SequencerConfig{
		Mailbox: p.in, Next: next, Publisher: p.publisher, Clock: p.cfg.Clock, Guard: p.cfg.Guard,
		Stats: p.cfg.Stats, MaxBatchBytes: p.cfg.MaxBatchBytes, Failed: p.group.Err,
		LastVersion: lastVersion, Inflight: &p.inflight,
	})
	p.serving = true
	if log == nil && p.cfg.InlineLoneCommits {
		p.inline = seq
	}
	p.group.Go("sequencer", seq.Run)
	return nil
}

// Load restores shard state from snapshot sections before recovery replays the log, then
// publishes version, the snapshot's. sections[owner] is the run-chunk stream of primitive owner
// (nil: none). Every shard actor scans each primitive's stream and loads the chunks of its own
// runs, all actors in parallel; chunks are routed by run for this pipeline's shard count,
// whatever the writer's was.
func (p *Pipeline) Load(sections [][]byte, version uint64) error {
	errs := make([]error, len(p.cfg.Registry.Primitives())*p.cfg.Shards)
	err := p.applier.Ask(context.Background(), func(owner, shard int, s extension.Shard) {
		if owner >= len(sections) || sections[owner] == nil {
			return
		}
		errs[owner*p.cfg.Shards+shard] = extension.SplitChunks(sections[owner], func(c *extension.Chunk) error {
			if c.Run.Shard(p.cfg.Shards) != shard {
				return nil
			}
			return s.LoadSection(c)
		})
	})
	if err := errors.Join(append(errs, err)...); err != nil {
		return err
	}
	p.cfg.Clock.Publish(version)
	return nil
}

// PinCut pins the newest published cut (version, log end LSN); release it with Unpin.
func (p *Pipeline) PinCut() (version, lsn uint64) { return p.publisher.PinCut() }

// Unpin releases a version pinned by PinCut.
func (p *Pipeline) Unpin(version uint64) { p.cfg.Clock.Unpin(version) }

// Freeze asks every shard actor for its frozen view at version, a published version the caller
// has pinned. The result is indexed [owner][shard].
func (p *Pipeline) Freeze(ctx context.Context, version uint64) ([][]extension.FrozenView, error) {
	views := make([][]extension.FrozenView, len(p.cfg.Registry.Primitives()))
	for i := range views {
		views[i] = make([]extension.FrozenView, p.cfg.Shards)
	}
	err := p.applier.Ask(ctx, func(owner, shard int, s extension.Shard) {
		views[owner][shard] = s.Freeze(version)
	})
	return views, err
}

// Submit hands c to the sequencer, waiting while its mailbox is full. It fails with
// mailbox.ErrClosed after Stop, or ctx.Err(); then c was not handed over. With
// InlineLoneCommits, a lone commit is instead committed before Submit returns (commitInline).
func (p *Pipeline) Submit(ctx context.Context, c *Commit) error {
	c.inflight = &p.inflight
	p.inflight.Add(1)
	if p.commitInline(c) {
		return nil
	}
	c.handOver()
	if err := p.in.Send(ctx, c); err != nil {
		p.inflight.Add(-1)
		c.inflight = nil
		return err
	}
	return nil
}

// commitInline runs c through the sequencer's and its shard actor's steps on the caller's
// goroutine, when c is the only commit in the pipeline, the sequencer and the actor are idle and
// there is no log stage; c is answered when it returns true. The steps and their order are the
// pipeline's own; only the goroutine differs, and each state still has one owner at a time (the
// sequencer's and the actor's mutexes). A lone committer so pays no hand-off between goroutines
// (three per commit otherwise); concurrent committers always find another commit in flight and
// take the pipeline, where they are batched.
func (p *Pipeline) commitInline(c *Commit) bool {
	if p.inline == nil || p.inflight.Load() > 1 {
		return false
	}
	act, ok := p.applier.claim(c.Run)
	if !ok {
		return false
	}
	defer act.own.Unlock()
	return p.inline.Inline(c, func(b *Batch) { p.applier.applyClaimed(act, b) })
}

// Err returns the engine's failure, or nil while it is healthy.
func (p *Pipeline) Err() error { return p.group.Err() }

// Stop closes the pipeline in dependency order: commits already submitted complete, then every
// actor exits. It returns the engine's failure, if any. It may be called during recovery.
func (p *Pipeline) Stop() error {
	p.in.Close()
	if !p.serving { // no sequencer to close the stages behind it
		p.flushRecovered()
		p.applier.Close()
	}
	return p.group.Wait()
}
