package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

var modeTitles = map[mode]string{
	durable:  "Durable commits: each acknowledged once on disk (inmem Buffered: once written to the OS)",
	inMemory: "InMemory: each engine's non-durable mode, nothing fsynced per commit",
}

// printTables prints, for each mode, one row per cell and then commits/s as an engine ×
// committers matrix, the shape of the chart.
func printTables(w io.Writer, results []result, committers []int) {
	for _, m := range []mode{durable, inMemory} {
		var rows []result
		for _, r := range results {
			if r.series.mode == m {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		// Numbers align right; padding the labels to one width keeps them aligned left.
		width := 0
		for _, r := range rows {
			width = max(width, utf8.RuneCountInString(r.series.label))
		}
		pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }

		fmt.Fprintln(w, modeTitles[m])
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tcommitters\tcommits/s\tp50\tp99\t× 1-committer rate\t\n", pad("engine"))
		base := map[string]float64{}
		for _, r := range rows {
			if r.committers == 1 && r.err == nil {
				base[r.series.label] = r.rate()
			}
		}
		for _, r := range rows {
			if r.err != nil {
				fmt.Fprintf(tw, "%s\t%d\t\t\t\t\t error: %v\n", pad(r.series.label), r.committers, r.err)
				continue
			}
			scale := ""
			if b := base[r.series.label]; b > 0 {
				scale = fmt.Sprintf("%.1f", r.rate()/b)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", pad(r.series.label), r.committers,
				group(r.rate()), fmtDur(r.p50), fmtDur(r.p99), scale)
		}
		tw.Flush()
		fmt.Fprintln(w)

		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		var head strings.Builder
		head.WriteString(pad("commits/s") + "\t")
		for _, n := range committers {
			fmt.Fprintf(&head, "%d\t", n)
		}
		fmt.Fprintln(tw, head.String())
		var labels []string
		cell := map[string]map[int]string{}
		for _, r := range rows {
			l := r.series.label
			if cell[l] == nil {
				labels = append(labels, l)
				cell[l] = map[int]string{}
			}
			cell[l][r.committers] = group(r.rate())
			if r.err != nil {
				cell[l][r.committers] = "error"
			}
		}
		for _, l := range labels {
			line := pad(l) + "\t"
			for _, n := range committers {
				line += cell[l][n] + "\t"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
}

// cellSummary is one cell on one line, for -v.
func cellSummary(r result) string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%s commits/s, p50 %s, p99 %s", group(r.rate()), fmtDur(r.p50), fmtDur(r.p99))
}

// group formats a rate as a whole number with thin groups of three digits, to be read at a
// glance across rows five orders of magnitude apart.
func group(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
