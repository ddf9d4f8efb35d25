package inmem_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Byte-level damage on a real log: a log is written through the public API, the
// database is closed, the segment file is edited, and recovery must give a prefix of the commit
// order — never a panic, never a gap, never data that was not committed.
//
// Every database here is opened with noCloseSnapshot: Close takes no snapshot, so the log is
// the only thing recovery reads and the damage cannot be hidden behind a snapshot.

const walCommits = 100 // ~9.5 KB of log: more than a 4 KiB sector

// walFixture writes walCommits sequential one-key commits (k000 = 0, k001 = 1, …) to a new
// database and returns its directory, the run, and the byte range [start, end) of every
// transaction in the (single) segment file.
func walFixture(t *testing.T) (dir string, run inmem.RunID, txs [][2]int) {
	t.Helper()
	dir = t.TempDir()
	db := openDir(t, dir, noCloseSnapshot)
	run = newRun(t, db)
	for i := range walCommits {
		require.NoError(t, db.KV().Put(ctx, run, walKey(i), []byte(strconv.Itoa(i))))
	}
	require.NoError(t, db.Close())
	data := readSegment(t, dir)
	start := commitlog.HeaderSize
	for off := start; off < len(data); {
		e, n, err := commitlog.DecodeEntry(data[off:])
		require.NoError(t, err)
		off += n
		if e.Type == commitlog.TypeTransactionCommit {
			txs = append(txs, [2]int{start, off})
			start = off
		}
	}
	require.Len(t, txs, walCommits+1) // BeginRun, then the puts
	return dir, run, txs
}

func walKey(i int) string { return fmt.Sprintf("k%03d", i) }

func segmentPath(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	require.Len(t, names, 1)
	return names[0]
}

func readSegment(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(segmentPath(t, dir))
	require.NoError(t, err)
	return b
}

// copyDir copies a database directory, so that each damage case starts from the same log.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	require.NoError(t, os.CopyFS(to, os.DirFS(from)))
	return to
}

// requirePrefix opens dir and checks that the state is exactly the first n puts.
func requirePrefix(t *testing.T, dir string, run inmem.RunID, n int, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	db := openDir(t, dir, append([]func(*inmem.Options){noCloseSnapshot}, mutate...)...)
	keys, err := db.KV().List(run, "")
	require.NoError(t, err)
	require.Len(t, keys, n, "the state must be exactly a prefix of %d commits", n)
	for i, k := range keys {
		require.Equal(t, walKey(i), k)
		require.Equal(t, strconv.Itoa(i), get(t, db, run, k))
	}
	return db
}

// Cut the log at every offset inside its last transaction: recovery keeps everything before it,
// and commits made after the torn tail survive the next reopen (they never land behind garbage).
func TestWALCutAtEveryOffsetOfTheLastTransaction(t *testing.T) {
	base, run, txs := walFixture(t)
	last := txs[len(txs)-1]
	for cut := last[0]; cut < last[1]; cut++ {
		dir := copyDir(t, base)
		require.NoError(t, os.Truncate(segmentPath(t, dir), int64(cut)))
		db := requirePrefix(t, dir, run, walCommits-1)
		rec := db.LastRecovery()
		// The torn bytes are those after the last whole entry; a whole entry of the cut
		// transaction before them is discarded with it (no commit marker).
		assert.LessOrEqual(t, cutOff(rec), int64(cut-last[0]), "cut at %d", cut)
		if cutOff(rec) < int64(cut-last[0]) {
			assert.Equal(t, 1, rec.TransactionsDiscarded, "cut at %d", cut)
		}
		resumeOrphaned(t, db, run)
		require.NoError(t, db.KV().Put(ctx, run, walKey(walCommits-1), []byte(strconv.Itoa(walCommits-1))))
		require.NoError(t, db.Close())
		db = requirePrefix(t, dir, run, walCommits)
		assert.Zero(t, db.LastRecovery().TornTailBytes, "the tail was cut before new appends")
		require.NoError(t, db.Close())
	}
}

