package mvcc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// testRun is a run id that routes itself to shard run % n.
type testRun int

func (r testRun) Hash(seed uint64) uint64 { return uint64(r) ^ seed }
func (r testRun) Shard(n int) int         { return int(r) % n }

func TestTablesRouteRunsToTheirShard(t *testing.T) {
	ts := NewTables[testRun, string](3, false)
	for i := range ts.Len() {
		ts.Add(i)
	}
	ts.Of(4).Push(4, "k", 1, "a", false)
	ts.Of(4).Push(4, "k", 2, "b", false)
	assert.Same(t, ts.Shard(1), ts.Of(4), "run 4 lives in shard 1")
	assert.Nil(t, ts.Shard(0).Chain(4, "k", Latest), "and nowhere else")
	assert.Equal(t, "a", ts.Chain(4, "k", 1).At(1).Value)
	assert.Equal(t, "b", ts.Newest(4, "k").Value)
	assert.EqualValues(t, 2, ts.NewestCommit(4, "k"))
	assert.Nil(t, ts.Newest(5, "k"))
	assert.Zero(t, ts.NewestCommit(4, "other"))
}
