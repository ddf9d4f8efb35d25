package inmem_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// begin starts a writable transaction and rolls it back at the end of the test.
func begin(t *testing.T, db *inmem.DB, run inmem.RunID) *inmem.Tx {
	t.Helper()
	tx, err := db.Begin(run, true)
	require.NoError(t, err)
	t.Cleanup(tx.Rollback)
	return tx
}

// The KV conflict rules: every way a read key can change after the snapshot.
func TestConflictRules(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(db *inmem.DB, run inmem.RunID) // before the transaction begins
		read     string
		meddle   func(db *inmem.DB, run inmem.RunID) // concurrent commit after the snapshot
		conflict bool
	}{
		{"read key changed", put("k", "1"), "k", put("k", "2"), true},
		{"read key appeared", nil, "k", put("k", "1"), true},
		{"read key deleted", put("k", "1"), "k", del("k"), true},
		{"read key rewritten with the same value", put("k", "1"), "k", put("k", "1"), true},
		{"other key changed", put("k", "1"), "k", put("other", "x"), false},
		{"read key unchanged", put("k", "1"), "k", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openMem(t)
			run := newRun(t, db)
			if c.setup != nil {
				c.setup(db, run)
			}
			tx := begin(t, db, run)
			_, err := tx.KV().Get(c.read)
			if err != nil {
				require.ErrorIs(t, err, inmem.ErrNotFound)
			}
			require.NoError(t, tx.KV().Put("out", []byte("tx")))
			if c.meddle != nil {
				c.meddle(db, run)
			}
			err = tx.Commit(ctx)
			if !c.conflict {
				require.NoError(t, err)
				assert.Equal(t, "tx", get(t, db, run, "out"))
				return
			}
			require.ErrorIs(t, err, inmem.ErrConflict)
			var ce *inmem.ConflictError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, c.read, ce.Key)
			assert.Equal(t, run.String(), ce.Run)
			_, err = db.KV().Get(run, "out")
			assert.ErrorIs(t, err, inmem.ErrNotFound, "a conflicting commit must leave nothing behind")
			assert.EqualValues(t, 1, db.Stats().Conflicts)
		})
	}
}

func put(k, v string) func(*inmem.DB, inmem.RunID) {
	return func(db *inmem.DB, run inmem.RunID) {
		if err := db.KV().Put(ctx, run, k, []byte(v)); err != nil {
			panic(err)
		}
	}
}

func del(k string) func(*inmem.DB, inmem.RunID) {
	return func(db *inmem.DB, run inmem.RunID) {
		if _, err := db.KV().Delete(ctx, run, k); err != nil {
			panic(err)
		}
	}
}

func TestBlindWritesNeverConflict(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("k", "0")(db, run)
	a, b := begin(t, db, run), begin(t, db, run)
	require.NoError(t, a.KV().Put("k", []byte("a")))
	require.NoError(t, b.KV().Put("k", []byte("b")))
	require.NoError(t, b.KV().Delete("gone"))
	require.NoError(t, a.Commit(ctx))
	require.NoError(t, b.Commit(ctx), "blind writes to a key another tx wrote meanwhile commit")
	assert.Equal(t, "b", get(t, db, run, "k"), "last committer wins")
	assert.EqualValues(t, 0, db.Stats().Conflicts)
}

func TestFirstCommitterWins(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("n", "0")(db, run)
	a, b := begin(t, db, run), begin(t, db, run)
	for _, tx := range []*inmem.Tx{a, b} {
		_, err := tx.KV().Get("n")
		require.NoError(t, err)
		require.NoError(t, tx.KV().Put("n", []byte("1")))
	}
	require.NoError(t, a.Commit(ctx))
	require.ErrorIs(t, b.Commit(ctx), inmem.ErrConflict)
}

func TestReadOnlyTransactionsAlwaysCommitAndNeverReachTheLog(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("k", "1")(db, run)
	before := db.Stats()

	ro, err := db.Begin(run, false)
	require.NoError(t, err)
	_, err = ro.KV().Get("k")
	require.NoError(t, err)
	put("k", "2")(db, run) // the key it read changes
	require.NoError(t, ro.Commit(ctx), "a read-only transaction always commits")
	require.ErrorIs(t, ro.KV().Put("x", nil), inmem.ErrTxDone)

	// A writable transaction that only read is read-only too.
	rw := begin(t, db, run)
	_, err = rw.KV().Get("k")
	require.NoError(t, err)
	put("k", "3")(db, run)
	require.NoError(t, rw.Commit(ctx))

	after := db.Stats()
	assert.Equal(t, before.Batches+2, after.Batches, "only the two puts were sequenced")
	assert.Equal(t, before.Commits+2, after.Commits)

	view, err := db.Begin(run, false)
	require.NoError(t, err)
	defer view.Rollback()
	assert.ErrorIs(t, view.KV().Put("k", nil), inmem.ErrTxReadOnly)
	assert.ErrorIs(t, view.KV().Delete("k"), inmem.ErrInvalidArgument)
}

