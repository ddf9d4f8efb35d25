package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inmemdb/inmem"
)

// The one obvious way to use it: Update to write, View to read.
func Example() {
	ctx := context.Background()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{Name: "triage", Agent: "planner"}); err != nil {
		panic(err)
	}
	// Both keys change together or not at all; Update re-runs the function on a conflict.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("plan", []byte("look up the order")); err != nil {
			return err
		}
		return tx.KV().Put("step", []byte("1"))
	})
	if err != nil {
		panic(err)
	}
	_ = db.View(run, func(tx *inmem.Tx) error {
		plan, _ := tx.KV().Get("plan")
		step, _ := tx.KV().Get("step")
		fmt.Printf("step %s: %s\n", step, plan)
		return nil
	})
	_, err = db.KV().Get(run, "missing")
	fmt.Println(errors.Is(err, inmem.ErrNotFound))
	// Output:
	// step 1: look up the order
	// true
}

// A durable database: every commit is fsynced (Strict, the default) and recovered at Open.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "inmem-example-*")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	run := inmem.NewRunID()

	db, err := inmem.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	_ = db.BeginRun(ctx, run, inmem.RunInfo{Name: "durable"})
	_ = db.KV().Put(ctx, run, "memory", []byte("survives a restart"))
	_ = db.Close()

	// Loads the snapshot Close took and replays the write-ahead log after it.
	db, err = inmem.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	v, _ := db.KV().Get(run, "memory")
	rec := db.LastRecovery()
	recovered := rec.TransactionsRecovered // from the log
	if rec.SnapshotUsed != nil {
		recovered += int(rec.SnapshotUsed.TxCount) // versions are dense: all up to TxCount
	}
	fmt.Printf("%s (%d transactions recovered)\n", v, recovered)
	// The run was still active when the database closed: recovery marked it Orphaned, and
	// ResumeRun lets the orchestrator pick it up again.
	fmt.Println(db.RunStatus(run))
	_ = db.ResumeRun(ctx, run)
	fmt.Println(db.KV().Put(ctx, run, "step", []byte("2")))
	// Output:
	// survives a restart (2 transactions recovered)
	// orphaned
	// <nil>
}

// Replay a run to any step: the state its agent saw then, rebuilt from the run's journal.
func ExampleDB_ReplayRunUntil() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run := inmem.NewRunID()
	_ = db.BeginRun(ctx, run, inmem.RunInfo{Name: "search"})
	for _, tool := range []string{"search", "read", "answer"} {
		_ = db.KV().Put(ctx, run, "tool", []byte(tool)) // one transaction: one step
	}

	view, _ := db.ReplayRunUntil(run, 2)
	tool, _ := view.KV("tool")
	fmt.Printf("after step %d the agent had used %s\n", view.Steps(), tool)
	// Output:
	// after step 2 the agent had used read
}

// Compare two runs: what one has that the other has not, and what differs — down to the
// paths inside JSON documents.
func ExampleDB_DiffRuns() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	a, b := inmem.NewRunID(), inmem.NewRunID()
	for run, plan := range map[inmem.RunID]string{a: `{"goal":"refund","steps":2}`, b: `{"goal":"refund","steps":3}`} {
		_ = db.BeginRun(ctx, run, inmem.RunInfo{})
		_ = db.JSON().Create(ctx, run, "plan", []byte(plan))
	}
	_ = db.KV().Put(ctx, b, "escalated", []byte("yes"))

	d, _ := db.DiffRuns(a, b)
	for _, e := range d.Added {
		fmt.Printf("added    %v %s = %s\n", e.Kind, e.Key, e.After)
	}
	for _, e := range d.Modified {
		fmt.Printf("modified %v %s at %v\n", e.Kind, e.Key, e.Paths)
	}
	// Output:
	// added    kv escalated = yes
	// modified json plan at [$.steps]
}

