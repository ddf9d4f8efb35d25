package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildCLI builds the command into a temporary directory: these tests run it as a user would.
func buildCLI(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "inmem")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return exe
}

// runCLI runs the built command and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, exe string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// sampleDB makes a database directory with small segments, two snapshots and commits after.
func sampleDB(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	o := inmem.DefaultOptions()
	o.SegmentSize, o.Snapshot.OnClose = 4<<10, false
	db, err := inmem.Open(dir, o)
	require.NoError(t, err)
	ctx := context.Background()
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{Name: "sample"}))
	for i := range 120 {
		require.NoError(t, db.KV().Put(ctx, run, "k"+strings.Repeat("x", i%7), make([]byte, 50)))
		if i == 40 || i == 80 {
			_, err := db.Snapshot()
			require.NoError(t, err)
		}
	}
	require.NoError(t, db.Close())
	return dir
}

func TestDirectoryCommands(t *testing.T) {
	exe := buildCLI(t)
	dir := sampleDB(t)

	code, out, errOut := runCLI(t, exe, "verify", dir)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	assert.Contains(t, out, "0 damaged")

	code, out, _ = runCLI(t, exe, "inspect", "-json", dir)
	require.Equal(t, 0, code)
	var rep dirReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Len(t, rep.Snapshots, 2)
	assert.Greater(t, len(rep.Segments), 1, "small segments roll over")
	require.NotEmpty(t, rep.History, "the run's history below the snapshots is kept out of the log")
	for _, h := range rep.History {
		assert.Positive(t, h.Ranges, h.Name)
		assert.Empty(t, h.Problem, h.Name)
	}
	entries := 0
	for _, s := range rep.Segments {
		entries += s.Entries
	}
	assert.Positive(t, entries)

	code, out, _ = runCLI(t, exe, "wal", "dump", "-type", "kv.put", dir)
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.NotEmpty(t, lines)
	for _, l := range lines {
		assert.Contains(t, l, "kv.put")
	}
	assert.Less(t, len(lines), 120, "retired segments left the log (the run's history keeps them aside)")
	assert.Regexp(t, `kv.put .* put kx*$`, lines[0], "what the entry does")

	code, out, _ = runCLI(t, exe, "wal", "dump", "-json", "-run", "00000000-0000-0000-0000-000000000001", dir)
	require.Equal(t, 0, code)
	assert.Empty(t, strings.TrimSpace(out), "no entry of a run that never was")
	code, all, _ := runCLI(t, exe, "wal", "dump", dir)
	require.Equal(t, 0, code)
	run := strings.Fields(lines[0])[4]
	code, out, _ = runCLI(t, exe, "wal", "dump", "-run", run, dir)
	require.Equal(t, 0, code)
	assert.Equal(t, strings.Count(all, run), strings.Count(strings.TrimSpace(out), "\n")+1, "every entry of the run, and no other")
}

// verify names the damaged file and exits 1; the damage is a flipped byte in a sealed segment,
// then a flipped byte in a snapshot.
func TestVerifyFindsDamage(t *testing.T) {
	exe := buildCLI(t)
	dir := sampleDB(t)
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 1)
	flip(t, segs[0], 200)
	code, out, _ := runCLI(t, exe, "verify", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "DAMAGE")
	assert.Contains(t, out, filepath.Base(segs[0]))

	dir = sampleDB(t)
	kept, err := filepath.Glob(filepath.Join(dir, "wal", "history", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, kept)
	flip(t, kept[0], 200)
	code, out, _ = runCLI(t, exe, "verify", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "DAMAGE: history")
	assert.Contains(t, out, filepath.Base(kept[0]))

	dir = sampleDB(t)
	snaps, err := filepath.Glob(filepath.Join(dir, "snapshots", "*.dat"))
	require.NoError(t, err)
	flip(t, snaps[0], 100)
	code, out, _ = runCLI(t, exe, "verify", "-json", dir)
	assert.Equal(t, 1, code)
	var rep dirReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.Problems, 1)
	assert.Contains(t, rep.Problems[0], filepath.Base(snaps[0]))
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[at] ^= 0x40
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// runs, replay, diff and backup, as a user runs them, on a directory sampleDB made (its run
// was left active) and on a second run begun here.
// sampleRun is the id of sampleDB's one run, as `inmem runs` lists it.
func sampleRun(t *testing.T, exe, dir string) string {
	t.Helper()
	code, out, errOut := runCLI(t, exe, "runs", "-json", dir)
	require.Equal(t, 0, code, errOut)
	var runs []inmem.RunMetadata
	require.NoError(t, json.Unmarshal([]byte(out), &runs))
	require.Len(t, runs, 1)
	return runs[0].ID.String()
}

