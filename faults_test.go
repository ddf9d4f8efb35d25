package inmem_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Error injection: the database runs on a vfs.InjectFS over a vfs.CrashFS. A
// failed write or fdatasync of the log poisons it: the commit whose batch hit the failure and
// every later commit fail with ErrPoisoned, the failed fsync is never retried (nor any other
// sync issued), Close reports the poison, no goroutine is left behind, and reopening the crash
// image of the inner filesystem finds every commit acknowledged before the failure.

var errFault = errors.New("fault under test")

// fltPoisoned asserts that err is the poison of an injected failure.
func fltPoisoned(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, inmem.ErrPoisoned, msgAndArgs...)
}

// fltAssertPoisoned checks that db refuses everything with ErrPoisoned and touches the log no
// more: no write, no sync — Close included, whose error must report the poison.
func fltAssertPoisoned(t testing.TB, db *inmem.DB, fs *vfs.InjectFS, run inmem.RunID, next int) {
	t.Helper()
	syncs, writes, dirSyncs := fs.Calls(vfs.OpSync), fs.Calls(vfs.OpWrite), fs.Calls(vfs.OpSyncDir)
	for i := next; i < next+3; i++ {
		fltPoisoned(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte("never")), "put after the poison")
	}
	fltPoisoned(t, db.Sync(), "Sync after the poison")
	fltPoisoned(t, db.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{Name: "late"}), "BeginRun after the poison")
	fltPoisoned(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		return tx.KV().Put("never", []byte("x"))
	}), "Update after the poison")
	_, err := db.KV().Delete(ctx, run, cfsKey(0, 0))
	fltPoisoned(t, err, "Delete after the poison")

	fltPoisoned(t, db.Close(), "Close must report the poison")
	require.Equal(t, syncs, fs.Calls(vfs.OpSync), "a sync was issued after the log was poisoned")
	require.Equal(t, dirSyncs, fs.Calls(vfs.OpSyncDir), "a directory sync was issued after the log was poisoned")
	require.Equal(t, writes, fs.Calls(vfs.OpWrite), "a write was issued after the log was poisoned")
}

// fltReopen opens the image and checks committer 0's keys against the bounds; it returns how
// many are present, after checking that the reopened log takes new commits that survive.
func fltReopen(t testing.TB, img *vfs.CrashFS, run inmem.RunID, mustHave, attempted int,
	mutate ...func(*inmem.Options)) int {
	t.Helper()
	db := cfsOpen(t, img, mutate...)
	present := cfsCheck(t, db, run, []int{mustHave}, []int{attempted})[0]
	require.True(t, db.LastRecovery().Consistent)
	resumeOrphaned(t, db, run) // it was active when the log failed
	require.NoError(t, db.KV().Put(ctx, run, cfsKey(1, 0), []byte("0")), "the reopened log takes commits")
	// A process crash before Close: no snapshot of Close's, the new commit must come back from
	// the log alone. Then after Close (which takes a snapshot): from the snapshot.
	crashed := img.CrashKeepAll()
	require.NoError(t, db.Close())

	for _, after := range []*vfs.CrashFS{crashed, img} {
		db = cfsOpen(t, after, mutate...)
		cfsCheck(t, db, run, []int{present, 1}, []int{present, 1})
		require.NoError(t, db.Close())
	}
	return present
}

