package commitlog

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
)

// The retirement tests log transactions of one entry with a 32-byte payload (58 bytes) and its
// commit marker (42 bytes): 100 bytes each, four to a segment, so that the live fraction of a
// segment is exact. Segment i holds LSNs [400i, 400i+400).
const (
	retireTxSize  = 100
	retireSegSize = 4 * retireTxSize
)

// retireLog is a log written by the Writer for the retirement tests.
type retireLog struct {
	r     *fetchRig
	txs   [][]fetchRec // per transaction: its entry and its marker
	bases []uint64
}

// buildRetireLog logs txs transactions; every segment but the last holds four.
func buildRetireLog(t *testing.T, txs int) *retireLog {
	t.Helper()
	l := &retireLog{r: newFetchRig(t, retireSegSize)}
	for tx := 1; tx <= txs; tx++ {
		c := l.r.commit(t, uint64(tx), payload(fmt.Sprintf("tx %d ", tx), 32))
		_, n := span(c)
		eq(t, n, retireTxSize, "size of tx %d", tx)
		l.txs = append(l.txs, c)
	}
	l.r.settle(t)
	l.bases = l.r.bases(t)
	eq(t, len(l.bases), txs/4+1, "segments %v", l.bases)
	for i, b := range l.bases {
		eq(t, b, uint64(i*retireSegSize), "base of segment %d", i)
	}
	return l
}

// tx returns transaction j of segment i.
func (l *retireLog) tx(i, j int) []fetchRec { return l.txs[4*i+j] }

// seg returns the transactions of segment i.
func (l *retireLog) seg(i int) [][]fetchRec { return l.txs[4*i : min(4*i+4, len(l.txs))] }

// segs returns the transactions of segments from..to-1.
func (l *retireLog) segs(from, to int) [][]fetchRec { return l.txs[4*from : min(4*to, len(l.txs))] }

// entryOnly is the range of a transaction's entry without its marker: 58 bytes.
func entryOnly(tx []fetchRec) []fetchRec { return tx[:1] }

func rangeOf(recs []fetchRec) Range {
	lsn, n := span(recs)
	return Range{LSN: lsn, Len: uint32(n)}
}

func rangesOf(live [][]fetchRec) []Range {
	var rs []Range
	for _, recs := range live {
		rs = append(rs, rangeOf(recs))
	}
	return rs
}

// retire runs RetireBelow with the ranges of live and checks what it reports.
func retire(t testing.TB, fs vfs.FS, below uint64, live [][]fetchRec, want Retired) {
	t.Helper()
	got, err := RetireBelow(fs, walDir, below, rangesOf(live))
	noErr(t, err, "RetireBelow(%d)", below)
	eq(t, got, want, "RetireBelow(%d)", below)
	eq(t, got.Any(), want.Removed+want.Moved > 0, "Any")
}