// A backup taken while the database runs, restored by opening it.
func ExampleDB_Backup() {
	dir, _ := os.MkdirTemp("", "inmem-example-*")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	run := inmem.NewRunID()

	db, err := inmem.Open(filepath.Join(dir, "live"), nil)
	if err != nil {
		panic(err)
	}
	_ = db.BeginRun(ctx, run, inmem.RunInfo{Name: "backed up"})
	_ = db.KV().Put(ctx, run, "memory", []byte("copied"))
	if err := db.Backup(ctx, filepath.Join(dir, "copy")); err != nil {
		panic(err)
	}
	_ = db.Close()

	restored, err := inmem.Open(filepath.Join(dir, "copy"), nil)
	if err != nil {
		panic(err)
	}
	defer restored.Close()
	v, _ := restored.KV().Get(run, "memory")
	fmt.Println(string(v))
	// Output: copied
}

// Paging through a run's keys in order, a page at a time.
func ExampleKV_Scan() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run := inmem.NewRunID()
	_ = db.BeginRun(ctx, run, inmem.RunInfo{})
	for _, k := range []string{"tool/search", "tool/fetch", "note/a", "tool/calc", "tool/write"} {
		_ = db.KV().Put(ctx, run, k, []byte("…"))
	}
	after := ""
	for {
		page, err := db.KV().Scan(run, "tool/", after, 2)
		if err != nil || len(page) == 0 {
			break
		}
		for _, p := range page {
			fmt.Print(p.Key, " ")
		}
		fmt.Println("|")
		after = page[len(page)-1].Key
	}
	// Output:
	// tool/calc tool/fetch |
	// tool/search tool/write |
}

// An error always means "not committed": a context bounds only the wait for room in the
// pipeline, so a deadline never hides a commit that landed.
func ExampleDB_Update_context() {
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run := inmem.NewRunID()
	_ = db.BeginRun(context.Background(), run, inmem.RunInfo{})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.Update(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("k", []byte("v")) })
	_, getErr := db.KV().Get(run, "k")
	fmt.Println(errors.Is(err, context.Canceled), errors.Is(getErr, inmem.ErrNotFound))
	// Output: true true
}

// The runs of an orchestrator, listed a page at a time.
func ExampleDB_ListRuns() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	for i := range 5 {
		_ = db.BeginRun(ctx, inmem.NewRunID(), inmem.RunInfo{Name: fmt.Sprint("run ", i), Agent: "planner"})
	}
	f := inmem.RunFilter{Agent: "planner", Limit: 2}
	for {
		page, _ := db.ListRuns(f)
		if len(page) == 0 {
			break
		}
		fmt.Println(len(page), "runs")
		f.After = page[len(page)-1].ID
	}
	// Output:
	// 2 runs
	// 2 runs
	// 1 runs
}

// A supervisor waiting for a human's approval, told when it comes instead of polling.
func ExampleState_Wait() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run := inmem.NewRunID()
	_ = db.BeginRun(ctx, run, inmem.RunInfo{Name: "refund"})
	v, _ := db.State().Init(ctx, run, "approval", []byte("pending"))

	go func() { _, _ = db.State().Set(ctx, run, "approval", []byte("granted")) }()
	cell, err := db.State().Wait(ctx, run, "approval", v)
	fmt.Println(string(cell.Value), err)
	// Output: granted <nil>
}

// Every change of a run as it commits, from a subscription.
func ExampleDB_Subscribe() {
	ctx := context.Background()
	db, _ := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	defer db.Close()
	run := inmem.NewRunID()
	_ = db.BeginRun(ctx, run, inmem.RunInfo{})
	sub, _ := db.Subscribe(ctx, inmem.Filter{Runs: []inmem.RunID{run}})
	defer sub.Close()

	_ = db.KV().Put(ctx, run, "plan", []byte("search"))
	_, _ = db.Events().Append(ctx, run, "tool_call", []byte(`{"tool":"search"}`))
	for range 2 {
		c := <-sub.C()
		fmt.Println(c.Kind, c.Op, c.Key, c.Seq)
	}
	// Output:
	// kv put plan 0
	// event append tool_call 0
}