// TestFaultLogIOPoisons fails the Nth write or sync of the log after a few good commits.
func TestFaultLogIOPoisons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strict bool
		mutate []func(*inmem.Options)
		fault  vfs.Fault
		// bySync: the failure is hit by db.Sync (Buffered commits do not sync), not by a put.
		bySync bool
	}{
		{name: "strict/sync", strict: true, fault: vfs.Fault{Op: vfs.OpSync, Nth: 3, Err: errFault}},
		{name: "strict/write", strict: true, fault: vfs.Fault{Op: vfs.OpWrite, Nth: 3, Err: errFault}},
		{name: "strict/torn-write", strict: true,
			fault: vfs.Fault{Op: vfs.OpWrite, Nth: 3, Err: errFault, ShortWrite: 7}},
		{name: "strict/small-segments/sync", strict: true, mutate: []func(*inmem.Options){smallSegments},
			fault: vfs.Fault{Op: vfs.OpSync, Nth: 40, Err: errFault}},
		{name: "buffered/write", mutate: []func(*inmem.Options){buffered},
			fault: vfs.Fault{Op: vfs.OpWrite, Nth: 3, Err: errFault}},
		{name: "buffered/torn-write", mutate: []func(*inmem.Options){buffered},
			fault: vfs.Fault{Op: vfs.OpWrite, Nth: 3, Err: errFault, ShortWrite: 30}},
		{name: "buffered/sync", mutate: []func(*inmem.Options){buffered},
			fault: vfs.Fault{Op: vfs.OpSync, Nth: 1, Err: errFault}, bySync: true},
		// MaxUnsyncedBytes reached: the log syncs in the round of the commit that crossed it.
		{name: "buffered/size-triggered-sync", mutate: []func(*inmem.Options){buffered,
			func(o *inmem.Options) { o.MaxUnsyncedBytes = 1 }},
			fault: vfs.Fault{Op: vfs.OpSync, Nth: 3, Err: errFault}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			inner := cfsNewFS(t)
			fs := vfs.NewInjectFS(inner)
			db := cfsOpen(t, fs, tc.mutate...)
			run := newRun(t, db)
			i := 0
			for ; i < 5; i++ {
				require.NoError(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i))))
			}
			require.NoError(t, db.Sync())
			durable, armedAt := i, i // acknowledged and synced
			fs.Inject(tc.fault)

			var failure error
			if tc.bySync {
				for ; i < 8; i++ {
					require.NoError(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i))))
				}
				failure = db.Sync()
			} else {
				for ; failure == nil; i++ {
					require.Less(t, i, 1000, "the fault never fired")
					failure = db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i)))
				}
				i-- // the failed put
				if tc.strict {
					durable = i
				}
			}
			fltPoisoned(t, failure, "the commit that hit the failure")
			require.ErrorIs(t, failure, vfs.ErrInjected)
			require.ErrorIs(t, failure, errFault)
			require.Equal(t, 1, fs.Failures(tc.fault.Op))
			if !tc.bySync && tc.fault.Nth <= 3 { // one write and (Strict) one sync per commit
				require.Equal(t, armedAt+tc.fault.Nth-1, i, "the Nth call from the fault's injection failed")
			}
			acked := i // puts 0..acked-1 were acknowledged
			attempted := acked
			if !tc.bySync {
				attempted++ // the failed put may be on disk: its write can have succeeded
			}
			fltAssertPoisoned(t, db, fs, run, attempted)
			goleak.VerifyNone(t, leaks)

			// Power loss: every Strict acknowledgement (and everything Sync covered) survives.
			n := fltReopen(t, inner.CrashKeepNothing(), run, durable, attempted, tc.mutate...)
			// Process crash: every acknowledgement survives in any mode; a torn write is cut.
			m := fltReopen(t, inner.CrashKeepAll(), run, acked, attempted, tc.mutate...)
			t.Logf("acknowledged %d, power loss kept %d, process crash kept %d", acked, n, m)
		})
	}
}