// readable checks that a fresh Fetcher over fs reads every range back as it was logged.
func readable(t testing.TB, fs vfs.FS, ranges ...[]fetchRec) {
	t.Helper()
	f := NewFetcher(FetcherConfig{FS: fs, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	for _, recs := range ranges {
		noErr(t, fetchErr(f, recs))
	}
}

// unreadable checks that a fresh Fetcher over fs finds none of the ranges.
func unreadable(t testing.TB, fs vfs.FS, ranges ...[]fetchRec) {
	t.Helper()
	f := NewFetcher(FetcherConfig{FS: fs, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	for _, recs := range ranges {
		lsn, n := span(recs)
		fetchFails(t, f, lsn, n, dberr.ErrCorruption)
	}
}

// historyNames lists the history directory (none: empty).
func historyNames(t testing.TB, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List(filepath.Join(walDir, HistoryDir))
	if errors.Is(err, iofs.ErrNotExist) {
		return []string{}
	}
	noErr(t, err)
	return append([]string{}, names...)
}

func logSegments(t testing.TB, fs vfs.FS) []uint64 {
	t.Helper()
	bases, err := ListSegments(fs, walDir)
	noErr(t, err)
	return bases
}

// dataOf returns the memFS file behind path: the same pointer after a rename, a new one after a
// copy.
func dataOf(mem *memFS, path string) *memData {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	return mem.files[filepath.Clean(path)]
}

// historyPath is the path of history file seq.
func historyPath(seq uint64) string { return filepath.Join(walDir, HistoryDir, historyName(seq)) }

// all concatenates lists of ranges.
func all(lists ...[][]fetchRec) [][]fetchRec { return slices.Concat(lists...) }

// markers returns the commit marker alone of each transaction.
func markers(txs [][]fetchRec) [][]fetchRec {
	var out [][]fetchRec
	for _, tx := range txs {
		out = append(out, tx[1:])
	}
	return out
}

// With no live range, every segment wholly below the bound is deleted, the last segment never,
// and the segments from the bound on stay as they are.
func TestRetireBelowNothingLive(t *testing.T) {
	l := buildRetireLog(t, 30) // segments 0..7, the last holding two transactions
	last := len(l.bases) - 1
	for _, c := range []struct {
		name  string
		below uint64
		kept  int // the first segment kept
	}{
		{"zero", 0, 0},
		{"inside the first segment", 1, 0},
		{"the end of the first segment but one", l.bases[1] - 1, 0},
		{"a segment boundary", l.bases[4], 4},
		{"inside a segment", l.bases[4] + 150, 4},
		{"just before a boundary", l.bases[5] - 1, 4},
		{"the base of the last segment", l.bases[last], last},
		{"inside the last segment", l.bases[last] + 100, last},
		{"past the end", l.bases[last] + 10000, last},
		{"MaxUint64", math.MaxUint64, last},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := cloneMemFS(l.r.mem)
			keptData := map[uint64]*memData{}
			for _, b := range l.bases[c.kept:] {
				keptData[b] = dataOf(mem, segPath(b))
			}
			retire(t, mem, c.below, nil, Retired{Removed: c.kept})
			eq(t, logSegments(t, mem), l.bases[c.kept:])
			for b, d := range keptData {
				truth(t, dataOf(mem, segPath(b)) == d, "segment %d untouched", b)
			}
			eq(t, historyNames(t, mem), []string{}, "no history directory")
			eq(t, mem.dirs[filepath.Join(walDir, HistoryDir)], false, "the history directory is not created")
			unreadable(t, mem, l.segs(0, c.kept)...)
			readable(t, mem, l.segs(c.kept, last+1)...)
			retire(t, mem, c.below, nil, Retired{}) // again: nothing left to do
		})
	}

	// What an earlier retirement kept in the history directory goes when nothing is live.
	t.Run("history directory", func(t *testing.T) {
		mem := cloneMemFS(l.r.mem)
		live := all(l.seg(0), [][]fetchRec{l.tx(1, 2)}) // segment 0 moved, segment 1 copied
		retire(t, mem, l.bases[3], live, Retired{Moved: 1, Copied: 1, Removed: 2})
		eq(t, historyNames(t, mem), []string{historyName(0), SegmentName(l.bases[0])})
		readable(t, mem, live...)
		retire(t, mem, l.bases[3], nil, Retired{Removed: 2})
		eq(t, historyNames(t, mem), []string{})
		eq(t, logSegments(t, mem), l.bases[3:])
		unreadable(t, mem, l.segs(0, 3)...)
		retire(t, mem, l.bases[5], nil, Retired{Removed: 2})
		eq(t, logSegments(t, mem), l.bases[5:])
		readable(t, mem, l.segs(5, last+1)...)
	})
}

// A segment at least half of which is live moves into the history directory whole, by a rename:
// a Fetcher created after reads it there, and so does one that read it in the log before, once
// refreshed. The writer goes on appending meanwhile.
func TestRetireBelowMovesMostlyLive(t *testing.T) {
	l := buildRetireLog(t, 30)
	mem := l.r.mem // the writer's own FS: it is still running
	tfs := newTrackFS(mem)
	old := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir})
	defer func() { noErr(t, old.Close()) }()
	readable(t, mem, l.txs...)
	for _, tx := range l.txs {
		checkFetch(t, old, tx...)
	}
	eq(t, tfs.openFiles(), segNames(l.bases...))

	// Segment 0 wholly live, segment 1 exactly half, segment 2 dead.
	live := all(l.seg(0), [][]fetchRec{l.tx(1, 0), l.tx(1, 3)})
	data0, data1 := dataOf(mem, segPath(l.bases[0])), dataOf(mem, segPath(l.bases[1]))
	retire(t, mem, l.bases[3], live, Retired{Moved: 2, Removed: 1})
	eq(t, historyNames(t, mem), segNames(l.bases[0], l.bases[1]))
	eq(t, logSegments(t, mem), l.bases[3:])
	truth(t, dataOf(mem, histPath(l.bases[0])) == data0, "segment 0 renamed, not copied")
	truth(t, dataOf(mem, histPath(l.bases[1])) == data1, "segment 1 renamed, not copied")

	// The moved segments are whole: their ranges that are not live are there too.
	readable(t, mem, l.segs(0, 2)...)
	readable(t, mem, markers(l.segs(0, 2))...)
	readable(t, mem, l.segs(3, len(l.bases))...)
	unreadable(t, mem, l.seg(2)...)

	// The Fetcher that read them in the log: its descriptors still read until Refresh, which
	// closes the files that are gone from where it found them.
	for _, tx := range l.segs(0, 3) {
		checkFetch(t, old, tx...)
	}
	noErr(t, old.Refresh())
	eq(t, tfs.openFiles(), segNames(l.bases[3:]...))
	for _, tx := range l.segs(0, 2) {
		checkFetch(t, old, tx...)
		checkFetch(t, old, tx[1])
	}
	for _, tx := range l.seg(2) {
		fetchFails(t, old, tx[0].lsn, tx[0].n, dberr.ErrCorruption)
	}
	eq(t, tfs.openFiles(), segNames(slices.Concat(l.bases[:2], l.bases[3:])...), "the moved ones opened in the history directory")

	// Again with the same ranges: nothing to do. The writer appends on; a later retirement
	// takes the new segments out around the moved ones.
	retire(t, mem, l.bases[3], live, Retired{})
	var more [][]fetchRec
	for tx := uint64(100); tx < 110; tx++ {
		more = append(more, l.r.commit(t, tx, payload(fmt.Sprint("tx ", tx), 32)))
	}
	l.r.settle(t)
	readable(t, mem, more...)
	retire(t, mem, more[0][0].lsn, append(live, l.seg(3)...), Retired{Moved: 1, Removed: 3})
	eq(t, historyNames(t, mem), segNames(l.bases[0], l.bases[1], l.bases[3]))
	readable(t, mem, all(live, l.seg(3), more)...)
	noErr(t, old.Refresh())
	for _, tx := range all(live, l.seg(3), more) {
		checkFetch(t, old, tx...)
	}
	eq(t, tfs.doubleCloses(), 0)
}

