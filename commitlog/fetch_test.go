package commitlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
)

// fetchRec is one entry the log writer logged: the entry and the range of the log it fills.
type fetchRec struct {
	e   Entry
	lsn uint64
	n   int
}

// fetchRig runs the log writer over a memFS, one transaction per batch, and records where each
// entry landed from the end LSN the writer reports.
type fetchRig struct {
	mem     *memFS
	w       *Writer
	end     uint64 // end LSN of the last batch logged
	runDone chan struct{}
	runErr  error
}

// fetchBatch is one transaction handed to the writer.
type fetchBatch struct {
	enc    []byte
	logged chan fetchLogged
}

type fetchLogged struct {
	end uint64
	err error
}

func (b *fetchBatch) AppendEncoded(dst []byte) ([]byte, error) { return append(dst, b.enc...), nil }
func (b *fetchBatch) NeedsSync() bool                          { return false }
func (b *fetchBatch) Logged(end uint64, err error)             { b.logged <- fetchLogged{end, err} }

// newFetchRig starts a writer over a fresh log in walDir whose segments roll once they hold
// segmentSize entry bytes. Cleanup stops the writer.
func newFetchRig(t *testing.T, segmentSize int64) *fetchRig {
	t.Helper()
	r := &fetchRig{mem: newMemFS(), runDone: make(chan struct{})}
	seg, err := CreateSegment(r.mem, walDir, 0)
	noErr(t, err)
	r.w = NewWriter(WriterConfig{FS: r.mem, Dir: walDir, Segment: seg, SegmentSize: segmentSize, Strict: true})
	go func() {
		defer close(r.runDone)
		r.runErr = r.w.Run()
	}()
	t.Cleanup(func() {
		r.w.Close()
		select {
		case <-r.runDone:
			if r.runErr != nil {
				t.Errorf("writer: %v", r.runErr)
			}
		case <-time.After(waitLimit):
			t.Errorf("the writer did not stop within %v", waitLimit)
		}
	})
	return r
}

// commit logs one transaction, an entry per payload then its commit marker, waits until the
// writer reports it logged, and returns its entries with their LSNs and lengths. The writer
// reports the LSN just past the batch; each entry is EntryOverhead + len(payload) bytes.
func (r *fetchRig) commit(t testing.TB, txID uint64, payloads ...[]byte) []fetchRec {
	t.Helper()
	var es []Entry
	for i, p := range payloads {
		es = append(es, Entry{Type: 0x80 + uint8(i%4), Version: 1, TxID: txID, Payload: p})
	}
	es = append(es, CommitMarker(txID))
	var enc []byte
	var recs []fetchRec
	for _, e := range es {
		before := len(enc)
		var err error
		enc, err = AppendEntry(enc, e)
		noErr(t, err)
		n := len(enc) - before
		eq(t, n, EntryOverhead+len(e.Payload), "encoded size of an entry")
		recs = append(recs, fetchRec{e: e, n: n})
	}
	b := &fetchBatch{enc: enc, logged: make(chan fetchLogged, 1)}
	r.w.Submit(b)
	var l fetchLogged
	select {
	case l = <-b.logged:
	case <-time.After(waitLimit):
		t.Fatalf("tx %d not logged within %v", txID, waitLimit)
	}
	noErr(t, l.err, "tx %d", txID)
	lsn := l.end - uint64(len(enc))
	eq(t, lsn, r.end, "tx %d starts where the previous batch ended", txID)
	r.end = l.end
	for i := range recs {
		recs[i].lsn = lsn
		lsn += uint64(recs[i].n)
	}
	return recs
}

// settle waits until the writer has finished the round of the last batch, segment roll
// included (a roll comes after the batches are reported logged).
func (r *fetchRig) settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	noErr(t, r.w.Sync(ctx))
}

// bases lists the segments of the log.
func (r *fetchRig) bases(t testing.TB) []uint64 {
	t.Helper()
	bases, err := ListSegments(r.mem, walDir)
	noErr(t, err)
	return bases
}

// payload returns size bytes starting with tag.
func payload(tag string, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	copy(p, tag)
	return p
}

// buildFetchLog logs txs transactions of three payload entries each (payload sizes vary with
// the transaction) with segments rolling at segmentSize, and returns the transactions' records.
func buildFetchLog(t *testing.T, segmentSize int64, txs int) (*fetchRig, [][]fetchRec) {
	t.Helper()
	r := newFetchRig(t, segmentSize)
	var commits [][]fetchRec
	for tx := uint64(1); tx <= uint64(txs); tx++ {
		var ps [][]byte
		for i := range 3 {
			ps = append(ps, payload(fmt.Sprintf("tx %d entry %d ", tx, i), 20+int(tx*7+uint64(i)*11)%40))
		}
		commits = append(commits, r.commit(t, tx, ps...))
	}
	r.settle(t)
	return r, commits
}

// span returns the range the records fill; they must be contiguous.
func span(recs []fetchRec) (lsn uint64, n int) {
	lsn = recs[0].lsn
	for _, r := range recs {
		if r.lsn != lsn+uint64(n) {
			panic("records not contiguous")
		}
		n += r.n
	}
	return recs[0].lsn, n
}

