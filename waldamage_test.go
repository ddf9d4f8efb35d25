package inmem_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	runprim "github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Byte-level damage on a real log (R1–R5): the log is written through the public
// API into a temporary directory, the database is closed, a segment file is edited with os.*
// calls, and the directory is opened again. Every case checks the exact state recovered: a
// prefix of the commit order (or, for SkipCorrupt, exactly the transactions not touched by the
// damage), never a gap, never a key that was not committed.
//
// The helpers are prefixed wd so they cannot collide with the other byte-level tests.
//
// wdWrite and wdOpen open with noCloseSnapshot: Close takes no snapshot, so the log stays the
// only thing recovery reads and no damage is hidden behind a snapshot. Recovery does append to
// the log: it marks the run, active at Close, Orphaned with a logged RunUpdate
// — wdRequireOrphanMarkAt checks that this is all it appends.

// wdEntry is one entry of a segment file: its byte range and envelope fields.
type wdEntry struct {
	start, end int
	typ        uint8
	tx         uint64
}

// wdTx is one transaction of the log: its entries, the commit marker last, all in one segment.
type wdTx struct {
	seg        string // path of the segment file
	start, end int    // file offsets [start, end)
	entries    []wdEntry
}

// wdLog is a log written through the public API: a run, then n one-key commits k000 = "0", …
// made by one goroutine, so that commit order is index order.
type wdLog struct {
	dir  string
	run  inmem.RunID
	n    int
	txs  []wdTx   // txs[0] is BeginRun, txs[i+1] the put of key i
	segs []string // segment paths, ascending
}

func wdKey(i int) string { return fmt.Sprintf("k%03d", i) }

// wdWrite writes a log of n puts with the given options and parses it back.
func wdWrite(t *testing.T, n int, mutate ...func(*inmem.Options)) *wdLog {
	t.Helper()
	dir := t.TempDir()
	db := openDir(t, dir, append([]func(*inmem.Options){noCloseSnapshot}, mutate...)...)
	run := newRun(t, db)
	for i := range n {
		require.NoError(t, db.KV().Put(ctx, run, wdKey(i), []byte(strconv.Itoa(i))))
	}
	require.NoError(t, db.Close())
	l := &wdLog{dir: dir, run: run, n: n}
	l.segs, l.txs = wdParse(t, dir)
	require.Len(t, l.txs, n+1, "BeginRun, then one transaction per put")
	require.Len(t, l.txs[0].entries, 2, "BeginRun: its entry and the commit marker")
	for _, tx := range l.txs[1:] {
		require.Len(t, tx.entries, 3, "the journal step, one data entry and the commit marker")
		require.Equal(t, runprim.TypeStep, tx.entries[0].typ)
	}
	return l
}

// put returns the transaction's last data entry; marker its commit marker.
func (tx wdTx) put() wdEntry    { return tx.entries[len(tx.entries)-2] }
func (tx wdTx) marker() wdEntry { return tx.entries[len(tx.entries)-1] }

// tx returns the transaction of the put of key i.
func (l *wdLog) tx(i int) wdTx { return l.txs[i+1] }

// wdSegments returns the segment files of dir's WAL, ascending.
func wdSegments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	sort.Strings(segs)
	return segs
}

// wdParse decodes every segment of dir's WAL from its header on and groups the entries into
// transactions. The log must be intact, and no transaction may span two segments.
func wdParse(t *testing.T, dir string) (segs []string, txs []wdTx) {
	t.Helper()
	segs = wdSegments(t, dir)
	require.NotEmpty(t, segs)
	for _, seg := range segs {
		data, err := os.ReadFile(seg)
		require.NoError(t, err)
		cur := wdTx{seg: seg, start: commitlog.HeaderSize}
		for off := commitlog.HeaderSize; off < len(data); {
			e, n, err := commitlog.DecodeEntry(data[off:])
			require.NoError(t, err, "%s at offset %d", seg, off)
			cur.entries = append(cur.entries, wdEntry{start: off, end: off + n, typ: e.Type, tx: e.TxID})
			off += n
			if e.Type == commitlog.TypeTransactionCommit {
				cur.end = off
				txs = append(txs, cur)
				cur = wdTx{seg: seg, start: off}
			}
		}
		require.Empty(t, cur.entries, "%s ends inside a transaction", seg)
	}
	return segs, txs
}