// A segment less than half of which is live has its live ranges copied into a new history file
// and is deleted: every live range reads back as logged, and nothing else of it.
func TestRetireBelowCopiesMostlyDead(t *testing.T) {
	l := buildRetireLog(t, 30)
	mem := cloneMemFS(l.r.mem)
	tfs := newTrackFS(mem)
	old := NewFetcher(FetcherConfig{FS: tfs, Dir: walDir})
	defer func() { noErr(t, old.Close()) }()
	for _, tx := range l.segs(0, 4) {
		checkFetch(t, old, tx...)
	}

	// Segment 0: a quarter live. Segment 1: one entry and a transaction, 158 of 400 bytes.
	// Segment 2: nothing.
	live := [][]fetchRec{l.tx(0, 1), entryOnly(l.tx(1, 0)), l.tx(1, 3)}
	retire(t, mem, l.bases[3], live, Retired{Copied: 3, Removed: 3})
	eq(t, historyNames(t, mem), []string{historyName(0)})
	eq(t, logSegments(t, mem), l.bases[3:])

	ranges, err := readIndexAt(mem, historyPath(0))
	noErr(t, err)
	off := int64(historyHeader)
	for i, p := range ranges {
		eq(t, p.Range, rangeOf(live[i]), "range %d of the history file", i)
		eq(t, p.off, off, "offset of range %d", i)
		src := l.r.mem.bytes(segPath(segOf(l.bases, p.LSN)))
		at := HeaderSize + int(p.LSN%retireSegSize)
		eq(t, mem.bytes(historyPath(0))[p.off:p.off+int64(p.Len)], src[at:at+int(p.Len)],
			"the bytes of range %d are the log's", i)
		off += int64(p.Len)
	}
	eq(t, len(ranges), len(live))

	readable(t, mem, live...)
	readable(t, mem, entryOnly(l.tx(0, 1)), l.tx(0, 1)[1:], l.tx(1, 3)[1:]) // whole entries inside a live range
	unreadable(t, mem, l.tx(0, 0), l.tx(0, 2), l.tx(0, 3), l.tx(1, 0), l.tx(1, 0)[1:], l.tx(1, 1), l.tx(1, 2))
	unreadable(t, mem, l.seg(2)...)
	unreadable(t, mem, append(slices.Clone(l.tx(0, 1)), l.tx(0, 2)...)) // past a live range
	readable(t, mem, l.segs(3, len(l.bases))...)

	// The Fetcher that read the segments before: Refresh closes them and reads the history file.
	noErr(t, old.Refresh())
	eq(t, tfs.openFiles(), segNames(l.bases[3]))
	for _, recs := range live {
		checkFetch(t, old, recs...)
	}
	fetchFails(t, old, l.tx(0, 0)[0].lsn, l.tx(0, 0)[0].n, dberr.ErrCorruption)
	eq(t, tfs.openFiles(), []string{historyName(0), SegmentName(l.bases[3])})
	eq(t, tfs.doubleCloses(), 0)

	// A damaged byte in the history file's body: the entry's checksum catches it, and the error
	// names the history file.
	flipped := cloneMemFS(mem)
	flipped.bytes(historyPath(0))[historyHeader+offPayload] ^= 0xff
	f := NewFetcher(FetcherConfig{FS: flipped, Dir: walDir})
	defer func() { noErr(t, f.Close()) }()
	lsn, n := span(live[0])
	_, err = f.Fetch(lsn, n)
	isErr(t, err, dberr.ErrCorruption)
	isErr(t, err, ErrBadChecksum)
	truth(t, strings.Contains(err.Error(), historyName(0)), "the error names the history file: %v", err)
	checkFetch(t, f, live[1]...)
}