func entriesOf(recs []fetchRec) []Entry {
	var es []Entry
	for _, r := range recs {
		es = append(es, r.e)
	}
	return es
}

// segOf returns the base of the segment holding lsn.
func segOf(bases []uint64, lsn uint64) uint64 {
	i, found := slices.BinarySearch(bases, lsn)
	if !found {
		i--
	}
	return bases[i]
}

// fetchErr fetches the range of recs and reports any difference from what was logged.
func fetchErr(f *Fetcher, recs []fetchRec) error {
	lsn, n := span(recs)
	got, err := f.Fetch(lsn, n)
	if err != nil {
		return fmt.Errorf("fetch [%d, %d): %w", lsn, lsn+uint64(n), err)
	}
	if want := entriesOf(recs); !reflect.DeepEqual(got, want) {
		return fmt.Errorf("fetch [%d, %d): got %#v, want %#v", lsn, lsn+uint64(n), got, want)
	}
	return nil
}

func checkFetch(t testing.TB, f *Fetcher, recs ...fetchRec) {
	t.Helper()
	noErr(t, fetchErr(f, recs))
}

// fetchFails fetches [lsn, lsn+n) and checks that it fails with an error wrapping every target.
func fetchFails(t testing.TB, f *Fetcher, lsn uint64, n int, targets ...error) {
	t.Helper()
	es, err := f.Fetch(lsn, n)
	truth(t, err != nil, "fetch [%d, %d) returned %d entries, want an error", lsn, lsn+uint64(n), len(es))
	truth(t, es == nil, "fetch [%d, %d) returned entries with its error", lsn, lsn+uint64(n))
	for _, target := range targets {
		isErr(t, err, target, "fetch [%d, %d)", lsn, lsn+uint64(n))
	}
}

func stats(t testing.TB, f *Fetcher, hits, misses uint64, msg string) {
	t.Helper()
	h, m := f.Stats()
	eq(t, [2]uint64{h, m}, [2]uint64{hits, misses}, "%s: [hits misses]", msg)
}

// flip inverts the byte at file offset off of the segment with the given base, in place.
func flip(mem *memFS, base uint64, off int) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mem.files[filepath.Clean(segPath(base))].b[off] ^= 0xff
}

// payloadOffset is the file offset of the first payload byte of rec in its segment.
func payloadOffset(rec fetchRec, base uint64) int {
	return HeaderSize + int(rec.lsn-base) + offPayload
}

// trackFS is a memFS that keeps count of the files opened read-only (the Fetcher's) that are
// still open, and of closes of an already closed file. holdNextRead makes the next read of
// entry bytes wait until the test lets it go.
type trackFS struct {
	*memFS
	mu          sync.Mutex
	open        map[*trackFile]string
	closedTwice int
	hold        chan chan struct{}
}

type trackFile struct {
	vfs.File
	fs *trackFS
}

func newTrackFS(mem *memFS) *trackFS { return &trackFS{memFS: mem, open: map[*trackFile]string{}} }

func (t *trackFS) Open(name string) (vfs.File, error) {
	f, err := t.memFS.Open(name)
	if err != nil {
		return nil, err
	}
	tf := &trackFile{File: f, fs: t}
	t.mu.Lock()
	t.open[tf] = filepath.Base(name)
	t.mu.Unlock()
	return tf, nil
}

func (f *trackFile) Close() error {
	f.fs.mu.Lock()
	if _, ok := f.fs.open[f]; !ok {
		f.fs.closedTwice++
	}
	delete(f.fs.open, f)
	f.fs.mu.Unlock()
	return f.File.Close()
}

func (f *trackFile) ReadAt(p []byte, off int64) (int, error) {
	var held chan struct{}
	f.fs.mu.Lock()
	if f.fs.hold != nil && off >= HeaderSize {
		held = make(chan struct{})
		f.fs.hold <- held
		f.fs.hold = nil
	}
	f.fs.mu.Unlock()
	if held != nil {
		<-held
	}
	return f.File.ReadAt(p, off)
}

// holdNextRead makes the next read past a segment header wait; the channel returned receives,
// once that read is waiting, the channel to close to let it go on.
func (t *trackFS) holdNextRead() chan chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hold = make(chan chan struct{}, 1)
	return t.hold
}

// openFiles returns the names of the files open read-only, sorted.
func (t *trackFS) openFiles() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := []string{}
	for _, n := range t.open {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (t *trackFS) doubleCloses() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closedTwice
}

func segNames(bases ...uint64) []string {
	names := []string{}
	for _, b := range bases {
		names = append(names, SegmentName(b))
	}
	return names
}

