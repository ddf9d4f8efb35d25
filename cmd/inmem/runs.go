package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/inmemdb/inmem"
)

// The commands of this file open a database directory with inmem.OpenReadOnly: they read its
// runs without writing a byte. A directory a writer holds is refused (inmem.ErrLocked) unless
// -ignore-lock is given.

// openArgs parses "[-json] [-ignore-lock] <dir> args…" and opens dir read-only.
func openArgs(name, synopsis, about string, nargs int, args []string, stderr io.Writer, flags func(*flag.FlagSet)) (db *inmem.DB, rest []string, asJSON bool, code int) {
	fs := newFlagSet("inmem "+name, stderr, synopsis, about)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	ignoreLock := fs.Bool("ignore-lock", false, "read a directory a live writer holds (a consistent prefix of it)")
	if flags != nil {
		flags(fs)
	}
	if code, ok := parseFlags(fs, args); !ok {
		return nil, nil, false, code
	}
	if fs.NArg() != 1+nargs {
		fmt.Fprintf(stderr, "inmem %s: want %s\n", name, synopsis)
		return nil, nil, false, exitUsage
	}
	o := inmem.DefaultOptions()
	o.Recovery.IgnoreLock = *ignoreLock
	db, err := inmem.OpenReadOnly(fs.Arg(0), o)
	if err != nil {
		fmt.Fprintf(stderr, "inmem %s: %v\n", name, err)
		return nil, nil, false, exitFail
	}
	return db, fs.Args()[1:], asJSON, exitOK
}

// runArg parses a run id argument.
func runArg(name, s string, stderr io.Writer) (inmem.RunID, bool) {
	id, err := inmem.ParseRunID(s)
	if err != nil {
		fmt.Fprintf(stderr, "inmem %s: %v\n", name, err)
	}
	return id, err == nil
}

func runsCommand(args []string, stdout, stderr io.Writer) int {
	var status, agent string
	db, _, asJSON, code := openArgs("runs", "[-json] [-status S] [-agent A] <dir>", "Lists the runs of a database directory.", 0, args, stderr,
		func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "only runs of this status (active, completed, failed, orphaned)")
			fs.StringVar(&agent, "agent", "", "only runs of this agent")
		})
	if db == nil {
		return code
	}
	defer db.Close()
	f := inmem.RunFilter{Agent: agent}
	if status != "" {
		s, ok := map[string]inmem.RunStatus{"active": inmem.RunActive, "completed": inmem.RunCompleted,
			"failed": inmem.RunFailed, "orphaned": inmem.RunOrphaned}[status]
		if !ok {
			fmt.Fprintf(stderr, "inmem runs: unknown status %q\n", status)
			return exitUsage
		}
		f.Status = s
	}
	runs, err := db.ListRuns(f)
	if err != nil {
		fmt.Fprintf(stderr, "inmem runs: %v\n", err)
		return exitFail
	}
	printResult(stdout, asJSON, runs, func() {
		for _, r := range runs {
			fmt.Fprintf(stdout, "%s  %-10v %-12s %-16s started %s  %d transactions\n", r.ID, r.Status, r.Info.Agent,
				r.Info.Name, r.StartedAt.Format(time.RFC3339), r.TxCount)
		}
	})
	return exitOK
}

// viewJSON is a replayed view as JSON.
type viewJSON struct {
	Run    string                `json:"run"`
	Steps  int                   `json:"steps"`
	KV     map[string]string     `json:"kv"`
	JSON   map[string]any        `json:"json"`
	State  map[string]inmem.Cell `json:"state"`
	Events []inmem.Event         `json:"events"`
	Spans  []inmem.Span          `json:"spans"`
}

func replayCommand(args []string, stdout, stderr io.Writer) int {
	step := -1
	db, rest, asJSON, code := openArgs("replay", "[-json] [-step k] <dir> <run>",
		"Replays a run into a read-only view: after its last step, or its step k.", 1, args, stderr,
		func(fs *flag.FlagSet) { fs.IntVar(&step, "step", -1, "stop after this many of the run's transactions") })
	if db == nil {
		return code
	}
	defer db.Close()
	run, ok := runArg("replay", rest[0], stderr)
	if !ok {
		return exitUsage
	}
	var view *inmem.ReadOnlyView
	var err error
	if step >= 0 {
		view, err = db.ReplayRunUntil(run, step)
	} else {
		view, err = db.ReplayRun(run)
	}
	if err != nil {
		fmt.Fprintf(stderr, "inmem replay: %v\n", err)
		return exitFail
	}
	v := viewJSON{Run: run.String(), Steps: view.Steps(), KV: map[string]string{}, JSON: map[string]any{},
		State: map[string]inmem.Cell{}, Events: view.Events(), Spans: view.Spans()}
	for _, k := range view.KVKeys() {
		b, _ := view.KV(k)
		v.KV[k] = string(b)
	}
	for _, k := range view.JSONKeys() {
		b, _ := view.JSON(k)
		v.JSON[k] = json.RawMessage(b)
	}
	for _, n := range view.StateNames() {
		v.State[n], _ = view.State(n)
	}
	printResult(stdout, asJSON, v, func() {
		fmt.Fprintf(stdout, "run %s after %d steps\n", v.Run, v.Steps)
		for _, k := range view.KVKeys() {
			fmt.Fprintf(stdout, "  kv    %s = %q\n", k, v.KV[k])
		}
		for _, k := range view.JSONKeys() {
			b, _ := view.JSON(k)
			fmt.Fprintf(stdout, "  json  %s = %s\n", k, b)
		}
		for _, n := range view.StateNames() {
			fmt.Fprintf(stdout, "  state %s = %q (version %d)\n", n, v.State[n].Value, v.State[n].Version)
		}
		fmt.Fprintf(stdout, "  %d events, %d spans\n", len(v.Events), len(v.Spans))
	})
	return exitOK
}

func diffCommand(args []string, stdout, stderr io.Writer) int {
	db, rest, asJSON, code := openArgs("diff", "[-json] <dir> <run a> <run b>", "Compares two runs' replayed state.", 2, args, stderr, nil)
	if db == nil {
		return code
	}
	defer db.Close()
	a, okA := runArg("diff", rest[0], stderr)
	b, okB := runArg("diff", rest[1], stderr)
	if !okA || !okB {
		return exitUsage
	}
	d, err := db.DiffRuns(a, b)
	if err != nil {
		fmt.Fprintf(stderr, "inmem diff: %v\n", err)
		return exitFail
	}
	printResult(stdout, asJSON, d, func() {
		for _, part := range []struct {
			what string
			es   []inmem.DiffEntry
		}{{"+", d.Added}, {"-", d.Removed}, {"~", d.Modified}} {
			for _, e := range part.es {
				fmt.Fprintf(stdout, "%s %-6v %s %v\n", part.what, e.Kind, e.Key, e.Paths)
			}
		}
	})
	return exitOK
}

func backupCommand(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inmem backup", stderr, "<dir> <dst>",
		"Copies a database directory no process holds into the empty directory dst, consistently;\nrestore it by opening dst. (A live database backs itself up: DB.Backup.)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "inmem backup: want <dir> <dst>")
		return exitUsage
	}
	o := inmem.DefaultOptions()
	o.Snapshot.OnClose = false
	db, err := inmem.Open(fs.Arg(0), o)
	if err != nil {
		fmt.Fprintf(stderr, "inmem backup: %v\n", err)
		return exitFail
	}
	err = db.Backup(context.Background(), fs.Arg(1))
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "inmem backup: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "backed up %s into %s\n", fs.Arg(0), fs.Arg(1))
	return exitOK
}
