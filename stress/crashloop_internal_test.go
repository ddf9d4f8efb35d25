package stress

import (
	"context"
	"strconv"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// counterDB returns an InMemory database whose shared counter holds n.
func counterDB(t *testing.T, n int) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	db, err := inmem.Open("", o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Update(context.Background(), inmem.GlobalRun, func(tx *inmem.Tx) error {
		return tx.KV().Put(sharedKey, strconv.AppendInt(nil, int64(n), 10))
	}))
	return db
}

// A child killed before it reported its first increment may have landed one per agent, and
// the model must allow them: TestCrashLoop once reported "shared counter 20, 19 increments
// acknowledged, 19 attempted" for a child killed that early. One more than the agents could
// have had in flight is still caught.
func TestCrashLoopAllowsIncrementsInFlight(t *testing.T) {
	const agents, acked = 3, 19
	for _, c := range []struct {
		counter    int
		violations int
	}{{acked, 0}, {acked + agents, 0}, {acked + agents + 1, 1}, {acked - 1, 1}} {
		w := newWorkload(1, agents, new(Report))
		w.incAcked.Store(acked) // as the last verify left it
		w.incAttempted.Store(acked)
		w.allowInFlight() // a child runs, and is killed before it reports anything
		w.verifyCounter(counterDB(t, c.counter), acked)
		require.Len(t, w.report.Violations(), c.violations, "counter %d: %v", c.counter, w.report.Violations())
	}
}
