package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/inmemdb/inmem"
)

// ---------------------------------------------------------------------------------------------
// 8. Durability: a crash and a recovery.
//
// The demo starts a second process — this same program, told by an environment variable to be
// a writer — that commits in Strict mode and prints every commit it got acknowledged. The demo
// kills it with SIGKILL mid-stream, the way a crashed orchestrator dies, reopens the directory
// and checks that every acknowledged commit is there and nothing else.

// crashWriterEnv makes the program a crash-demo writer for the directory it names.
const crashWriterEnv = "INMEM_DEMO_CRASH_WRITER"

// crashRunID is the writer's run: fixed, so the demo knows what to read back.
const crashRunID = "00c0ffee-0000-4000-8000-000000000001"

// crashAcks is how many acknowledged commits the demo waits for before it kills the writer;
// crashWriters is how many goroutines of the writer commit at once.
const (
	crashAcks    = 500
	crashWriters = 8
)

func (d *demo) crash(ctx context.Context) error {
	d.out.section(10, "Durability: SIGKILL a writer, recover, count")
	if d.cfg.WriterExe == "" {
		d.out.text("Skipped: no program to run as the writer process.")
		return nil
	}
	dir, err := os.MkdirTemp("", "inmem-demo-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	acked, err := d.killWriter(ctx, dir)
	if err != nil {
		return err
	}
	return d.recoverAndCount(dir, acked)
}

// killWriter runs the writer until it has acknowledged crashAcks commits, SIGKILLs it, and
// returns, per writer goroutine, the highest step it acknowledged (-1: none).
func (d *demo) killWriter(ctx context.Context, dir string) ([]int, error) {
	cmd := exec.CommandContext(ctx, d.cfg.WriterExe)
	cmd.Env = append(os.Environ(), crashWriterEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	acked := make([]int, crashWriters)
	for g := range acked {
		acked[g] = -1
	}
	n := 0
	sc := bufio.NewScanner(out)
	read := func() {
		var g, i int
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &g, &i); err == nil && g >= 0 && g < crashWriters {
			acked[g], n = max(acked[g], i), n+1
		}
	}
	for n < crashAcks && sc.Scan() {
		read()
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return nil, err
	}
	for sc.Scan() { // acknowledgements already on their way count too
		read()
	}
	_ = cmd.Wait()
	if n < crashAcks {
		return nil, fmt.Errorf("the writer stopped after %d acknowledgements", n)
	}
	d.out.f("   A writer process committed in Strict mode (%d goroutines, each its own sequence of", crashWriters)
	d.out.f("   keys, one key per commit) and printed each acknowledged commit. After %d", crashAcks)
	d.out.f("   acknowledgements it was killed with SIGKILL (gone %v after the signal): no Close,", time.Since(start).Round(time.Millisecond))
	d.out.f("   no flush, no goodbye.")
	return acked, nil
}

// recoverAndCount reopens dir and checks the recovered state against what was acknowledged.
// Each writer goroutine commits its keys one after another, so for each of them a prefix of the
// commit order is a prefix of its keys.
func (d *demo) recoverAndCount(dir string, acked []int) error {
	db, err := inmem.Open(dir, nil)
	if err != nil {
		return fmt.Errorf("reopen after the crash: %w", err)
	}
	defer db.Close()
	rec := db.LastRecovery()
	run, _ := inmem.ParseRunID(crashRunID)
	ackedTotal, recovered, beyond := 0, 0, 0
	for g, last := range acked {
		keys, err := db.KV().List(run, fmt.Sprintf("w%d/", g))
		if err != nil {
			return err
		}
		for i, k := range keys {
			if k != crashKey(g, i) {
				return fmt.Errorf("recovered state has a gap: %s where %s should be", k, crashKey(g, i))
			}
		}
		if len(keys)-1 < last {
			return fmt.Errorf("writer %d: an acknowledged commit was lost: %d acknowledged, %d recovered", g, last+1, len(keys))
		}
		ackedTotal, recovered, beyond = ackedTotal+last+1, recovered+len(keys), beyond+len(keys)-1-last
	}
	d.out.f("   Reopening replayed the write-ahead log in %v: %s recovered; a torn write",
		rec.Duration.Round(time.Microsecond), plural(rec.TransactionsRecovered, "transaction"))
	d.out.f("   of %d bytes cut off (and %d bytes of preallocated space), %d transactions",
		rec.TornTailBytes, rec.PreallocatedBytes, rec.TransactionsDiscarded)
	d.out.f("   without a commit marker discarded.")
	d.out.f("   Acknowledged: %d commits. Recovered: %d, each writer's keys without a gap", ackedTotal, recovered)
	d.out.f("   → every acknowledged commit survived (R5) and the state is a prefix of the commit")
	d.out.f("     order (R3); the %d beyond were durable, but the writer died before printing", beyond)
	d.out.f("     them — allowed: they were never promised.")
	return db.Close()
}

// crashKey is the key of writer goroutine g's i-th commit.
func crashKey(g, i int) string { return fmt.Sprintf("w%d/%08d", g, i) }

// crashWriter is the writer process: it commits steps from 8 goroutines in Strict mode and
// prints "ack <step>" after each acknowledged commit, until it is killed.
func crashWriter(dir string, stdout io.Writer) int {
	ctx := context.Background()
	db, err := inmem.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return exitFail
	}
	run, _ := inmem.ParseRunID(crashRunID)
	if err := db.BeginRun(ctx, run, inmem.RunInfo{Name: "crash-demo"}); err != nil && !errors.Is(err, inmem.ErrRunExists) {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return exitFail
	}
	var mu sync.Mutex
	w := bufio.NewWriter(stdout)
	done := make(chan struct{})
	for g := range crashWriters {
		go func() {
			for i := 0; ; i++ {
				if err := db.KV().Put(ctx, run, crashKey(g, i), []byte(strconv.Itoa(i))); err != nil {
					fmt.Fprintln(os.Stderr, "writer:", err)
					close(done)
					return
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %d %d\n", g, i)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	<-done // only on an error: otherwise the demo kills this process
	return exitFail
}
