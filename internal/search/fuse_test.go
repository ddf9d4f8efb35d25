package search

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func ranking(docs ...string) []Hit[string] {
	out := make([]Hit[string], len(docs))
	for i, d := range docs {
		out[i] = Hit[string]{Doc: d, Rank: 99 - i} // Rank and Score are not what RRF reads
	}
	return out
}

func TestRRF(t *testing.T) {
	f := RRF[string]{Compare: strings.Compare}
	got := f.Fuse(10, ranking("a", "b", "c"), ranking("c", "a", "d"))
	assertFused(t, []Hit[string]{
		{"a", 1.0/61 + 1.0/62, 1}, // 0.032522...
		{"c", 1.0/63 + 1.0/61, 2}, // 0.032266...
		{"b", 1.0 / 62, 3},
		{"d", 1.0 / 63, 4},
	}, got)
	assert.InDelta(t, 0.0325224749, got[0].Score, 1e-10)
	assert.InDelta(t, 0.0322664585, got[1].Score, 1e-10)

	assert.Equal(t, got[:2], f.Fuse(2, ranking("a", "b", "c"), ranking("c", "a", "d")), "k limits")
	assert.Len(t, f.Fuse(0, ranking("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")), DefaultK)

	// Equal scores: the smaller document first; without Compare, the first seen.
	assert.Equal(t, []string{"x", "y"}, fusedDocs(f.Fuse(5, ranking("y"), ranking("x"))))
	assert.Equal(t, []string{"y", "x"}, fusedDocs(RRF[string]{}.Fuse(5, ranking("y"), ranking("x"))))

	// A document twice in one ranking counts once, at its first place.
	assertFused(t, []Hit[string]{{"a", 1.0 / 61, 1}, {"b", 1.0 / 62, 2}}, f.Fuse(5, ranking("a", "b", "a")))

	// K is the constant.
	assertFused(t, []Hit[string]{{"a", 1.0 / 2, 1}, {"b", 1.0 / 3, 2}}, RRF[string]{K: 1}.Fuse(5, ranking("a", "b")))
	assert.Empty(t, f.Fuse(5))
}

func fusedDocs(hits []Hit[string]) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Doc)
	}
	return out
}

// assertFused compares documents and ranks exactly and scores to 1e-15: the constants above
// are folded exactly by the compiler, the fuser rounds each addition.
func assertFused(t *testing.T, want, got []Hit[string]) {
	t.Helper()
	if !assert.Len(t, got, len(want)) {
		return
	}
	for i := range want {
		assert.Equal(t, want[i].Doc, got[i].Doc, "hit %d", i)
		assert.Equal(t, want[i].Rank, got[i].Rank, "hit %d", i)
		assert.InDelta(t, want[i].Score, got[i].Score, 1e-15, "hit %d", i)
	}
}