// A flipped bit in a middle transaction, with intact ones after it, is corruption: each mode
// does what RecoveryMode's doc says.
func TestWALBitFlipInTheMiddle(t *testing.T) {
	base, run, txs := walFixture(t)
	victim := txs[walCommits/2] // the put of key walCommits/2 - 1
	damage := func(t *testing.T) string {
		dir := copyDir(t, base)
		path := segmentPath(t, dir)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		b[(victim[0]+victim[1])/2] ^= 0x10
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return dir
	}
	prefix := walCommits/2 - 1

	t.Run("PointInTime", func(t *testing.T) {
		dir := damage(t)
		db := requirePrefix(t, dir, run, prefix)
		rec := db.LastRecovery()
		assert.True(t, rec.Consistent)
		assert.NotEmpty(t, rec.Quarantined)
		for _, q := range rec.Quarantined {
			assert.FileExists(t, q)
		}
		resumeOrphaned(t, db, run)
		require.NoError(t, db.KV().Put(ctx, run, "after", []byte("recovery")))
		require.NoError(t, db.Close())
		db = requirePrefixPlus(t, dir, run, prefix, "after") // R2: recovering again changes nothing
		assert.Empty(t, db.LastRecovery().Quarantined)
		require.NoError(t, db.Close())
	})
	t.Run("FailOnCorruption", func(t *testing.T) {
		dir := damage(t)
		before := hashTree(t, dir)
		o := inmem.DefaultOptions()
		o.Recovery.Mode = inmem.FailOnCorruption
		_, err := inmem.Open(dir, o)
		require.ErrorIs(t, err, inmem.ErrCorruption)
		assert.Contains(t, err.Error(), ".wal")
		assert.Equal(t, before, hashTree(t, dir), "nothing changes")
		db := requirePrefix(t, dir, run, prefix) // and the lock was released
		require.NoError(t, db.Close())
	})
	t.Run("SkipCorrupt", func(t *testing.T) {
		dir := damage(t)
		db := openDir(t, dir, noCloseSnapshot, func(o *inmem.Options) { o.Recovery.Mode = inmem.SkipCorrupt })
		rec := db.LastRecovery()
		assert.False(t, rec.Consistent)
		assert.Positive(t, rec.CorruptEntries)
		_, err := db.KV().Get(run, walKey(prefix))
		assert.ErrorIs(t, err, inmem.ErrNotFound, "the damaged transaction is skipped")
		assert.Equal(t, strconv.Itoa(walCommits-1), get(t, db, run, walKey(walCommits-1)), "later ones are kept")
		require.NoError(t, db.Close())

		// Past MaxCorruptEntries damaged entries, Open gives up (0 would mean the default).
		dir = damage(t)
		path := segmentPath(t, dir)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		other := txs[walCommits/4]
		b[(other[0]+other[1])/2] ^= 0x10
		require.NoError(t, os.WriteFile(path, b, 0o644))
		o := inmem.DefaultOptions()
		o.Recovery.Mode = inmem.SkipCorrupt
		o.Recovery.MaxCorruptEntries = 1
		_, err = inmem.Open(dir, o)
		assert.ErrorIs(t, err, inmem.ErrTooManyCorruptEntries)
	})
}

func requirePrefixPlus(t *testing.T, dir string, run inmem.RunID, n int, extra string) *inmem.DB {
	t.Helper()
	db := openDir(t, dir, noCloseSnapshot)
	keys, err := db.KV().List(run, "")
	require.NoError(t, err)
	require.Len(t, keys, n+1)
	assert.Contains(t, keys, extra)
	return db
}

// A zeroed 4 KiB sector at the end is a torn tail; garbage appended to the end, an absurd
// length field included, is a torn tail too — never an allocation, never a panic.
func TestWALZerosAndGarbageAtTheEnd(t *testing.T) {
	base, run, txs := walFixture(t)
	t.Run("zeroed sector", func(t *testing.T) {
		dir := copyDir(t, base)
		path := segmentPath(t, dir)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		from := max(len(b)-4096, commitlog.HeaderSize)
		clear(b[from:])
		require.NoError(t, os.WriteFile(path, b, 0o644))
		intact := 0
		for _, tx := range txs[1:] {
			if tx[1] <= from {
				intact++
			}
		}
		db := requirePrefix(t, dir, run, intact)
		require.NoError(t, db.Close())
	})
	for name, junk := range map[string][]byte{
		"garbage":       []byte("\x01\x02this is not an entry\x7f"),
		"absurd length": {0xff, 0xff, 0xff, 0xff, 0x10, 0x01, 0xaa},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, base)
			f, err := os.OpenFile(segmentPath(t, dir), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write(junk)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			db := requirePrefix(t, dir, run, walCommits)
			assert.Equal(t, int64(len(junk)), db.LastRecovery().TornTailBytes)
			require.NoError(t, db.Close())
		})
	}
}

// R1, R2: the same files recover to the same state, however often.
func TestWALRecoveryIsDeterministic(t *testing.T) {
	dir, run, _ := walFixture(t)
	var first []inmem.Pair
	for i := range 3 {
		db := openDir(t, dir, noCloseSnapshot)
		pairs, err := db.KV().Scan(run, "", "", 0)
		require.NoError(t, err)
		if i == 0 {
			first = pairs
		}
		assert.Equal(t, first, pairs)
		assert.Equal(t, inmem.RunOrphaned, db.RunStatus(run))
		rec := db.LastRecovery()
		if i == 0 {
			// The first recovery marks the run, active at Close, Orphaned: a logged transaction.
			assert.Equal(t, []inmem.RunID{run}, rec.OrphanedRuns)
			assert.Equal(t, walCommits+1, rec.TransactionsRecovered)
		} else {
			// Later ones replay that marking too, and mark nothing more.
			assert.Empty(t, rec.OrphanedRuns)
			assert.Equal(t, walCommits+2, rec.TransactionsRecovered)
		}
		require.NoError(t, db.Close())
	}
}

// hashTree hashes every file under dir by path, the LOCK file excepted.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = sha256.Sum256(b)
		return err
	}))
	return out
}
