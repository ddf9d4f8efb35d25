package inmem_test

import (
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTraces(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	tr := db.Traces()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	root, err := tr.Record(ctx, run, inmem.Span{Kind: inmem.SpanDecision, Name: "plan", Start: t0, End: t0.Add(time.Second), Tags: []string{"top"}})
	require.NoError(t, err)
	require.NotEmpty(t, root)
	var search, answer string
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		var err error
		search, err = tx.Traces().Record(inmem.Span{ID: "search", ParentID: root, Kind: inmem.SpanToolCall, Name: "search",
			Start: t0.Add(100 * time.Millisecond), Attributes: []byte(`{"q":"order 42"}`)})
		if err != nil {
			return err
		}
		// The parent may be recorded earlier in the same transaction.
		answer, err = tx.Traces().Record(inmem.Span{ParentID: search, Kind: inmem.SpanThought, Name: "read result",
			Start: t0.Add(200 * time.Millisecond), Tags: []string{"top"}})
		return err
	}))

	_, err = tr.Record(ctx, run, inmem.Span{ParentID: "nope", Kind: inmem.SpanThought, Name: "orphan"})
	assert.ErrorIs(t, err, inmem.ErrNotFound, "the parent must exist")
	_, err = tr.Record(ctx, run, inmem.Span{ID: "search", Kind: inmem.SpanQuery, Name: "dup"})
	assert.ErrorIs(t, err, inmem.ErrAlreadyExists)
	_, err = tr.Record(ctx, run, inmem.Span{Kind: "bogus", Name: "x"})
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)

	check := func(db *inmem.DB) {
		n, err := db.Traces().Count(run)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		s, err := db.Traces().Get(run, search)
		require.NoError(t, err)
		assert.Equal(t, root, s.ParentID)
		assert.JSONEq(t, `{"q":"order 42"}`, string(s.Attributes))
		kids, err := db.Traces().Children(run, root)
		require.NoError(t, err)
		require.Len(t, kids, 1)
		assert.Equal(t, search, kids[0].ID)
		tree, err := db.Traces().Tree(run, root)
		require.NoError(t, err)
		assert.Equal(t, []string{root, search, answer}, spanIDs(tree))
		roots, err := db.Traces().Roots(run)
		require.NoError(t, err)
		assert.Equal(t, []string{root}, spanIDs(roots))
		tools, err := db.Traces().ByKind(run, inmem.SpanToolCall)
		require.NoError(t, err)
		assert.Equal(t, []string{search}, spanIDs(tools))
		top, err := db.Traces().ByTag(run, "top")
		require.NoError(t, err)
		assert.Equal(t, []string{root, answer}, spanIDs(top))
		window, err := db.Traces().InTime(run, t0.Add(100*time.Millisecond), t0.Add(200*time.Millisecond))
		require.NoError(t, err)
		assert.Equal(t, []string{search}, spanIDs(window), "[from, to)")
	}
	check(db)
	require.NoError(t, db.Close())
	db = openDir(t, dir) // the indexes are rebuilt from the log
	defer db.Close()
	check(db)
	_, err = db.Traces().Get(inmem.NewRunID(), root)
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
}

func spanIDs(ss []inmem.Span) []string {
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return ids
}