// TestFaultPoisonsConcurrentCommitters: 16 goroutines commit when the log's write or fdatasync
// fails; each one's commits were acknowledged before it or fail with ErrPoisoned, none hangs,
// the failed call is never tried again, and every acknowledged commit survives.
func TestFaultPoisonsConcurrentCommitters(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpSync, vfs.OpWrite} {
		for seed := range cfsSeeds(3) {
			t.Run(fmt.Sprintf("%s/seed%d", op, seed), func(t *testing.T) {
				leaks := goleak.IgnoreCurrent()
				rng := rand.New(rand.NewPCG(uint64(seed), 0xfa17))
				inner := cfsNewFS(t)
				fs := vfs.NewInjectFS(inner)
				db := cfsOpen(t, fs)
				run := newRun(t, db)
				const writers = 16
				c := cfsStart(db, run, writers, 1<<30) // each stops at its first error
				c.waitAcks(rng.IntN(400))
				// Sticky: a retried call would fail again and be counted.
				fs.FailFromNth(op, 1, errFault)

				watchdog := time.NewTimer(30 * time.Second)
				defer watchdog.Stop()
				select {
				case <-c.done:
				case <-watchdog.C:
					t.Fatalf("committers still blocked 30 s after the %s failed", op)
				}
				for g, err := range c.errsNow() {
					fltPoisoned(t, err, "committer %d", g)
				}
				require.Equal(t, 1, fs.Failures(op), "the failed %s was retried", op)
				acked, attempted := c.ackedNow(), c.attemptedNow()
				for g := range writers {
					require.Equal(t, attempted[g], acked[g]+1, "committer %d: one failed commit, then it stopped", g)
				}
				fltAssertPoisoned(t, db, fs, run, 1<<20)
				require.Equal(t, 1, fs.Failures(op), "Close retried the failed %s", op)
				goleak.VerifyNone(t, leaks)

				for _, img := range []*vfs.CrashFS{inner.CrashKeepNothing(), inner.CrashKeepAll()} {
					db := cfsOpen(t, img)
					cfsCheck(t, db, run, acked, attempted)
					require.NoError(t, db.Close())
				}
			})
		}
	}
}

