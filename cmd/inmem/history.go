package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/inmemdb/inmem"
)

// The commands of this file read a run's history (steps, export), or write one (import).

func stepsCommand(args []string, stdout, stderr io.Writer) int {
	var from, limit int
	db, rest, asJSON, code := openArgs("steps", "[-json] [-from k] [-limit n] <dir> <run>",
		"Lists a run's steps: step 0 (the state it began with), then one per transaction.", 1, args, stderr,
		func(fs *flag.FlagSet) {
			fs.IntVar(&from, "from", 0, "the first step to list")
			fs.IntVar(&limit, "limit", 0, "list at most this many steps (0: all)")
		})
	if db == nil {
		return code
	}
	defer db.Close()
	run, ok := runArg("steps", rest[0], stderr)
	if !ok {
		return exitUsage
	}
	steps, err := db.RunSteps(run, from, limit)
	if err != nil {
		fmt.Fprintf(stderr, "inmem steps: %v\n", err)
		return exitFail
	}
	printResult(stdout, asJSON, steps, func() {
		for _, s := range steps {
			kinds := make([]string, len(s.Kinds))
			for i, k := range s.Kinds {
				kinds[i] = k.String()
			}
			fmt.Fprintf(stdout, "step %-5d version %-8d %s  %3d ops  %s\n", s.Step, s.Version,
				s.Time.Format(time.RFC3339Nano), s.Ops, strings.Join(kinds, ","))
		}
	})
	return exitOK
}

func exportCommand(args []string, stdout, stderr io.Writer) int {
	var out string
	db, rest, _, code := openArgs("export", "[-o file] <dir> <run>",
		"Writes a run's metadata and every step as JSON Lines, to stdout or a new file (created 0600).", 1, args, stderr,
		func(fs *flag.FlagSet) { fs.StringVar(&out, "o", "", "write to this new file instead of stdout") })
	if db == nil {
		return code
	}
	defer db.Close()
	run, ok := runArg("export", rest[0], stderr)
	if !ok {
		return exitUsage
	}
	w, done, err := output(out, stdout)
	if err == nil {
		meta, _ := db.Run(run)
		bar := newProgress(stderr, int64(meta.Steps+2)) // a line per step, and the header
		err = db.ExportRun(context.Background(), run, &counting{w: w, bar: bar, lines: true, label: "steps"})
		bar.finish()
		err = done(err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "inmem export: %v\n", err)
		return exitFail
	}
	return exitOK
}

// output is stdout, or a new private file named path; done closes it (syncing it first) and
// removes it if the work failed.
func output(path string, stdout io.Writer) (io.Writer, func(error) error, error) {
	if path == "" {
		return stdout, func(err error) error { return err }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriter(f)
	return bw, func(err error) error {
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
		return err
	}, nil
}

func importCommand(args []string, stdout, stderr io.Writer) int {
	const synopsis = "<dir> <file|-> [run]"
	fs := newFlagSet("inmem import", stderr, synopsis,
		"Imports a run exported by 'inmem export' into a database no process holds, as an ended run:\n"+
			"under the given id, or a new one (printed).")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 && fs.NArg() != 3 {
		fmt.Fprintf(stderr, "inmem import: want %s\n", synopsis)
		return exitUsage
	}
	run := inmem.NewRunID()
	if fs.NArg() == 3 {
		id, ok := runArg("import", fs.Arg(2), stderr)
		if !ok {
			return exitUsage
		}
		run = id
	}
	var in io.Reader = os.Stdin
	var size int64
	if name := fs.Arg(1); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "inmem import: %v\n", err)
			return exitFail
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	db, err := inmem.Open(fs.Arg(0), nil)
	if err == nil {
		bar := newProgress(stderr, size) // bytes read: the import reads it all before it writes
		err = db.ImportRun(context.Background(), bufio.NewReader(&counting{r: in, bar: bar, label: "reading"}), run)
		bar.finish()
		err = joinClose(err, db)
	}
	if err != nil {
		fmt.Fprintf(stderr, "inmem import: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, run)
	return exitOK
}

// joinClose closes db and returns err, or Close's error if err is nil.
func joinClose(err error, db *inmem.DB) error {
	if cerr := db.Close(); err == nil {
		return cerr
	}
	return err
}
