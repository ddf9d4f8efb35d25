// Command bench runs the main module's durable-commit workload against inmem and its peers (pebble,
// badger, bbolt, SQLite and a raw write+fdatasync baseline) on one disk in one run, and the
// same workload against each engine's non-durable mode; it prints a table and can draw an SVG
// chart of commits/s against committers. See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

type config struct {
	duration, warmup time.Duration
	committers       []int
	engines          []string
	modes            []mode
	svg, dir         string
	verbose          bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "measured time per cell (engine, mode, committers)")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured time before each cell's measurement")
	committers := fs.String("committers", "1,8,64,256", "comma-separated numbers of concurrent committers")
	engines := fs.String("engines", strings.Join(engineNames, ","), "comma-separated engines to run")
	m := fs.String("mode", "both", "durable, inmemory or both")
	fs.StringVar(&c.svg, "svg", "", "write the chart to this SVG file")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory under which each cell gets a fresh temporary directory")
	fs.BoolVar(&c.verbose, "v", false, "report each cell on stderr as it finishes")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.duration <= 0 || c.warmup < 0 {
		return c, fmt.Errorf("-duration must be positive and -warmup not negative")
	}
	for _, f := range strings.Split(*committers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return c, fmt.Errorf("-committers: %q is not a positive number", f)
		}
		c.committers = append(c.committers, n)
	}
	for _, e := range strings.Split(*engines, ",") {
		e = strings.TrimSpace(e)
		if !slices.Contains(engineNames, e) {
			return c, fmt.Errorf("-engines: unknown engine %q (known: %s)", e, strings.Join(engineNames, ","))
		}
		c.engines = append(c.engines, e)
	}
	switch *m {
	case "both":
		c.modes = []mode{durable, inMemory}
	case string(durable), string(inMemory):
		c.modes = []mode{mode(*m)}
	default:
		return c, fmt.Errorf("-mode: %q is not durable, inmemory or both", *m)
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "search" {
		return runSearch(args[1:], stdout, stderr)
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintf(stdout, "%s %s/%s, %d CPUs, cells in %s, %v per cell after %v warm-up\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), c.dir, c.duration, c.warmup)
	var results []result
	for _, s := range allSeries() {
		if !slices.Contains(c.modes, s.mode) || !slices.Contains(c.engines, s.engine) {
			continue
		}
		for _, n := range c.committers {
			r := runCell(s, n, c.dir, c.warmup, c.duration)
			if c.verbose {
				fmt.Fprintf(stderr, "%-9s %-22s %4d committers: %s\n", s.mode, s.label, n, cellSummary(r))
			}
			results = append(results, r)
			// The next cell should not pay for this one's garbage or caches.
			debug.FreeOSMemory()
		}
	}
	printTables(stdout, results, c.committers)
	if c.svg != "" {
		f, err := os.Create(c.svg)
		if err != nil {
			return err
		}
		if err := writeSVG(f, results); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "chart: %s\n", c.svg)
	}
	fmt.Fprintf(stdout, "total time: %v\n", time.Since(began).Round(time.Second))
	return nil
}
