package commitlog

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
)

// maxFetch bounds the length of one range. A step's entries are far smaller; a larger length
// can only come from a damaged journal, and is refused before any file is looked at.
const maxFetch = 1 << 30

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	FS         vfs.FS
	Dir        string // the log's directory; its history directory is read too
	CacheBytes int64  // bound on the summed lengths of the fetched ranges kept in memory; 0: no cache
}

// Fetcher reads ranges of the log back by LSN. It is the store behind run history: a run's
// journal keeps, per step, only where the step's entries are in the log (LSN and byte length)
// and reads them back from here when the run is replayed.
//
// A range is read from the segment that holds it — in the log directory, or moved whole into
// the history directory — or else from a history file that holds it (see RetireBelow). The
// Fetcher keeps the list of segments and the history files' indexes, one read-only file per
// segment or history file it has read (opened on first use: the log writer appends to the
// newest segment through its own handle meanwhile) and, when configured, an LRU cache of
// fetched ranges. The list goes stale when the writer starts a segment or a retirement moves
// files: a range it cannot find makes it list the directories again once, and Refresh does
// after a retirement. Safe for concurrent use: reads run outside the lock, so fetches of
// different ranges do not wait on each other's I/O (opening a file and listing, both rare, are
// done under it).
type Fetcher struct {
	fs  vfs.FS
	dir string

	mu     sync.Mutex
	segs   []segSource // ascending by base
	hist   []*histFile // the history files, ascending by first LSN
	listed bool        // segs and hist have been read from the directories
	gen    uint64      // bumped whenever the listing changes: a fetch that failed on an older one retries
	files  map[string]*openFile
	cache  rangeCache
	closed bool
	hits   uint64
	misses uint64
}

// segSource is a segment file: in the log directory or the history directory.
type segSource struct {
	base uint64
	path string
}

// openFile is an open segment or history file. Fetches hold a reference while they read it,
// so that a Refresh or Close that forgets the file closes it only when no read is using it.
type openFile struct {
	f     vfs.File
	path  string
	base  uint64 // a segment's base
	size  int64  // a segment's entry bytes known so far: the newest segment grows past it
	final bool   // size is the segment's whole: it was read once another segment followed it
	refs  int
	gone  bool // forgotten: closed when the last reference is dropped
}

// NewFetcher returns a Fetcher of the log in cfg.Dir. It touches no file until the first Fetch.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	return &Fetcher{fs: cfg.FS, dir: cfg.Dir, files: map[string]*openFile{},
		cache: rangeCache{limit: max(cfg.CacheBytes, 0), byLSN: map[uint64]*list.Element{}}}
}

// Fetch returns the entries that fill the log range [lsn, lsn+n) exactly: whole entries, back to
// back, each checksum-verified and checked as DecodeEntry does. The returned slice and payloads
// may be shared with other callers (the cache): callers must not modify them.
//
// Every error means the range cannot be produced. An error wrapping dberr.ErrCorruption means the
// log does not hold it (no file holds the range, the bytes are short or damaged, the range does
// not fit whole entries, n is not a plausible length) and never will: it names the file and LSN
// and says why, and also wraps ErrDamaged (through ErrShortEntry, ErrBadChecksum, ErrBadHeader,
// ...) when the bytes read are at fault. Other errors are I/O failures, which may be transient.
// After Close the error wraps dberr.ErrClosed.
func (f *Fetcher) Fetch(lsn uint64, n int) ([]Entry, error) {
	if n <= 0 || n > maxFetch || lsn > math.MaxUint64-uint64(n) {
		return nil, fmt.Errorf("%w: commitlog: fetch at LSN %d: implausible range length %d",
			dberr.ErrCorruption, lsn, n)
	}
	if es, ok, err := f.lookup(lsn, n); ok || err != nil {
		return es, err
	}
	es, err := f.fetch(lsn, n)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if !f.closed {
		f.cache.put(lsn, n, es)
	}
	f.mu.Unlock()
	return es, nil
}

// Stats returns how many fetches the cache answered and how many read the files.
func (f *Fetcher) Stats() (hits, misses uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits, f.misses
}

// Refresh lists the directories again and closes the files no longer there: a retirement
// removed or moved them, and an open descriptor would keep a deleted file's blocks allocated.
func (f *Fetcher) Refresh() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.listLocked()
}

// Close closes every open file (a file a fetch is still reading is closed when the read ends).
// Fetch after Close returns an error wrapping dberr.ErrClosed; Close again returns nil.
func (f *Fetcher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	for _, of := range f.files {
		errs = append(errs, f.forgetLocked(of))
	}
	f.segs, f.hist = nil, nil
	f.cache.reset()
	return errors.Join(errs...)
}

