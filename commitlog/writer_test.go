package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
)

// waitLimit bounds every wait of the writer tests: a writer that never gets where a test
// expects it fails the test instead of hanging it.
const waitLimit = 20 * time.Second

// writerRig runs a Writer over a memFS whose file syncs the test can hold: a held sync blocks
// the writer's goroutine until the test gives its verdict (success, or an error to return
// instead of syncing). Every write, completed sync and acknowledgement is recorded, in the
// order the writer's goroutine did them.
type writerRig struct {
	mem *memFS
	w   *Writer

	runDone chan struct{} // closed when Run has returned
	runErr  error         // Run's result, readable once runDone is closed

	mu        sync.Mutex
	changed   chan struct{} // poked on every change below, so waiters re-check
	events    []writerEvent
	hold      bool         // syncs reaching the file wait for a verdict
	held      []chan error // verdicts awaited by held syncs, oldest first
	syncCalls int          // File.Sync calls since the writer started
}

type eventKind int

const (
	evSynced eventKind = iota + 1
	evSyncFailed
	evAck
)

type writerEvent struct {
	kind    eventKind
	durable []byte     // evSynced: the file's content as that sync made it durable
	batch   *testBatch // evAck
	end     uint64     // evAck: the LSN the batch was logged at
	err     error      // evAck, evSyncFailed
}

// gateFS is memFS with its files' Sync under the rig's control.
type gateFS struct {
	*memFS
	rig *writerRig
}

func (g gateFS) Create(name string) (vfs.File, error) {
	f, err := g.memFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &gateFile{File: f, name: name, rig: g.rig}, nil
}

func (g gateFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := g.memFS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &gateFile{File: f, name: name, rig: g.rig}, nil
}

type gateFile struct {
	vfs.File
	name string
	rig  *writerRig
}

func (f *gateFile) Sync() error {
	r := f.rig
	r.mu.Lock()
	r.syncCalls++
	var verdict chan error
	if r.hold {
		verdict = make(chan error, 1)
		r.held = append(r.held, verdict)
		r.pokeLocked()
	}
	r.mu.Unlock()
	if verdict != nil {
		if err := <-verdict; err != nil {
			r.record(writerEvent{kind: evSyncFailed, err: err})
			return err
		}
	}
	if err := f.File.Sync(); err != nil {
		r.record(writerEvent{kind: evSyncFailed, err: err})
		return err
	}
	// memFS keeps no unsynced state, so its content right after the sync is what the sync made
	// durable; later writes change the shared slice in place, hence the copy.
	r.record(writerEvent{kind: evSynced, durable: bytes.Clone(r.mem.bytes(f.name))})
	return nil
}

// newWriterRig starts a Writer with cfg (FS, Dir and Segment filled in) over a fresh segment.
// Cleanup lets every held sync through, closes the writer and waits for Run to return.
func newWriterRig(t *testing.T, cfg WriterConfig) *writerRig {
	t.Helper()
	r := &writerRig{mem: newMemFS(), changed: make(chan struct{}, 1), runDone: make(chan struct{})}
	fs := gateFS{memFS: r.mem, rig: r}
	cfg.FS, cfg.Dir = fs, "wal"
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = 1 << 30 // no roll: a roll's sync and seal would blur the counts
	}
	seg, err := CreateSegment(fs, cfg.Dir, 0)
	noErr(t, err)
	cfg.Segment = seg
	r.mu.Lock()
	r.events, r.syncCalls = nil, 0 // the segment header's sync is not the writer's
	r.mu.Unlock()
	r.w = NewWriter(cfg)
	go func() {
		defer close(r.runDone)
		r.runErr = r.w.Run()
	}()
	t.Cleanup(func() {
		r.open()
		r.w.Close()
		select {
		case <-r.runDone:
		case <-time.After(waitLimit):
			t.Errorf("the writer did not stop within %v", waitLimit)
		}
	})
	return r
}

func (r *writerRig) pokeLocked() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *writerRig) record(e writerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.pokeLocked()
}

// holdSyncs makes every later sync wait for the test's verdict (releaseSync).
func (r *writerRig) holdSyncs() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = true
}

// open lets every held and later sync through.
func (r *writerRig) open() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = false
	for _, v := range r.held {
		v <- nil
	}
	r.held = nil
}

// releaseSync gives the oldest held sync its verdict: nil lets it sync, an error fails it.
func (r *writerRig) releaseSync(t *testing.T, err error) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.held) == 0 {
		t.Fatal("no sync is held")
	}
	r.held[0] <- err
	r.held = r.held[1:]
}

// waitUntil waits until cond, evaluated with the rig locked, holds.
func (r *writerRig) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("gave up after %v waiting for %s", waitLimit, what)
		}
	}
}

// acksLocked returns the acknowledgements so far, in order.
func (r *writerRig) acksLocked() []writerEvent {
	var acks []writerEvent
	for _, e := range r.events {
		if e.kind == evAck {
			acks = append(acks, e)
		}
	}
	return acks
}

