package inmem_test

import (
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunLifecycleGuardsWrites(t *testing.T) {
	db := openMem(t)
	id := inmem.NewRunID()
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(id))
	require.ErrorIs(t, db.KV().Put(ctx, id, "k", nil), inmem.ErrRunNotFound)

	require.NoError(t, db.BeginRun(ctx, id, inmem.RunInfo{Name: "n", Agent: "a", Metadata: []byte(`{"x":1}`)}))
	assert.Equal(t, inmem.RunActive, db.RunStatus(id))
	require.ErrorIs(t, db.BeginRun(ctx, id, inmem.RunInfo{}), inmem.ErrRunExists)
	require.NoError(t, db.KV().Put(ctx, id, "k", []byte("v")))

	require.NoError(t, db.EndRun(ctx, id))
	assert.Equal(t, inmem.RunCompleted, db.RunStatus(id))
	require.ErrorIs(t, db.KV().Put(ctx, id, "k", nil), inmem.ErrRunNotActive)
	require.ErrorIs(t, db.EndRun(ctx, id), inmem.ErrRunNotActive)
	require.ErrorIs(t, db.AbortRun(ctx, id, "late"), inmem.ErrRunNotActive)
	require.ErrorIs(t, db.BeginRun(ctx, id, inmem.RunInfo{}), inmem.ErrRunExists)
	assert.Equal(t, "v", get(t, db, id, "k"), "an ended run stays readable")
	_, err := db.Begin(id, true)
	require.ErrorIs(t, err, inmem.ErrRunNotActive, "a writer is refused at Begin, before fn runs")
	ro, err := db.Begin(id, false)
	require.NoError(t, err, "a reader is not")
	ro.Rollback()

	failed := newRun(t, db)
	require.NoError(t, db.AbortRun(ctx, failed, "tool crashed"))
	assert.Equal(t, inmem.RunFailed, db.RunStatus(failed))

	require.ErrorIs(t, db.EndRun(ctx, inmem.NewRunID()), inmem.ErrRunNotFound)
	require.ErrorIs(t, db.AbortRun(ctx, inmem.NewRunID(), ""), inmem.ErrRunNotFound)
	require.ErrorIs(t, db.BeginRun(ctx, inmem.GlobalRun, inmem.RunInfo{}), inmem.ErrInvalidArgument)
	require.ErrorIs(t, db.EndRun(ctx, inmem.GlobalRun), inmem.ErrInvalidArgument)
	require.ErrorIs(t, db.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{Metadata: []byte("{bad")}), inmem.ErrInvalidArgument)
	assert.Equal(t, inmem.RunActive, db.RunStatus(inmem.GlobalRun))
}

// A transaction that began while its run was active fails at commit if the run ended meanwhile:
// the guard runs in the sequencer, against the newest status.
func TestRunEndedDuringTransaction(t *testing.T) {
	db := openMem(t)
	id := newRun(t, db)
	tx := begin(t, db, id)
	require.NoError(t, tx.KV().Put("k", []byte("v")))
	require.NoError(t, db.EndRun(ctx, id))
	require.ErrorIs(t, tx.Commit(ctx), inmem.ErrRunNotActive)
	_, err := db.KV().Get(id, "k")
	assert.ErrorIs(t, err, inmem.ErrNotFound)
}

func TestRunIDText(t *testing.T) {
	id := inmem.NewRunID()
	back, err := inmem.ParseRunID(id.String())
	require.NoError(t, err)
	assert.Equal(t, id, back)
	_, err = inmem.ParseRunID("not-a-uuid")
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	assert.Equal(t, "00000000-0000-0000-0000-000000000000", inmem.GlobalRun.String())
}