// A second retirement with fewer live ranges: a history file that became less than half live is
// rewritten under a new sequence number and the old one deleted, a history file or moved segment
// with nothing live is deleted, a moved segment less than half live is copied and deleted; a
// history file still at least half live stays as it is.
func TestRetireBelowSecondRetirement(t *testing.T) {
	l := buildRetireLog(t, 30)
	mem := cloneMemFS(l.r.mem)

	// First: segments 0 and 1 copied into history file 0 (258 bytes in three ranges), segments 2
	// and 3 moved.
	first := all([][]fetchRec{l.tx(0, 0), l.tx(1, 0), entryOnly(l.tx(1, 1))}, l.seg(2)[:3], l.seg(3))
	retire(t, mem, l.bases[4], first, Retired{Copied: 3, Moved: 2, Removed: 2})
	eq(t, historyNames(t, mem), []string{historyName(0), SegmentName(l.bases[2]), SegmentName(l.bases[3])})
	readable(t, mem, first...)
	afterFirst := cloneMemFS(mem)

	t.Run("still half live", func(t *testing.T) {
		mem := cloneMemFS(afterFirst)
		hist0 := dataOf(mem, historyPath(0))
		live := all([][]fetchRec{l.tx(0, 0), entryOnly(l.tx(1, 1))}, l.seg(2)[1:3], l.seg(3)[:2])
		retire(t, mem, l.bases[4], live, Retired{}) // 158 of 258, 200 of 400, 200 of 400
		eq(t, historyNames(t, mem), []string{historyName(0), SegmentName(l.bases[2]), SegmentName(l.bases[3])})
		truth(t, dataOf(mem, historyPath(0)) == hist0, "history file 0 untouched")
		readable(t, mem, first...) // all of it still there
	})

	t.Run("fewer live", func(t *testing.T) {
		mem := cloneMemFS(afterFirst)
		// History file 0: 58 of 258 bytes. Moved segment 2: nothing. Moved segment 3: a quarter.
		// Segment 4: three quarters. Segment 5: nothing.
		live := all([][]fetchRec{entryOnly(l.tx(1, 1)), l.tx(3, 2)}, l.seg(4)[1:])
		retire(t, mem, l.bases[6], live, Retired{Copied: 2, Moved: 1, Removed: 4})
		eq(t, historyNames(t, mem), []string{historyName(1), SegmentName(l.bases[4])})
		eq(t, logSegments(t, mem), l.bases[6:])
		ranges, err := readIndexAt(mem, historyPath(1))
		noErr(t, err)
		eq(t, len(ranges), 2)
		eq(t, ranges[0].Range, rangeOf(entryOnly(l.tx(1, 1))))
		eq(t, ranges[1].Range, rangeOf(l.tx(3, 2)))
		readable(t, mem, live...)
		readable(t, mem, l.seg(4)...) // moved whole
		unreadable(t, mem, l.tx(0, 0), l.tx(1, 0), l.tx(1, 1))
		unreadable(t, mem, l.seg(2)...)
		unreadable(t, mem, l.tx(3, 0), l.tx(3, 1), l.tx(3, 3))
		unreadable(t, mem, l.seg(5)...)
		readable(t, mem, l.segs(6, len(l.bases))...)

		// The rewritten file is itself rewritten, or deleted, later.
		retire(t, mem, l.bases[6], [][]fetchRec{l.tx(4, 0)}, Retired{Removed: 2, Copied: 1})
		eq(t, historyNames(t, mem), []string{historyName(2)})
		readable(t, mem, l.tx(4, 0))
		retire(t, mem, l.bases[6], nil, Retired{Removed: 1})
		eq(t, historyNames(t, mem), []string{})
		unreadable(t, mem, l.segs(0, 6)...)
	})

	t.Run("part of a range", func(t *testing.T) {
		mem := cloneMemFS(afterFirst)
		live := all([][]fetchRec{l.tx(0, 0)[1:], l.tx(1, 0)[1:]}, l.seg(2), l.seg(3)) // two markers: 84 of 258 bytes
		retire(t, mem, l.bases[4], live, Retired{Copied: 2, Removed: 1})
		eq(t, historyNames(t, mem), []string{historyName(1), SegmentName(l.bases[2]), SegmentName(l.bases[3])})
		readable(t, mem, live...)
		unreadable(t, mem, entryOnly(l.tx(0, 0)), l.tx(0, 0), entryOnly(l.tx(1, 0)), entryOnly(l.tx(1, 1)))
	})

	t.Run("nothing live in the history file", func(t *testing.T) {
		mem := cloneMemFS(afterFirst)
		live := all(l.seg(2), l.seg(3))
		retire(t, mem, l.bases[4], live, Retired{Removed: 1})
		eq(t, historyNames(t, mem), []string{SegmentName(l.bases[2]), SegmentName(l.bases[3])})
		readable(t, mem, live...)
		unreadable(t, mem, l.tx(0, 0), l.tx(1, 0))
	})
}