// Entries written by the log writer across several segments read back by LSN: every entry
// alone, every transaction whole, and a run of entries inside a transaction.
func TestFetcherRoundTrip(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 7)
	bases := r.bases(t)
	truth(t, len(bases) >= 3, "the writer rolled: segments %v", bases)
	inSeg := map[uint64]int{}
	for _, c := range commits {
		lsn, n := span(c)
		b := segOf(bases, lsn)
		eq(t, segOf(bases, lsn+uint64(n)-1), b, "a transaction never spans segments")
		inSeg[b]++
	}
	truth(t, len(inSeg) >= 3, "transactions in at least three segments: %v", inSeg)

	f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	fetches := uint64(0)
	for _, c := range commits {
		for _, rec := range c {
			checkFetch(t, f, rec)
			fetches++
		}
		checkFetch(t, f, c...)
		checkFetch(t, f, c[:2]...)
		checkFetch(t, f, c[1:3]...)
		fetches += 3
	}
	checkFetch(t, f, commits[0]...) // again, from the file: there is no cache
	stats(t, f, 0, fetches+1, "no cache")

	// Payloads share one buffer per fetch, capped: appending to one cannot overwrite the next.
	lsn, n := span(commits[0])
	es, err := f.Fetch(lsn, n)
	noErr(t, err)
	_ = append(es[0].Payload, make([]byte, 64)...)
	eq(t, es, entriesOf(commits[0]))

	// Two whole transactions back to back in one segment are one range too.
	for i := 0; i+1 < len(commits); i++ {
		a, b := commits[i], commits[i+1]
		if segOf(bases, a[0].lsn) == segOf(bases, b[0].lsn) {
			checkFetch(t, f, append(slices.Clone(a), b...)...)
		}
	}
}

// A Fetcher that listed the directory before the writer started a segment finds the ranges
// written in it.
func TestFetcherRelistsAfterRoll(t *testing.T) {
	r := newFetchRig(t, 300)
	c1 := r.commit(t, 1, payload("one", 40), payload("two", 40))
	r.settle(t)
	eq(t, r.bases(t), []uint64{0})

	f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	checkFetch(t, f, c1...)

	c2 := r.commit(t, 2, payload("big", 250)) // fills segment 0: the writer rolls after it
	c3 := r.commit(t, 3, payload("three", 30))
	r.settle(t)
	bases := r.bases(t)
	eq(t, len(bases), 2, "segments %v", bases)
	eq(t, bases[1], c2[len(c2)-1].lsn+uint64(c2[len(c2)-1].n), "segment 1 starts where tx 2 ends")
	eq(t, c3[0].lsn, bases[1], "tx 3 is the first of segment 1")

	checkFetch(t, f, c3[1]) // the marker alone, first in the new segment
	checkFetch(t, f, c3...)
	checkFetch(t, f, c2...) // segment 0, now sealed, grew past what the Fetcher first saw
	checkFetch(t, f, c1...)

	// Again, with the new segment already open: the writer rolls once more.
	c4 := r.commit(t, 4, payload("big", 250))
	c5 := r.commit(t, 5, payload("five", 10), payload("five again", 10))
	r.settle(t)
	bases = r.bases(t)
	eq(t, len(bases), 3, "segments %v", bases)
	eq(t, segOf(bases, c4[0].lsn), bases[1])
	eq(t, c5[0].lsn, bases[2])
	checkFetch(t, f, c5[1:]...)
	checkFetch(t, f, c4...)
	checkFetch(t, f, c3...)
}

// A Fetcher created before the log has a segment finds it once it is there.
func TestFetcherEmptyLogThenSegment(t *testing.T) {
	mem := newMemFS()
	noErr(t, mem.MkdirAll(walDir))
	f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	fetchFails(t, f, 0, 40, dberr.ErrCorruption)

	e := Entry{Type: 0x80, Version: 1, TxID: 9, Payload: []byte("payload")}
	seg, err := CreateSegment(mem, walDir, 0)
	noErr(t, err)
	noErr(t, seg.Write(encode(t, e, CommitMarker(9))))
	noErr(t, seg.Close())
	checkFetch(t, f, fetchRec{e: e, lsn: 0, n: EncodedSize(len(e.Payload))},
		fetchRec{e: CommitMarker(9), lsn: uint64(EncodedSize(len(e.Payload))), n: EncodedSize(txIDSize)})
}

// Entries appended to the newest segment after the Fetcher opened it can be fetched: into the
// zeros the writer preallocated ahead of its data, and past the size the file had when opened.
func TestFetcherNewestSegmentGrows(t *testing.T) {
	t.Run("writer", func(t *testing.T) {
		r := newFetchRig(t, 1<<30) // no roll; the writer preallocates 1 MiB ahead
		c1 := r.commit(t, 1, payload("first", 30))
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		checkFetch(t, f, c1...)
		size, err := r.mem.Stat(segPath(0))
		noErr(t, err)

		c2 := r.commit(t, 2, payload("second", 30), payload("second b", 50))
		c3 := r.commit(t, 3, payload("huge", 1<<20+100))
		last := c3[len(c3)-1]
		truth(t, HeaderSize+int64(last.lsn)+int64(last.n) > size,
			"tx 3 ends past the file's size (%d) when the Fetcher opened it", size)
		checkFetch(t, f, c2...)
		checkFetch(t, f, c3...)
		checkFetch(t, f, c3[1])
		checkFetch(t, f, c1[0])
		r.settle(t)
		eq(t, r.bases(t), []uint64{0})
	})
	t.Run("unpadded", func(t *testing.T) {
		mem := newMemFS()
		seg, err := CreateSegment(mem, walDir, 1000)
		noErr(t, err)
		defer func() { noErr(t, seg.Close()) }()
		f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		var recs []fetchRec
		for tx := uint64(1); tx <= 4; tx++ {
			e := Entry{Type: 0x90, Version: 1, TxID: tx, Payload: payload(fmt.Sprint("tx ", tx), int(tx)*10)}
			lsn := seg.EndLSN()
			noErr(t, seg.Write(encode(t, e)))
			rec := fetchRec{e: e, lsn: lsn, n: EncodedSize(len(e.Payload))}
			eq(t, seg.EndLSN(), lsn+uint64(rec.n))
			recs = append(recs, rec)
			checkFetch(t, f, rec) // the file ends exactly here: each fetch is past the last size seen
			checkFetch(t, f, recs...)
		}
	})
}