// TestFaultOpen fails one filesystem call of Open: Open returns the error, leaves no goroutine
// behind and releases the lock, so a later Open without the fault succeeds and finds the data.
// A failed read of a snapshot may instead be absorbed: recovery rejects the snapshot and falls
// back to an older one or the whole log, so Open succeeds — with all the data.
func TestFaultOpen(t *testing.T) {
	type fault struct {
		op   vfs.Op
		nth  int
		path string // only calls on paths containing it count ("": every call)
	}
	const snapshots = cfsDir + "/snapshots"
	for _, tc := range []struct {
		name string
		// "": a new database; "clean": a log; "torn": a log with a torn tail; "snapshot": a log
		// and the snapshot Close took.
		data   string
		faults []fault
	}{
		// A new database: the lock, wal/, and the first segment (create, write header, sync
		// it, sync the directory).
		{"new", "", []fault{
			{vfs.OpMkdirAll, 1, ""}, {vfs.OpLock, 1, ""}, {vfs.OpMkdirAll, 2, ""}, {vfs.OpSyncDir, 1, ""},
			{vfs.OpList, 1, ""}, {vfs.OpCreate, 1, ""}, {vfs.OpWrite, 1, ""}, {vfs.OpSync, 1, ""}, {vfs.OpSyncDir, 2, ""},
		}},
		// An existing log: recovery reads the segment, then reopens it for append. (Its Close
		// takes no snapshot: the calls counted are the log's.)
		{"existing", "clean", []fault{
			{vfs.OpSyncDir, 1, ""}, {vfs.OpList, 1, ""}, {vfs.OpStat, 1, ""}, {vfs.OpOpen, 1, ""}, {vfs.OpRead, 1, ""},
			{vfs.OpOpenReadWrite, 1, ""}, {vfs.OpReadAt, 1, ""}, {vfs.OpSync, 1, ""}, {vfs.OpSeek, 1, ""},
		}},
		// A torn tail is cut off before appends continue: truncate, then sync the truncation.
		{"torn-tail", "torn", []fault{{vfs.OpTruncate, 1, ""}, {vfs.OpSync, 1, ""}}},
		// A snapshot: recovery lists snapshots/ (unfinished ones, then the snapshots), reads the
		// header, then validates the whole file (stat, open, read), and replays the log after it.
		{"snapshot", "snapshot", []fault{
			{vfs.OpList, 1, snapshots}, {vfs.OpList, 2, snapshots}, {vfs.OpOpen, 1, snapshots},
			{vfs.OpOpen, 2, snapshots}, {vfs.OpReadAt, 1, snapshots}, {vfs.OpReadAt, 2, snapshots},
			{vfs.OpStat, 1, snapshots},
		}},
	} {
		for _, f := range tc.faults {
			t.Run(fmt.Sprintf("%s/%s#%d", tc.name, f.op, f.nth), func(t *testing.T) {
				leaks := goleak.IgnoreCurrent()
				inner := cfsNewFS(t)
				var run inmem.RunID
				if tc.data != "" {
					var mutate []func(*inmem.Options)
					if tc.data != "snapshot" {
						mutate = append(mutate, noCloseSnapshot)
					}
					setup := vfs.NewInjectFS(inner)
					db := cfsOpen(t, setup, mutate...)
					run = newRun(t, db)
					require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
					if tc.data == "torn" {
						setup.Inject(vfs.Fault{Op: vfs.OpWrite, Nth: 1, Err: errFault, ShortWrite: 7})
						fltPoisoned(t, db.KV().Put(ctx, run, "torn", []byte("x")))
						fltPoisoned(t, db.Close())
						inner = inner.CrashKeepAll() // the 7 bytes stay: a torn tail
					} else {
						require.NoError(t, db.Close())
					}
					names, err := inner.List(snapshots)
					if tc.data == "snapshot" {
						require.NoError(t, err)
						require.NotEmpty(t, names, "Close took a snapshot")
					} else if err == nil {
						require.Empty(t, names, "no snapshot: Open reads the log alone")
					}
				}
				fs := vfs.NewInjectFS(inner)
				fs.Inject(vfs.Fault{Op: f.op, Nth: f.nth, Err: errFault, Path: f.path})
				db, err := inmem.Open(cfsDir, cfsOptions(fs))
				require.Equal(t, 1, fs.Failures(f.op), "the fault is on Open's path")
				if err == nil && tc.data == "snapshot" {
					// Absorbed: the snapshot was rejected or its header ignored. Nothing is lost.
					t.Logf("Open absorbed the failure (%d snapshots rejected)", db.LastRecovery().SnapshotsRejected)
					require.Equal(t, "v", get(t, db, run, "k"))
					require.Equal(t, 2, recoveredVersions(db.LastRecovery()), "BeginRun and the put")
					require.NoError(t, db.Close())
				} else {
					if err == nil {
						db.Close()
					}
					require.Error(t, err)
					require.ErrorIs(t, err, errFault)
					require.Nil(t, db)
				}
				goleak.VerifyNone(t, leaks)

				fs.ClearFaults()
				db, err = inmem.Open(cfsDir, cfsOptions(fs))
				require.NoError(t, err, "the failed Open kept the lock or damaged the directory")
				if tc.data != "" {
					require.Equal(t, "v", get(t, db, run, "k"))
					_, err := db.KV().Get(run, "torn")
					require.ErrorIs(t, err, inmem.ErrNotFound)
					// The run was active when the setup stopped: this recovery or the failed Open
					// (if it got as far as logging it) marked it Orphaned.
					require.Equal(t, inmem.RunOrphaned, db.RunStatus(run))
					require.NoError(t, db.ResumeRun(ctx, run))
				}
				if tc.data == "torn" && f.op == vfs.OpTruncate {
					// (After a failed sync of the truncation the cut is already in the file.) The
					// tail is the 7 torn bytes plus whatever zeros the log had preallocated.
					require.GreaterOrEqual(t, db.LastRecovery().TornTailBytes, int64(7))
				}
				require.NoError(t, db.KV().Put(ctx, run, "after", []byte("a"))) // run is GlobalRun on a new database
				require.NoError(t, db.Close())

				// The log goes on where the failed Open left it: both commits are there.
				for _, img := range []*vfs.CrashFS{inner.CrashKeepNothing(), inner.CrashKeepAll()} {
					db = cfsOpen(t, img)
					if tc.data != "" {
						require.Equal(t, "v", get(t, db, run, "k"))
					}
					require.Equal(t, "a", get(t, db, run, "after"))
					require.NoError(t, db.Close())
				}
			})
		}
	}
}

