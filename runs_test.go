package inmem_test

import (
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunMetadataAndListing(t *testing.T) {
	db := openMem(t)
	parent := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, parent, inmem.RunInfo{Name: "parent", Agent: "planner", Tags: []string{"prod"}}))
	child := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, child, inmem.RunInfo{Name: "child", Agent: "coder", Parent: parent,
		Tags: []string{"prod", "retry"}, Metadata: []byte(`{"attempt":2}`)}))
	require.NoError(t, db.AbortRun(ctx, child, "tool crashed"))

	m, err := db.Run(child)
	require.NoError(t, err)
	assert.Equal(t, "child", m.Info.Name)
	assert.Equal(t, inmem.RunFailed, m.Status)
	assert.Equal(t, "tool crashed", m.Reason)
	assert.Equal(t, parent, m.Info.Parent)
	assert.JSONEq(t, `{"attempt":2}`, string(m.Info.Metadata))
	assert.False(t, m.StartedAt.IsZero())
	assert.False(t, m.EndedAt.Before(m.StartedAt))
	_, err = db.Run(inmem.NewRunID())
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)

	all, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, parent, all[0].ID, "oldest first")
	for _, c := range []struct {
		f    inmem.RunFilter
		want []inmem.RunID
	}{
		{inmem.RunFilter{Status: inmem.RunActive}, []inmem.RunID{parent}},
		{inmem.RunFilter{Status: inmem.RunFailed}, []inmem.RunID{child}},
		{inmem.RunFilter{Agent: "coder"}, []inmem.RunID{child}},
		{inmem.RunFilter{Tag: "prod"}, []inmem.RunID{parent, child}},
		{inmem.RunFilter{Tag: "retry"}, []inmem.RunID{child}},
		{inmem.RunFilter{Parent: parent}, []inmem.RunID{child}},
		{inmem.RunFilter{Agent: "nobody"}, nil},
	} {
		got, err := db.ListRuns(c.f)
		require.NoError(t, err)
		var ids []inmem.RunID
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		assert.Equal(t, c.want, ids, "%+v", c.f)
	}
	assert.Empty(t, db.OrphanedRuns())
	require.ErrorIs(t, db.ResumeRun(ctx, parent), inmem.ErrInvalidArgument, "only an orphaned run resumes")
	require.ErrorIs(t, db.ResumeRun(ctx, inmem.NewRunID()), inmem.ErrRunNotFound)
}

// ListRuns pages: Limit and After walk every run once, in the order of the whole listing.
func TestListRunsPages(t *testing.T) {
	db := openMem(t)
	for i := range 25 {
		require.NoError(t, db.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{Agent: fmt.Sprint("a", i%2)}))
	}
	all, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	require.Len(t, all, 25)
	for _, f := range []inmem.RunFilter{{}, {Agent: "a1"}} {
		want, err := db.ListRuns(f)
		require.NoError(t, err)
		var got []inmem.RunMetadata
		for {
			f.Limit = 7
			page, err := db.ListRuns(f)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 7)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			f.After = page[len(page)-1].ID
		}
		require.Equal(t, want, got)
	}
	_, err = db.ListRuns(inmem.RunFilter{After: inmem.NewRunID()})
	require.ErrorIs(t, err, inmem.ErrRunNotFound)
	_, err = db.ListRuns(inmem.RunFilter{Limit: -1})
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
}