// wdCopy copies a database directory (LOCK included), so each case starts from the same log.
func wdCopy(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	require.NoError(t, os.CopyFS(to, os.DirFS(from)))
	return to
}

// wdRebase returns the path of the same file inside another copy of the directory.
func wdRebase(t *testing.T, path, fromDir, toDir string) string {
	t.Helper()
	rel, err := filepath.Rel(fromDir, path)
	require.NoError(t, err)
	return filepath.Join(toDir, rel)
}

// wdOpen opens dir, failing the test on error; the database is closed at the end of the test
// if the test has not closed it (Close is idempotent).
func wdOpen(t *testing.T, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	db := openDir(t, dir, append([]func(*inmem.Options){noCloseSnapshot}, mutate...)...)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// wdWant returns the state of the puts of the keys i for which keep(i) is true.
func wdWant(n int, keep func(i int) bool) map[string]string {
	want := map[string]string{}
	for i := range n {
		if keep(i) {
			want[wdKey(i)] = strconv.Itoa(i)
		}
	}
	return want
}

// wdPrefix returns the state after the first n puts.
func wdPrefix(n int) map[string]string { return wdWant(n, func(int) bool { return true }) }

// wdRequireState checks that run's KV state is exactly want: List returns exactly its keys,
// sorted, and every key reads back its value.
func wdRequireState(t *testing.T, db *inmem.DB, run inmem.RunID, want map[string]string, msgAndArgs ...any) {
	t.Helper()
	keys, err := db.KV().List(run, "")
	require.NoError(t, err)
	wantKeys := make([]string, 0, len(want))
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	if len(keys) == 0 {
		keys = []string{}
	}
	require.Equal(t, wantKeys, keys, msgAndArgs...)
	for _, k := range wantKeys {
		require.Equal(t, want[k], get(t, db, run, k), msgAndArgs...)
	}
}

// wdWith returns want plus the pairs kv (key, value, key, value, …).
func wdWith(want map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(want)+len(kv)/2)
	for k, v := range want {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// wdCommitAndReopen commits key = value on db, closes it, reopens dir and checks that the state
// is want plus the new pair: a commit made after recovery is never lost behind damage.
func wdCommitAndReopen(t *testing.T, db *inmem.DB, dir string, run inmem.RunID, want map[string]string,
	key, value string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	if db.RunStatus(run) == inmem.RunOrphaned { // active at the last Close: resume it to write
		require.NoError(t, db.ResumeRun(ctx, run))
	}
	require.NoError(t, db.KV().Put(ctx, run, key, []byte(value)))
	require.NoError(t, db.Close())
	db = wdOpen(t, dir, mutate...)
	wdRequireState(t, db, run, wdWith(want, key, value), "after a commit made once recovered")
	return db
}

// wdRequireOrphanMarkAt checks what recovery left at the end of the segment at path: the log
// as recovered ends at offset at, and after it comes exactly one transaction, the logged
// marking of run as Orphaned (a RunUpdate and its commit marker) — nothing else was appended
// (but the zeros the log preallocates while it is open).
func wdRequireOrphanMarkAt(t *testing.T, path string, at int64, run inmem.RunID, msgAndArgs ...any) {
	t.Helper()
	data := wdRead(t, path)
	require.Greater(t, int64(len(data)), at, msgAndArgs...)
	rest := data[at:]
	e, n, err := commitlog.DecodeEntry(rest)
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, runprim.TypeUpdate, e.Type, msgAndArgs...)
	require.Len(t, e.Payload, len(run)+8+1, "run id, time, status")
	require.Equal(t, run[:], e.Payload[:len(run)], msgAndArgs...)
	require.Equal(t, byte(inmem.RunOrphaned), e.Payload[len(e.Payload)-1], msgAndArgs...)
	m, k, err := commitlog.DecodeEntry(rest[n:])
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, commitlog.TypeTransactionCommit, m.Type, msgAndArgs...)
	require.Equal(t, e.TxID, m.TxID, msgAndArgs...)
	// While the database is open the active segment is preallocated: zeros, no entry.
	require.Empty(t, bytes.TrimLeft(rest[n+k:], "\x00"), msgAndArgs...)
}

