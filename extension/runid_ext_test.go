package extension_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunIDExtStringGolden(t *testing.T) {
	var id extension.RunID
	for i := range id {
		id[i] = byte(i)
	}
	const text = "00010203-0405-0607-0809-0a0b0c0d0e0f"
	assert.Equal(t, text, id.String())
	assert.Equal(t, text, fmt.Sprintf("%v", id))
	assert.Equal(t, text, fmt.Sprintf("%s", id))
	assert.Equal(t, "00000000-0000-0000-0000-000000000000", extension.GlobalRun.String())

	back, err := extension.ParseRunID(text)
	require.NoError(t, err)
	assert.Equal(t, id, back)

	up, err := extension.ParseRunID("6F1C2A8E-7D3B-4C5A-9E0F-1A2B3C4D5E6F")
	require.NoError(t, err, "upper-case hex is accepted")
	assert.Equal(t, "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6f", up.String())

	g, err := extension.ParseRunID(extension.GlobalRun.String())
	require.NoError(t, err)
	assert.Equal(t, extension.GlobalRun, g)
}

func TestRunIDExtNewRunID(t *testing.T) {
	seen := map[extension.RunID]bool{}
	for range 1000 {
		id := extension.NewRunID()
		assert.NotEqual(t, extension.GlobalRun, id)
		assert.EqualValues(t, 0x40, id[6]&0xf0, "version nibble is 4")
		assert.EqualValues(t, 0x80, id[8]&0xc0, "variant bits are 10")
		s := id.String()
		assert.Equal(t, byte('4'), s[14], "text form shows version 4")
		assert.Contains(t, "89ab", string(s[19]), "text form shows the RFC 4122 variant")
		back, err := extension.ParseRunID(s)
		require.NoError(t, err)
		assert.Equal(t, id, back)
		assert.False(t, seen[id], "duplicate random id")
		seen[id] = true
	}
}

func TestRunIDExtParseRejects(t *testing.T) {
	good := "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6f"
	bad := map[string]string{
		"empty":             "",
		"one short":         good[:35],
		"one long":          good + "0",
		"no dashes":         strings.ReplaceAll(good, "-", ""),
		"no dashes, padded": strings.ReplaceAll(good, "-", "") + "0000",
		"dash moved":        "6f1c2a8e7-d3b-4c5a-9e0f-1a2b3c4d5e6f",
		"dash replaced":     "6f1c2a8e_7d3b-4c5a-9e0f-1a2b3c4d5e6f",
		"last dash missing": "6f1c2a8e-7d3b-4c5a-9e0f01a2b3c4d5e6f",
		"non-hex first":     "gf1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6f",
		"non-hex last":      "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6z",
		"non-hex middle":    "6f1c2a8e-7d3b-4x5a-9e0f-1a2b3c4d5e6f",
		"space":             "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6 ",
		"braces":            "{6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e}",
		"all dashes":        strings.Repeat("-", 36),
		"multibyte":         "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5é",
	}
	for name, s := range bad {
		id, err := extension.ParseRunID(s)
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, dberr.ErrInvalidArgument), "%s: %v", name, err)
		assert.Equal(t, extension.GlobalRun, id, "%s: a failed parse returns the zero id", name)
	}
}

func TestRunIDExtShard(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 64, 1000} {
		counts := make([]int, n)
		for i := range 2000 {
			var id extension.RunID
			id[0], id[1], id[15] = byte(i), byte(i>>8), byte(i*7)
			s := id.Shard(n)
			require.GreaterOrEqual(t, s, 0)
			require.Less(t, s, n)
			assert.Equal(t, s, id.Shard(n), "stable")
			assert.Equal(t, int(xxhash.Sum64(id[:])%uint64(n)), s, "xxhash(id) %% n")
			counts[s]++
		}
		if n <= 8 {
			for s, c := range counts {
				assert.NotZero(t, c, "n=%d: shard %d got no run of 2000", n, s)
			}
		}
	}
	assert.Equal(t, 0, extension.NewRunID().Shard(1))
	id := extension.NewRunID()
	back, err := extension.ParseRunID(id.String())
	require.NoError(t, err)
	assert.Equal(t, id.Shard(13), back.Shard(13), "a parsed id routes like the original")
}
