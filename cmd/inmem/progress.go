package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// progress draws a bar on a terminal for long work: the share done and what is being done,
// redrawn in place on one line. Where the output is not a terminal (a file, a pipe, a test) it
// draws nothing: a nil *progress is a silent one.
type progress struct {
	w           io.Writer
	done, total int64
	label       string
}

// newProgress returns a bar on w for total units of work, or nil if w is not a terminal.
func newProgress(w io.Writer, total int64) *progress {
	if !isTerminal(w) {
		return nil
	}
	return &progress{w: w, total: max(total, 1)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// add counts n more units done, labelled label ("" keeps the last label), and redraws.
func (p *progress) add(n int64, label string) {
	if p == nil {
		return
	}
	p.done = min(p.done+n, p.total)
	if label != "" {
		p.label = label
	}
	drawBar(p.w, float64(p.done)/float64(p.total), p.label)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p != nil {
		fmt.Fprintln(p.w)
	}
}

// drawBar redraws the bar line: [####      ]  40%  label.
func drawBar(w io.Writer, done float64, label string) {
	const width = 30
	done = min(max(done, 0), 1)
	filled := int(width * done)
	fmt.Fprintf(w, "\r[%s%s] %3d%%  %-28s", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
		int(100*done), label)
}

// counting is an io.Writer or io.Reader that adds what passes through it to a bar: bytes, or
// lines (for writes, when lines is set).
type counting struct {
	w     io.Writer
	r     io.Reader
	bar   *progress
	lines bool
	label string
}

func (c *counting) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if c.lines {
		c.bar.add(int64(strings.Count(string(b[:n]), "\n")), c.label)
	} else {
		c.bar.add(int64(n), c.label)
	}
	return n, err
}

func (c *counting) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.bar.add(int64(n), c.label)
	return n, err
}