// wdRequireSegments checks that dir's log consists of the segments want — or of them and one
// more, holding no entry: the one the log rolled over to when the orphan marking recovery
// appended filled the last of them up.
func wdRequireSegments(t *testing.T, dir string, want []string, msgAndArgs ...any) {
	t.Helper()
	segs := wdSegments(t, dir)
	if len(segs) == len(want)+1 {
		last := segs[len(segs)-1]
		assert.Empty(t, bytes.TrimLeft(wdRead(t, last)[commitlog.HeaderSize:], "\x00"),
			"%s, a new segment after the orphan marking, holds no entry", last)
		segs = segs[:len(want)]
	}
	assert.Equal(t, want, segs, msgAndArgs...)
}

// wdEdit rewrites a file through fn.
func wdEdit(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, fn(b), 0o644))
}

// wdFlip flips one bit in the middle of entry e of path.
func wdFlip(t *testing.T, path string, e wdEntry) {
	t.Helper()
	wdEdit(t, path, func(b []byte) []byte {
		b[(e.start+e.end)/2] ^= 0x08
		return b
	})
}

// wdAppend appends junk to path.
func wdAppend(t *testing.T, path string, junk []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(junk)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func wdSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func wdRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// wdTree hashes every file and lists every directory under root, by path relative to root.
func wdTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	}))
	return out
}

// wdTreeBytes sums the sizes of the files under root.
func wdTreeBytes(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	}))
	return n
}

// wdQuarantine lists the files in dir's WAL quarantine, as full paths, sorted.
func wdQuarantine(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "quarantine", "*"))
	require.NoError(t, err)
	sort.Strings(names)
	return names
}

// wdDump is a canonical dump of the run's KV state.
func wdDump(t *testing.T, db *inmem.DB, run inmem.RunID) string {
	t.Helper()
	pairs, err := db.KV().Scan(run, "", "", 0)
	require.NoError(t, err)
	var sb strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&sb, "%q=%q\n", p.Key, p.Value)
	}
	fmt.Fprintf(&sb, "status=%v\n", db.RunStatus(run))
	return sb.String()
}

func wdPointInTime(o *inmem.Options) { o.Recovery.Mode = inmem.PointInTime }
func wdSkipCorrupt(o *inmem.Options) { o.Recovery.Mode = inmem.SkipCorrupt }
func wdFailOnCorrupt(o *inmem.Options) {
	o.Recovery.Mode = inmem.FailOnCorruption
}