// Every range the log does not hold whole is refused with an error wrapping ErrCorruption.
func TestFetcherErrors(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 7)
	bases := r.bases(t)
	truth(t, len(bases) >= 3, "segments %v", bases)
	all := slices.Concat(commits...)
	last := all[len(all)-1]
	end := last.lsn + uint64(last.n)
	eq(t, end, r.end)

	// The last entry of every segment, the first, and some in the middle.
	var probes []fetchRec
	for i, rec := range all {
		if i == 0 || i == len(all)-1 || i%5 == 2 || segOf(bases, rec.lsn) != segOf(bases, all[i+1].lsn) {
			probes = append(probes, rec)
		}
	}

	t.Run("not on entry boundaries", func(t *testing.T) {
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir, CacheBytes: 1 << 20})
		defer func() { noErr(t, f.Close()) }()
		for _, rec := range probes {
			fetchFails(t, f, rec.lsn, rec.n-1, dberr.ErrCorruption)
			fetchFails(t, f, rec.lsn, rec.n+1, dberr.ErrCorruption)
			fetchFails(t, f, rec.lsn+1, rec.n-1, dberr.ErrCorruption)
			if rec.lsn > 0 {
				fetchFails(t, f, rec.lsn-1, rec.n+1, dberr.ErrCorruption)
			}
			checkFetch(t, f, rec) // the failures left nothing behind
		}
		for _, c := range commits {
			lsn, n := span(c)
			fetchFails(t, f, lsn, n-1, dberr.ErrCorruption)
			fetchFails(t, f, lsn, n+1, dberr.ErrCorruption)
			fetchFails(t, f, lsn, n-c[len(c)-1].n+1, dberr.ErrCorruption)
		}
		// A range across a segment boundary is not whole entries of one segment.
		for i := 1; i < len(bases); i++ {
			a, b := all[slices.IndexFunc(all, func(rec fetchRec) bool { return rec.lsn == bases[i] })-1], bases[i]
			fetchFails(t, f, a.lsn, a.n+40, dberr.ErrCorruption)
			eq(t, a.lsn+uint64(a.n), b)
		}
	})

	t.Run("past the end", func(t *testing.T) {
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		fetchFails(t, f, end, last.n, dberr.ErrCorruption) // zeros the writer preallocated, if any
		fetchFails(t, f, end, 1<<20, dberr.ErrCorruption)  // past the file
		fetchFails(t, f, end+1<<20, 30, dberr.ErrCorruption)
		fetchFails(t, f, last.lsn, last.n+EntryOverhead, dberr.ErrCorruption)
		fetchFails(t, f, math.MaxUint64-100, 100, dberr.ErrCorruption)
		checkFetch(t, f, last)
	})

	t.Run("implausible length", func(t *testing.T) {
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		for _, n := range []int{0, -1, math.MinInt, maxFetch + 1, math.MaxInt} {
			fetchFails(t, f, all[0].lsn, n, dberr.ErrCorruption)
		}
		fetchFails(t, f, math.MaxUint64, 1, dberr.ErrCorruption)
		fetchFails(t, f, math.MaxUint64-10, 11, dberr.ErrCorruption)
		checkFetch(t, f, all[0])
	})

	t.Run("below the oldest segment", func(t *testing.T) {
		mem := cloneMemFS(r.mem)
		noErr(t, mem.Remove(segPath(bases[0]))) // segment 0 retired
		f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		for _, rec := range all {
			if rec.lsn < bases[1] {
				fetchFails(t, f, rec.lsn, rec.n, dberr.ErrCorruption)
			} else {
				checkFetch(t, f, rec)
			}
		}
	})

	t.Run("segment missing in the middle", func(t *testing.T) {
		mem := cloneMemFS(r.mem)
		noErr(t, mem.Remove(segPath(bases[1])))
		f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		for _, rec := range all {
			if b := segOf(bases, rec.lsn); b == bases[1] {
				fetchFails(t, f, rec.lsn, rec.n, dberr.ErrCorruption)
			} else {
				checkFetch(t, f, rec)
			}
		}
	})

	t.Run("damaged bytes", func(t *testing.T) {
		// A damaged entry in a sealed segment and one in the newest.
		for _, victim := range []fetchRec{commits[1][1], last} {
			mem := cloneMemFS(r.mem)
			base := segOf(bases, victim.lsn)
			flip(mem, base, payloadOffset(victim, base))
			f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
			fetchFails(t, f, victim.lsn, victim.n, dberr.ErrCorruption, ErrDamaged, ErrBadChecksum)
			for _, c := range commits {
				if i := slices.IndexFunc(c, func(rec fetchRec) bool { return rec.lsn == victim.lsn }); i >= 0 {
					lsn, n := span(c)
					fetchFails(t, f, lsn, n, dberr.ErrCorruption, ErrDamaged)
					if i > 0 {
						checkFetch(t, f, c[:i]...)
					}
					if i+1 < len(c) {
						checkFetch(t, f, c[i+1:]...)
					}
				}
			}
			noErr(t, f.Close())
		}
	})

	t.Run("segment header names another base", func(t *testing.T) {
		mem := cloneMemFS(r.mem)
		moved := bases[1] + uint64(all[slices.IndexFunc(all, func(rec fetchRec) bool { return rec.lsn == bases[1] })].n)
		noErr(t, mem.Rename(segPath(bases[1]), segPath(moved))) // its second entry is on a boundary
		f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		for _, rec := range all {
			if rec.lsn >= moved && segOf(bases, rec.lsn) == bases[1] {
				fetchFails(t, f, rec.lsn, rec.n, dberr.ErrCorruption, ErrBadHeader)
			}
		}
	})

	t.Run("damaged segment header", func(t *testing.T) {
		mem := cloneMemFS(r.mem)
		flip(mem, bases[1], 12) // the base
		f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
		defer func() { noErr(t, f.Close()) }()
		for _, rec := range all {
			if segOf(bases, rec.lsn) == bases[1] {
				fetchFails(t, f, rec.lsn, rec.n, dberr.ErrCorruption, ErrDamaged, ErrBadHeader)
			}
		}
		checkFetch(t, f, all[0])
		checkFetch(t, f, last)
	})
}

