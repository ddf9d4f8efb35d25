package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	bar := newProgress(&buf, 10)
	assert.Nil(t, bar, "a buffer is not a terminal")
	bar.add(5, "half") // a nil bar draws nothing, and does not fail
	bar.finish()
	assert.Empty(t, buf.String())

	p := &progress{w: &buf, total: 4}
	c := &counting{w: &bytes.Buffer{}, bar: p, lines: true, label: "steps"}
	_, _ = c.Write([]byte("a\nb\n"))
	assert.Contains(t, buf.String(), "[###############               ]  50%  steps")
	_, _ = c.Write([]byte("c\nd\ne\n"))
	assert.True(t, strings.HasSuffix(strings.TrimRight(buf.String(), " "), "100%  steps"), "never past the end: %q", buf.String())
}