// Cut the last segment at every offset inside its last transaction. Recovery keeps
// exactly the commits before it, counts the damaged bytes, and a commit made afterwards is not
// written behind the cut-off bytes: it survives the next reopen with the prefix.
func TestWALDamageCutEveryOffsetOfLastTransaction(t *testing.T) {
	const n = 30
	l := wdWrite(t, n)
	last := l.tx(n - 1)
	require.Equal(t, l.segs[len(l.segs)-1], last.seg)
	want := wdPrefix(n - 1)
	for cut := last.start; cut < last.end; cut++ {
		t.Run(fmt.Sprint("cut", cut), func(t *testing.T) {
			t.Parallel()
			dir := wdCopy(t, l.dir)
			seg := wdRebase(t, last.seg, l.dir, dir)
			require.NoError(t, os.Truncate(seg, int64(cut)))

			db := wdOpen(t, dir)
			wdRequireState(t, db, l.run, want)
			rec := db.LastRecovery()
			require.NotNil(t, rec)
			// The damaged bytes are those of the entry the cut went through; a whole data
			// entry before the cut (and no marker) is a transaction discarded, not damage.
			var torn int64
			for _, e := range last.entries {
				if cut > e.start && cut < e.end {
					torn = int64(cut - e.start)
				}
			}
			discarded := 0
			if cut >= last.entries[0].end {
				discarded = 1
			}
			assert.Equal(t, torn, cutOff(rec), "bytes cut off")
			if !slices.ContainsFunc(last.entries, func(e wdEntry) bool { return e.start == cut }) {
				assert.Positive(t, cutOff(rec))
			}
			assert.Equal(t, discarded, rec.TransactionsDiscarded, "TransactionsDiscarded")
			assert.Equal(t, n, rec.TransactionsRecovered, "BeginRun and n-1 puts")
			assert.Zero(t, rec.CorruptEntries)
			assert.Empty(t, rec.Quarantined)
			assert.True(t, rec.Consistent)
			wdRequireOrphanMarkAt(t, seg, int64(last.start), l.run, "the segment ends at the last whole transaction")

			db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after the cut")
			rec = db.LastRecovery()
			assert.Zero(t, rec.TornTailBytes)
			assert.Zero(t, rec.TransactionsDiscarded)
			assert.Equal(t, n+3, rec.TransactionsRecovered, "and the orphan marking, ResumeRun, the new put")
			require.NoError(t, db.Close())
		})
	}
}

// A flipped bit in the middle of the log, with intact transactions after it, is corruption.
// PointInTime keeps the prefix before it, sets the rest aside in wal/quarantine/ (a copy of the
// bytes, not a deletion), and recovering again changes nothing (R2).
func TestWALDamageBitFlipPointInTime(t *testing.T) {
	const n = 40
	l := wdWrite(t, n)
	victim := l.tx(n / 2)
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, victim.seg, l.dir, dir)
	wdFlip(t, seg, victim.entries[0])
	damaged := wdRead(t, seg)
	want := wdPrefix(n / 2)

	db := wdOpen(t, dir) // PointInTime is the default
	wdRequireState(t, db, l.run, want)
	rec := db.LastRecovery()
	assert.Equal(t, n/2+1, rec.TransactionsRecovered)
	assert.Equal(t, 1, rec.CorruptEntries)
	assert.Zero(t, rec.TornTailBytes)
	assert.True(t, rec.Consistent, "PointInTime keeps a prefix")
	require.NotEmpty(t, rec.Quarantined)
	qdir := filepath.Join(dir, "wal", "quarantine")
	for _, q := range rec.Quarantined {
		assert.FileExists(t, q)
		assert.Equal(t, qdir, filepath.Dir(q))
	}
	quarantined := wdQuarantine(t, dir)
	require.Len(t, quarantined, 1)
	assert.Equal(t, damaged[victim.start:], wdRead(t, quarantined[0]), "the bytes set aside are the bytes cut off")
	wdRequireOrphanMarkAt(t, seg, int64(victim.start), l.run, "the log continues from the cut")
	dump := wdDump(t, db, l.run)
	require.NoError(t, db.Close())

	// R2: recovering again gives the same state and sets nothing more aside.
	tree := wdTree(t, filepath.Join(dir, "wal"))
	db = wdOpen(t, dir)
	assert.Equal(t, dump, wdDump(t, db, l.run))
	rec = db.LastRecovery()
	assert.Empty(t, rec.Quarantined)
	assert.Zero(t, rec.CorruptEntries)
	assert.Zero(t, rec.TornTailBytes)
	assert.Equal(t, n/2+2, rec.TransactionsRecovered, "and the orphan marking of the first recovery")
	assert.Empty(t, rec.OrphanedRuns, "the run is Orphaned already")
	assert.Equal(t, tree, wdTree(t, filepath.Join(dir, "wal")), "a second recovery changes no file")

	db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after recovery")
	assert.Empty(t, db.LastRecovery().Quarantined)
	assert.Equal(t, quarantined, wdQuarantine(t, dir))
	require.NoError(t, db.Close())
}