// lookup answers from the cache. ok is false on a miss; err is set only after Close.
func (f *Fetcher) lookup(lsn uint64, n int) (es []Entry, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, false, errFetcherClosed
	}
	if es, ok = f.cache.get(lsn, n); ok {
		f.hits++
	} else {
		f.misses++
	}
	return es, ok, nil
}

var errFetcherClosed = fmt.Errorf("%w: commitlog: fetcher closed", dberr.ErrClosed)

// fetch reads the range from the files. A range the listing does not place may come from a
// stale listing (the writer has started a segment since, or a retirement moved the range), so
// the directories are listed again and the read retried once if the listing changed.
func (f *Fetcher) fetch(lsn uint64, n int) ([]Entry, error) {
	es, gen, err := f.readOnce(lsn, n)
	if err == nil || !errors.Is(err, dberr.ErrCorruption) || !f.relist(gen) {
		return es, err
	}
	es, _, err = f.readOnce(lsn, n)
	return es, err
}

// readOnce reads the range from where the current listing places it, and returns the
// listing's generation.
func (f *Fetcher) readOnce(lsn uint64, n int) ([]Entry, uint64, error) {
	p, gen, err := f.place(lsn, n)
	if err != nil {
		return nil, gen, err
	}
	defer f.release(p)
	if p.seg != nil {
		es, err := f.readAt(p.seg, lsn, n, p.off)
		return es, gen, err
	}
	for _, c := range p.hist { // outside the lock: finding the range reads the file's index
		off, ok, err := c.h.find(c.of.f, lsn, n)
		if errors.Is(err, ErrDamaged) {
			return nil, gen, rangeErr(lsn, n, c.of.path, err)
		}
		if err != nil {
			return nil, gen, fmt.Errorf("commitlog: index of %s: %w", filepath.Base(c.of.path), err)
		}
		if ok {
			es, err := f.readAt(c.of, lsn, n, off)
			return es, gen, err
		}
	}
	return nil, gen, fmt.Errorf("%w: commitlog: LSN range [%d, %d) is in no segment or history file",
		dberr.ErrCorruption, lsn, lsn+uint64(n))
}

// placement is where a range may be: a segment and its offset there, or the history files
// whose LSNs span it. It holds a reference on each file.
type placement struct {
	seg  *openFile
	off  int64
	hist []histCandidate
}

type histCandidate struct {
	of *openFile
	h  *histFile
}

func (f *Fetcher) release(p placement) {
	if p.seg != nil {
		f.unref(p.seg)
	}
	for _, c := range p.hist {
		f.unref(c.of)
	}
}

// place finds the segment holding [lsn, lsn+n), or else the history files that may, opening
// them if needed and taking a reference on each.
func (f *Fetcher) place(lsn uint64, n int) (p placement, gen uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return p, 0, errFetcherClosed
	}
	if !f.listed {
		if err := f.listLocked(); err != nil {
			return p, 0, err
		}
	}
	gen = f.gen
	if i := sort.Search(len(f.segs), func(i int) bool { return f.segs[i].base > lsn }) - 1; i >= 0 {
		of, err := f.openSegmentLocked(f.segs[i])
		if err != nil {
			return p, gen, err
		}
		end := lsn - of.base + uint64(n)
		last := i == len(f.segs)-1
		if end <= uint64(of.size) || !of.final && (last || f.segs[i+1].base >= lsn+uint64(n)) && f.grownLocked(of, end, !last) {
			of.refs++
			return placement{seg: of, off: HeaderSize + int64(lsn-of.base)}, gen, nil
		}
	}
	for _, h := range f.hist {
		if h.first > lsn {
			break
		}
		if lsn+uint64(n) > h.end {
			continue
		}
		of, err := f.openLocked(h.path, 0)
		if err != nil {
			f.release(p)
			return placement{}, gen, err
		}
		of.refs++
		p.hist = append(p.hist, histCandidate{of, h})
	}
	return p, gen, nil
}

// grownLocked reports whether the segment's file has grown to end entry bytes: the newest
// segment grows while the writer appends to it, and a segment opened as the newest may have
// grown before it was sealed. sealed says another segment follows it: its size is then final,
// and a range past it (in a segment retired since, say) is not looked for there again.
func (f *Fetcher) grownLocked(of *openFile, end uint64, sealed bool) bool {
	size, err := f.fs.Stat(of.path)
	if err != nil {
		return false
	}
	of.size, of.final = max(of.size, size-HeaderSize), sealed
	return end <= uint64(of.size)
}