// cloneMemFS returns a deep copy of mem's files, so that a test can damage or remove them
// without touching the log the writer is appending to.
func cloneMemFS(mem *memFS) *memFS {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	c := newMemFS()
	for name, d := range mem.files {
		c.files[name] = &memData{b: slices.Clone(d.b)}
	}
	maps.Copy(c.dirs, mem.dirs)
	return c
}

func TestFetcherCache(t *testing.T) {
	t.Run("hit", func(t *testing.T) {
		r, commits := buildFetchLog(t, 300, 5)
		bases := r.bases(t)
		c := commits[0]
		lsn, n := span(c)
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir, CacheBytes: 1 << 20})
		defer func() { noErr(t, f.Close()) }()
		checkFetch(t, f, c...)
		stats(t, f, 0, 1, "first fetch")
		checkFetch(t, f, c...)
		stats(t, f, 1, 1, "second fetch")

		// Damage the bytes the Fetcher's open file reads: the cached range is answered all the
		// same, from memory.
		flip(r.mem, bases[0], payloadOffset(c[0], bases[0]))
		checkFetch(t, f, c...)
		stats(t, f, 2, 1, "after the file was damaged")
		// The same LSN with another length is another range: read from the damaged file.
		fetchFails(t, f, lsn, c[0].n, dberr.ErrCorruption, ErrDamaged)
		stats(t, f, 2, 2, "another length")
		checkFetch(t, f, c...)
		stats(t, f, 3, 2, "the cached range is still there")
		// Remove the segment: the cached range is still answered, others fail (a fetch that
		// fails lists the directory again, which forgets the removed file).
		noErr(t, r.mem.Remove(segPath(bases[0])))
		checkFetch(t, f, c...)
		stats(t, f, 4, 2, "after the file was removed")
		fetchFails(t, f, lsn, n-c[len(c)-1].n, dberr.ErrCorruption)
		stats(t, f, 4, 3, "a shorter range at the same LSN")
		fetchFails(t, f, c[1].lsn, c[1].n, dberr.ErrCorruption)
		stats(t, f, 4, 4, "an undamaged range of the removed segment")
	})

	t.Run("disabled", func(t *testing.T) {
		r, commits := buildFetchLog(t, 300, 3)
		c := commits[0]
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir, CacheBytes: 0})
		defer func() { noErr(t, f.Close()) }()
		checkFetch(t, f, c...)
		checkFetch(t, f, c...)
		stats(t, f, 0, 2, "no cache")
		flip(r.mem, 0, payloadOffset(c[0], 0))
		lsn, n := span(c)
		fetchFails(t, f, lsn, n, dberr.ErrCorruption, ErrDamaged) // read from the file again
		stats(t, f, 0, 3, "no cache")
	})

	t.Run("range over the limit", func(t *testing.T) {
		r, commits := buildFetchLog(t, 300, 3)
		c := commits[0]
		_, n := span(c)
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir, CacheBytes: int64(n - 1)})
		defer func() { noErr(t, f.Close()) }()
		checkFetch(t, f, c[0])
		checkFetch(t, f, c[0])
		stats(t, f, 1, 1, "a range that fits is cached")
		checkFetch(t, f, c...)
		checkFetch(t, f, c...)
		stats(t, f, 1, 3, "a range larger than the cache is not")
		checkFetch(t, f, c[0])
		stats(t, f, 2, 3, "and evicts nothing")
	})

	t.Run("lru", func(t *testing.T) {
		r := newFetchRig(t, 1<<30)
		var ranges []fetchRec // three entries of one length
		for tx := uint64(1); tx <= 3; tx++ {
			ranges = append(ranges, r.commit(t, tx, payload(fmt.Sprint("tx ", tx), 50))[0])
		}
		a, b, c := ranges[0], ranges[1], ranges[2]
		f := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir, CacheBytes: int64(2 * a.n)})
		defer func() { noErr(t, f.Close()) }()
		steps := []struct {
			rec          fetchRec
			hits, misses uint64
			what         string
		}{
			{a, 0, 1, "A: miss"},
			{b, 0, 2, "B: miss"},
			{a, 1, 2, "A: hit, now the most recently used"},
			{c, 1, 3, "C: miss, evicts B"},
			{a, 2, 3, "A: hit, not evicted"},
			{c, 3, 3, "C: hit"},
			{b, 3, 4, "B: miss (evicted), evicts A"},
			{c, 4, 4, "C: hit"},
			{a, 4, 5, "A: miss (evicted)"},
			{b, 4, 6, "B: miss (evicted)"},
		}
		for _, s := range steps {
			checkFetch(t, f, s.rec)
			stats(t, f, s.hits, s.misses, s.what)
		}
	})
}