// FailOnCorruption refuses to open a corrupt log, names the segment and LSN, changes no file
// and releases the directory lock.
func TestWALDamageBitFlipFailOnCorruption(t *testing.T) {
	const n = 40
	l := wdWrite(t, n)
	victim := l.tx(n / 2)
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, victim.seg, l.dir, dir)
	wdFlip(t, seg, victim.entries[0])
	before := wdTree(t, filepath.Join(dir, "wal"))

	for range 2 { // the lock of the first attempt is released: the second fails the same way
		o := inmem.DefaultOptions()
		wdFailOnCorrupt(o)
		db, err := inmem.Open(dir, o)
		require.Error(t, err)
		require.Nil(t, db)
		assert.ErrorIs(t, err, inmem.ErrCorruption)
		assert.NotErrorIs(t, err, inmem.ErrLocked)
		assert.Contains(t, err.Error(), filepath.Base(seg), "the error names the segment")
		assert.Contains(t, err.Error(), fmt.Sprint("LSN ", victim.start-commitlog.HeaderSize), "and the LSN")
		assert.Equal(t, before, wdTree(t, filepath.Join(dir, "wal")), "nothing changes")
	}

	db := wdOpen(t, dir, wdPointInTime) // not left locked
	wdRequireState(t, db, l.run, wdPrefix(n/2))
	require.NoError(t, db.Close())
}

// SkipCorrupt drops the damaged transaction and keeps the ones after it, and says the state
// may not be a prefix; past MaxCorruptEntries damaged entries, Open fails.
func TestWALDamageBitFlipSkipCorrupt(t *testing.T) {
	const n = 40
	l := wdWrite(t, n)
	v1, v2 := n/2, n/4
	damage := func(t *testing.T, victims ...int) string {
		dir := wdCopy(t, l.dir)
		for _, v := range victims {
			wdFlip(t, wdRebase(t, l.tx(v).seg, l.dir, dir), l.tx(v).entries[0])
		}
		return dir
	}

	t.Run("one", func(t *testing.T) {
		dir := damage(t, v1)
		db := wdOpen(t, dir, wdSkipCorrupt)
		want := wdWant(n, func(i int) bool { return i != v1 })
		wdRequireState(t, db, l.run, want)
		rec := db.LastRecovery()
		assert.False(t, rec.Consistent)
		assert.Equal(t, 1, rec.CorruptEntries)
		assert.Equal(t, n, rec.TransactionsRecovered, "BeginRun and every put but one")
		assert.Empty(t, rec.Quarantined, "SkipCorrupt moves nothing")
		assert.Empty(t, wdQuarantine(t, dir))
		// The damage stays in the log: the next recovery skips it again, and commits made
		// after this one survive it.
		db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after skip", wdSkipCorrupt)
		assert.False(t, db.LastRecovery().Consistent)
		assert.Equal(t, 1, db.LastRecovery().CorruptEntries)
		require.NoError(t, db.Close())
	})
	t.Run("limit", func(t *testing.T) {
		dir := damage(t, v1, v2)
		before := wdTree(t, filepath.Join(dir, "wal"))
		_, err := inmem.Open(dir, func() *inmem.Options {
			o := inmem.DefaultOptions()
			o.Recovery.Mode = inmem.SkipCorrupt
			o.Recovery.MaxCorruptEntries = 1
			return o
		}())
		require.ErrorIs(t, err, inmem.ErrTooManyCorruptEntries)
		assert.Equal(t, before, wdTree(t, filepath.Join(dir, "wal")))

		db := wdOpen(t, dir, func(o *inmem.Options) { o.Recovery.Mode = inmem.SkipCorrupt; o.Recovery.MaxCorruptEntries = 2 })
		wdRequireState(t, db, l.run, wdWant(n, func(i int) bool { return i != v1 && i != v2 }))
		assert.Equal(t, 2, db.LastRecovery().CorruptEntries)
		require.NoError(t, db.Close())
	})
	t.Run("zero limit means the default", func(t *testing.T) {
		// Options documents that Open fills every zero numeric field with its default, so
		// MaxCorruptEntries 0 is the default 10, not "none tolerated" (FailOnCorruption is).
		dir := damage(t, v1, v2)
		db := wdOpen(t, dir, func(o *inmem.Options) { o.Recovery.Mode = inmem.SkipCorrupt; o.Recovery.MaxCorruptEntries = 0 })
		wdRequireState(t, db, l.run, wdWant(n, func(i int) bool { return i != v1 && i != v2 }))
		require.NoError(t, db.Close())
	})
}

