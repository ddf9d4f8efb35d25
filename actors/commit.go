package actors

import (
	"context"
	"sync/atomic"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Commit is one transaction on its way through the pipeline.
type Commit struct {
	Run      extension.RunID
	Snapshot uint64 // version the transaction read at
	Parts    []extension.TxPart
	// System marks a run-lifecycle transaction: its part checks the run itself, so the run
	// guard (which requires an Active run) is skipped.
	System bool
	// Sync asks for a durable commit whatever the durability mode (CommitOptions.Sync).
	Sync bool
	// Pinned says Snapshot is pinned on the clock (the transaction read something). The
	// sequencer unpins it once the commit is validated: the pin must outlive validation, which
	// reads state that trimming could otherwise drop, even if the caller stopped waiting.
	Pinned bool

	// Set by the sequencer.
	Version   uint64
	Timestamp int64
	Entries   []commitlog.Entry // this commit's entries, without the marker

	shard    int           // the run's shard, computed once by the applier
	inflight *atomic.Int64 // the pipeline's count of unanswered commits, if submitted
	// done carries one send, after err is set (buffered, so it never blocks); nil for a
	// commit answered before Submit returned (run inline), which needs no channel.
	done chan struct{}
	err  error // the outcome, readable once done has delivered
	// Inline storage: a one- or two-part commit with a couple of entries allocates nothing
	// beyond the Commit itself (and its channel, if it is handed over).
	partBuf  [2]extension.TxPart
	entryBuf [2]commitlog.Entry
}

// NewCommit prepares a commit for run. Hand it to the pipeline (Pipeline.Submit), then Await it.
//
// Commits are not pooled: a pool would hand a done channel created in one testing/synctest
// bubble to a goroutine outside it, and the allocation it saves is small next to a commit.
func NewCommit(run extension.RunID, snapshot uint64, parts ...extension.TxPart) *Commit {
	c := &Commit{Run: run, Snapshot: snapshot}
	c.Parts = append(c.partBuf[:0], parts...)
	c.Entries = c.entryBuf[:0]
	return c
}

// Await waits for the commit's outcome. If ctx ends first it returns ctx.Err(): the commit was
// handed over and may still land, so the database's own calls wait with a context that never
// ends (an error must mean "not committed").
func (c *Commit) Await(ctx context.Context) error {
	if c.done == nil { // answered before Submit returned
		return c.err
	}
	if ctx.Done() == nil { // context.Background and friends: a plain receive is cheaper than select
		<-c.done
		return c.err
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish delivers the outcome; done is buffered, so this never blocks.
func (c *Commit) finish(err error) {
	if c.inflight != nil {
		c.inflight.Add(-1)
	}
	c.err = err
	if c.done != nil {
		c.done <- struct{}{} // publishes err to the receiver
	}
}

// handOver prepares c to be answered on another goroutine: Await then waits for finish.
// done carries no data (the outcome is in err), so its buffer needs no pointers and the
// channel is one allocation.
func (c *Commit) handOver() { c.done = make(chan struct{}, 1) }

// Batch is the commits the sequencer forwarded together, with dense versions First..Last.
type Batch struct {
	First, Last uint64
	Commits     []*Commit
	Bytes       int    // payload bytes, for MaxBatchBytes and statistics
	EndLSN      uint64 // the log's end after this batch (0 in InMemory mode)
	encoded     int    // the batch's size in the log, set by AppendEncoded

	log       *LogStage  // set while the batch is in the log stage
	commitBuf [8]*Commit // storage for Commits while the batch is small

	parts     atomic.Int32          // shard-actor parts still to apply
	failure   atomic.Pointer[error] // first failure; a failed batch is never published
	completed bool                  // guarded by Publisher.mu
}

// Fail marks the batch as failed with err, unless it already failed.
func (b *Batch) Fail(err error) { b.failure.CompareAndSwap(nil, &err) }

// Err returns the batch's failure, or nil.
func (b *Batch) Err() error {
	if p := b.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// The log stage sees a batch through these methods (commitlog.Batch).

// AppendEncoded appends every commit's entries and then its commit marker: recovery applies a
// transaction only once it reads the marker (commitlog/doc.go, Framing).
func (b *Batch) AppendEncoded(dst []byte) ([]byte, error) {
	var err error
	start := len(dst)
	for _, c := range b.Commits {
		for _, e := range c.Entries {
			if dst, err = commitlog.AppendEntry(dst, e); err != nil {
				return dst, err
			}
		}
		if dst, err = commitlog.AppendEntry(dst, commitlog.CommitMarker(c.Version)); err != nil {
			return dst, err
		}
	}
	b.encoded = len(dst) - start
	return dst, nil
}

// NeedsSync reports whether a commit of the batch asked for a durable commit.
func (b *Batch) NeedsSync() bool {
	for _, c := range b.Commits {
		if c.Sync {
			return true
		}
	}
	return false
}

// Logged moves a written batch on to the shard actors, or fails it. A poisoned log stops the
// engine: every later commit fails too, until the database is reopened.
func (b *Batch) Logged(endLSN uint64, err error) {
	l := b.log
	if err != nil {
		l.group.Fail(err)
		b.Fail(err)
		l.publisher.Complete(b)
		return
	}
	b.EndLSN = endLSN
	b.stampLSNs()
	l.next.Submit(b)
}

// stampLSNs sets every entry's LSN, from the batch's end back to its start: the run journal
// keeps where each step is in the log instead of its payloads.
func (b *Batch) stampLSNs() {
	lsn := b.EndLSN - uint64(b.encoded)
	for _, c := range b.Commits {
		for i := range c.Entries {
			c.Entries[i].LSN = lsn
			lsn += uint64(commitlog.EncodedSize(len(c.Entries[i].Payload)))
		}
		lsn += commitlog.MarkerSize
	}
}