// Live ranges may come in any order, duplicated; a live range from the bound on is not the
// retirement's business, and its segment stays in the log untouched.
func TestRetireBelowUnsortedDuplicates(t *testing.T) {
	l := buildRetireLog(t, 30)
	// Segment 0 moved, segment 1 copied (two ranges), segment 2 dead; segments 4 and 5 (the bound
	// is segment 4's base) and the last have live ranges too.
	live := all(l.seg(0), [][]fetchRec{l.tx(1, 1), entryOnly(l.tx(1, 3)), l.tx(4, 0), l.tx(5, 1), l.tx(7, 0)},
		l.seg(3)[:2])
	want := Retired{Moved: 2, Copied: 2, Removed: 2}

	sorted := cloneMemFS(l.r.mem)
	retire(t, sorted, l.bases[4], live, want)

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 10 {
		mem := cloneMemFS(l.r.mem)
		untouched := map[uint64]*memData{}
		for _, b := range l.bases[4:] {
			untouched[b] = dataOf(mem, segPath(b))
		}
		shuffled := slices.Clone(live)
		for _, i := range rng.Perm(len(live))[:round] { // some of them twice, or thrice
			shuffled = append(shuffled, live[i], live[i])
		}
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		retire(t, mem, l.bases[4], shuffled, want)
		eq(t, historyNames(t, mem), historyNames(t, sorted), "round %d", round)
		for _, name := range historyNames(t, sorted) {
			path := filepath.Join(walDir, HistoryDir, name)
			eq(t, mem.bytes(path), sorted.bytes(path), "round %d: %s", round, name)
		}
		eq(t, logSegments(t, mem), l.bases[4:])
		for b, d := range untouched {
			truth(t, dataOf(mem, segPath(b)) == d, "round %d: segment %d untouched", round, b)
		}
		readable(t, mem, live...)
		readable(t, mem, l.segs(4, len(l.bases))...)
		unreadable(t, mem, l.seg(2)...)
		unreadable(t, mem, l.tx(1, 0), l.tx(1, 2))
	}
}

// A live range that does not lie within one segment keeps every segment it touches whole.
func TestRetireBelowPinned(t *testing.T) {
	l := buildRetireLog(t, 30)
	mem := cloneMemFS(l.r.mem)
	across := append(slices.Clone(l.tx(1, 3)), l.tx(2, 0)...) // the last of segment 1, the first of 2
	retire(t, mem, l.bases[4], [][]fetchRec{across}, Retired{Moved: 2, Removed: 2})
	eq(t, historyNames(t, mem), segNames(l.bases[1], l.bases[2]))
	readable(t, mem, l.segs(1, 3)...)
	unreadable(t, mem, l.seg(0)...)
	unreadable(t, mem, l.seg(3)...)
}

// Live ranges that overlap — a transaction and an entry of it, or ranges at one LSN of
// different lengths — are each readable after the retirement.
func TestRetireBelowOverlappingLive(t *testing.T) {
	l := buildRetireLog(t, 30)
	for _, c := range []struct {
		name string
		live [][]fetchRec
	}{
		{"a range and its first entry", [][]fetchRec{l.tx(0, 1), entryOnly(l.tx(0, 1))}},
		{"a range and its last entry", [][]fetchRec{l.tx(0, 1), l.tx(0, 1)[1:]}},
		{"overlapping", [][]fetchRec{l.tx(0, 1), append(slices.Clone(l.tx(0, 1)[1:]), entryOnly(l.tx(0, 2))...)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := cloneMemFS(l.r.mem)
			_, err := RetireBelow(mem, walDir, l.bases[1], rangesOf(c.live))
			noErr(t, err)
			for _, name := range historyNames(t, mem) {
				if seq, ok := parseHistoryName(name); ok {
					_, err := readIndexAt(mem, historyPath(seq))
					noErr(t, err, "the history file written reads back")
				}
			}
			readable(t, mem, c.live...)
		})
	}
}

// A history file that does not validate is left as it is: never deleted, never overwritten, and
// the Fetcher leaves it out.
func TestRetireBelowDamagedHistoryFile(t *testing.T) {
	l := buildRetireLog(t, 30)
	base := cloneMemFS(l.r.mem)
	live := [][]fetchRec{l.tx(0, 1), l.tx(1, 2)}
	retire(t, base, l.bases[2], live, Retired{Copied: 2, Removed: 2})
	size := len(base.bytes(historyPath(0)))
	indexAt := size - historyFooter - 2*historyIndexItem

	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"index", func(b []byte) []byte { b[indexAt+3] ^= 0x10; return b }},
		{"header", func(b []byte) []byte { b[2] ^= 0x10; return b }},
		{"footer", func(b []byte) []byte { b[size-1] ^= 0x10; return b }},
		{"truncated", func(b []byte) []byte { return b[:size-5] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := cloneMemFS(base)
			damaged := c.damage(slices.Clone(mem.bytes(historyPath(0))))
			mem.set(historyPath(0), damaged)
			_, err := readIndexAt(mem, historyPath(0))
			isErr(t, err, ErrBadHistoryFile)
			unreadable(t, mem, live...) // the Fetcher leaves it out

			// Nothing live, then its ranges live, then another copy: it stays as it is.
			retire(t, mem, l.bases[2], nil, Retired{})
			retire(t, mem, l.bases[2], live, Retired{})
			retire(t, mem, l.bases[3], append(live, l.tx(2, 3)), Retired{Copied: 1, Removed: 1})
			eq(t, historyNames(t, mem), []string{historyName(0), historyName(1)})
			eq(t, mem.bytes(historyPath(0)), damaged, "the damaged file is untouched")
			readable(t, mem, l.tx(2, 3))
			retire(t, mem, math.MaxUint64, nil, Retired{Removed: 5})
			eq(t, historyNames(t, mem), []string{historyName(0)})
			eq(t, mem.bytes(historyPath(0)), damaged, "the damaged file is untouched")
			eq(t, logSegments(t, mem), l.bases[len(l.bases)-1:])
		})
	}
}

