package inmem_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exportedRun makes a run worth exporting: an initial state, steps touching every primitive, a
// JSON document with characters an encoder likes to escape, and an ending.
func exportedRun(t *testing.T, db *inmem.DB) (inmem.RunID, []string) {
	t.Helper()
	run := inmem.NewRunID()
	require.NoError(t, db.BeginRunWith(ctx, run, inmem.RunInfo{Name: "src", Agent: "a", Tags: []string{"x"},
		Metadata: []byte(`{"k":1}`)}, initialState))
	images := writeSteps(t, db, run, 5)
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		return tx.JSON().Create("doc", []byte(`{"html":"<b>&</b>","n":[1, 2]}`))
	}))
	return run, append(images, liveImage(t, db, run))
}

func TestExportImportReplaysAlike(t *testing.T) {
	db := openMem(t)
	src, images := exportedRun(t, db)
	require.NoError(t, db.AbortRun(ctx, src, "tool crashed"))
	var out bytes.Buffer
	require.NoError(t, db.ExportRun(ctx, src, &out))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1+len(images), "a header, then one line per step")
	var header map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &header))
	assert.Equal(t, "inmem-run/1", header["format"])
	assert.Equal(t, src.String(), header["run"].(map[string]any)["id"])
	var step map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &step))
	assert.EqualValues(t, 1, step["step"])
	op := step["ops"].([]any)[0].(map[string]any)
	assert.Equal(t, "put", op["op"])
	assert.Equal(t, "kv", op["kind"])
	assert.EqualValues(t, 1, op["value"], "a value that is JSON is shown as JSON")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &step))
	doc := step["ops"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{map[string]any{"op": "create", "path": "$", "value": map[string]any{"html": "<b>&</b>", "n": []any{1.0, 2.0}}}},
		doc["value"], "a document's operations, as JSON")
	assert.Equal(t, "k1", op["key"])

	dst := inmem.NewRunID()
	require.NoError(t, db.ImportRun(ctx, bytes.NewReader(out.Bytes()), dst))
	meta, err := db.Run(dst)
	require.NoError(t, err)
	assert.Equal(t, inmem.RunFailed, meta.Status)
	assert.Equal(t, "tool crashed", meta.Reason)
	assert.Equal(t, "src", meta.Info.Name)
	assert.Equal(t, len(images)-1, meta.Steps)
	for k, want := range images {
		v, err := db.ReplayRunUntil(dst, k)
		require.NoError(t, err)
		assert.Equal(t, want, viewImage(v), "step %d", k)
	}
	require.NoError(t, db.Events().VerifyChain(dst))

	// An import into another database, of a compacted run: the numbers stay.
	other := openMem(t)
	require.NoError(t, db.CompactRun(ctx, src, 3))
	out.Reset()
	require.NoError(t, db.ExportRun(ctx, src, &out))
	require.NoError(t, other.ImportRun(ctx, &out, dst))
	for k, want := range images {
		v, err := other.ReplayRunUntil(dst, k)
		if k < 2 {
			assert.ErrorIs(t, err, inmem.ErrHistoryCompacted)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, want, viewImage(v), "step %d", k)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	db := openMem(t)
	src, _ := exportedRun(t, db)
	var out bytes.Buffer
	require.NoError(t, db.ExportRun(ctx, src, &out))
	good := out.String()
	lines := strings.SplitAfter(good, "\n")
	cases := map[string]string{
		"empty":          "",
		"not json":       "hello\n",
		"other format":   strings.Replace(good, "inmem-run/1", "inmem-run/9", 1),
		"no steps":       lines[0],
		"a step missing": lines[0] + lines[1] + strings.Join(lines[3:], ""),
		"a run entry":    strings.Replace(good, `"type":16`, `"type":99`, 1),
		"bad payload":    strings.Replace(good, `"type":16,"v":1,"base64":"`, `"type":16,"v":1,"base64":"AAAA`, 1),
		"truncated":      good[:len(good)-20],
	}
	for name, input := range cases {
		dst := inmem.NewRunID()
		err := db.ImportRun(ctx, strings.NewReader(input), dst)
		assert.ErrorIs(t, err, inmem.ErrInvalidArgument, name)
		assert.Equal(t, inmem.RunNotFound, db.RunStatus(dst), "%s: nothing imported", name)
	}
	assert.ErrorIs(t, db.ImportRun(ctx, strings.NewReader(good), src), inmem.ErrRunExists)
	assert.NoError(t, db.ImportRun(ctx, bufio.NewReader(strings.NewReader(good)), inmem.NewRunID()))
}
