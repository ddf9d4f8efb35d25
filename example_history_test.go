package inmem_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/inmemdb/inmem"
)

// A run begins with an initial state, takes steps, and is forked at one of them: the fork
// begins with the source's state at that step, and goes its own way.
func ExampleDB_ForkRun() {
	ctx := context.Background()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	run := inmem.NewRunID()
	err = db.BeginRunWith(ctx, run, inmem.RunInfo{Name: "plan"}, func(tx *inmem.Tx) error {
		return tx.KV().Put("tool", []byte("search")) // step 0: the state the run begins with
	})
	if err != nil {
		panic(err)
	}
	for _, tool := range []string{"calculator", "browser"} {
		info, err := db.Step(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("tool", []byte(tool)) })
		if err != nil {
			panic(err)
		}
		fmt.Printf("step %d: %s\n", info.Step, tool)
	}

	whatIf := inmem.NewRunID()
	if err := db.ForkRun(ctx, run, 1, whatIf, inmem.RunInfo{Name: "what if"}); err != nil {
		panic(err)
	}
	tool, _ := db.KV().Get(whatIf, "tool")
	meta, _ := db.Run(whatIf)
	fmt.Printf("the fork begins with %s (forked from step %d)\n", tool, meta.ForkedFrom.Step)
	// Output:
	// step 1: calculator
	// step 2: browser
	// the fork begins with calculator (forked from step 1)
}

// A run that is over can leave: its data, its history and its memory go, and its id may be
// begun again. Options.Retention does it by itself.
func ExampleDB_DeleteRun() {
	ctx := context.Background()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{Name: "done soon"}); err != nil {
		panic(err)
	}
	if err := db.KV().Put(ctx, run, "answer", []byte("42")); err != nil {
		panic(err)
	}
	fmt.Println(errors.Is(db.DeleteRun(ctx, run), inmem.ErrRunActive)) // end it first
	if err := db.EndRun(ctx, run); err != nil {
		panic(err)
	}
	if err := db.DeleteRun(ctx, run); err != nil {
		panic(err)
	}
	_, err = db.KV().Get(run, "answer")
	fmt.Println(errors.Is(err, inmem.ErrRunNotFound))
	// Output:
	// true
	// true
}

// RunSteps lists a run's history the way a checkpointer lists checkpoints; ReplayRunUntil
// shows the state after any of them.
func ExampleDB_RunSteps() {
	ctx := context.Background()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{}); err != nil {
		panic(err)
	}
	for i := range 3 {
		if err := db.KV().Put(ctx, run, "n", fmt.Append(nil, i+1)); err != nil {
			panic(err)
		}
	}
	steps, err := db.RunSteps(run, 0, 0)
	if err != nil {
		panic(err)
	}
	for _, s := range steps {
		view, _ := db.ReplayRunUntil(run, s.Step)
		n, _ := view.KV("n")
		fmt.Printf("step %d: %d ops, n=%q\n", s.Step, s.Ops, n)
	}
	// Output:
	// step 0: 0 ops, n=""
	// step 1: 1 ops, n="1"
	// step 2: 1 ops, n="2"
	// step 3: 1 ops, n="3"
}