// The temporary of a history file a crash interrupted is deleted; other names are left alone.
func TestRetireBelowPartialFiles(t *testing.T) {
	l := buildRetireLog(t, 30)
	mem := cloneMemFS(l.r.mem)
	others := []string{"notes.txt", "x.hist.tmp", historyName(5) + ".tmp.tmp", "0.hist.tmp"}
	for _, name := range append([]string{historyName(0) + ".tmp", historyName(9) + ".tmp"}, others...) {
		mem.set(filepath.Join(walDir, HistoryDir, name), []byte("half written"))
	}
	retire(t, mem, 0, nil, Retired{})
	want := slices.Clone(others)
	slices.Sort(want)
	eq(t, historyNames(t, mem), want)

	// Again, before a retirement that writes a history file: the new one is history file 0.
	mem.set(filepath.Join(walDir, HistoryDir, historyName(0)+".tmp"), []byte("half written"))
	retire(t, mem, l.bases[1], [][]fetchRec{l.tx(0, 0)}, Retired{Copied: 1, Removed: 1})
	eq(t, historyNames(t, mem), slices.Sorted(slices.Values(append(slices.Clone(others), historyName(0)))))
	readable(t, mem, l.tx(0, 0))
}

// Past maxHistoryFiles history files, the next retirement folds them all into its new one.
func TestRetireBelowFold(t *testing.T) {
	l := buildRetireLog(t, 4*(maxHistoryFiles+3))
	mem := cloneMemFS(l.r.mem)
	var live [][]fetchRec
	for k := range maxHistoryFiles {
		live = append(live, l.tx(k, k%4))
		retire(t, mem, l.bases[k+1], live, Retired{Copied: 1, Removed: 1})
		eq(t, len(historyNames(t, mem)), k+1)
	}
	readable(t, mem, live...)
	k := maxHistoryFiles
	live = append(live, l.tx(k, 0))
	retire(t, mem, l.bases[k+1], live, Retired{Copied: k + 1, Removed: k + 1})
	eq(t, historyNames(t, mem), []string{historyName(uint64(k))})
	ranges, err := readIndexAt(mem, historyPath(uint64(k)))
	noErr(t, err)
	eq(t, len(ranges), k+1)
	readable(t, mem, live...)
	unreadable(t, mem, l.tx(0, 1), l.tx(k, 1))

	k++
	live = append(live[1:], l.tx(k, 0))
	retire(t, mem, l.bases[k+1], live, Retired{Copied: 1, Removed: 1})
	eq(t, historyNames(t, mem), []string{historyName(uint64(k - 1)), historyName(uint64(k))})
	readable(t, mem, live...)
}

// hookFS calls after following each call that changes the filesystem.
type hookFS struct {
	vfs.FS
	after func(what string)
}

type hookFile struct {
	vfs.File
	fs   hookFS
	name string
}

func (h hookFS) Create(name string) (vfs.File, error) {
	f, err := h.FS.Create(name)
	h.after("create " + name)
	if err != nil {
		return nil, err
	}
	return hookFile{File: f, fs: h, name: name}, nil
}

func (h hookFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := h.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return hookFile{File: f, fs: h, name: name}, nil
}

func (h hookFS) Rename(oldname, newname string) error {
	err := h.FS.Rename(oldname, newname)
	h.after("rename " + oldname + " " + newname)
	return err
}

func (h hookFS) Remove(name string) error {
	err := h.FS.Remove(name)
	h.after("remove " + name)
	return err
}

func (h hookFS) MkdirAll(dir string) error {
	err := h.FS.MkdirAll(dir)
	h.after("mkdir " + dir)
	return err
}

func (h hookFS) SyncDir(dir string) error {
	err := h.FS.SyncDir(dir)
	h.after("syncdir " + dir)
	return err
}

func (f hookFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.after("write " + f.name)
	return n, err
}

func (f hookFile) Sync() error {
	err := f.File.Sync()
	f.fs.after("sync " + f.name)
	return err
}

func (f hookFile) Truncate(size int64) error {
	err := f.File.Truncate(size)
	f.fs.after("truncate " + f.name)
	return err
}

func (f hookFile) Close() error {
	err := f.File.Close()
	f.fs.after("close " + f.name)
	return err
}

