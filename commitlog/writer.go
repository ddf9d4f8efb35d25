package commitlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/mailbox"
)

// Batch is what the Writer writes at once: whole transactions, each its entries followed by
// its commit marker, so that a batch never splits a transaction.
type Batch interface {
	// AppendEncoded appends the batch's transactions in the envelope encoding.
	AppendEncoded(dst []byte) ([]byte, error)
	// NeedsSync reports whether the batch must be durable before it is acknowledged, whatever
	// the Writer's mode (a Buffered commit with CommitOptions.Sync).
	NeedsSync() bool
	// Logged is called once, in submission order, when the batch is written — and synced, when
	// the mode or the batch asks for it — with the LSN just past its last byte; or with the
	// error that poisoned the log, in which case nothing of the batch may be acknowledged.
	Logged(endLSN uint64, err error)
}

// WriterConfig configures the group-commit log actor.
type WriterConfig struct {
	FS      vfs.FS
	Dir     string       // the wal/ directory
	Segment *SegmentFile // the active segment, open for append (from recovery or new)

	SegmentSize int64 // start a new segment once the active one holds this many entry bytes
	// Strict syncs every batch before acknowledging it. Otherwise (Buffered) batches are
	// acknowledged once written, and synced in the background every FlushInterval or once
	// MaxUnsyncedBytes are unsynced.
	Strict           bool
	MinSyncInterval  time.Duration // delay a sync until this long after the previous one
	FlushInterval    time.Duration // Buffered only
	MaxUnsyncedBytes int64         // Buffered only

	Mailbox int                      // capacity of the actor's mailbox, in batches
	OnWrite func(n int)              // statistics: bytes written
	OnSync  func(took time.Duration) // statistics: one fdatasync and how long it took
	// OnPoison is called once, on the actor's goroutine, with the error that poisoned the log.
	OnPoison func(err error)
	Now      func() time.Time
}

// Writer is the group-commit log actor, the log stage of the commit pipeline. One goroutine (Run)
// drains every batch waiting in its mailbox, encodes them into one buffer, issues one write and —
// when any of them needs it — one fdatasync for all of them, then reports each batch Logged in
// order. Batches that arrive while a sync runs wait in the mailbox and share the next one: that is
// the fsync coalescing. A failed write or sync poisons the Writer: that batch and every later one
// fail with ErrPoisoned; the sync is never retried (after a failed fsync the kernel may have
// dropped the dirty pages, so a later success would prove nothing).
type Writer struct {
	cfg WriterConfig
	in  *mailbox.Mailbox[request]
	seg *SegmentFile

	buf      []byte
	pending  []pendingBatch
	waiters  []chan error
	unsynced int64 // bytes written since the last sync
	lastSync time.Time
	poison   error

	stopTicker chan struct{}
	ticker     sync.WaitGroup
}

// request is one message to the Writer: a batch, a sync request (reply on sync), or a flush
// tick from the Buffered timer (neither).
type request struct {
	batch Batch
	sync  chan error
}

type pendingBatch struct {
	batch Batch
	end   int // offset in buf just past the batch
}

// NewWriter returns a Writer over cfg.Segment. Start it with Run on its own goroutine.
func NewWriter(cfg WriterConfig) *Writer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Mailbox <= 0 {
		cfg.Mailbox = 1024
	}
	cfg.Segment.SetPrealloc(prealloc(cfg.SegmentSize))
	return &Writer{cfg: cfg, in: mailbox.New[request](cfg.Mailbox), seg: cfg.Segment,
		stopTicker: make(chan struct{})}
}

// Submit hands a batch to the Writer. After Close the batch is reported Logged with ErrClosed.
func (w *Writer) Submit(b Batch) {
	if err := w.in.Send(context.Background(), request{batch: b}); err != nil {
		b.Logged(0, fmt.Errorf("%w: commit log stopped", dberr.ErrClosed))
	}
}

// Sync makes everything written so far durable, whatever the mode.
func (w *Writer) Sync(ctx context.Context) error {
	reply := make(chan error, 1)
	if err := w.in.Send(ctx, request{sync: reply}); err != nil {
		if errors.Is(err, mailbox.ErrClosed) {
			return dberr.ErrClosed
		}
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting batches. Run writes what was accepted, syncs, and returns.
func (w *Writer) Close() { w.in.Close() }

// Run is the actor loop. It returns nil when closed and drained; an I/O failure is not an error
// of Run (it poisons the log and is reported to every batch), except a failure of the final
// sync or close, which is returned so that Close can report it.
func (w *Writer) Run() error {
	if !w.cfg.Strict && w.cfg.FlushInterval > 0 {
		w.ticker.Add(1)
		go w.tick()
	}
	defer w.ticker.Wait()
	defer close(w.stopTicker)
	var reqs []request
	for {
		var ok bool
		reqs, ok = w.in.Receive(reqs[:0], 0)
		w.handle(reqs)
		clear(reqs)
		if !ok {
			return w.shutdown()
		}
	}
}

// tick asks for a background sync every FlushInterval (Buffered mode). A full mailbox means
// the actor is busy and will get to the unsynced bytes anyway, so a dropped tick costs nothing.
func (w *Writer) tick() {
	defer w.ticker.Done()
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.in.TrySend(request{})
		case <-w.stopTicker:
			return
		}
	}
}