func TestReadYourWrites(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("a", "old")(db, run)
	put("b", "old")(db, run)
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		kv := tx.KV()
		require.NoError(t, kv.Put("a", []byte("new")))
		v, err := kv.Get("a")
		require.NoError(t, err)
		assert.Equal(t, "new", string(v))

		require.NoError(t, kv.Delete("b"))
		_, err = kv.Get("b")
		assert.ErrorIs(t, err, inmem.ErrNotFound)

		require.NoError(t, kv.Put("c", []byte("created")))
		keys, err := kv.List("")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "c"}, keys)
		ok, err := kv.Exists("b")
		require.NoError(t, err)
		assert.False(t, ok)

		// Outside the transaction nothing has happened yet.
		assert.Equal(t, "old", get(t, db, run, "a"))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "new", get(t, db, run, "a"))
	_, err = db.KV().Get(run, "b")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
}

func TestReadYourWritesManyKeys(t *testing.T) {
	// Past the point where the KV part indexes its writes with a map.
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		for i := range 50 {
			require.NoError(t, tx.KV().Put(fmt.Sprint("k", i), []byte(strconv.Itoa(i))))
		}
		for i := range 50 {
			require.NoError(t, tx.KV().Put(fmt.Sprint("k", i), []byte(strconv.Itoa(i*2))))
		}
		for i := range 50 {
			v, err := tx.KV().Get(fmt.Sprint("k", i))
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(i*2), string(v))
		}
		return nil
	}))
	keys, err := db.KV().List(run, "k")
	require.NoError(t, err)
	assert.Len(t, keys, 50)
	assert.Equal(t, "98", get(t, db, run, "k49"))
}

// Snapshot isolation: writers move amounts between two keys; a reader must always see the sum
// unchanged — never half of a concurrent commit.
func TestSnapshotIsolationNoTornReads(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	const total = 1000
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("a", []byte(strconv.Itoa(total))); err != nil {
			return err
		}
		return tx.KV().Put("b", []byte("0"))
	}))

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 200 {
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					a, b := readInt(tx, "a"), readInt(tx, "b")
					d := (w+i)%7 - 3
					if err := tx.KV().Put("a", []byte(strconv.Itoa(a-d))); err != nil {
						return err
					}
					return tx.KV().Put("b", []byte(strconv.Itoa(b+d)))
				})
				if err != nil && !errors.Is(err, inmem.ErrConflict) {
					t.Error(err)
					return
				}
			}
		}()
	}
	var reads, torn int
	var mu sync.Mutex
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = db.View(run, func(tx *inmem.Tx) error {
					sum := readInt(tx, "a") + readInt(tx, "b")
					mu.Lock()
					reads++
					if sum != total {
						torn++
					}
					mu.Unlock()
					return nil
				})
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	assert.Zero(t, torn, "readers saw a half-applied transfer")
	assert.Positive(t, reads)
	final, err := db.KV().GetMany(run, []string{"a", "b"})
	require.NoError(t, err)
	a, _ := strconv.Atoi(string(final[0]))
	b, _ := strconv.Atoi(string(final[1]))
	assert.Equal(t, total, a+b)
}

func readInt(tx *inmem.Tx, key string) int {
	v, err := tx.KV().Get(key)
	if err != nil {
		panic(err)
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		panic(err)
	}
	return n
}

// A snapshot stays put: a transaction reads the same values however many commits land after it
// began, even after the engine trims old versions.
func TestSnapshotIsStable(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	put("k", "v0")(db, run)
	tx, err := db.Begin(run, false)
	require.NoError(t, err)
	defer tx.Rollback()
	for i := 1; i <= 100; i++ {
		put("k", fmt.Sprint("v", i))(db, run)
		put("new", "x")(db, run)
	}
	v, err := tx.KV().Get("k")
	require.NoError(t, err)
	assert.Equal(t, "v0", string(v))
	_, err = tx.KV().Get("new")
	assert.ErrorIs(t, err, inmem.ErrNotFound, "a key created after the snapshot is invisible")
	assert.Equal(t, "v100", get(t, db, run, "k"))
}