// histPath is the path of the segment with the given base once moved whole into the history
// directory.
func histPath(base uint64) string { return filepath.Join(walDir, HistoryDir, SegmentName(base)) }

// Refresh lists the directories again and closes the files of the segments no longer listed. A
// removed segment's ranges then fail with ErrCorruption — unless cached: a cached range stays
// right whatever happens to the files, since the log never reuses an LSN — and a segment moved
// whole into the history directory is read from there.
func TestFetcherRefresh(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 9)
	bases := r.bases(t)
	truth(t, len(bases) >= 4, "segments %v", bases)
	newest := bases[len(bases)-1]
	tfs := newTrackFS(r.mem)
	f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir, CacheBytes: 1 << 20})
	defer func() { noErr(t, f.Close()) }()
	for _, c := range commits {
		checkFetch(t, f, c...) // every segment open, every transaction cached
	}
	eq(t, tfs.openFiles(), segNames(bases...))
	seg := func(c []fetchRec) uint64 { return segOf(bases, c[0].lsn) }

	noErr(t, f.Refresh())
	eq(t, tfs.openFiles(), segNames(bases...), "nothing changed: Refresh closes nothing")

	removed, moved := bases[0], bases[1]
	noErr(t, r.mem.Remove(segPath(removed)))
	noErr(t, r.mem.Rename(segPath(moved), histPath(moved)))
	eq(t, tfs.openFiles(), segNames(bases...), "the descriptors stay open until Refresh")
	noErr(t, f.Refresh())
	eq(t, tfs.openFiles(), segNames(bases[2:]...), "files open after Refresh")
	noErr(t, f.Refresh())
	eq(t, tfs.openFiles(), segNames(bases[2:]...), "files open after a second Refresh")

	hits, misses := f.Stats()
	for _, c := range commits {
		checkFetch(t, f, c...) // cached: answered whatever happened to the file
		hits++
		if seg(c) == removed {
			fetchFails(t, f, c[0].lsn, c[0].n, dberr.ErrCorruption)
			fetchFails(t, f, c[1].lsn, c[1].n+c[2].n, dberr.ErrCorruption)
		} else {
			checkFetch(t, f, c[0]) // the moved segment's from the history directory
			checkFetch(t, f, c[1], c[2])
		}
		misses += 2
	}
	stats(t, f, hits, misses, "after the retirement")
	eq(t, tfs.openFiles(), segNames(bases[1:]...), "the moved segment opened again, in the history directory")

	// The moved segment removed from the history directory too: its file is closed, its ranges
	// not cached fail.
	noErr(t, r.mem.Remove(histPath(moved)))
	noErr(t, f.Refresh())
	eq(t, tfs.openFiles(), segNames(bases[2:]...))
	for _, c := range commits {
		if seg(c) == moved {
			checkFetch(t, f, c[0]) // cached
			fetchFails(t, f, c[0].lsn, c[0].n+c[1].n, dberr.ErrCorruption)
		}
	}

	// The writer moves on: the Fetcher finds the new segment without a Refresh, and a Refresh
	// keeps what is still listed open.
	big := r.commit(t, 100, payload("big", 300))
	next := r.commit(t, 101, payload("next", 20))
	r.settle(t)
	bases = r.bases(t)
	eq(t, segOf(bases, big[0].lsn), newest)
	eq(t, next[0].lsn, bases[len(bases)-1])
	checkFetch(t, f, next...)
	checkFetch(t, f, big...)
	noErr(t, f.Refresh())
	eq(t, tfs.openFiles(), segNames(bases...))
	eq(t, tfs.doubleCloses(), 0)
}

