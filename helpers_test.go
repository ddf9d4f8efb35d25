package inmem_test

import (
	"context"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

// openMem opens an InMemory database closed at the end of the test.
func openMem(t testing.TB, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open("", o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// newRun begins a fresh run.
func newRun(t testing.TB, db *inmem.DB) inmem.RunID {
	t.Helper()
	id := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, id, inmem.RunInfo{Name: t.Name()}))
	return id
}

func get(t testing.TB, db *inmem.DB, run inmem.RunID, key string) string {
	t.Helper()
	v, err := db.KV().Get(run, key)
	require.NoError(t, err)
	return string(v)
}