// TestFaultSegmentRoll: with small segments the log rolls over every few commits; failing any
// step of creating the next segment (list the directory, create the file, write its header,
// sync it, sync the directory) poisons the log, and every acknowledged commit
// survives a power loss or a process crash.
func TestFaultSegmentRoll(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpList, vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			inner, run, acked := fltPoisonAtRoll(t, vfs.Fault{Op: op, Nth: 1, Err: errFault})
			fltReopen(t, inner.CrashKeepNothing(), run, acked, acked, smallSegments)
			fltReopen(t, inner.CrashKeepAll(), run, acked, acked, smallSegments)
			if op == vfs.OpWrite || op == vfs.OpSync {
				return // random crash images: TestFaultTornSegmentHeader
			}
			rng := rand.New(rand.NewPCG(uint64(op), 1))
			for range 20 {
				fltReopen(t, inner.Crash(rng), run, acked, acked, smallSegments)
			}
		})
	}
}

// fltPoisonAtRoll commits on small segments until two rolls happened, then fails the next roll
// with fault (for OpWrite and OpSync: the new segment's header write or sync), checks the
// poison, closes the database and returns the inner filesystem, the run and the number of
// acknowledged puts of committer 0.
func fltPoisonAtRoll(t *testing.T, fault vfs.Fault) (*vfs.CrashFS, inmem.RunID, int) {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	op := fault.Op
	inner := cfsNewFS(t)
	fs := vfs.NewInjectFS(inner)
	db := cfsOpen(t, fs, smallSegments)
	run := newRun(t, db)
	// Commit until the first segment and two more exist; delta is the last put's log bytes.
	i, delta := 0, uint64(0)
	for ; fs.Calls(vfs.OpCreate) < 3; i++ {
		require.Less(t, i, 1000, "the log never rolled over")
		before := db.Stats().WALBytes
		require.NoError(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i))))
		delta = db.Stats().WALBytes - before
	}
	// A put returns once applied; the log may still be rolling over after it. A Sync request is
	// handled after that: the roll is finished when it returns.
	require.NoError(t, db.Sync())
	creates := fs.Calls(vfs.OpCreate)
	if op == vfs.OpList || op == vfs.OpCreate || op == vfs.OpSyncDir {
		// Between rolls the log lists, creates and syncs no directory: the next call is the
		// next roll's.
		fs.Inject(fault)
	}
	var failure error
	for ; failure == nil; i++ {
		require.Less(t, i, 1000, "the fault never fired")
		if op == vfs.OpWrite || op == vfs.OpSync {
			// Aim at the header write (or sync) of the segment the next roll creates. Its base
			// LSN is the log's end after this put: on a new log every byte written is an entry
			// byte (WALBytes), and this put adds as many bytes as the last one, or one more when
			// its value has one more digit.
			end := db.Stats().WALBytes
			for _, d := range []uint64{delta, delta + 1} {
				f := fault
				f.Path = commitlog.SegmentName(end + d)
				fs.Inject(f)
			}
		}
		failure = db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i)))
	}
	i-- // the failed put: the roll failed after the previous put's round, so it never reached the log
	fltPoisoned(t, failure, "the commit after the failed roll")
	require.ErrorIs(t, failure, errFault)
	require.Equal(t, 1, fs.Failures(op))
	require.Equal(t, creates+btoi(op != vfs.OpList), fs.Calls(vfs.OpCreate), "the roll was retried")
	fltAssertPoisoned(t, db, fs, run, i)
	goleak.VerifyNone(t, leaks)
	return inner, run, i
}