// A Fetcher whose listing is stale — it listed a segment that has since been moved into the
// history directory or removed, and never opened it — lists again when the open fails: the moved
// segment's ranges are read from the history directory, the removed one's fail as corruption.
func TestFetcherStaleListing(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 9)
	bases := r.bases(t)
	truth(t, len(bases) >= 4, "segments %v", bases)
	mem := cloneMemFS(r.mem)
	tfs := newTrackFS(mem)
	f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	last := commits[len(commits)-1]
	checkFetch(t, f, last...) // lists the directory, opens only the newest segment
	eq(t, tfs.openFiles(), segNames(segOf(bases, last[0].lsn)))

	noErr(t, mem.Rename(segPath(bases[1]), histPath(bases[1])))
	noErr(t, mem.Remove(segPath(bases[2])))
	for _, c := range commits {
		lsn, n := span(c)
		switch segOf(bases, lsn) {
		case bases[2]:
			fetchFails(t, f, lsn, n, dberr.ErrCorruption)
		default:
			checkFetch(t, f, c...)
		}
	}
	want := segNames(bases...)
	want = slices.DeleteFunc(want, func(n string) bool { return n == SegmentName(bases[2]) })
	eq(t, tfs.openFiles(), want)
	eq(t, tfs.doubleCloses(), 0)
}

// Fetch errors name the file by its base name, not its path.
func TestFetcherErrorNamesFile(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 5)
	bases := r.bases(t)
	mem := cloneMemFS(r.mem)
	victim := commits[0][1]
	flip(mem, bases[0], payloadOffset(victim, bases[0]))
	f := NewFetcher(FetcherConfig{FS: mem, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	_, err := f.Fetch(victim.lsn, victim.n)
	isErr(t, err, ErrBadChecksum)
	truth(t, strings.Contains(err.Error(), " "+SegmentName(bases[0])+":"), "error names the segment: %v", err)
	truth(t, !strings.Contains(err.Error(), walDir), "error names the file, not its path: %v", err)
}

func TestFetcherClose(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 5)
	tfs := newTrackFS(r.mem)
	f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir, CacheBytes: 1 << 20})
	for _, c := range commits {
		checkFetch(t, f, c...)
	}
	truth(t, len(tfs.openFiles()) >= 2, "files open: %v", tfs.openFiles())
	noErr(t, f.Close())
	eq(t, tfs.openFiles(), []string{}, "files open after Close")
	for _, c := range commits {
		lsn, n := span(c)
		fetchFails(t, f, lsn, n, dberr.ErrClosed) // cached before Close
		fetchFails(t, f, c[0].lsn, c[0].n, dberr.ErrClosed)
		_, err := f.Fetch(lsn, n)
		truth(t, !errors.Is(err, dberr.ErrCorruption), "after Close: %v", err)
	}
	noErr(t, f.Refresh(), "Refresh after Close")
	noErr(t, f.Close(), "second Close")
	eq(t, tfs.openFiles(), []string{})
	eq(t, tfs.doubleCloses(), 0)
}