// Update retries conflicts until every increment lands exactly once.
func TestUpdateRetryConverges(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.UpdateAttempts = 1000 })
	run := newRun(t, db)
	put("counter", "0")(db, run)
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	var attempts [goroutines]int
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					attempts[g]++
					return tx.KV().Put("counter", []byte(strconv.Itoa(readInt(tx, "counter")+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, strconv.Itoa(goroutines*each), get(t, db, run, "counter"))
	total := 0
	for _, a := range attempts {
		total += a
	}
	assert.Equal(t, uint64(total-goroutines*each), db.Stats().Conflicts,
		"every re-run of fn is explained by exactly one conflict")
}

func TestUpdateGivesUpAfterAttempts(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.UpdateAttempts = 3 })
	run := newRun(t, db)
	calls := 0
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		calls++
		if _, err := tx.KV().Get("k"); err != nil && !errors.Is(err, inmem.ErrNotFound) {
			return err
		}
		put("k", strconv.Itoa(calls))(db, run) // someone always wins first
		return tx.KV().Put("k", []byte("mine"))
	})
	require.ErrorIs(t, err, inmem.ErrConflict)
	assert.ErrorContains(t, err, "gave up after 3 attempts")
	assert.Equal(t, 3, calls)
}

func TestUpdateReturnsFnErrorAndDiscards(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	boom := errors.New("boom")
	calls := 0
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		calls++
		require.NoError(t, tx.KV().Put("k", []byte("v")))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls, "an error of fn is not retried")
	_, err = db.KV().Get(run, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
}

func TestUpdatePanicRollsBack(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.Panics(t, func() {
		_ = db.Update(ctx, run, func(tx *inmem.Tx) error {
			_ = tx.KV().Put("k", []byte("v"))
			panic("fn panicked")
		})
	})
	_, err := db.KV().Get(run, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("k", []byte("ok")) }))
}

func TestFinishedTransaction(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	tx := begin(t, db, run)
	require.NoError(t, tx.KV().Put("k", []byte("v")))
	require.NoError(t, tx.Commit(ctx))
	assert.ErrorIs(t, tx.Commit(ctx), inmem.ErrTxDone)
	assert.ErrorIs(t, tx.KV().Put("k", []byte("again")), inmem.ErrTxDone)
	assert.ErrorIs(t, tx.KV().Put("k", []byte("again")), inmem.ErrClosed)
	_, err := tx.KV().Get("k")
	assert.ErrorIs(t, err, inmem.ErrTxDone)
	tx.Rollback() // harmless after Commit

	rolled := begin(t, db, run)
	require.NoError(t, rolled.KV().Put("other", []byte("v")))
	rolled.Rollback()
	assert.ErrorIs(t, rolled.Commit(ctx), inmem.ErrTxDone)
	_, err = db.KV().Get(run, "other")
	assert.ErrorIs(t, err, inmem.ErrNotFound, "a rolled-back write never lands")
	assert.Equal(t, "v", get(t, db, run, "k"))
}

// Phantoms are allowed (snapshot isolation, as documented on Tx): a transaction that listed
// keys commits although another commit added a key the listing would now show.
func TestPhantomCommits(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "task/1", []byte("a")))
	tx, err := db.Begin(run, true)
	require.NoError(t, err)
	defer tx.Rollback()
	keys, err := tx.KV().List("task/")
	require.NoError(t, err)
	require.Equal(t, []string{"task/1"}, keys)
	require.NoError(t, db.KV().Put(ctx, run, "task/2", []byte("b"))) // the phantom
	require.NoError(t, tx.KV().Put("count", []byte("1")))
	require.NoError(t, tx.Commit(ctx), "SI: the insert is not a conflict")
	keys, err = db.KV().List(run, "task/")
	require.NoError(t, err)
	require.Equal(t, []string{"task/1", "task/2"}, keys)
}

// Nested Update commits independently of the outer one (documented in bold on Update).
func TestNestedUpdateCommitsIndependently(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		require.NoError(t, db.Update(ctx, run, func(inner *inmem.Tx) error { return inner.KV().Put("inner", nil) }))
		_, err := tx.KV().Get("inner")
		require.ErrorIs(t, err, inmem.ErrNotFound, "the outer transaction does not see the inner one's write")
		return errors.New("the outer one rolls back")
	})
	require.Error(t, err)
	_, err = db.KV().Get(run, "inner")
	require.NoError(t, err, "the inner one committed on its own")
}
