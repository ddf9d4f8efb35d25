package search

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTokens(t *testing.T) {
	cases := map[string][]string{
		"Café-Straße 42":                 {"café", "straße", "42"},
		"東京タワーに行く":                       {"東京タワーに行く"}, // one run of letters: no word segmentation
		"東京 タワー":                         {"東京", "タワー"},
		"Hello, World! It's 2024-01-02.": {"hello", "world", "it", "s", "2024", "01", "02"},
		"  ":                             nil,
		"":                               nil,
		"a":                              {"a"},
		"ÀÉÎ ΣΊΣΥΦΟΣ":                    {"àéî", "σίσυφοσ"}, // per-rune lower-casing: no final sigma
		"x²y ٣٤ Ⅻ":                       {"x", "y", "٣٤"},   // ² and Ⅻ are numbers, not digits
		"snake_case\tkebab-case\n":       {"snake", "case", "kebab", "case"},
		"bad\xffutf8":                    {"bad", "utf8"},
		"ABC123def":                      {"abc123def"},
	}
	for in, want := range cases {
		assert.Equal(t, want, AppendTokens(nil, in), "%q", in)
		var tok tokenizer
		var got []string
		for s := range tok.each(in) {
			got = append(got, strings.Clone(s))
		}
		assert.Equal(t, want, got, "each %q", in)
	}
}

// The writer's tokenizer allocates nothing, lower-case or not; AppendTokens allocates only
// for tokens that need lower-casing.
func TestTokensAllocations(t *testing.T) {
	text := strings.Repeat("Refund policy: SHIPPING takes 3 days, Café ", 20)
	var tok tokenizer
	n := 0
	assert.Zero(t, testing.AllocsPerRun(50, func() {
		for range tok.each(text) {
			n++
		}
	}))
	dst := make([]string, 0, 1000)
	assert.Zero(t, testing.AllocsPerRun(50, func() { AppendTokens(dst[:0], "refund policy: shipping takes 3 days") }))
}

func TestQueryTermsDistinct(t *testing.T) {
	assert.Equal(t, []string{"refund", "policy"}, queryTerms("Refund refund POLICY refund"))
	assert.Empty(t, queryTerms("!!"))
}
