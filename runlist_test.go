package inmem_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ListRuns with filters while runs are begun and ended: each answer holds only runs that match,
// every run that ended (matching) before the call, and never a run begun after it returned.
func TestListRunsFilterWhileRunsChange(t *testing.T) {
	db := openMem(t, func(o *inmem.Options) { o.Shards = 4 })
	old := map[inmem.RunID]bool{}
	for range 100 {
		id := inmem.NewRunID()
		require.NoError(t, db.BeginRun(ctx, id, inmem.RunInfo{Agent: "old", Tags: []string{"x"}}))
		require.NoError(t, db.EndRun(ctx, id))
		old[id] = true
	}
	var mu sync.Mutex
	var ended []inmem.RunID         // by the writer, in order, once EndRun or AbortRun returned
	begun := map[inmem.RunID]bool{} // by the writer, before BeginRun
	stop := make(chan struct{})
	stopWriter := sync.OnceFunc(func() { close(stop) })
	defer stopWriter() // if the test fails early
	writerErr := make(chan error, 1)
	go func() {
		defer close(writerErr)
		for i := range 400 {
			select {
			case <-stop:
				return
			default:
			}
			id := inmem.NewRunID()
			info := inmem.RunInfo{Agent: "new", Tags: []string{fmt.Sprint("t", i%3)}}
			mu.Lock()
			begun[id] = true
			mu.Unlock()
			if err := db.BeginRun(ctx, id, info); err != nil {
				writerErr <- err
				return
			}
			var err error
			if i%2 == 0 {
				err = db.EndRun(ctx, id)
			} else {
				err = db.AbortRun(ctx, id, "x")
			}
			if err != nil {
				writerErr <- err
				return
			}
			mu.Lock()
			ended = append(ended, id)
			mu.Unlock()
		}
	}()
	endedSoFar := func() []inmem.RunID {
		mu.Lock()
		defer mu.Unlock()
		return append([]inmem.RunID(nil), ended...)
	}
	ids := func(f inmem.RunFilter) map[inmem.RunID]inmem.RunMetadata {
		t.Helper()
		got, err := db.ListRuns(f)
		require.NoError(t, err)
		out := map[inmem.RunID]inmem.RunMetadata{}
		for _, m := range got {
			out[m.ID] = m
		}
		require.Len(t, out, len(got), "%+v: a run listed twice", f)
		return out
	}
	for round := 0; round < 50 || len(endedSoFar()) < 400; round++ {
		before := endedSoFar()
		got := ids(inmem.RunFilter{Agent: "old"})
		require.Len(t, got, len(old))
		for id := range got {
			require.True(t, old[id])
		}
		assert.Empty(t, ids(inmem.RunFilter{Agent: "nobody"}))
		assert.Empty(t, ids(inmem.RunFilter{Tag: "x", Agent: "new"}))
		assert.Empty(t, ids(inmem.RunFilter{Status: inmem.RunOrphaned}))
		for id, m := range ids(inmem.RunFilter{Status: inmem.RunActive}) {
			require.Equal(t, "new", m.Info.Agent, "%s", id)
			require.Equal(t, inmem.RunActive, m.Status)
		}
		done := ids(inmem.RunFilter{Status: inmem.RunCompleted, Agent: "new"})
		failed := ids(inmem.RunFilter{Status: inmem.RunFailed, Tag: "t1"})
		for _, m := range done {
			require.Equal(t, inmem.RunCompleted, m.Status)
		}
		for _, m := range failed {
			require.Equal(t, inmem.RunFailed, m.Status)
			require.Equal(t, []string{"t1"}, m.Info.Tags)
		}
		for i, id := range before {
			switch {
			case i%2 == 0:
				require.Contains(t, done, id, "ended before the listing")
			case i%3 == 1:
				require.Contains(t, failed, id, "aborted before the listing")
			}
		}
		mu.Lock()
		for id := range done {
			require.True(t, begun[id], "a run listed before it was begun")
		}
		mu.Unlock()
	}
	stopWriter()
	require.NoError(t, <-writerErr)
	assert.Len(t, ids(inmem.RunFilter{Agent: "new"}), 400)
}
