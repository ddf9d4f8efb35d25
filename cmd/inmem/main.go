// Command inmem is the command-line tool of the inmem database.
//
//	inmem demo [-agents 16] [-steps 200] [-seed 1]
//
// runs a concurrent agent workload on an in-memory database and explains, section by section,
// what it shows: atomic multi-key transactions, conflicts retried without lost updates, snapshot
// isolation, the run lifecycle, replay and diff, group commit and crash recovery.
//
//	inmem bench [-duration 2s] [-committers 1,8,64,256] [-dir d]
//
// measures durable commits/s of concurrent committers in Strict and Buffered mode, with a
// progress bar, and prints a table and a plot.
//
//	inmem inspect [-json] <dir>
//	inmem verify [-json] <dir>
//	inmem wal dump [-json] [-from LSN] [-run ID] [-type T] <dir>
//
// read a database directory's files without writing them: what it holds, whether every
// checksum of the log and the snapshots is right (exit status 1 if not), and the log's entries.
//
//	inmem runs [-json] [-status S] [-agent A] <dir>
//	inmem replay [-json] [-step k] <dir> <run>
//	inmem search [-json] [-k n] <dir> <run> <query>
//	inmem diff [-json] <dir> <run a> <run b>
//	inmem backup <dir> <dst>
//	inmem steps [-json] [-from k] [-limit n] <dir> <run>
//	inmem export [-o file] <dir> <run>
//
// open the directory read-only (inmem.OpenReadOnly: -ignore-lock beside a live writer) to list
// its runs, replay one, search one, compare two, list a run's steps or export it as JSON Lines; backup
// copies a directory no process holds.
//
//	inmem import <dir> <file|-> [run]
//
// opens a directory no process holds and imports an exported run into it, as an ended run.
// A command is in the usage text once it works.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	if dir := os.Getenv(crashWriterEnv); dir != "" {
		os.Exit(crashWriter(dir, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// command is one line of the usage text.
type command struct{ name, args, help string }

var commands = []command{
	{"demo", "[-agents n] [-steps n] [-seed n]", "run a concurrent agent workload and explain what it shows"},
	{"inspect", "[-json] <dir>", "segments, snapshots and quarantined files of a database directory"},
	{"verify", "[-json] <dir>", "checksums of log and snapshots, a read-only recovery, event chains"},
	{"wal dump", "[-json] [-from LSN] [-run ID] [-type T] <dir>", "print the entries of the write-ahead log"},
	{"runs", "[-json] [-status S] [-agent A] <dir>", "list the runs (opens the directory read-only)"},
	{"replay", "[-json] [-step k] <dir> <run>", "a run's replayed state, after its last step or step k"},
	{"search", "[-json] [-k n] <dir> <run> <query>", "full-text search of a run (BM25, fused across primitives)"},
	{"diff", "[-json] <dir> <run a> <run b>", "compare two runs"},
	{"steps", "[-json] [-from k] [-limit n] <dir> <run>", "list a run's steps"},
	{"export", "[-o file] <dir> <run>", "a run's metadata and steps as JSON Lines"},
	{"import", "<dir> <file|-> [run]", "import an exported run, as an ended run"},
	{"backup", "<dir> <dst>", "copy a database no process holds into an empty directory"},
	{"bench", "[-duration d] [-committers n,…]", "group-commit throughput, with a progress bar and a plot"},
}

func usage(w io.Writer) {
	fmt.Fprint(w, `inmem — an embedded, in-memory state database for AI-agent orchestrators

Usage:
  inmem <command> [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %-42s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprint(w, `
Run 'inmem <command> -h' for the flags of a command.
`)
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "demo":
		return demoCommand(args[1:], stdout, stderr)
	case "bench":
		return benchCommand(args[1:], stdout, stderr)
	case "inspect":
		return inspectCommand(args[1:], stdout, stderr)
	case "verify":
		return verifyCommand(args[1:], stdout, stderr)
	case "runs":
		return runsCommand(args[1:], stdout, stderr)
	case "replay":
		return replayCommand(args[1:], stdout, stderr)
	case "search":
		return searchCommand(args[1:], stdout, stderr)
	case "diff":
		return diffCommand(args[1:], stdout, stderr)
	case "backup":
		return backupCommand(args[1:], stdout, stderr)
	case "steps":
		return stepsCommand(args[1:], stdout, stderr)
	case "export":
		return exportCommand(args[1:], stdout, stderr)
	case "import":
		return importCommand(args[1:], stdout, stderr)
	case "wal":
		if len(args) > 1 && args[1] == "dump" {
			return walDumpCommand(args[2:], stdout, stderr)
		}
		fmt.Fprintf(stderr, "inmem: unknown command %q\n\n", strings.Join(args, " "))
		usage(stderr)
		return exitUsage
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "inmem: unknown command %q\n\n", strings.Join(args[:1], " "))
		usage(stderr)
		return exitUsage
	}
}

// demoCommand parses the demo's flags and runs it until it ends or the process is interrupted.
func demoCommand(args []string, stdout, stderr io.Writer) int {
	cfg := defaultDemoConfig()
	if exe, err := os.Executable(); err == nil {
		cfg.WriterExe = exe
	}
	fs := newFlagSet("inmem demo", stderr, "[-agents n] [-steps n] [-seed n]",
		"Runs a concurrent agent workload on an in-memory database, then kills a durable writer\nprocess and recovers its commits, and explains what it shows.")
	fs.IntVar(&cfg.Agents, "agents", cfg.Agents, "number of concurrent agent runs (at least 2)")
	fs.IntVar(&cfg.Steps, "steps", cfg.Steps, "transactions per agent")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the workload's random choices")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "inmem demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "inmem demo: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runDemo(ctx, stdout, cfg); err != nil {
		fmt.Fprintf(stderr, "inmem demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// newFlagSet returns a command's flag set, its usage text made of the synopsis and about.
func newFlagSet(name string, stderr io.Writer, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\n%s\n\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; if the command must stop (a bad flag, or -h), ok is false and code
// is its exit status.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return exitOK, true
}
