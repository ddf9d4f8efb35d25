package inmem_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKVBasics(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	kv := db.KV()

	_, err := kv.Get(run, "missing")
	require.ErrorIs(t, err, inmem.ErrNotFound)
	assert.Contains(t, err.Error(), `"missing"`, "the error names the key")

	require.NoError(t, kv.Put(ctx, run, "b", []byte("2")))
	require.NoError(t, kv.Put(ctx, run, "a", []byte("1")))
	require.NoError(t, kv.Put(ctx, run, "c/x", []byte("3")))
	require.NoError(t, kv.Put(ctx, run, "empty", nil))

	v, err := kv.Get(run, "empty")
	require.NoError(t, err, "an empty value is a value")
	assert.Empty(t, v)

	keys, err := kv.List(run, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c/x", "empty"}, keys)
	keys, err = kv.List(run, "c/")
	require.NoError(t, err)
	assert.Equal(t, []string{"c/x"}, keys)

	pairs, err := kv.Scan(run, "", "", 0)
	require.NoError(t, err)
	require.Len(t, pairs, 4)
	assert.Equal(t, inmem.Pair{Key: "a", Value: []byte("1")}, pairs[0])

	vals, err := kv.GetMany(run, []string{"a", "nope", "b"})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("1"), nil, []byte("2")}, vals)

	existed, err := kv.Delete(ctx, run, "a")
	require.NoError(t, err)
	assert.True(t, existed)
	existed, err = kv.Delete(ctx, run, "a")
	require.NoError(t, err)
	assert.False(t, existed, "a deleted key does not exist")
	ok, err := kv.Exists(run, "a")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = kv.Exists(run, "b")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestKVValuesAreCopies(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	in := []byte("value")
	require.NoError(t, db.KV().Put(ctx, run, "k", in))
	in[0] = 'X' // the caller reuses its buffer
	out := get(t, db, run, "k")
	assert.Equal(t, "value", out)

	got, err := db.KV().Get(run, "k")
	require.NoError(t, err)
	got[0] = 'Y' // the caller scribbles on what it read
	assert.Equal(t, "value", get(t, db, run, "k"))
}

func TestRunsAreIsolated(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.Shards = 3 })
	a, b := newRun(t, db), newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, a, "k", []byte("a")))
	_, err := db.KV().Get(b, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	require.NoError(t, db.KV().Put(ctx, inmem.GlobalRun, "k", []byte("global")))
	assert.Equal(t, "a", get(t, db, a, "k"))
	assert.Equal(t, "global", get(t, db, inmem.GlobalRun, "k"))
}

// Bad input returns its sentinel error (ErrInvalidArgument, ErrTooLarge, ErrRunNotFound) and
// changes nothing.
func TestKVBadInput(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "keep", []byte("v")))
	before := db.Stats()

	long := strings.Repeat("k", 4<<10+1)
	huge := make([]byte, 16<<20+1)
	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"empty key put", inmem.ErrInvalidArgument, func() error { return db.KV().Put(ctx, run, "", []byte("v")) }},
		{"empty key get", inmem.ErrInvalidArgument, func() error { _, err := db.KV().Get(run, ""); return err }},
		{"key over 4 KiB", inmem.ErrTooLarge, func() error { return db.KV().Put(ctx, run, long, []byte("v")) }},
		{"invalid UTF-8 key", inmem.ErrInvalidArgument, func() error { return db.KV().Put(ctx, run, "\xff", nil) }},
		{"value over 16 MiB", inmem.ErrTooLarge, func() error { return db.KV().Put(ctx, run, "k", huge) }},
		{"delete empty key", inmem.ErrInvalidArgument, func() error { _, err := db.KV().Delete(ctx, run, ""); return err }},
		{"nil Update fn", inmem.ErrInvalidArgument, func() error { return db.Update(ctx, run, nil) }},
		{"nil View fn", inmem.ErrInvalidArgument, func() error { return db.View(run, nil) }},
		{"tx put too large", inmem.ErrTooLarge, func() error {
			return db.Update(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("k", huge) })
		}},
		{"never-begun run", inmem.ErrRunNotFound, func() error { return db.KV().Put(ctx, inmem.NewRunID(), "k", nil) }},
		{"read of never-begun run", inmem.ErrRunNotFound, func() error { _, err := db.KV().Get(inmem.NewRunID(), "k"); return err }},
		{"begin on never-begun run", inmem.ErrRunNotFound, func() error { _, err := db.Begin(inmem.NewRunID(), true); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			require.ErrorIs(t, err, c.err)
		})
	}
	keys, err := db.KV().List(run, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"keep"}, keys, "bad input changed nothing")
	assert.Equal(t, before.Commits, db.Stats().Commits)
}

// The exact limits are accepted.
func TestKVLimitsInclusive(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	key := strings.Repeat("k", 4<<10)
	require.NoError(t, db.KV().Put(ctx, run, key, make([]byte, 16<<20)))
	v, err := db.KV().Get(run, key)
	require.NoError(t, err)
	assert.Len(t, v, 16<<20)
}

// KV.Scan pages through a prefix in key order; the pages put together are the listing.
func TestKVScanPages(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	var want []string
	for i := range 300 {
		key := fmt.Sprintf("p/%03d", (i*37)%300)
		require.NoError(t, db.KV().Put(ctx, run, key, []byte(key)))
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprintf("q/%03d", i), nil))
	}
	for i := range 300 {
		want = append(want, fmt.Sprintf("p/%03d", i))
	}
	_, err := db.KV().Delete(ctx, run, "p/150")
	require.NoError(t, err)
	want = append(want[:150], want[151:]...)
	var got []string
	after := ""
	for {
		page, err := db.KV().Scan(run, "p/", after, 41)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 41)
		for _, p := range page {
			require.Equal(t, p.Key, string(p.Value))
			got = append(got, p.Key)
		}
		after = page[len(page)-1].Key
	}
	require.Equal(t, want, got)
	all, err := db.KV().Scan(run, "p/", "", 0)
	require.NoError(t, err)
	require.Len(t, all, len(want))
	_, err = db.KV().Scan(run, "p/", "", -1)
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
}

// KVTx.Scan lays the transaction's own writes over its snapshot, and what it read from the
// snapshot conflicts like a Get.
func TestKVTxScanSeesOwnWritesAndConflicts(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	for _, k := range []string{"a", "b", "d"} {
		require.NoError(t, db.KV().Put(ctx, run, k, []byte("old")))
	}
	tx, err := db.Begin(run, true)
	require.NoError(t, err)
	defer tx.Rollback()
	require.NoError(t, tx.KV().Put("c", []byte("mine")))
	require.NoError(t, tx.KV().Put("d", []byte("mine")))
	require.NoError(t, tx.KV().Delete("a"))
	pairs, err := tx.KV().Scan("", "", 0)
	require.NoError(t, err)
	require.Equal(t, []inmem.Pair{{Key: "b", Value: []byte("old")}, {Key: "c", Value: []byte("mine")}, {Key: "d", Value: []byte("mine")}}, pairs)
	page, err := tx.KV().Scan("", "b", 1)
	require.NoError(t, err)
	require.Equal(t, []inmem.Pair{{Key: "c", Value: []byte("mine")}}, page)
	require.NoError(t, db.KV().Put(ctx, run, "b", []byte("theirs"))) // b was read by the scan
	require.ErrorIs(t, tx.Commit(ctx), inmem.ErrConflict)
}
