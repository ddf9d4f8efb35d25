package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashWriterEnv); dir != "" { // this test binary plays the writer process
		os.Exit(crashWriter(dir, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}

// The crash section: a writer process is SIGKILLed and every acknowledged commit is recovered.
func TestDemoCrashSection(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	var out strings.Builder
	cfg := demoConfig{Agents: 2, Steps: 2, Seed: 1, WriterExe: exe}
	require.NoError(t, runDemo(context.Background(), &out, cfg))
	assert.Contains(t, out.String(), "every acknowledged commit survived")
}

// atoi parses a number printed by num.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	require.NoError(t, err)
	return n
}

// match returns the submatches of pattern in out, failing the test if there are none.
func match(t *testing.T, out, pattern string) []string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	require.NotNil(t, m, "output lacks %q:\n%s", pattern, out)
	return m
}

func TestDemo(t *testing.T) {
	for _, cfg := range []demoConfig{
		{Agents: 4, Steps: 20, Seed: 1},
		{Agents: 2, Steps: 1, Seed: 7}, // the smallest workload: one run ends, one is aborted
	} {
		t.Run(strconv.Itoa(cfg.Agents)+"x"+strconv.Itoa(cfg.Steps), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, runDemo(t.Context(), &buf, cfg))
			out := buf.String()
			t.Log("\n" + out)

			// Every section, in order.
			last := -1
			for _, h := range []string{"\n1. ", "\n2. ", "\n3. ", "\n4. ", "\n5. ", "\n6. ", "\n7. ", "\n8. ", "\n9. "} {
				i := strings.Index(out, h)
				require.Greater(t, i, last, "section %q missing or out of order", h)
				last = i
			}
			assert.LessOrEqual(t, strings.Count(out, "\n"), 86, "the demo should stay short")
			assert.Contains(t, out, "no step was half applied")

			// 3: no lost update, and the three numbers agree.
			assert.Contains(t, out, "→ no lost updates")
			m := match(t, out, `increments committed ([\d,]+), counter read back ([\d,]+), last note #([\d,]+)`)
			increments := atoi(t, m[1])
			assert.Equal(t, increments, atoi(t, m[2]))
			assert.Equal(t, increments, atoi(t, m[3]))
			conflicts := atoi(t, match(t, out, `([\d,]+) conflicts?, each retried by Update`)[1])

			// 4: no torn read.
			assert.Regexp(t, `[1-9][\d,]* views, 0 torn reads`, out)

			// 5: both the ended and the aborted run refuse a write.
			assert.Regexp(t, `db\.Update\(\S+\)\s+→ inmem: run not active: \S+ is completed`, out)
			assert.Regexp(t, `db\.KV\(\)\.Put\(\S+\)\s+→ inmem: run not active: \S+ is failed`, out)

			// 6: the database's counters are the sum of what the demo did (runDemo itself fails
			// if Stats disagrees with its own count), and agree with sections 2 and 3.
			m = match(t, out, `committed\s+([\d,]+) transactions \(Stats\(\)\.Commits\) = (\d+) begins \+ (\d+) setups \+ ([\d,]+) steps\s+\+ ([\d,]+) shared \+ (\d+) ends and aborts`)
			total, begins, setups, steps, shared, ends := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3]), atoi(t, m[4]), atoi(t, m[5]), atoi(t, m[6])
			assert.Equal(t, total, begins+setups+steps+shared+ends)
			assert.Equal(t, cfg.Agents, begins)
			assert.Equal(t, cfg.Agents, ends)
			assert.Equal(t, cfg.Agents+1, setups)
			assert.Equal(t, increments, shared)
			assert.Equal(t, steps, atoi(t, match(t, out, `([\d,]+) step transactions committed by`)[1]))
			assert.LessOrEqual(t, steps, cfg.Agents*cfg.Steps)
			assert.Greater(t, steps, 0)
			assert.Equal(t, conflicts, atoi(t, match(t, out, `conflicts\s+([\d,]+) \(Stats\(\)\.Conflicts\)`)[1]))
			assert.Regexp(t, `runs\s+\d+: \d+ completed, 1 failed`, out)
			assert.Equal(t, cfg.Agents, atoi(t, match(t, out, `runs\s+(\d+):`)[1]))
			m = match(t, out, `batches\s+([\d,]+), ([\d.]+) commits per batch`)
			batches := atoi(t, m[1])
			assert.Positive(t, batches)
			assert.LessOrEqual(t, batches, total)
			assert.Regexp(t, `agent phase\s+\S+, [\d,]+ transactions/s`, out)
			assert.Regexp(t, `\S+\s+\d+/\d+\s+\d+\s+\S+\s+\d+\s+failed`, out, "the aborted agent is in the table")

			// 7: a replay to the middle of a run, and the diff of two runs that forked (runDemo
			// itself fails if the view or the diff disagrees with what the agents did).
			m = match(t, out, `(\S+) after step (\d+) of (\d+): step key (\d+), (\d+) events`)
			assert.Equal(t, atoi(t, m[2]), atoi(t, m[3])/2)
			assert.Equal(t, m[2], m[4])
			assert.Equal(t, m[2], m[5])
			assert.Contains(t, out, "Stats() unchanged by the replay")
			assert.Contains(t, out, "by search: ")
			assert.Contains(t, out, "best fused hit: ")
			m = match(t, out, `events share a prefix of (\d+), then each run has (\d+) of its own`)
			fork, n := atoi(t, m[1]), max(2, min(cfg.Steps, 20))
			assert.Equal(t, n/2, fork)
			assert.Equal(t, n-fork, atoi(t, m[2]))
			assert.Regexp(t, `JSON paths in memo: (\S+, )*\$\.agent`, out)

			// 8
			m = match(t, out, `RunMetadata.ForkedFrom says step (\d+)`)
			assert.Equal(t, 1+atoi(t, match(t, out, `(\d+) events kept their hashes`)[1]), atoi(t, m[1]))
			assert.Contains(t, out, "as one that never existed")
			m = match(t, out, `other (\d+): heap in use [\d.]+ MiB before, [\d.]+ MiB after`)
			assert.Equal(t, cfg.Agents+2, atoi(t, m[1]), "the agents' runs but one, the twins and the fork")

			// 9
			assert.Contains(t, out, "db.Close() returned nil")
		})
	}
}