// Zeroed 4 KiB sectors. At the end of the log they are a torn tail (a prefix survives); in
// the middle, with intact entries after them, they are corruption.
func TestWALDamageZeroedSector(t *testing.T) {
	const n, sector = 100, 4096
	l := wdWrite(t, n)
	require.Len(t, l.segs, 1)
	size := int(wdSize(t, l.segs[0]))
	require.Greater(t, size, 2*sector+200, "the log must outgrow two sectors")

	// intactBefore returns how many puts end at or before off, and the last entry boundary at
	// or before off.
	intactBefore := func(off int) (puts, boundary int) {
		boundary = commitlog.HeaderSize
		for i := range n {
			tx := l.tx(i)
			if tx.end <= off {
				puts++
			}
		}
		for _, tx := range l.txs {
			for _, e := range tx.entries {
				if e.end <= off {
					boundary = e.end
				}
			}
		}
		return puts, boundary
	}

	t.Run("last sector overwritten", func(t *testing.T) {
		dir := wdCopy(t, l.dir)
		seg := wdRebase(t, l.segs[0], l.dir, dir)
		from := size - sector
		wdEdit(t, seg, func(b []byte) []byte { clear(b[from:]); return b })
		puts, boundary := intactBefore(from)
		want := wdPrefix(puts)

		db := wdOpen(t, dir)
		wdRequireState(t, db, l.run, want)
		rec := db.LastRecovery()
		assert.Equal(t, int64(size-boundary), cutOff(rec), "every byte cut off, the zeros included")
		// The zeros told apart, and any zero bytes the cut entry ended with: nothing can tell
		// those from the zeros after them.
		assert.GreaterOrEqual(t, rec.PreallocatedBytes, int64(sector), "the zeros told apart")
		assert.Zero(t, rec.CorruptEntries)
		assert.Empty(t, rec.Quarantined)
		db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after zeros")
		require.NoError(t, db.Close())
	})
	t.Run("zero sector appended", func(t *testing.T) {
		dir := wdCopy(t, l.dir)
		seg := wdRebase(t, l.segs[0], l.dir, dir)
		wdAppend(t, seg, make([]byte, sector))

		db := wdOpen(t, dir)
		wdRequireState(t, db, l.run, wdPrefix(n))
		rec := db.LastRecovery()
		assert.Zero(t, rec.TornTailBytes, "no torn write")
		assert.Equal(t, int64(sector), rec.PreallocatedBytes)
		assert.Zero(t, rec.TransactionsDiscarded)
		wdRequireOrphanMarkAt(t, seg, int64(size), l.run, "the zeros are cut off")
		db = wdCommitAndReopen(t, db, dir, l.run, wdPrefix(n), "new", "after zeros")
		require.NoError(t, db.Close())
	})
	// A zeroed sector with valid entries after it, in the last segment, is what a power loss
	// leaves when an unsynced page was dropped and a later one written back: no sync covered
	// the entries after it, so it is a torn tail in every mode, and they are set aside.
	t.Run("middle sector", func(t *testing.T) {
		damage := func(t *testing.T) string {
			dir := wdCopy(t, l.dir)
			wdEdit(t, wdRebase(t, l.segs[0], l.dir, dir), func(b []byte) []byte {
				clear(b[sector : 2*sector])
				return b
			})
			return dir
		}
		puts, boundary := intactBefore(sector)
		want := wdPrefix(puts)

		for _, mode := range []func(*inmem.Options){wdPointInTime, wdFailOnCorrupt, wdSkipCorrupt} {
			dir := damage(t)
			db := wdOpen(t, dir, mode)
			wdRequireState(t, db, l.run, want)
			rec := db.LastRecovery()
			assert.Zero(t, rec.CorruptEntries, "a lost write is not corruption")
			assert.Equal(t, int64(size-boundary), rec.TornTailBytes)
			assert.NotEmpty(t, rec.Quarantined, "the entries after the zeros are kept aside")
			assert.True(t, rec.Consistent)
			wdRequireOrphanMarkAt(t, wdRebase(t, l.segs[0], l.dir, dir), int64(l.tx(puts-1).end), l.run)
			db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after zeros")
			require.NoError(t, db.Close())
		}
	})
}

