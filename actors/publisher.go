package actors

import (
	"sync"

	"github.com/inmemdb/inmem/internal/mvcc"
)

// Publisher makes batches visible strictly in version order and then acknowledges their
// commits. Batches are queued by the sequencer in order and completed by whichever goroutine
// finishes them last (a shard actor, or the log stage when it fails a batch), in any order.
type Publisher struct {
	clock *mvcc.Clock
	stats *Stats

	// published, if set, is called with each batch as it is published, in version order,
	// under mu: it must be quick (change feeds queue the batch and return).
	published func(*Batch)

	mu     sync.Mutex
	queue  []*Batch // sequenced, not yet published, in version order
	broken error    // once a batch failed, no later batch may be published
	lsn    uint64   // the log's end after the newest published batch: with the version, the cut
}

// NewPublisher returns a publisher advancing clock.
func NewPublisher(clock *mvcc.Clock, stats *Stats) *Publisher {
	return &Publisher{clock: clock, stats: stats}
}

// Enqueue registers b as the next batch in version order.
func (p *Publisher) Enqueue(b *Batch) {
	p.mu.Lock()
	p.queue = append(p.queue, b)
	p.mu.Unlock()
}

// PinCut pins the newest published version in the clock and returns it with the log's end
// after it: the consistent cut a snapshot is taken at. Release it with
// Clock.Unpin.
func (p *Publisher) PinCut() (version, lsn uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clock.Pin(), p.lsn
}

// SetLSN sets the log's end for the version published last: where recovery left the log.
func (p *Publisher) SetLSN(lsn uint64) {
	p.mu.Lock()
	p.lsn = lsn
	p.mu.Unlock()
}

// Complete reports that b is applied everywhere, or failed (Batch.Fail). Every batch at the
// head of the queue that is complete is then published — or failed, if it or an earlier one
// failed — and its commits are answered outside the lock.
func (p *Publisher) Complete(b *Batch) {
	p.mu.Lock()
	b.completed = true
	var buf [8]*Batch
	ready := buf[:0] // usually one batch: keep it off the heap
	for len(p.queue) > 0 && p.queue[0].completed {
		head := p.queue[0]
		// Shift down rather than reslice: the queue is short, and reslicing from the front
		// would make every Enqueue reallocate.
		n := copy(p.queue, p.queue[1:])
		p.queue[n] = nil
		p.queue = p.queue[:n]
		if err := head.Err(); err != nil && p.broken == nil {
			p.broken = err
		}
		if p.broken != nil {
			head.Fail(p.broken)
		} else {
			p.clock.Publish(head.Last)
			if head.EndLSN != 0 { // 0: recovered from the log, or InMemory
				p.lsn = head.EndLSN
			}
			if p.published != nil {
				p.published(head)
			}
		}
		ready = append(ready, head)
	}
	p.mu.Unlock()
	for _, b := range ready {
		err := b.Err()
		if err == nil {
			p.stats.Commits.Add(uint64(len(b.Commits)))
		}
		for _, c := range b.Commits {
			c.finish(err)
		}
	}
}