// relist lists the directories again after a fetch failed on the listing of generation gen,
// and reports whether the listing is now different, so that a retry may succeed.
func (f *Fetcher) relist(gen uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if f.gen != gen { // another fetch has listed them since
		return true
	}
	return f.listLocked() == nil && f.gen != gen
}

func (f *Fetcher) unref(of *openFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	of.refs--
	if of.gone && of.refs == 0 {
		_ = of.f.Close() // read-only: nothing is lost
	}
}

// listLocked reads the segments and history files from the directories, and forgets the
// files no longer listed. A history file that does not validate is left out: the ranges only
// it held fail as missing.
func (f *Fetcher) listLocked() error {
	bases, err := ListSegments(f.fs, f.dir)
	if err != nil {
		return err
	}
	hist, err := listHistory(f.fs, f.dir)
	if err != nil {
		return err
	}
	segs := make([]segSource, 0, len(bases)+len(hist.segments))
	for _, b := range hist.segments {
		segs = append(segs, segSource{b, filepath.Join(f.dir, HistoryDir, SegmentName(b))})
	}
	for _, b := range bases {
		segs = append(segs, segSource{b, filepath.Join(f.dir, SegmentName(b))})
	}
	slices.SortStableFunc(segs, func(a, b segSource) int { return cmp.Compare(a.base, b.base) })
	segs = slices.CompactFunc(segs, func(a, b segSource) bool { return a.base == b.base })
	var files []*histFile
	for _, seq := range hist.files {
		path := filepath.Join(f.dir, HistoryDir, historyName(seq))
		h, err := f.indexHistoryFile(path)
		if err != nil {
			return err
		}
		if h != nil {
			files = append(files, h)
		}
	}
	slices.SortFunc(files, func(a, b *histFile) int { return cmp.Compare(a.first, b.first) })
	f.listed = true
	if !slices.Equal(segs, f.segs) || !slices.EqualFunc(files, f.hist, sameHistFile) {
		f.gen++
	}
	f.segs, f.hist = segs, files
	f.forgetUnlistedLocked()
	return nil
}

// indexHistoryFile reads the index of the history file at path, checks it, and describes the
// file by its marks; nil for a file that does not validate (the ranges only it holds fail as
// missing) or is gone.
func (f *Fetcher) indexHistoryFile(path string) (*histFile, error) {
	file, size, err := openSized(f.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	ranges, err := readHistoryIndex(file, size, path)
	if errors.Is(err, ErrDamaged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h := newHistFile(path, size, ranges)
	return &h, nil
}

func sameHistFile(a, b *histFile) bool {
	return a.path == b.path && a.count == b.count && a.first == b.first && a.end == b.end
}

// forgetUnlistedLocked forgets the open files the listing no longer names.
func (f *Fetcher) forgetUnlistedLocked() {
	listed := make(map[string]bool, len(f.segs))
	for _, s := range f.segs {
		listed[s.path] = true
	}
	for _, h := range f.hist {
		listed[h.path] = true
	}
	for path, of := range f.files {
		if !listed[path] {
			_ = f.forgetLocked(of)
		}
	}
}

// forgetLocked drops of from the open files; its file is closed now or by its last reader.
func (f *Fetcher) forgetLocked(of *openFile) error {
	delete(f.files, of.path)
	of.gone = true
	if of.refs > 0 {
		return nil
	}
	return of.f.Close()
}

// openSegmentLocked returns the open file of segment s, opening it and checking its header on
// first use.
func (f *Fetcher) openSegmentLocked(s segSource) (*openFile, error) {
	if of, ok := f.files[s.path]; ok {
		return of, nil
	}
	of, err := f.openLocked(s.path, s.base)
	if err != nil {
		return nil, err
	}
	size, err := checkSegmentFile(of.f, s.path, s.base, f.fs)
	if err != nil {
		_ = f.forgetLocked(of)
		return nil, fileErr(s.path, "open", err)
	}
	of.size = size
	return of, nil
}

// openLocked returns the open file at path, opening it on first use. Only a file that opened
// cleanly is kept: a failure is retried by the next fetch.
func (f *Fetcher) openLocked(path string, base uint64) (*openFile, error) {
	if of, ok := f.files[path]; ok {
		return of, nil
	}
	file, err := f.fs.Open(path)
	if err != nil {
		return nil, fileErr(path, "open", err)
	}
	of := &openFile{f: file, path: path, base: base}
	f.files[path] = of
	return of, nil
}

// checkSegmentFile checks that the file is the segment its name says, and returns its size in
// entry bytes.
func checkSegmentFile(file vfs.File, path string, base uint64, fsys vfs.FS) (int64, error) {
	var hdr [HeaderSize]byte
	n, err := file.ReadAt(hdr[:], 0)
	if n < HeaderSize && err != nil && err != io.EOF {
		return 0, err
	}
	if err := checkHeader(hdr[:n], base); err != nil {
		return 0, err
	}
	size, err := fsys.Stat(path)
	return max(size-HeaderSize, 0), err
}

// fileErr reports a file that cannot be used. A missing file or a bad header is corruption
// (the listing promised the range); other failures are I/O errors.
func fileErr(path, op string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) || errors.Is(err, ErrUnsupportedFormat) {
		return fmt.Errorf("%w: commitlog: %s %s: %w", dberr.ErrCorruption, op, filepath.Base(path), err)
	}
	return fmt.Errorf("commitlog: %s %s: %w", op, filepath.Base(path), err)
}

// readAt reads the range from of at file offset off into one buffer of n bytes and decodes it.
func (f *Fetcher) readAt(of *openFile, lsn uint64, n int, off int64) ([]Entry, error) {
	buf := make([]byte, n)
	got, err := of.f.ReadAt(buf, off)
	if got < n {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("commitlog: LSN range [%d, %d) in %s: %w",
				lsn, lsn+uint64(n), filepath.Base(of.path), err)
		}
		return nil, rangeErr(lsn, n, of.path, fmt.Errorf("%w: read %d of %d bytes at file offset %d",
			ErrShortEntry, got, n, off))
	}
	es, at, err := decodeRange(buf)
	if err != nil {
		return nil, rangeErr(lsn, n, of.path, fmt.Errorf("entry at LSN %d (file offset %d): %w",
			lsn+uint64(at), off+int64(at), err))
	}
	return es, nil
}