// TestFaultTornSegmentHeader: a crash while a segment is being created (after Create, before its
// header is durable) can leave the file with a torn header of 0..23 bytes. That is a torn tail
// (commitlog/doc.go) — nothing in the segment was ever acknowledged — so Open must cut it and go
// on; the crash images come from CrashFS.Crash after the header write or sync failed (the failed
// segment's Remove is not durable either).
func TestFaultTornSegmentHeader(t *testing.T) {
	check := func(t *testing.T, inner *vfs.CrashFS, open func(img *vfs.CrashFS)) {
		rng := rand.New(rand.NewPCG(3, 4))
		torn := 0
		for range 40 {
			img := inner.Crash(rng)
			names, err := img.List(cfsDir + "/wal")
			require.NoError(t, err)
			for _, n := range names {
				if base, ok := commitlog.ParseSegmentName(n); ok {
					if size, err := img.Stat(cfsDir + "/wal/" + n); err == nil && size < commitlog.HeaderSize {
						t.Logf("segment %d has a torn header of %d bytes", base, size)
						torn++
					}
				}
			}
			open(img)
		}
		require.Positive(t, torn, "no crash image had a torn segment header: the test proves nothing")
	}
	t.Run("first-segment", func(t *testing.T) {
		// The first Open of a new database crashes while creating segment 0.
		inner := cfsNewFS(t)
		fs := vfs.NewInjectFS(inner)
		fs.Inject(vfs.Fault{Op: vfs.OpWrite, Nth: 1, Err: errFault, ShortWrite: 10})
		_, err := inmem.Open(cfsDir, cfsOptions(fs))
		require.ErrorIs(t, err, errFault)
		check(t, inner, func(img *vfs.CrashFS) {
			db := cfsOpen(t, img)
			run := newRun(t, db)
			require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
			require.NoError(t, db.Close())
			db = cfsOpen(t, img)
			require.Equal(t, "v", get(t, db, run, "k"))
			require.NoError(t, db.Close())
		})
	})
	for _, fault := range []vfs.Fault{
		{Op: vfs.OpWrite, Nth: 1, Err: errFault, ShortWrite: 10},
		{Op: vfs.OpSync, Nth: 1, Err: errFault},
	} {
		t.Run("roll/"+fault.Op.String(), func(t *testing.T) {
			inner, run, acked := fltPoisonAtRoll(t, fault)
			check(t, inner, func(img *vfs.CrashFS) {
				fltReopen(t, img, run, acked, acked, smallSegments)
			})
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFaultBufferedBackgroundSync: in Buffered mode a failed background flush (FlushInterval)
// poisons the log like any failed fsync. Time is synctest's fake clock.
func TestFaultBufferedBackgroundSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := cfsNewFS(t)
		fs := vfs.NewInjectFS(inner)
		mutate := func(o *inmem.Options) {
			o.Durability = inmem.Buffered
			o.FlushInterval = 100 * time.Millisecond
			o.MaxUnsyncedBytes = 1 << 40
		}
		db := cfsOpen(t, fs, mutate)
		run := newRun(t, db)
		i := 0
		for ; i < 5; i++ {
			require.NoError(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i))))
		}
		syncs := fs.Calls(vfs.OpSync)
		time.Sleep(150 * time.Millisecond) // one flush tick
		synctest.Wait()
		require.Equal(t, syncs+1, fs.Calls(vfs.OpSync), "the background flush synced the log")

		fs.FailNth(vfs.OpSync, 1, errFault)
		for ; i < 8; i++ {
			require.NoError(t, db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i))))
		}
		time.Sleep(100 * time.Millisecond) // the next tick: its sync fails
		synctest.Wait()
		require.Equal(t, 1, fs.Failures(vfs.OpSync), "the background flush ran")

		err := db.KV().Put(ctx, run, cfsKey(0, i), []byte(strconv.Itoa(i)))
		fltPoisoned(t, err, "the first commit after the failed background flush")
		require.ErrorIs(t, err, errFault)
		time.Sleep(time.Second) // more ticks: none may retry the sync
		synctest.Wait()
		fltAssertPoisoned(t, db, fs, run, i)
		require.Equal(t, 1, fs.Failures(vfs.OpSync))

		fltReopen(t, inner.CrashKeepNothing(), run, 5, 8, mutate)
		fltReopen(t, inner.CrashKeepAll(), run, 8, 8, mutate)
	})
}

// TestFaultCloseTwiceAfterPoison: the package documents Close as idempotent, returning nil after
// the first call; the first Close of a poisoned database reports the poison.
func TestFaultCloseTwiceAfterPoison(t *testing.T) {
	fs := vfs.NewInjectFS(cfsNewFS(t))
	db := cfsOpen(t, fs)
	run := newRun(t, db)
	fs.FailNth(vfs.OpSync, 1, errFault)
	fltPoisoned(t, db.KV().Put(ctx, run, "k", []byte("v")))
	fltPoisoned(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent and returns nil after the first call")
}