func (r *writerRig) acks() []writerEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acksLocked()
}

func (r *writerRig) heldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

func (r *writerRig) syncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.syncCalls
}

// waitHeldOrAcked waits until a sync is held or more than acked batches are acknowledged;
// waiting for the sync alone would hang on a writer that acknowledges without syncing.
func (r *writerRig) waitHeldOrAcked(t *testing.T, acked int) {
	t.Helper()
	r.waitUntil(t, "a held sync", func() bool { return len(r.held) > 0 || len(r.acksLocked()) > acked })
}

// waitAcked waits until n batches are acknowledged, or a sync is held (which would block the
// rest for good).
func (r *writerRig) waitAcked(t *testing.T, n int) {
	t.Helper()
	r.waitUntil(t, fmt.Sprintf("%d acknowledgements", n), func() bool {
		return len(r.acksLocked()) >= n || len(r.held) > 0
	})
	if h := r.heldCount(); h > 0 {
		t.Fatalf("%d syncs held while waiting for %d acknowledgements (got %d)", h, n, len(r.acks()))
	}
}

// testBatch is one transaction of one entry: id is its commit version.
type testBatch struct {
	r    *writerRig
	id   int
	enc  []byte
	sync bool
}

func (r *writerRig) batch(t *testing.T, id int) *testBatch {
	t.Helper()
	enc, err := AppendEntry(nil, Entry{Type: 0x80, Version: 1, TxID: uint64(id), Payload: fmt.Appendf(nil, "batch %d", id)})
	noErr(t, err)
	enc, err = AppendEntry(enc, CommitMarker(uint64(id)))
	noErr(t, err)
	return &testBatch{r: r, id: id, enc: enc}
}

func (b *testBatch) AppendEncoded(dst []byte) ([]byte, error) { return append(dst, b.enc...), nil }
func (b *testBatch) NeedsSync() bool                          { return b.sync }
func (b *testBatch) Logged(endLSN uint64, err error) {
	b.r.record(writerEvent{kind: evAck, batch: b, end: endLSN, err: err})
}

func (r *writerRig) submit(t *testing.T, ids ...int) {
	t.Helper()
	for _, id := range ids {
		r.w.Submit(r.batch(t, id))
	}
}

func ackIDs(acks []writerEvent) []int {
	ids := []int{}
	for _, a := range acks {
		ids = append(ids, a.batch.id)
	}
	return ids
}

// checkCovered checks that every successful acknowledgement that had to be durable (all of
// them when strict, else those whose batch asked for a sync) came after a completed sync whose
// durable content already held the batch's bytes where the acknowledged LSN puts them. It also
// checks that the acknowledged LSNs are contiguous: each batch ends its predecessor's end plus
// its own size.
func (r *writerRig) checkCovered(t *testing.T, strict bool) {
	t.Helper()
	r.mu.Lock()
	events := append([]writerEvent(nil), r.events...)
	r.mu.Unlock()
	var durable []byte
	var prevEnd uint64
	for _, e := range events {
		switch e.kind {
		case evSynced:
			durable = e.durable
		case evAck:
			if e.err != nil {
				continue
			}
			b := e.batch
			eq(t, e.end, prevEnd+uint64(len(b.enc)), "end LSN of batch %d", b.id)
			prevEnd = e.end
			if !strict && !b.sync {
				continue
			}
			lo, hi := HeaderSize+int(e.end)-len(b.enc), HeaderSize+int(e.end)
			truth(t, hi <= len(durable) && bytes.Equal(durable[lo:hi], b.enc),
				"batch %d acknowledged before a sync made its bytes [%d, %d) durable", b.id, lo, hi)
		}
	}
}

// In Strict mode a batch is acknowledged only once the sync covering it has returned: while
// that sync is held nothing waiting for it is acknowledged, and releasing it acknowledges them.
func TestWriterStrictAcknowledgesOnlyAfterSync(t *testing.T) {
	r := newWriterRig(t, WriterConfig{Strict: true})
	r.holdSyncs()
	r.submit(t, 1)
	r.waitHeldOrAcked(t, 0)
	eq(t, ackIDs(r.acks()), []int{}, "acknowledged while its sync was held")

	r.submit(t, 2, 3) // they arrive while the first sync is in progress
	r.releaseSync(t, nil)
	r.waitHeldOrAcked(t, 1)
	eq(t, ackIDs(r.acks()), []int{1}, "only the batch whose sync returned is acknowledged")
	truth(t, r.heldCount() == 1, "batches 2 and 3 wait for a sync of their own")

	r.releaseSync(t, nil)
	r.waitAcked(t, 3)
	acks := r.acks()
	eq(t, ackIDs(acks), []int{1, 2, 3})
	for _, a := range acks {
		noErr(t, a.err, "batch %d", a.batch.id)
	}
	eq(t, r.syncs(), 2)
	r.checkCovered(t, true)
}

