package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// dump renders every primitive of every run — GlobalRun included — through the public API into
// one canonical string: recovery invariants compare two states by comparing their dumps.
// Versions, timestamps and event hashes are part of it, so "identical" means identical. With
// statuses false, run statuses are left out (recovery turns Active runs into Orphaned ones).
func dump(t testing.TB, db *inmem.DB, statuses bool) string {
	t.Helper()
	var b strings.Builder
	runs, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	ids := []inmem.RunID{inmem.GlobalRun}
	for _, r := range runs {
		status := r.Status
		if !statuses {
			status = 0
		}
		fmt.Fprintf(&b, "run %s %v %+v %d %d %q\n", r.ID, status, r.Info, r.StartedAt.UnixMicro(),
			r.EndedAt.UnixMicro(), r.Reason)
		ids = append(ids, r.ID)
	}
	for _, run := range ids {
		dumpRun(t, &b, db, run)
	}
	return b.String()
}

func dumpRun(t testing.TB, b *strings.Builder, db *inmem.DB, run inmem.RunID) {
	pairs, err := db.KV().Scan(run, "", "", 0)
	require.NoError(t, err)
	for _, p := range pairs {
		fmt.Fprintf(b, "%s kv %q=%q\n", run, p.Key, p.Value)
	}
	docs, err := db.JSON().List(run)
	require.NoError(t, err)
	for _, k := range docs {
		doc, err := db.JSON().Get(run, k, "$")
		require.NoError(t, err)
		v, err := db.JSON().Version(run, k)
		require.NoError(t, err)
		fmt.Fprintf(b, "%s json %q v%d %s\n", run, k, v, doc)
	}
	cells, err := db.State().List(run)
	require.NoError(t, err)
	for _, name := range cells {
		c, err := db.State().Get(run, name)
		require.NoError(t, err)
		fmt.Fprintf(b, "%s state %q v%d %d %q\n", run, name, c.Version, c.UpdatedAt.UnixMicro(), c.Value)
	}
	n, err := db.Events().Len(run)
	require.NoError(t, err)
	events, err := db.Events().Range(run, 0, n)
	require.NoError(t, err)
	for _, e := range events {
		fmt.Fprintf(b, "%s event %d %q %s %d %x %x\n", run, e.Seq, e.Type, e.Payload, e.Timestamp.UnixMicro(), e.PrevHash, e.Hash)
	}
	spans, err := db.Traces().List(run)
	require.NoError(t, err)
	for _, s := range spans {
		fmt.Fprintf(b, "%s span %+v\n", run, s)
	}
}

// workload commits a random mix over every primitive to runs (GlobalRun included), with the
// cases recovery must get exactly right: deletes, JSON patches and deletes at paths, a state
// cell deleted and re-created, events, spans with parents. It returns after n transactions.
func workload(t testing.TB, db *inmem.DB, rng *rand.Rand, runs []inmem.RunID, n int) {
	t.Helper()
	lastSpan := map[inmem.RunID]string{}
	for i := range n {
		run := runs[rng.IntN(len(runs))]
		k := rng.IntN(8)
		var span string
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			switch rng.IntN(6) {
			case 0:
				return tx.KV().Put(fmt.Sprint("k", k), fmt.Appendf(nil, "v%d", i))
			case 1:
				return tx.KV().Delete(fmt.Sprint("k", k))
			case 2:
				doc := fmt.Sprint("d", k%3)
				if _, err := tx.JSON().Get(doc, "$"); err != nil {
					return tx.JSON().Create(doc, fmt.Appendf(nil, `{"n":%d,"list":[]}`, i))
				}
				return tx.JSON().Patch(doc, []inmem.PatchOp{
					{Op: "set", Path: "$.n", Value: fmt.Appendf(nil, "%d", i)},
					{Op: "set", Path: "$.list[0]", Value: []byte(`"x"`)},
					{Op: "delete", Path: "$.gone"},
				})
			case 3:
				cell := fmt.Sprint("c", k%2)
				if k == 7 {
					return tx.State().Delete(cell)
				}
				return tx.State().Set(cell, fmt.Appendf(nil, "%d", i))
			case 4:
				return tx.Events().Append(fmt.Sprint("t", k%3), fmt.Appendf(nil, `{"i":%d}`, i))
			default:
				parent := ""
				if k%2 == 1 {
					parent = lastSpan[run]
				}
				var err error
				span, err = tx.Traces().Record(inmem.Span{ParentID: parent, Kind: inmem.SpanThought,
					Name: fmt.Sprint("s", i), Start: time.UnixMicro(int64(1000 + i)), Tags: []string{fmt.Sprint("t", k%2)}})
				return err
			}
		})
		require.NoError(t, err, "transaction %d", i)
		if span != "" {
			lastSpan[run] = span
		}
	}
}
