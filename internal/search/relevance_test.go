package search

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helpdesk is a small labelled set: each query has the document that must rank first.
var helpdesk = map[string]string{
	"refunds":   "How to request a refund: refunds are issued to the original payment method within 5 days.",
	"shipping":  "Shipping times: standard shipping takes 3 to 5 business days, express shipping 1 day.",
	"password":  "Forgot your password? Use the reset link on the sign-in page to choose a new password.",
	"account":   "To close your account, open Settings, then Account, then Delete account.",
	"returns":   "Returns are accepted within 30 days. Print the return label and drop the parcel off.",
	"tracking":  "Track your order with the tracking number we email once the parcel ships.",
	"payment":   "We accept credit cards, PayPal and bank transfer. Payment is taken when the order ships.",
	"twofactor": "Two-factor authentication adds a code from your phone to every sign-in.",
	"damaged":   "If your item arrived damaged, send a photo and we will send a replacement or a refund.",
	"invoice":   "Invoices are available in your account under Orders; each invoice is a PDF.",
}

func helpdeskIndex(t *testing.T, cfg Config[ref]) *Index[ref] {
	x := New(cfg)
	for d, text := range docs(refs(helpdesk)) {
		require.NoError(t, x.Put(d, 1, text))
	}
	return x
}

func refs(m map[string]string) map[ref]string {
	out := map[ref]string{}
	for k, v := range m {
		out[ref{Key: k}] = v
	}
	return out
}

func TestRelevance(t *testing.T) {
	x := helpdeskIndex(t, Config[ref]{Compare: compareRef})
	for query, first := range map[string]string{
		"refund":                      "refunds",
		"how long does shipping take": "shipping",
		"reset my password":           "password",
		"delete my account":           "account",
		"where is my parcel tracking": "tracking",
		"PayPal":                      "payment",
		"sign-in code phone":          "twofactor",
		"item arrived broken damaged": "damaged",
		"invoice PDF":                 "invoice",
		"return label":                "returns",
	} {
		hits := search(t, x, 1, query, 3).Hits
		if assert.NotEmpty(t, hits, query) {
			assert.Equal(t, first, hits[0].Doc.Key, "%q: %v", query, hits)
		}
	}
}

// matchCount scores a document by how many distinct query terms it holds.
type matchCount struct{}

func (matchCount) Term(Stats, int) TermScorer { return matchCount{} }
func (matchCount) Score(int, int) float64     { return 1 }

// Swapping the scorer changes the ranking to the scorer's: BM25 puts the short document full
// of the rare term first, counting matched terms puts the document holding both terms first.
func TestScorerSwap(t *testing.T) {
	corpus := map[string]string{
		"a": "refund refund refund",
		"b": "refund shipping and a long story about an order that took a very long time to arrive",
	}
	for i := range 8 {
		corpus[fmt.Sprintf("s%d", i)] = "shipping news"
	}
	const query = "refund shipping"
	bm25 := New(Config[ref]{Compare: compareRef})
	count := New(Config[ref]{Compare: compareRef, Scorer: matchCount{}})
	for d, text := range docs(refs(corpus)) {
		require.NoError(t, bm25.Put(d, 1, text))
		require.NoError(t, count.Put(d, 1, text))
	}
	assert.Equal(t, []string{"a", "b"}, hitDocs(search(t, bm25, 1, query, 2).Hits))
	hits := search(t, count, 1, query, 3).Hits
	assert.Equal(t, []Hit[ref]{{ref{Key: "b"}, 2, 1}, {ref{Key: "a"}, 1, 2}, {ref{Key: "s0"}, 1, 3}}, hits)

	scanned, err := Scan(context.Background(), docs(refs(corpus)), Request{Query: query, K: 3}, Config[ref]{Compare: compareRef, Scorer: matchCount{}})
	require.NoError(t, err)
	assert.Equal(t, hits, scanned.Hits)
}
