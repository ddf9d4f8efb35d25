package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Crash tests on the crash-simulating filesystem: the database runs on a vfs.CrashFS,
// a point-in-time crash image is taken while committers are still running, and the image is
// reopened and checked against what was acknowledged before the image was taken:
//
//   - R5: every acknowledged commit (Strict; Buffered after a process crash or a Sync) is there;
//   - R3: per committer the keys present are exactly g/0000..g/n (a prefix: no gap);
//   - R4: nothing that was never attempted is there, and every value is the one written.
//
// Each committer goroutine g writes g/0000, g/0001, … one after another (value = the index), so
// its acknowledged commits are a prefix of its attempts and at most one is in flight.

const (
	cfsDir     = "/db"
	cfsWriters = 8
)

// cfsSeeds is the number of seeds a randomized test runs: def, or INMEM_CRASHFS_SEEDS (for
// longer hunts, e.g. under make stress).
func cfsSeeds(def int) int {
	if n, err := strconv.Atoi(os.Getenv("INMEM_CRASHFS_SEEDS")); err == nil && n > 0 {
		return n
	}
	return def
}

func cfsKey(g, i int) string { return fmt.Sprintf("%d/%04d", g, i) }

// cfsOptions returns options that put the database on fs.
func cfsOptions(fs vfs.FS, mutate ...func(*inmem.Options)) *inmem.Options {
	o := inmem.DefaultOptions()
	o.FS = fs
	for _, m := range mutate {
		m(o)
	}
	return o
}

// cfsOpen opens the database in cfsDir on fs; the caller closes it.
func cfsOpen(t testing.TB, fs vfs.FS, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	db, err := inmem.Open(cfsDir, cfsOptions(fs, mutate...))
	require.NoError(t, err)
	return db
}

// cfsNewFS returns a CrashFS on which cfsDir already exists durably, as a directory made by
// the user (or t.TempDir) would. TestCrashFSFreshDirectory covers Open creating it.
func cfsNewFS(t testing.TB) *vfs.CrashFS {
	t.Helper()
	fs := vfs.NewCrashFS()
	require.NoError(t, fs.MkdirAll(cfsDir))
	require.NoError(t, fs.SyncDir("/"))
	return fs
}

// cfsCommitters runs n goroutines, each committing its own sequence of keys into one run until
// stopped, until its first error, or after max commits.
type cfsCommitters struct {
	db  *inmem.DB
	run inmem.RunID
	max int

	mu        sync.Mutex
	attempted []int   // per goroutine: commits started (the next index)
	acked     []int   // per goroutine: commits acknowledged (a prefix of the attempts)
	errs      []error // per goroutine: the error that stopped it, if any
	total     int
	waiters   []cfsWaiter

	stop chan struct{}
	done chan struct{} // closed when every goroutine has returned
	wg   sync.WaitGroup
}

type cfsWaiter struct {
	n  int
	ch chan struct{}
}

func cfsStart(db *inmem.DB, run inmem.RunID, n, max int) *cfsCommitters {
	c := &cfsCommitters{
		db: db, run: run, max: max,
		attempted: make([]int, n), acked: make([]int, n), errs: make([]error, n),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	c.wg.Add(n)
	for g := range n {
		go c.commit(g)
	}
	go func() {
		c.wg.Wait()
		close(c.done)
	}()
	return c
}

func (c *cfsCommitters) commit(g int) {
	defer c.wg.Done()
	for i := 0; i < c.max; i++ {
		select {
		case <-c.stop:
			return
		default:
		}
		c.mu.Lock()
		c.attempted[g] = i + 1
		c.mu.Unlock()
		if err := c.db.KV().Put(ctx, c.run, cfsKey(g, i), []byte(strconv.Itoa(i))); err != nil {
			c.mu.Lock()
			c.errs[g] = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.acked[g] = i + 1
		c.total++
		kept := c.waiters[:0]
		for _, w := range c.waiters {
			if c.total >= w.n {
				close(w.ch)
			} else {
				kept = append(kept, w)
			}
		}
		c.waiters = kept
		c.mu.Unlock()
	}
}

// waitAcks returns once n commits in total were acknowledged, or every goroutine has stopped.
func (c *cfsCommitters) waitAcks(n int) {
	c.mu.Lock()
	if c.total >= n {
		c.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	c.waiters = append(c.waiters, cfsWaiter{n, ch})
	c.mu.Unlock()
	select {
	case <-ch:
	case <-c.done:
	}
}

func (c *cfsCommitters) ackedNow() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.acked...)
}

func (c *cfsCommitters) attemptedNow() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.attempted...)
}