// A failed sync poisons the writer: every batch waiting for it fails with the poison, every
// later batch and sync request fails too, and the file is never synced again, not even at
// shutdown (after a failed fsync the kernel may have dropped the dirty pages, so a later
// success would prove nothing).
func TestWriterSyncFailurePoisons(t *testing.T) {
	r := newWriterRig(t, WriterConfig{Strict: true})
	r.holdSyncs()
	r.submit(t, 1)
	r.waitHeldOrAcked(t, 0)
	r.submit(t, 2, 3, 4)
	r.releaseSync(t, nil)
	r.waitHeldOrAcked(t, 1)
	eq(t, ackIDs(r.acks()), []int{1})

	injected := errors.New("injected sync failure")
	r.releaseSync(t, injected) // the sync that batches 2, 3 and 4 share
	r.waitAcked(t, 4)
	acks := r.acks()
	eq(t, ackIDs(acks), []int{1, 2, 3, 4})
	noErr(t, acks[0].err)
	for _, a := range acks[1:] {
		isErr(t, a.err, dberr.ErrPoisoned, "batch %d", a.batch.id)
		isErr(t, a.err, injected, "batch %d", a.batch.id)
	}

	r.submit(t, 5, 6)
	r.waitAcked(t, 6)
	for _, a := range r.acks()[4:] {
		isErr(t, a.err, dberr.ErrPoisoned, "batch %d, after the failure", a.batch.id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	answer := make(chan error, 1)
	go func() {
		answer <- r.w.Sync(ctx)
		r.mu.Lock()
		r.pokeLocked()
		r.mu.Unlock()
	}()
	// A retried sync would be held, and the request would never be answered.
	r.waitUntil(t, "the answer to a sync request", func() bool { return len(answer) > 0 || len(r.held) > 0 })
	eq(t, r.heldCount(), 0, "syncs held after the failure")
	isErr(t, <-answer, dberr.ErrPoisoned, "sync request after the failure")
	eq(t, r.syncs(), 2, "syncs reaching the file: the failed one was never retried")

	r.w.Close()
	select {
	case <-r.runDone:
	case <-time.After(waitLimit):
		t.Fatalf("the writer did not stop within %v", waitLimit)
	}
	isErr(t, r.runErr, dberr.ErrPoisoned, "Run reports the poison")
	eq(t, r.syncs(), 2, "syncs reaching the file after shutdown")
	eq(t, r.heldCount(), 0)
}

// Batches that arrive while a sync is in progress are written together and share the next
// sync: group commit.
func TestWriterGroupCommitSharesOneSync(t *testing.T) {
	r := newWriterRig(t, WriterConfig{Strict: true})
	r.holdSyncs()
	r.submit(t, 1)
	r.waitHeldOrAcked(t, 0)

	const n = 16
	var wg sync.WaitGroup
	for id := 2; id < 2+n; id++ {
		b := r.batch(t, id)
		wg.Go(func() { r.w.Submit(b) })
	}
	submitted := make(chan struct{})
	go func() { wg.Wait(); close(submitted) }()
	select {
	case <-submitted:
	case <-time.After(waitLimit):
		t.Fatalf("submitting took more than %v", waitLimit)
	}

	r.releaseSync(t, nil)
	r.waitHeldOrAcked(t, 1)
	eq(t, ackIDs(r.acks()), []int{1})
	eq(t, r.heldCount(), 1, "the group's one sync")
	r.releaseSync(t, nil)
	r.waitAcked(t, 1+n)
	eq(t, r.syncs(), 2, "%d batches that arrived during the first sync share the second", n)
	for _, a := range r.acks() {
		noErr(t, a.err, "batch %d", a.batch.id)
	}
	r.checkCovered(t, true)
}

// Under concurrent submitters, every acknowledgement that must be durable follows a completed
// sync that covered the batch's bytes: every batch in Strict mode, where none asks for a sync
// (so the mode alone must cause them), the batches that ask for it in Buffered mode.
func TestWriterAcknowledgementsCoveredBySync(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			r := newWriterRig(t, WriterConfig{Strict: strict})
			const goroutines, each = 8, 40
			var wg sync.WaitGroup
			for g := range goroutines {
				batches := make([]*testBatch, each)
				for i := range batches {
					batches[i] = r.batch(t, 1+g*each+i)
					batches[i].sync = !strict && i%3 == 0
				}
				wg.Go(func() {
					for _, b := range batches {
						r.w.Submit(b)
					}
				})
			}
			r.waitAcked(t, goroutines*each)
			wg.Wait() // every Submit has returned: its batch was acknowledged
			acks := r.acks()
			eq(t, len(acks), goroutines*each)
			for _, a := range acks {
				noErr(t, a.err, "batch %d", a.batch.id)
			}
			truth(t, r.syncs() >= 1, "nothing was synced")
			r.checkCovered(t, strict)
		})
	}
}