// durableCopy returns a CrashFS holding mem's files and directories, all durable.
func durableCopy(t testing.TB, mem *memFS) *vfs.CrashFS {
	t.Helper()
	mem.mu.Lock()
	files := map[string][]byte{}
	for name, d := range mem.files {
		files[name] = slices.Clone(d.b)
	}
	dirs := map[string]bool{".": true}
	for d := range mem.dirs {
		dirs[d] = true
	}
	mem.mu.Unlock()
	for name := range files {
		for d := filepath.Dir(name); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	c := vfs.NewCrashFS()
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		noErr(t, c.MkdirAll(d))
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, err := c.Create(name)
		noErr(t, err)
		_, err = f.Write(files[name])
		noErr(t, err)
		noErr(t, f.Sync())
		noErr(t, f.Close())
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		noErr(t, c.SyncDir(d))
	}
	return c
}

// note logs what led here if the test has failed: deferred, it names the state a check failed in.
func note(t testing.TB, what string) {
	if t.Failed() {
		t.Logf("after %s", what)
	}
}

// noting runs check, saying what led here if it fails the test.
func noting(t testing.TB, what string, check func()) {
	t.Helper()
	defer note(t, what)
	check()
}

// retiredClean checks the state a completed retirement leaves: no segment wholly below the bound
// in the log, no temporary in the history directory, every file there holding a live range, and
// every live range readable.
func retiredClean(t testing.TB, fs vfs.FS, below uint64, live [][]fetchRec, context string) {
	t.Helper()
	defer note(t, context)
	bases := logSegments(t, fs)
	for i := 0; i+1 < len(bases); i++ {
		truth(t, bases[i+1] > below, "segment %d, wholly below %d, still in the log %v", bases[i], below, bases)
	}
	readable(t, fs, live...)
	for _, name := range historyNames(t, fs) {
		truth(t, !strings.HasSuffix(name, ".tmp"), "temporary %s left", name)
		holds := false
		for _, r := range rangesOf(live) {
			if base, ok := ParseSegmentName(name); ok {
				size, err := fs.Stat(filepath.Join(walDir, HistoryDir, name))
				noErr(t, err)
				holds = holds || r.LSN >= base && r.End() <= base+uint64(size-HeaderSize)
			} else if seq, ok := parseHistoryName(name); ok {
				ranges, err := readIndexAt(fs, historyPath(seq))
				noErr(t, err)
				holds = holds || slices.ContainsFunc(ranges, func(p placed) bool { return p.contains(r.LSN, int(r.Len)) })
			}
		}
		truth(t, holds, "%s holds no live range", name)
	}
}

// retireRound is one retirement of a sequence: its bound, its live ranges, what it does.
type retireRound struct {
	below uint64
	live  [][]fetchRec
	want  Retired
}

// retireRounds are three retirements, one after the other, that between them write, rewrite and
// delete history files, and move, copy and delete segments and moved segments; the last only
// copies.
func retireRounds(l *retireLog) []retireRound {
	second := all([][]fetchRec{entryOnly(l.tx(1, 1)), l.tx(3, 2)}, l.seg(4)[1:])
	return []retireRound{
		{l.bases[4], all([][]fetchRec{l.tx(0, 0), l.tx(1, 0), entryOnly(l.tx(1, 1))}, l.seg(2)[:3], l.seg(3)),
			Retired{Copied: 3, Moved: 2, Removed: 2}},
		{l.bases[6], second, Retired{Copied: 2, Moved: 1, Removed: 4}},
		{l.bases[7], append(slices.Clone(second), l.tx(6, 1)), Retired{Copied: 1, Removed: 1}},
	}
}

// A crash at any point of a retirement — after any filesystem call, whatever of the unsynced
// changes the power loss keeps — leaves every live range readable, and a retirement run again
// on the rebooted filesystem completes.
func TestRetireBelowCrash(t *testing.T) {
	l := buildRetireLog(t, 30)
	c := durableCopy(t, l.r.mem)
	readable(t, c.CrashKeepNothing(), l.txs...)
	rng := rand.New(rand.NewPCG(7, 11))
	for round, r := range retireRounds(l) {
		var images []*vfs.CrashFS
		var points []string
		snap := func(what string) {
			points = append(points, what)
			images = append(images, c.CrashKeepNothing(), c.CrashKeepAll())
			for range 3 {
				images = append(images, c.Crash(rng), c.CrashPages(rng))
			}
		}
		snap("start")
		got, err := RetireBelow(hookFS{FS: c, after: snap}, walDir, r.below, rangesOf(r.live))
		noErr(t, err, "round %d", round)
		eq(t, got, r.want, "round %d", round)
		truth(t, len(points) > 10, "round %d: crash points %v", round, points)
		for i, img := range images {
			point := points[i/8]
			noting(t, fmt.Sprintf("round %d: a crash at %s", round, point), func() { readable(t, img, r.live...) })
			_, err := RetireBelow(img, walDir, r.below, rangesOf(r.live))
			noErr(t, err, "round %d: retire again after a crash at %s", round, point)
			retiredClean(t, img, r.below, r.live, fmt.Sprintf("round %d: retired again after a crash at %s", round, point))
			retiredClean(t, img.CrashKeepNothing(), r.below, r.live, fmt.Sprintf("round %d: retired again after a crash at %s, then a power loss", round, point))
		}
		retiredClean(t, c, r.below, r.live, fmt.Sprintf("round %d", round))
		retiredClean(t, c.CrashKeepNothing(), r.below, r.live, fmt.Sprintf("round %d, then a power loss", round))
	}
}