func (c *cfsCommitters) errsNow() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.errs...)
}

// halt stops the goroutines and waits for them.
func (c *cfsCommitters) halt() {
	close(c.stop)
	<-c.done
}

// cfsImage is a crash image with the bounds it must satisfy: per committer, at least
// mustHave[g] and at most attempted[g] keys.
type cfsImage struct {
	fs        *vfs.CrashFS
	mustHave  []int
	attempted []int
}

// crashWhile takes a crash image while the committers run. The acknowledgements are read
// before the image is taken (each of them happened before it) and the attempts after (each
// commit in the image was attempted before it).
func (c *cfsCommitters) crashWhile(crash func() *vfs.CrashFS) cfsImage {
	acked := c.ackedNow()
	img := crash()
	return cfsImage{fs: img, mustHave: acked, attempted: c.attemptedNow()}
}

// cfsCheck verifies the keys of run in db against the bounds (R3, R4, R5) and returns the
// number present per committer.
func cfsCheck(t testing.TB, db *inmem.DB, run inmem.RunID, mustHave, attempted []int) []int {
	t.Helper()
	pairs, err := db.KV().Scan(run, "", "", 0)
	require.NoError(t, err)
	present := make([]int, len(mustHave))
	for _, p := range pairs {
		gs, is, ok := strings.Cut(p.Key, "/")
		g, err1 := strconv.Atoi(gs)
		i, err2 := strconv.Atoi(is)
		require.True(t, ok && err1 == nil && err2 == nil && g >= 0 && g < len(present),
			"unexpected key %q (R4)", p.Key)
		// Scan is sorted and the indexes are zero-padded: a prefix reads 0, 1, 2, …
		require.Equal(t, cfsKey(g, present[g]), p.Key, "committer %d: gap before %s (R3)", g, p.Key)
		require.Equal(t, strconv.Itoa(i), string(p.Value), "key %s: wrong value (R4)", p.Key)
		present[g]++
	}
	requireReplayMatchesLive(t, db, "after a simulated crash")
	for g := range present {
		require.GreaterOrEqual(t, present[g], mustHave[g],
			"committer %d: acknowledged commit lost (R5): %d present, %d acknowledged", g, present[g], mustHave[g])
		require.LessOrEqual(t, present[g], attempted[g],
			"committer %d: commit never attempted is present (R4): %d present, %d attempted", g, present[g], attempted[g])
	}
	return present
}

func cfsSum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// cfsCrashRound opens a database on fs, begins a run, runs the committers, takes a crash image
// after a random number of acknowledgements while they still run, then stops them and closes
// the database (its error does not matter: the image is what a reboot finds).
func cfsCrashRound(t testing.TB, fs *vfs.CrashFS, rng *rand.Rand, maxAcks int,
	crash func(*vfs.CrashFS) *vfs.CrashFS, mutate ...func(*inmem.Options)) (inmem.RunID, cfsImage) {
	t.Helper()
	db := cfsOpen(t, fs, mutate...)
	run := newRun(t, db)
	c := cfsStart(db, run, cfsWriters, 100_000)
	c.waitAcks(rng.IntN(maxAcks + 1))
	img := c.crashWhile(func() *vfs.CrashFS { return crash(fs) })
	c.halt()
	_ = db.Close()
	for g, err := range c.errsNow() {
		require.NoError(t, err, "committer %d", g)
	}
	return run, img
}

// cfsVerifyImage reopens the image, checks it and the recovery counters, closes, and checks
// that recovering again yields the same state (R2).
func cfsVerifyImage(t testing.TB, run inmem.RunID, img cfsImage, mutate ...func(*inmem.Options)) []int {
	t.Helper()
	db := cfsOpen(t, img.fs, mutate...)
	require.NotEqual(t, inmem.RunNotFound, db.RunStatus(run), "the run's BeginRun was acknowledged (R5)")
	present := cfsCheck(t, db, run, img.mustHave, img.attempted)
	rec := db.LastRecovery()
	require.NotNil(t, rec)
	require.True(t, rec.Consistent)
	require.Equal(t, cfsSum(present)+1, recoveredVersions(rec), "the puts present + BeginRun, from the snapshot and the log")
	require.NoError(t, db.Close())

	db = cfsOpen(t, img.fs, mutate...)
	again := cfsCheck(t, db, run, img.mustHave, img.attempted)
	require.NoError(t, db.Close())
	require.Equal(t, present, again, "recovering again changed the state (R2)")
	return present
}