// handle writes every batch of reqs with one write, syncs once if anything needs it, then
// reports the batches and answers the sync requests.
func (w *Writer) handle(reqs []request) {
	w.buf, w.pending, w.waiters = w.buf[:0], w.pending[:0], w.waiters[:0]
	needSync := false
	for _, r := range reqs {
		switch {
		case r.batch != nil:
			if w.poison != nil {
				r.batch.Logged(0, w.poison)
				continue
			}
			buf, err := r.batch.AppendEncoded(w.buf)
			if err != nil {
				// The batch was sequenced, so later versions depend on it: it cannot simply
				// be left out. Nothing validated should fail to encode; treat it as fatal.
				w.fail(fmt.Errorf("encode batch: %w", err))
				r.batch.Logged(0, w.poison)
				continue
			}
			w.buf = buf
			w.pending = append(w.pending, pendingBatch{r.batch, len(buf)})
			needSync = needSync || w.cfg.Strict || r.batch.NeedsSync()
		case r.sync != nil:
			w.waiters = append(w.waiters, r.sync)
			needSync = true
		default: // flush tick
			needSync = needSync || w.unsynced > 0
		}
	}
	base := w.seg.EndLSN()
	w.write()
	if !w.cfg.Strict && w.unsynced >= w.cfg.MaxUnsyncedBytes && w.cfg.MaxUnsyncedBytes > 0 {
		needSync = true
	}
	if needSync {
		w.sync()
	}
	for _, p := range w.pending {
		p.batch.Logged(base+uint64(p.end), w.poison)
	}
	clear(w.pending)
	for _, c := range w.waiters {
		c <- w.poison
	}
	w.roll()
}

// write issues the one write of the round.
func (w *Writer) write() {
	if len(w.buf) == 0 || w.poison != nil {
		return
	}
	if err := w.seg.Write(w.buf); err != nil {
		w.fail(err)
		return
	}
	w.unsynced += int64(len(w.buf))
	if w.cfg.OnWrite != nil {
		w.cfg.OnWrite(len(w.buf))
	}
}

// sync makes the active segment durable, first waiting out MinSyncInterval. Batches that arrive
// meanwhile queue up and share the next sync.
func (w *Writer) sync() {
	if w.poison != nil || w.unsynced == 0 {
		return
	}
	if d := w.cfg.MinSyncInterval - w.cfg.Now().Sub(w.lastSync); d > 0 {
		time.Sleep(d)
	}
	began := w.cfg.Now()
	if err := w.seg.Sync(); err != nil {
		w.fail(err)
		return
	}
	w.lastSync = w.cfg.Now()
	w.unsynced = 0
	if w.cfg.OnSync != nil {
		w.cfg.OnSync(w.lastSync.Sub(began))
	}
}

// roll starts a new segment once the active one is full. The old one is synced and sealed
// first: a power loss must never keep a later segment and lose the end of an earlier one (a
// gap), and a sealed segment must end exactly at its last entry.
func (w *Writer) roll() {
	if w.poison != nil || w.seg.Size() < w.cfg.SegmentSize {
		return
	}
	w.sync()
	if w.poison != nil {
		return
	}
	if err := w.seg.Seal(); err != nil {
		w.fail(err)
		return
	}
	next, err := CreateSegment(w.cfg.FS, w.cfg.Dir, w.seg.EndLSN())
	if err != nil {
		w.fail(err)
		return
	}
	_ = w.seg.Close() // synced above: nothing to lose
	next.SetPrealloc(prealloc(w.cfg.SegmentSize))
	w.seg = next
}

// prealloc is how far ahead of its data the active segment is extended: a chunk, but never
// much past the segment's own size.
func prealloc(segmentSize int64) int64 { return min(segmentSize, PreallocChunk) }

// fail poisons the log with err.
func (w *Writer) fail(err error) {
	if w.poison == nil {
		w.poison = fmt.Errorf("%w: %w", dberr.ErrPoisoned, err)
		if w.cfg.OnPoison != nil {
			w.cfg.OnPoison(w.poison)
		}
	}
}

// shutdown makes everything durable and closes the segment. It returns the poison, if the log
// was poisoned, so that closing the database reports it.
func (w *Writer) shutdown() error {
	w.sync()
	if w.poison == nil {
		if err := w.seg.Seal(); err != nil {
			w.fail(err)
		}
	}
	return errors.Join(w.poison, w.seg.Close())
}

// EndLSN returns the LSN after the last byte written. Only for use after Run has returned.
func (w *Writer) EndLSN() uint64 { return w.seg.EndLSN() }