// rangeErr reports why the file does not hold the range intact.
func rangeErr(lsn uint64, n int, path string, reason error) error {
	return fmt.Errorf("%w: commitlog: LSN range [%d, %d) in %s: %w",
		dberr.ErrCorruption, lsn, lsn+uint64(n), filepath.Base(path), reason)
}

// decodeRange decodes the entries that fill buf exactly; their payloads alias buf, so that a
// fetch allocates one buffer, not one per entry. On failure it returns the offset of the entry
// that failed: an entry that runs past the end of buf (the range does not end on an entry
// boundary) fails as short.
func decodeRange(buf []byte) (es []Entry, at int, err error) {
	for off := 0; off < len(buf); {
		n, err := checkEntry(buf[off:])
		if err != nil {
			return nil, off, err
		}
		es = append(es, entryAt(buf[off:], n, alias))
		off += n
	}
	return es, 0, nil
}

// alias returns p capped at its length, so that an append to one payload cannot overwrite the
// next entry in the shared buffer.
func alias(p []byte) []byte { return p[:len(p):len(p)] }

// rangeCache keeps fetched ranges within limit bytes of summed range lengths, evicting the least
// recently used first. Its caller holds the Fetcher's lock. A cached range stays right whatever
// happens to the files: the log never writes an LSN twice.
type rangeCache struct {
	limit int64
	used  int64
	lru   list.List // of *cachedRange, the most recently used at the front
	byLSN map[uint64]*list.Element
}

type cachedRange struct {
	lsn uint64
	n   int
	es  []Entry
}

// get returns the range at lsn if it is cached with length n (a different length is another
// range, never answered from this one).
func (c *rangeCache) get(lsn uint64, n int) ([]Entry, bool) {
	el, ok := c.byLSN[lsn]
	if !ok || el.Value.(*cachedRange).n != n {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedRange).es, true
}

// put caches a range, unless it alone is over the limit, and evicts down to the limit.
func (c *rangeCache) put(lsn uint64, n int, es []Entry) {
	if int64(n) > c.limit {
		return
	}
	c.remove(lsn) // a concurrent fetch of the same range may have cached it already
	c.byLSN[lsn] = c.lru.PushFront(&cachedRange{lsn: lsn, n: n, es: es})
	c.used += int64(n)
	for c.used > c.limit {
		c.remove(c.lru.Back().Value.(*cachedRange).lsn)
	}
}

func (c *rangeCache) remove(lsn uint64) {
	if el, ok := c.byLSN[lsn]; ok {
		c.used -= int64(c.lru.Remove(el).(*cachedRange).n)
		delete(c.byLSN, lsn)
	}
}

func (c *rangeCache) reset() {
	c.lru.Init()
	clear(c.byLSN)
	c.used = 0
}