func crashRandom(rng *rand.Rand) func(*vfs.CrashFS) *vfs.CrashFS {
	return func(fs *vfs.CrashFS) *vfs.CrashFS { return fs.Crash(rng) }
}

func crashKeepNothing(fs *vfs.CrashFS) *vfs.CrashFS { return fs.CrashKeepNothing() }
func crashKeepAll(fs *vfs.CrashFS) *vfs.CrashFS     { return fs.CrashKeepAll() }

// smallSegments makes the log roll over every few commits.
func smallSegments(o *inmem.Options) { o.SegmentSize = 2048 }

// snapshotOften snapshots every 4 KiB of WAL (and retires segments behind the snapshots).
func snapshotOften(o *inmem.Options) { o.Snapshot.WALSizeThreshold = 4 << 10 }

func buffered(o *inmem.Options) {
	o.Durability = inmem.Buffered
	// Only db.Sync, CommitOptions.Sync and Close make anything durable.
	o.FlushInterval = time.Hour
	o.MaxUnsyncedBytes = 1 << 40
}

// TestCrashFSStrictConcurrent: a random crash image taken while 8 goroutines commit in Strict
// mode holds every acknowledged commit, a prefix per goroutine, nothing unattempted. A third of
// the seeds snapshot every few KiB of WAL, so crashes land inside snapshot writes, renames and
// segment retirements too.
func TestCrashFSStrictConcurrent(t *testing.T) {
	for seed := range cfsSeeds(21) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0xc4a5))
			var mutate []func(*inmem.Options)
			switch seed % 3 {
			case 1:
				mutate = append(mutate, smallSegments)
			case 2:
				mutate = append(mutate, smallSegments, snapshotOften)
			}
			run, img := cfsCrashRound(t, cfsNewFS(t), rng, 1500, crashRandom(rng), mutate...)
			present := cfsVerifyImage(t, run, img, mutate...)
			t.Logf("%d puts present, %d acknowledged, %d attempted",
				cfsSum(present), cfsSum(img.mustHave), cfsSum(img.attempted))
		})
	}
}

// TestCrashFSStrictKeepNothing: only the durable state survives; every acknowledged Strict
// commit is in it.
func TestCrashFSStrictKeepNothing(t *testing.T) {
	for seed := range cfsSeeds(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x0de1))
			var mutate []func(*inmem.Options)
			if seed%2 == 1 {
				mutate = append(mutate, smallSegments)
			}
			run, img := cfsCrashRound(t, cfsNewFS(t), rng, 1500, crashKeepNothing, mutate...)
			cfsVerifyImage(t, run, img, mutate...)
		})
	}
}

// TestCrashFSBuffered: a process crash (CrashKeepAll) loses no acknowledged Buffered commit; a
// power loss (CrashKeepNothing) may lose acknowledged commits (R6) but leaves a prefix per
// goroutine and keeps every commit acknowledged before the last db.Sync was called.
func TestCrashFSBuffered(t *testing.T) {
	for seed := range cfsSeeds(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0xbf))
			mutate := []func(*inmem.Options){buffered}
			if seed%2 == 1 {
				mutate = append(mutate, smallSegments)
			}
			fs := cfsNewFS(t)
			db := cfsOpen(t, fs, mutate...)
			run := newRun(t, db)
			c := cfsStart(db, run, cfsWriters, 100_000)

			var synced []int
			acks := 0
			for range 1 + rng.IntN(3) {
				acks += rng.IntN(150)
				c.waitAcks(acks)
				// Every commit acknowledged before Sync is called was written before the sync
				// request reached the log: Sync makes it durable. (A commit acknowledged while
				// Sync is on its way back may belong to a later, unsynced write.)
				synced = c.ackedNow()
				require.NoError(t, db.Sync())
			}
			c.waitAcks(acks + rng.IntN(150))
			all := c.crashWhile(fs.CrashKeepAll)
			nothing := c.crashWhile(fs.CrashKeepNothing)
			nothing.mustHave = synced
			c.halt()
			require.NoError(t, db.Close())
			for g, err := range c.errsNow() {
				require.NoError(t, err, "committer %d", g)
			}

			cfsVerifyImage(t, run, all, mutate...)
			present := cfsVerifyImage(t, run, nothing, mutate...)
			t.Logf("power loss kept %d of %d attempted puts (%d acknowledged before the last Sync)",
				cfsSum(present), cfsSum(nothing.attempted), cfsSum(synced))
		})
	}
}