// Fetches of different ranges run while another goroutine retires the older segments — removes
// them, or moves them into the history directory, alternately, and refreshes the Fetcher — and
// the writer keeps appending (and rolling): each fetch returns what was logged, or, for a removed
// segment, an error wrapping ErrCorruption. A moved segment's ranges never fail.
func TestFetcherConcurrent(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 16)
	bases := r.bases(t)
	truth(t, len(bases) >= 6, "segments %v", bases)
	retired := bases[:len(bases)-2] // oldest first: even indexes removed, odd ones moved
	removed := func(lsn uint64) bool {
		i := slices.Index(retired, segOf(bases, lsn))
		return i >= 0 && i%2 == 0
	}
	tfs := newTrackFS(r.mem)
	f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir, CacheBytes: 600})

	const fetchers, rounds = 6, 20
	errs := make(chan error, fetchers*rounds*64+64)
	var wg sync.WaitGroup
	for g := range fetchers {
		var mine [][]fetchRec
		for i, c := range commits {
			if i%fetchers == g || i%fetchers == (g+1)%fetchers {
				mine = append(mine, c)
			}
		}
		wg.Go(func() {
			for range rounds {
				for _, c := range mine {
					for _, recs := range [][]fetchRec{c, c[:1], c[1:3], c[len(c)-1:]} {
						err := fetchErr(f, recs)
						if err != nil && !(removed(recs[0].lsn) && errors.Is(err, dberr.ErrCorruption)) {
							errs <- err
						}
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i, b := range retired {
			var err error
			if i%2 == 0 {
				err = r.mem.Remove(segPath(b))
			} else {
				err = r.mem.Rename(segPath(b), histPath(b))
			}
			if err == nil {
				err = f.Refresh()
			}
			if err != nil {
				errs <- fmt.Errorf("retire segment %d: %w", b, err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	// The writer appends meanwhile: each transaction is fetched once logged, mostly from
	// segments the Fetcher has not listed yet.
	var more [][]fetchRec
	for tx := uint64(100); tx < 110; tx++ {
		c := r.commit(t, tx, payload(fmt.Sprint("tx ", tx), 120), payload("b", 60))
		more = append(more, c)
		if err := fetchErr(f, c); err != nil {
			t.Errorf("tx %d, just logged: %v", tx, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r.settle(t)
	now := r.bases(t)
	truth(t, now[len(now)-1] > bases[len(bases)-1], "the writer rolled meanwhile: %v", now)

	noErr(t, f.Refresh())
	for _, name := range tfs.openFiles() {
		if base, _ := ParseSegmentName(name); removed(base) {
			t.Errorf("removed segment %s still open after Refresh", name)
		}
	}
	fresh := NewFetcher(FetcherConfig{FS: r.mem, Dir: walDir})
	defer func() { noErr(t, fresh.Close()) }()
	for _, c := range commits {
		lsn, n := span(c)
		if removed(lsn) {
			fetchFails(t, fresh, lsn, n, dberr.ErrCorruption)
			if err := fetchErr(f, c); err != nil { // the old Fetcher may have it cached
				isErr(t, err, dberr.ErrCorruption)
			}
		} else {
			checkFetch(t, fresh, c...)
			checkFetch(t, f, c...)
		}
	}
	for _, c := range more {
		checkFetch(t, f, c...)
		checkFetch(t, fresh, c...)
	}
	noErr(t, f.Close())
	eq(t, tfs.openFiles(), []string{}, "files open after Close")
	eq(t, tfs.doubleCloses(), 0)
}

// A read in progress when a Refresh forgets its file finishes on the open file, which is closed
// when the read ends. The range it read is cached (it stays right); another range of a removed
// segment then fails, one of a moved segment is read from the history directory.
func TestFetcherRefreshDuringRead(t *testing.T) {
	for _, move := range []bool{false, true} {
		t.Run(map[bool]string{false: "removed", true: "moved"}[move], func(t *testing.T) {
			r, commits := buildFetchLog(t, 300, 5)
			bases := r.bases(t)
			tfs := newTrackFS(r.mem)
			f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir, CacheBytes: 1 << 20})
			defer func() { noErr(t, f.Close()) }()
			c := commits[0]
			eq(t, segOf(bases, c[0].lsn), bases[0])

			hold := tfs.holdNextRead()
			done := make(chan error, 1)
			go func() { done <- fetchErr(f, c) }()
			held := waitHeld(t, hold)
			if move {
				noErr(t, r.mem.Rename(segPath(bases[0]), histPath(bases[0])))
			} else {
				noErr(t, r.mem.Remove(segPath(bases[0])))
			}
			noErr(t, f.Refresh())
			eq(t, tfs.openFiles(), segNames(bases[0]), "the file being read stays open")
			close(held)
			awaitFetch(t, done)
			eq(t, tfs.openFiles(), []string{}, "closed when the read ended")
			checkFetch(t, f, c...)
			stats(t, f, 1, 1, "the range read is cached")
			if move {
				checkFetch(t, f, c[0])
				eq(t, tfs.openFiles(), segNames(bases[0]), "opened again in the history directory")
			} else {
				fetchFails(t, f, c[0].lsn, c[0].n, dberr.ErrCorruption)
				eq(t, tfs.openFiles(), []string{})
			}
			stats(t, f, 1, 2, "another range is read from the files")
			checkFetch(t, f, commits[len(commits)-1]...)
			eq(t, tfs.doubleCloses(), 0)
		})
	}
}

// A read in progress when the Fetcher is closed finishes; its file is closed when it ends.
func TestFetcherCloseDuringRead(t *testing.T) {
	r, commits := buildFetchLog(t, 300, 5)
	tfs := newTrackFS(r.mem)
	f := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir, CacheBytes: 1 << 20})
	c := commits[len(commits)-1]
	checkFetch(t, f, commits[0]...) // another file open

	hold := tfs.holdNextRead()
	done := make(chan error, 1)
	go func() { done <- fetchErr(f, c) }()
	held := waitHeld(t, hold)
	noErr(t, f.Close())
	eq(t, len(tfs.openFiles()), 1, "only the file being read is still open: %v", tfs.openFiles())
	close(held)
	awaitFetch(t, done)
	eq(t, tfs.openFiles(), []string{}, "closed when the read ended")
	lsn, n := span(c)
	fetchFails(t, f, lsn, n, dberr.ErrClosed)
	noErr(t, f.Close())
	eq(t, tfs.doubleCloses(), 0)
}

func waitHeld(t *testing.T, hold chan chan struct{}) chan struct{} {
	t.Helper()
	select {
	case held := <-hold:
		return held
	case <-time.After(waitLimit):
		t.Fatalf("no read within %v", waitLimit)
		return nil
	}
}

// awaitFetch waits for the fetch in progress, held until now, to return, and checks that it
// succeeded.
func awaitFetch(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		noErr(t, err, "the fetch in progress")
	case <-time.After(waitLimit):
		t.Fatalf("the fetch did not return within %v", waitLimit)
	}
}