// Garbage appended to the end of the log, random bytes or an absurd length field, is a torn
// tail: the whole state is recovered and exactly the garbage is counted and cut off.
func TestWALDamageGarbageAtTheEnd(t *testing.T) {
	const n = 30
	l := wdWrite(t, n)
	rng := rand.New(rand.NewPCG(7, 11))
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	absurd := append([]byte{0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0xa5, 0x10, 0x01}, 40)...)
	for _, c := range []struct {
		name string
		junk []byte
	}{{"random", random}, {"absurd length", absurd}, {"absurd length alone", []byte{0xff, 0xff, 0xff, 0xff}}} {
		t.Run(c.name, func(t *testing.T) {
			dir := wdCopy(t, l.dir)
			seg := wdRebase(t, l.segs[len(l.segs)-1], l.dir, dir)
			size := wdSize(t, seg)
			wdAppend(t, seg, c.junk)

			db := wdOpen(t, dir)
			wdRequireState(t, db, l.run, wdPrefix(n))
			rec := db.LastRecovery()
			assert.Equal(t, int64(len(c.junk)), rec.TornTailBytes)
			assert.Equal(t, n+1, rec.TransactionsRecovered)
			assert.Zero(t, rec.CorruptEntries)
			assert.Zero(t, rec.TransactionsDiscarded)
			assert.Empty(t, rec.Quarantined)
			wdRequireOrphanMarkAt(t, seg, size, l.run, "the garbage is cut off before new appends")
			db = wdCommitAndReopen(t, db, dir, l.run, wdPrefix(n), "new", "after garbage")
			assert.Zero(t, db.LastRecovery().TornTailBytes)
			require.NoError(t, db.Close())
		})
	}
}

// R1, R2: the same damaged files recover to the same state, in another copy and however
// often the recovered directory is reopened.
func TestWALDamageRecoveryDeterministic(t *testing.T) {
	const n = 40
	l := wdWrite(t, n)
	victim := l.tx(n / 2)
	damaged := wdCopy(t, l.dir)
	wdFlip(t, wdRebase(t, victim.seg, l.dir, damaged), victim.entries[0])
	wdAppend(t, wdRebase(t, l.segs[len(l.segs)-1], l.dir, damaged), []byte("torn tail"))

	for _, mode := range []struct {
		name string
		opt  func(*inmem.Options)
		want map[string]string
	}{
		{"PointInTime", wdPointInTime, wdPrefix(n / 2)},
		{"SkipCorrupt", wdSkipCorrupt, wdWant(n, func(i int) bool { return i != n/2 })},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var dumps []string
			var recovered, want []int
			for range 2 { // two copies of the same files …
				dir := wdCopy(t, damaged)
				for j := range 3 { // … each opened three times
					db := wdOpen(t, dir, mode.opt)
					wdRequireState(t, db, l.run, mode.want)
					dumps = append(dumps, wdDump(t, db, l.run))
					recovered = append(recovered, db.LastRecovery().TransactionsRecovered)
					// BeginRun and the puts kept; from the second open on, the orphan marking
					// the first one logged as well.
					want = append(want, len(mode.want)+1+min(j, 1))
					require.NoError(t, db.Close())
				}
			}
			for i := range dumps {
				assert.Equal(t, dumps[0], dumps[i], "open %d", i)
				assert.Equal(t, want[i], recovered[i], "open %d", i)
			}
		})
	}
}