// TestCrashFSBufferedRandomCrash: any crash image of a Buffered database is a prefix per
// goroutine holding at least what the last Sync covered.
func TestCrashFSBufferedRandomCrash(t *testing.T) {
	for seed := range cfsSeeds(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0xb0f))
			cfsBufferedCrash(t, seed, rng.IntN(200), crashRandom(rng), nil)
		})
	}
}

// cfsBufferedCrash runs committers on a Buffered database (small segments and frequent
// snapshots on even seeds), syncs once, takes a crash image after up to more acknowledgements,
// and verifies it, once per recovery mode given (once with the default mode if none), each on
// its own copy of the image.
func cfsBufferedCrash(t *testing.T, seed, more int, crash func(*vfs.CrashFS) *vfs.CrashFS, modes []func(*inmem.Options)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(more)))
	mutate := []func(*inmem.Options){buffered}
	if seed%2 == 0 {
		mutate = append(mutate, smallSegments, snapshotOften)
	}
	fs := cfsNewFS(t)
	db := cfsOpen(t, fs, mutate...)
	run := newRun(t, db)
	c := cfsStart(db, run, cfsWriters, 100_000)
	c.waitAcks(rng.IntN(200))
	synced := c.ackedNow()
	require.NoError(t, db.Sync())
	c.waitAcks(cfsSum(synced) + more)
	img := c.crashWhile(func() *vfs.CrashFS { return crash(fs) })
	img.mustHave = synced
	c.halt()
	require.NoError(t, db.Close())
	if len(modes) == 0 {
		modes = []func(*inmem.Options){wdPointInTime}
	}
	for _, mode := range modes {
		copied := img
		copied.fs = img.fs.CrashKeepAll() // each mode recovers its own copy
		cfsVerifyImage(t, run, copied, append(slices.Clone(mutate), mode)...)
	}
}

// TestCrashFSRepeatedCycles: crash, reopen, write more, crash again, five times on one
// filesystem; every acknowledged commit of every cycle is there at the end, and what one
// recovery found never changes at a later one.
func TestCrashFSRepeatedCycles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate []func(*inmem.Options)
	}{
		{"strict", nil},
		{"strict-small-segments", []func(*inmem.Options){smallSegments}},
		{"strict-snapshots", []func(*inmem.Options){smallSegments, snapshotOften}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(tc.name))))
			fs := cfsNewFS(t)
			type cycle struct {
				run     inmem.RunID
				present []int // what the first recovery after the cycle found
			}
			var cycles []cycle
			for k := range 5 {
				run, img := cfsCrashRound(t, fs, rng, 800, crashRandom(rng), tc.mutate...)
				fs = img.fs
				db := cfsOpen(t, fs, tc.mutate...)
				present := cfsCheck(t, db, run, img.mustHave, img.attempted)
				for j, old := range cycles {
					require.Equal(t, old.present, cfsCheck(t, db, old.run, old.present, old.present),
						"cycle %d: the state of cycle %d changed", k, j)
				}
				// The puts of every cycle, one BeginRun each, and the orphan marking of each
				// earlier cycle's run by the Open that checked it.
				total := cfsSum(present) + k + 1 + k
				for _, old := range cycles {
					total += cfsSum(old.present)
				}
				rec := db.LastRecovery()
				require.True(t, rec.Consistent)
				// The Close of the previous check took a snapshot: recovery restores its
				// transactions and replays only the log after it.
				require.GreaterOrEqual(t, recoveredVersions(rec), total)
				require.Contains(t, rec.OrphanedRuns, run, "cycle %d: the run was active at the crash", k)
				require.NoError(t, db.Close())
				cycles = append(cycles, cycle{run, present})
			}
			db := cfsOpen(t, fs, tc.mutate...)
			for _, c := range cycles {
				cfsCheck(t, db, c.run, c.present, c.present)
			}
			require.NoError(t, db.Close())
		})
	}
}

