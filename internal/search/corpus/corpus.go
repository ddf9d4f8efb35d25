// Package corpus generates the synthetic documents and queries the search benchmarks share:
// JSON objects of about 1 KiB whose words follow a Zipf distribution over a vocabulary of
// pseudo-words, and three-word queries drawn from the vocabulary's middle ranks. Everything is
// a function of the seed, so two programs (or an index and its competitor) see the same text.
package corpus

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Corpus is a vocabulary and the seed that documents and queries are drawn with.
type Corpus struct {
	seed  uint64
	vocab []string // by rank: vocab[0] is the most frequent word
}

// New returns a corpus of size distinct words.
func New(seed uint64, size int) *Corpus {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	seen := make(map[string]bool, size)
	vocab := make([]string, 0, size)
	for len(vocab) < size {
		w := word(r)
		if !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return &Corpus{seed: seed, vocab: vocab}
}

var (
	onsets = []string{"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "st", "tr", "ch", "sh"}
	nuclei = []string{"a", "e", "i", "o", "u", "ai", "ou", "ea"}
)

// word is one to four syllables: short words are drawn as often as long ones, so the
// vocabulary's frequent words have every length.
func word(r *rand.Rand) string {
	var b []byte
	for range 1 + r.IntN(4) {
		b = append(b, onsets[r.IntN(len(onsets))]...)
		b = append(b, nuclei[r.IntN(len(nuclei))]...)
	}
	if r.IntN(3) == 0 {
		b = append(b, "nrst"[r.IntN(4)])
	}
	return string(b)
}

// Size is the number of words in the vocabulary.
func (c *Corpus) Size() int { return len(c.vocab) }

// Doc returns document i: about 1 KiB of JSON with an id, a capitalised title, tags and a body.
func (c *Corpus) Doc(i int) string {
	r := rand.New(rand.NewPCG(c.seed, uint64(i)+1))
	z := rand.NewZipf(r, 1.1, 1, uint64(len(c.vocab)-1))
	b := make([]byte, 0, 1100)
	b = append(b, `{"id":"doc-`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","title":"`...)
	for j := range 6 {
		w := c.vocab[z.Uint64()]
		if j == 0 {
			b = append(b, w[0]-'a'+'A')
			w = w[1:]
		} else {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	b = append(b, `","tags":["`...)
	for j := range 3 {
		if j > 0 {
			b = append(b, `","`...)
		}
		b = append(b, c.vocab[z.Uint64()]...)
	}
	b = append(b, `"],"views":`...)
	b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
	b = append(b, `,"body":"`...)
	for n := 0; len(b) < 1000; n++ {
		if n > 0 {
			b = append(b, ' ')
		}
		b = append(b, c.vocab[z.Uint64()]...)
		if r.IntN(12) == 0 {
			b = append(b, '.')
		}
	}
	return string(append(b, `"}`...))
}

// Queries returns n three-word queries, their words drawn at ranks spread evenly on a log scale
// between 10 and 5000: a common word, a middling one, a rarer one, as users type them.
func (c *Corpus) Queries(n int) []string {
	r := rand.New(rand.NewPCG(c.seed, math.MaxUint64))
	out := make([]string, n)
	for i := range out {
		var q []byte
		var used []int
		for len(used) < 3 {
			rank := min(int(math.Exp(math.Log(10)+r.Float64()*(math.Log(5000)-math.Log(10)))), len(c.vocab)-1)
			if containsInt(used, rank) {
				continue
			}
			used = append(used, rank)
			if len(q) > 0 {
				q = append(q, ' ')
			}
			q = append(q, c.vocab[rank]...)
		}
		out[i] = string(q)
	}
	return out
}

func containsInt(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
