package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	panelW, panelH = 940, 440
	plotL, plotT   = 80, 50 // plot area's left and top edge within a panel
	plotW, plotH   = 560, 330
	legendX        = plotL + plotW + 30
)

var engineColours = map[string]string{
	"inmem":  "#d62728",
	"pebble": "#1f77b4",
	"badger": "#ff7f0e",
	"bbolt":  "#2ca02c",
	"sqlite": "#9467bd",
	"raw":    "#555555",
}

var panelTitles = map[mode]string{
	durable:  "Durable commits: commits/s against concurrent committers",
	inMemory: "Non-durable mode (InMemory workload): commits/s against concurrent committers",
}

// writeSVG draws one panel per mode in results: commits/s (log scale) against committers (log
// scale), one line per series. Both axes are logarithmic because committers grow by factors and
// the engines' rates lie orders of magnitude apart.
func writeSVG(w io.Writer, results []result) error {
	var modes []mode
	for _, m := range []mode{durable, inMemory} {
		if slices.ContainsFunc(results, func(r result) bool { return r.series.mode == m }) {
			modes = append(modes, m)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		panelW, panelH*len(modes), panelW, panelH*len(modes))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, m := range modes {
		fmt.Fprintf(&b, `<g transform="translate(0,%d)">`+"\n", i*panelH)
		panel(&b, m, results)
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func panel(b *strings.Builder, m mode, results []result) {
	// Lines keep the order of first appearance; points are the cells that produced commits.
	type line struct {
		s   series
		pts []result
	}
	var lines []*line
	var xs []int
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, r := range results {
		if r.series.mode != m {
			continue
		}
		i := slices.IndexFunc(lines, func(l *line) bool { return l.s.label == r.series.label })
		if i < 0 {
			lines = append(lines, &line{s: r.series})
			i = len(lines) - 1
		}
		if r.err != nil || r.rate() <= 0 {
			continue
		}
		lines[i].pts = append(lines[i].pts, r)
		if !slices.Contains(xs, r.committers) {
			xs = append(xs, r.committers)
		}
		minY, maxY = min(minY, r.rate()), max(maxY, r.rate())
	}
	slices.Sort(xs)

	text(b, plotL, 28, "start", "15", panelTitles[m])
	if len(xs) == 0 {
		text(b, plotL+plotW/2, plotT+plotH/2, "middle", "14", "no results")
		return
	}
	// Decades that enclose every rate.
	lo, hi := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	if hi == lo {
		hi++
	}
	x0, x1 := math.Log2(float64(xs[0])), math.Log2(float64(xs[len(xs)-1]))
	if x1 == x0 {
		x0, x1 = x0-1, x1+1
	}
	px := func(n int) float64 { return plotL + (math.Log2(float64(n))-x0)/(x1-x0)*plotW }
	py := func(r float64) float64 { return plotT + plotH - (math.Log10(r)-lo)/(hi-lo)*plotH }

	// Grid and axes: one horizontal line per decade (faint ones at 2× and 5×), one vertical
	// line per measured number of committers.
	for d := lo; d <= hi; d++ {
		for _, k := range []float64{1, 2, 5} {
			v := k * math.Pow(10, d)
			if d == hi && k > 1 {
				break
			}
			y := py(v)
			stroke := "#e4e4e4"
			if k == 1 {
				stroke = "#bbbbbb"
				text(b, plotL-8, y+4, "end", "12", siRate(v))
			}
			fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n",
				plotL, y, plotL+plotW, y, stroke)
		}
	}
	for _, n := range xs {
		x := px(n)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", x, plotT, x, plotT+plotH)
		text(b, x, plotT+plotH+18, "middle", "12", fmt.Sprint(n))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333333"/>`+"\n", plotL, plotT, plotW, plotH)
	text(b, plotL+plotW/2, plotT+plotH+40, "middle", "13", "concurrent committers (log scale)")
	fmt.Fprintf(b, `<text x="20" y="%d" text-anchor="middle" font-size="13" transform="rotate(-90 20 %d)">commits/s (log scale)</text>`+"\n",
		plotT+plotH/2, plotT+plotH/2)

	// A second configuration of the same engine (inmem Buffered, bbolt Batch) is dashed.
	seen := map[string]int{}
	for i, l := range lines {
		colour := engineColours[l.s.engine]
		dash := ""
		if seen[l.s.engine] > 0 {
			dash = ` stroke-dasharray="7 4"`
		}
		seen[l.s.engine]++
		var pts []string
		for _, r := range l.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(r.committers), py(r.rate())))
		}
		// inmem is the subject of the comparison: its lines are drawn heavier.
		width := 2
		if l.s.engine == "inmem" {
			width = 3
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%d"%s/>`+"\n",
				strings.Join(pts, " "), colour, width, dash)
		}
		for _, r := range l.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s, %d committers: %s commits/s</title></circle>`+"\n",
				px(r.committers), py(r.rate()), colour, escape(l.s.label), r.committers, group(r.rate()))
		}
		ly := float64(plotT + 10 + i*22)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%d"%s/>`+"\n",
			legendX, ly, legendX+28, ly, colour, width, dash)
		label := l.s.label
		if len(l.pts) == 0 {
			label += " (no result)"
		}
		text(b, legendX+36, ly+4, "start", "12", label)
	}
}

func text(b *strings.Builder, x, y float64, anchor, size, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%s">%s</text>`+"\n", x, y, anchor, size, escape(s))
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// siRate labels a power of ten: 1, 10, 100, 1k, …, 1M.
func siRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