// Damage in a sealed segment of a multi-segment log. PointInTime keeps the prefix before the
// damage, moves every later segment whole to wal/quarantine/, copies the damaged segment's
// remainder there, and deletes nothing.
func TestWALDamageSealedSegment(t *testing.T) {
	const n = 150
	small := func(o *inmem.Options) { o.SegmentSize = 4096 }
	l := wdWrite(t, n, small)
	require.GreaterOrEqual(t, len(l.segs), 4, "SegmentSize 4096 must give several segments")
	sealed := l.segs[1]
	var inSealed []int // puts in the second segment
	for i := range n {
		if l.tx(i).seg == sealed {
			inSealed = append(inSealed, i)
		}
	}
	require.Greater(t, len(inSealed), 3)

	for _, c := range []struct {
		name   string
		victim int
	}{
		{"middle of the segment", inSealed[len(inSealed)/2]},
		// No valid entry follows in its own segment: still corruption, since it is sealed.
		{"last transaction of the segment", inSealed[len(inSealed)-1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			victim := l.tx(c.victim)
			dir := wdCopy(t, l.dir)
			seg := wdRebase(t, sealed, l.dir, dir)
			wdFlip(t, seg, victim.entries[0])
			damaged := wdRead(t, seg)
			wal := filepath.Join(dir, "wal")
			bytesBefore := wdTreeBytes(t, wal)
			later := map[string]string{} // base name -> hash of every later segment
			tree := wdTree(t, wal)
			for _, s := range l.segs[2:] {
				later[filepath.Base(s)] = tree[filepath.Base(s)]
			}

			o := inmem.DefaultOptions()
			small(o)
			wdFailOnCorrupt(o)
			_, err := inmem.Open(dir, o)
			require.ErrorIs(t, err, inmem.ErrCorruption)
			assert.Contains(t, err.Error(), filepath.Base(sealed), "the error names the sealed segment")

			db := wdOpen(t, dir, small)
			want := wdPrefix(c.victim)
			wdRequireState(t, db, l.run, want)
			rec := db.LastRecovery()
			assert.Equal(t, 1, rec.CorruptEntries)
			assert.True(t, rec.Consistent)
			assert.Len(t, rec.Quarantined, 1+len(later), "the damaged segment's remainder and every later segment")

			// Every later segment moved whole, none deleted.
			qtree := wdTree(t, filepath.Join(wal, "quarantine"))
			for name, h := range later {
				assert.NoFileExists(t, filepath.Join(wal, name))
				assert.Equal(t, h, qtree[name], "%s moved to quarantine intact", name)
			}
			wdRequireSegments(t, dir, []string{wdRebase(t, l.segs[0], l.dir, dir), seg}, "the log now ends with the damaged segment")
			wdRequireOrphanMarkAt(t, seg, int64(victim.start), l.run, "the damaged segment is cut at the last whole transaction")
			tail := filepath.Join(wal, "quarantine", fmt.Sprintf("%s.from-%d", filepath.Base(seg), victim.start))
			assert.Equal(t, damaged[victim.start:], wdRead(t, tail), "its remainder is kept")
			assert.GreaterOrEqual(t, wdTreeBytes(t, wal), bytesBefore, "nothing deleted")

			db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after quarantine", small)
			assert.Empty(t, db.LastRecovery().Quarantined)
			require.NoError(t, db.Close())
		})
	}
}
