package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"os"

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
