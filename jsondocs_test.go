package inmem_test

import (
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONDocuments(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	j := db.JSON()
	require.NoError(t, j.Create(ctx, run, "plan", []byte(`{"goal":"triage","steps":["read"]}`)))
	assert.ErrorIs(t, j.Create(ctx, run, "plan", []byte(`{}`)), inmem.ErrAlreadyExists)

	v, err := j.Get(run, "plan", "$.steps[0]")
	require.NoError(t, err)
	assert.JSONEq(t, `"read"`, string(v))
	require.NoError(t, j.Set(ctx, run, "plan", "$.steps[1]", []byte(`"answer"`)), "index == len appends")
	assert.ErrorIs(t, j.Set(ctx, run, "plan", "$.steps[5]", []byte(`1`)), inmem.ErrIndexOutOfRange)
	assert.ErrorIs(t, j.Set(ctx, run, "plan", "$.goal.x", []byte(`1`)), inmem.ErrTypeMismatch)
	require.NoError(t, j.Set(ctx, run, "plan", "$.meta.owner.name", []byte(`"bot"`)), "missing objects are created")
	require.NoError(t, j.Delete(ctx, run, "plan", "$.nothing.here"), "deleting a missing path is fine")
	require.NoError(t, j.Patch(ctx, run, "plan", []inmem.PatchOp{
		{Op: "set", Path: "$.status", Value: []byte(`"open"`)},
		{Op: "delete", Path: "$.meta"},
	}))
	doc, err := j.Get(run, "plan", "$")
	require.NoError(t, err)
	assert.JSONEq(t, `{"goal":"triage","steps":["read","answer"],"status":"open"}`, string(doc))
	ver, err := j.Version(run, "plan")
	require.NoError(t, err)
	assert.EqualValues(t, 5, ver, "1 at create, +1 per changing transaction")

	_, err = j.Get(run, "plan", "$.missing")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
	_, err = j.Get(run, "plan", "$..bad")
	assert.ErrorIs(t, err, inmem.ErrInvalidPath)
	_, err = j.Get(inmem.NewRunID(), "plan", "$")
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	assert.ErrorIs(t, j.Create(ctx, run, "bad", []byte(`{not json`)), inmem.ErrInvalidArgument)
	assert.ErrorIs(t, j.Set(ctx, run, "absent", "$.a", []byte(`1`)), inmem.ErrNotFound)

	require.NoError(t, j.Delete(ctx, run, "plan", "$"))
	doc, err = j.Get(run, "plan", "$")
	require.NoError(t, err)
	assert.Equal(t, "null", string(doc), "deleting the root leaves null")
	keys, err := j.List(run)
	require.NoError(t, err)
	assert.Equal(t, []string{"plan"}, keys)
	require.NoError(t, j.DeleteDoc(ctx, run, "plan"))
	ok, err := j.Exists(run, "plan")
	require.NoError(t, err)
	assert.False(t, ok)
}

// Per-document conflicts: concurrent patches of one document all land (the facade retries
// conflicts like Update), and a create and a set in one transaction leave version 1.
func TestJSONConcurrentPathUpdates(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.UpdateAttempts = 1000 })
	run := newRun(t, db)
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.JSON().Create("doc", []byte(`{"a":[]}`)); err != nil {
			return err
		}
		return tx.JSON().Set("doc", "$.b", []byte(`true`))
	}))
	ver, err := db.JSON().Version(run, "doc")
	require.NoError(t, err)
	assert.EqualValues(t, 1, ver, "create and set in one transaction leave version 1")

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := db.JSON().Patch(ctx, run, "doc", []inmem.PatchOp{{Op: "set", Path: "$.last", Value: []byte{'0' + byte(g)}}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	ver, err = db.JSON().Version(run, "doc")
	require.NoError(t, err)
	assert.EqualValues(t, 41, ver, "every patch landed exactly once")
}

func TestJSONDurableWithOtherPrimitives(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.JSON().Create("memo", []byte(`{"n":1}`)); err != nil {
			return err
		}
		if err := tx.KV().Put("k", []byte("v")); err != nil {
			return err
		}
		if err := tx.Events().Append("memo", []byte(`{}`)); err != nil {
			return err
		}
		return tx.State().Set("phase", []byte("1"))
	}))
	require.NoError(t, db.JSON().Set(ctx, run, "memo", "$.n", []byte(`2`)))
	require.NoError(t, db.Close())
	db = openDir(t, dir)
	defer db.Close()
	v, err := db.JSON().Get(run, "memo", "$.n")
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	ver, err := db.JSON().Version(run, "memo")
	require.NoError(t, err)
	assert.EqualValues(t, 2, ver)
	assert.Equal(t, "v", get(t, db, run, "k"))
}