func TestRunCommands(t *testing.T) {
	exe := buildCLI(t)
	dir := sampleDB(t)
	id := sampleRun(t, exe, dir)

	code, out, errOut := runCLI(t, exe, "replay", dir, id)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "after 120 steps")
	assert.Contains(t, out, "kv    kxxxxxx")
	code, out, _ = runCLI(t, exe, "replay", "-step", "1", "-json", dir, id)
	require.Equal(t, 0, code)
	var v viewJSON
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, 1, v.Steps)
	assert.Len(t, v.KV, 1)

	code, out, errOut = runCLI(t, exe, "search", "-k", "3", dir, id, "kxxx")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "1  ", out)
	assert.Contains(t, out, "kv    kxxx\n", "the key of the query's only term ranks first")
	code, out, errOut = runCLI(t, exe, "search", "-json", dir, id, "kxxxxxx nothing")
	require.Equal(t, 0, code, errOut)
	var hits []searchHitJSON
	require.NoError(t, json.Unmarshal([]byte(out), &hits))
	require.Len(t, hits, 1)
	assert.Equal(t, searchHitJSON{Rank: 1, Score: hits[0].Score, Kind: "kv", Key: "kxxxxxx"}, hits[0])
	code, _, errOut = runCLI(t, exe, "search", dir, id)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "inmem search")

	code, out, errOut = runCLI(t, exe, "diff", dir, id, id)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, strings.TrimSpace(out), "a run against itself")
	code, _, errOut = runCLI(t, exe, "replay", dir, "not-a-run")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "inmem replay")

	dst := filepath.Join(t.TempDir(), "copy")
	code, _, errOut = runCLI(t, exe, "backup", dir, dst)
	require.Equal(t, 0, code, errOut)
	code, out, _ = runCLI(t, exe, "verify", dst)
	assert.Equal(t, 0, code, out)
	code, out, _ = runCLI(t, exe, "replay", dst, id)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "after 120 steps", "the copy holds the run")
}

func TestHistoryCommands(t *testing.T) {
	exe := buildCLI(t)
	dir := sampleDB(t)
	id := sampleRun(t, exe, dir)

	code, out, errOut := runCLI(t, exe, "steps", "-from", "3", "-limit", "2", dir, id)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 2, strings.Count(out, "\n"), out)
	assert.Contains(t, out, "step 3 ")
	assert.Contains(t, out, "kv")
	code, out, _ = runCLI(t, exe, "steps", "-json", dir, id)
	require.Equal(t, 0, code)
	var steps []inmem.StepInfo
	require.NoError(t, json.Unmarshal([]byte(out), &steps))
	assert.Len(t, steps, 121, "step 0, then 120 transactions")

	file := filepath.Join(t.TempDir(), "run.jsonl")
	code, _, errOut = runCLI(t, exe, "export", "-o", file, dir, id)
	require.Equal(t, 0, code, errOut)
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "an export is private")
	code, _, errOut = runCLI(t, exe, "export", "-o", file, dir, id)
	assert.Equal(t, 1, code, "an existing file is not overwritten")
	assert.Contains(t, errOut, "exists")

	other := filepath.Join(t.TempDir(), "other")
	code, out, errOut = runCLI(t, exe, "import", other, file, id)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, id, strings.TrimSpace(out))
	for _, step := range []string{"1", "60", "120"} {
		_, want, _ := runCLI(t, exe, "replay", "-json", "-step", step, dir, id)
		_, got, _ := runCLI(t, exe, "replay", "-json", "-step", step, other, id)
		assert.JSONEq(t, want, got, "step %s", step)
	}
	code, _, errOut = runCLI(t, exe, "import", other, file, id)
	assert.Equal(t, 1, code, "the run exists already")
	assert.Contains(t, errOut, "exists")
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{}\n"), 0o600))
	code, _, errOut = runCLI(t, exe, "import", other, bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not an inmem run export")
}