func TestDemoDeterministicStructure(t *testing.T) {
	cfg := demoConfig{Agents: 5, Steps: 10, Seed: 3}
	a, b := newAgents(cfg), newAgents(cfg)
	for i := range a {
		assert.Equal(t, a[i].name, b[i].name)
		assert.Equal(t, a[i].shared, b[i].shared)
		assert.Equal(t, a[i].abortAt, b[i].abortAt)
		assert.Equal(t, a[i].choose(), b[i].choose())
	}
}

func TestDemoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := runDemo(ctx, new(bytes.Buffer), demoConfig{Agents: 4, Steps: 20, Seed: 1})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDemoInvalidConfig(t *testing.T) {
	for _, cfg := range []demoConfig{{Agents: 1, Steps: 10}, {Agents: 4, Steps: 0}} {
		assert.Error(t, runDemo(t.Context(), new(bytes.Buffer), cfg))
	}
}

func TestCLI(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		stdout   string // substring of stdout
		stderr   string // substring of stderr
		noStdout bool
		noStderr bool
	}{
		{args: nil, code: 2, stderr: "wal dump", noStdout: true},
		{args: []string{"bogus"}, code: 2, stderr: `unknown command "bogus"`, noStdout: true},
		{args: []string{"help"}, code: 0, stdout: "demo", noStderr: true},
		{args: []string{"inspect"}, code: 2, stderr: "want one database directory"},
		{args: []string{"inspect", "/nonexistent/inmem"}, code: 1, stderr: "no such file"},
		{args: []string{"wal", "dump"}, code: 2, stderr: "want one database directory"},
		{args: []string{"verify", "-h"}, code: 0, stderr: "-json"},
		{args: []string{"wal"}, code: 2, stderr: "unknown command"},
		{args: []string{"demo", "-agents", "1"}, code: 2, stderr: "-agents must be at least 2"},
		{args: []string{"demo", "-steps", "x"}, code: 2, stderr: "invalid value"},
		{args: []string{"demo", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{args: []string{"demo", "-h"}, code: 0, stderr: "-agents"},
		{args: []string{"demo", "-agents", "3", "-steps", "5", "-seed", "9"}, code: 0,
			stdout: "→ no lost updates", noStderr: true},
		{args: []string{"bench", "-committers", "1,x"}, code: 2, stderr: "committer counts must be positive"},
		{args: []string{"bench", "-duration", "0s"}, code: 2, stderr: "duration positive"},
		{args: []string{"bench", "-h"}, code: 0, stderr: "-committers"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tc.code, run(tc.args, &stdout, &stderr), "stderr: %s", stderr.String())
			assert.Contains(t, stdout.String(), tc.stdout)
			assert.Contains(t, stderr.String(), tc.stderr)
			if tc.noStdout {
				assert.Empty(t, stdout.String())
			}
			if tc.noStderr {
				assert.Empty(t, stderr.String())
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	var buf bytes.Buffer
	usage(&buf)
	for _, c := range []string{"demo", "inspect", "verify", "wal dump", "bench"} {
		assert.Contains(t, buf.String(), "  "+c+" ")
	}
	assert.NotContains(t, buf.String(), "not yet available", "a command is listed once it works")
}

func TestNum(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, num(n))
	}
	assert.Equal(t, "10,000,000", num(uint64(10_000_000)))
}

// inmem bench: a row per mode and committer count, a bar per row, a progress bar on stderr.
func TestBenchCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "-duration", "150ms", "-committers", "1,4", "-dir", t.TempDir()}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	for _, row := range []string{`Strict\s+1\s+[\d,]+\s`, `Strict\s+4\s+[\d,]+\s`, `Buffered\s+1\s`, `Buffered\s+4\s`} {
		assert.Regexp(t, row, out)
	}
	assert.Equal(t, 4, strings.Count(out, "│"), "one plot bar per row")
	assert.Contains(t, stderr.String(), "100%", "the progress bar reaches the end")
	m := match(t, out, `Strict\s+4\s+([\d,]+)`)
	assert.Positive(t, atoi(t, m[1]))
}