// A retirement whose Nth filesystem call of a kind fails, for every N, returns the error and
// leaves every live range readable (now, and after a power loss); run again, it completes.
func TestRetireBelowFailures(t *testing.T) {
	l := buildRetireLog(t, 30)
	rounds := retireRounds(l)
	states := []*vfs.CrashFS{durableCopy(t, l.r.mem)} // before each round
	for i, r := range rounds {
		c := states[i].CrashKeepAll()
		retire(t, c, r.below, r.live, r.want)
		c = c.CrashKeepNothing()
		retiredClean(t, c, r.below, r.live, fmt.Sprintf("round %d", i))
		states = append(states, c)
	}

	ops := []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpClose, vfs.OpRename, vfs.OpRemove,
		vfs.OpMkdirAll, vfs.OpSyncDir, vfs.OpOpen, vfs.OpReadAt, vfs.OpStat, vfs.OpList}
	failed := map[vfs.Op]int{}
	for round, r := range rounds {
		for _, op := range ops {
			for n := 1; ; n++ {
				fs := vfs.NewInjectFS(states[round].CrashKeepAll())
				fs.FailNth(op, n, nil)
				got, err := RetireBelow(fs, walDir, r.below, rangesOf(r.live))
				if fs.Failures(op) == 0 {
					noErr(t, err, "round %d, no %s failed", round, op)
					eq(t, got, r.want)
					break
				}
				failed[op]++
				what := fmt.Sprintf("round %d: %s %d failed (%v)", round, op, n, err)
				if err != nil {
					isErr(t, err, vfs.ErrInjected, what)
				}
				inner := fs.Inner().(*vfs.CrashFS)
				noting(t, what, func() { readable(t, inner, r.live...) })
				noting(t, what+", then a power loss", func() { readable(t, inner.CrashKeepNothing(), r.live...) })
				fs.ClearFaults()
				_, err = RetireBelow(fs, walDir, r.below, rangesOf(r.live))
				noErr(t, err, what+", then retried")
				retiredClean(t, inner, r.below, r.live, what+", then a retry")
				// A power loss now may undo what was not made durable, never lose a live range; a
				// retirement after it completes.
				img := inner.CrashKeepNothing()
				noting(t, what+", then a retry and a power loss", func() { readable(t, img, r.live...) })
				_, err = RetireBelow(img, walDir, r.below, rangesOf(r.live))
				again := what + ", then a retry, a power loss and a retry"
				noErr(t, err, again)
				retiredClean(t, img, r.below, r.live, again)
			}
		}
	}
	for _, op := range ops {
		truth(t, failed[op] > 0, "no %s call to fail", op)
	}
}

// A retirement interrupted between its moves (segment 2 moved into the history directory,
// segment 3 not) and run again completes, and keeps every live range.
func TestRetireBelowAfterInterruptedMove(t *testing.T) {
	l := buildRetireLog(t, 30)
	r := retireRounds(l)[0]
	fs := vfs.NewInjectFS(durableCopy(t, l.r.mem))
	fs.FailNth(vfs.OpRename, 3, nil) // the history file's, segment 2's, then segment 3's
	_, err := RetireBelow(fs, walDir, r.below, rangesOf(r.live))
	isErr(t, err, vfs.ErrInjected)
	eq(t, logSegments(t, fs), slices.Concat(l.bases[:2], l.bases[3:]), "segment 2 moved, 3 not")
	readable(t, fs, r.live...)
	_, err = RetireBelow(fs, walDir, r.below, rangesOf(r.live))
	noErr(t, err, "run again")
	retiredClean(t, fs, r.below, r.live, "a retirement interrupted between its moves, run again")
}

// A retirement whose SyncDir of the history directory failed, run again, leaves the history file
// durable before it deletes what the file holds a copy of: a power loss then keeps every live
// range.
func TestRetireBelowRetryAfterFailedSyncDir(t *testing.T) {
	l := buildRetireLog(t, 30)
	live := [][]fetchRec{l.tx(0, 1), entryOnly(l.tx(1, 2))}
	c := durableCopy(t, l.r.mem)
	fs := vfs.NewInjectFS(c)
	fs.FailNth(vfs.OpSyncDir, 2, nil) // the log directory's (the new history directory), then the history directory's
	_, err := RetireBelow(fs, walDir, l.bases[2], rangesOf(live))
	isErr(t, err, vfs.ErrInjected)
	_, err = RetireBelow(fs, walDir, l.bases[2], rangesOf(live))
	noErr(t, err, "run again")
	readable(t, c, live...)
	readable(t, c.CrashKeepNothing(), live...)
}