// TestCrashFSBufferedSyncCommit: in Buffered mode a commit with CommitOptions{Sync: true} is
// durable when it returns, and so is everything committed before it.
func TestCrashFSBufferedSyncCommit(t *testing.T) {
	fs := cfsNewFS(t)
	db := cfsOpen(t, fs, buffered)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "before", []byte("b")))

	tx, err := db.Begin(run, true)
	require.NoError(t, err)
	require.NoError(t, tx.KV().Put("durable", []byte("d")))
	require.NoError(t, tx.CommitWith(ctx, inmem.CommitOptions{Sync: true}))
	img := fs.CrashKeepNothing()

	require.NoError(t, db.KV().Put(ctx, run, "after", []byte("a")))
	lost := fs.CrashKeepNothing()
	require.NoError(t, db.Close())

	db = cfsOpen(t, img)
	require.Equal(t, "d", get(t, db, run, "durable"))
	require.Equal(t, "b", get(t, db, run, "before"))
	require.Equal(t, 3, db.LastRecovery().TransactionsRecovered) // BeginRun, before, durable
	require.NoError(t, db.Close())

	// The unsynced commit after it is not durable (R6); the synced ones still are.
	db = cfsOpen(t, lost)
	require.Equal(t, "d", get(t, db, run, "durable"))
	_, err = db.KV().Get(run, "after")
	require.ErrorIs(t, err, inmem.ErrNotFound)
	require.NoError(t, db.Close())
}

// TestCrashFSFreshDirectory: Open creating the database directory itself. A Strict commit
// acknowledged on a brand-new directory must survive a power loss, which needs the directory's
// own entry in its parent to be durable too (vfs: "Each new directory is an entry of its
// parent: durable only after SyncDir of the parent").
func TestCrashFSFreshDirectory(t *testing.T) {
	fs := vfs.NewCrashFS()
	db := cfsOpen(t, fs)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
	img := fs.CrashKeepNothing()
	require.NoError(t, db.Close())

	names, err := img.List("/")
	require.NoError(t, err)
	require.Contains(t, names, strings.TrimPrefix(cfsDir, "/"),
		"the database directory did not survive the power loss (R5)")
	db = cfsOpen(t, img)
	defer db.Close()
	require.Equal(t, "v", get(t, db, run, "k"))
}

func crashPages(rng *rand.Rand) func(*vfs.CrashFS) *vfs.CrashFS {
	return func(fs *vfs.CrashFS) *vfs.CrashFS { return fs.CrashPages(rng) }
}

// TestCrashFSPagesReordered: a power loss on a disk that writes pages back in any order can
// leave zeros followed by a later batch in the preallocated log. That is an ordinary crash, not
// corruption: every recovery mode opens the image with every acknowledged Strict commit, a
// prefix per goroutine and the same state, and none applies a transaction past the zeros.
// A third of the seeds snapshot every few KiB of WAL.
func TestCrashFSPagesReordered(t *testing.T) {
	for seed := range cfsSeeds(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x9a6e5))
			var mutate []func(*inmem.Options)
			switch seed % 3 {
			case 1:
				mutate = append(mutate, smallSegments)
			case 2:
				mutate = append(mutate, smallSegments, snapshotOften)
			}
			run, img := cfsCrashRound(t, cfsNewFS(t), rng, 1500, crashPages(rng), mutate...)
			var first []int
			for _, mode := range []func(*inmem.Options){wdPointInTime, wdFailOnCorrupt, wdSkipCorrupt} {
				copied := img
				copied.fs = img.fs.CrashKeepAll() // each mode recovers its own copy
				present := cfsVerifyImage(t, run, copied, append(slices.Clone(mutate), mode)...)
				if first == nil {
					first = present
				}
				require.Equal(t, first, present, "every mode recovers the same state")
			}
		})
	}
}

// TestCrashFSBufferedPagesReordered: the same for Buffered mode, which syncs only when asked:
// the unsynced part of the log is larger, and every commit acknowledged before the last
// db.Sync must still be there.
func TestCrashFSBufferedPagesReordered(t *testing.T) {
	for seed := range cfsSeeds(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0xb9a6e))
			cfsBufferedCrash(t, seed, rng.IntN(400), crashPages(rng),
				[]func(*inmem.Options){wdPointInTime, wdFailOnCorrupt})
		})
	}
}
