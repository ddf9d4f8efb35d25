package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// bleve analyses documents in a pool of workers it starts once per process and never stops.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

// TestEveryEngineCommits runs every series briefly at 1 and 8 committers, in both modes, and
// checks that each committed and that the chart of the lot is well-formed XML.
func TestEveryEngineCommits(t *testing.T) {
	var results []result
	for _, s := range allSeries() {
		for _, n := range []int{1, 8} {
			r := runCell(s, n, t.TempDir(), 20*time.Millisecond, 150*time.Millisecond)
			if r.err != nil {
				t.Errorf("%s (%s), %d committers: %v", s.label, s.mode, n, r.err)
			} else if r.commits == 0 {
				t.Errorf("%s (%s), %d committers: no commits", s.label, s.mode, n)
			}
			results = append(results, r)
		}
	}

	var table strings.Builder
	printTables(&table, results, []int{1, 8})
	t.Log("\n" + table.String())
	for _, s := range allSeries() {
		if !strings.Contains(table.String(), s.label) {
			t.Errorf("table lacks %s", s.label)
		}
	}

	var svg bytes.Buffer
	if err := writeSVG(&svg, results); err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(svg.Bytes()); err != nil {
		t.Fatalf("chart is not well-formed XML: %v", err)
	}
	for _, s := range allSeries() {
		if !strings.Contains(svg.String(), s.label) {
			t.Errorf("chart lacks %s", s.label)
		}
	}
}

// TestChartOfFailures draws a chart in which no cell produced a rate, which must still be
// well-formed and say so.
func TestChartOfFailures(t *testing.T) {
	s := allSeries()[0]
	var svg bytes.Buffer
	if err := writeSVG(&svg, []result{{series: s, committers: 1, err: errors.New("<boom> & co")}}); err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(svg.Bytes()); err != nil {
		t.Fatalf("chart is not well-formed XML: %v", err)
	}
	if !strings.Contains(svg.String(), "no results") {
		t.Error("chart of failures does not say there are no results")
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags([]string{"-committers", "1, 4", "-engines", "raw,bbolt", "-mode", "inmemory"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.committers, c.engines, c.modes) != "[1 4] [raw bbolt] [inmemory]" {
		t.Errorf("parsed %v %v %v", c.committers, c.engines, c.modes)
	}
	for _, bad := range [][]string{{"-committers", "0"}, {"-engines", "mysql"}, {"-mode", "fast"}, {"-duration", "0s"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRun runs the command end to end for one engine, as a user would.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	svgPath := t.TempDir() + "/chart.svg"
	args := []string{"-duration", "50ms", "-warmup", "10ms", "-committers", "1,2", "-engines", "raw",
		"-dir", t.TempDir(), "-svg", svgPath}
	if err := run(args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw write+fdatasync", "raw write ", "chart: " + svgPath, "total time"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func wellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return fmt.Errorf("root element is %q, not svg", root)
	}
	return nil
}

// TestSQLitePragmas checks that every pooled connection, not only the first, runs in WAL mode
// with the synchronous level the mode asks for: the durable numbers mean nothing otherwise.
func TestSQLitePragmas(t *testing.T) {
	for _, tc := range []struct {
		sync bool
		want int // PRAGMA synchronous: 0 OFF, 2 FULL
	}{{true, 2}, {false, 0}} {
		st, err := openSQLite(tc.sync)(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		db := st.(*sqliteStore).db
		for g := range 4 {
			if _, err := st.committer(g); err != nil {
				t.Fatal(err)
			}
		}
		// Hold four connections at once so that the pool has to open new ones.
		ctx := t.Context()
		for range 4 {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var journal string
			var sync int
			if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
				t.Fatal(err)
			}
			if journal != "wal" || sync != tc.want {
				t.Errorf("sync=%v: journal_mode %q, synchronous %d; want wal, %d", tc.sync, journal, sync, tc.want)
			}
		}
		t.Cleanup(func() {
			if err := st.close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSearchEngines runs the search comparison on a few documents: every engine builds, and
// answers every query with hits.
func TestSearchEngines(t *testing.T) {
	var out, errs strings.Builder
	if err := run([]string{"search", "-docs", "300", "-queries", "5", "-rounds", "2"}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	t.Log("\n" + out.String())
	for _, e := range searchEngineNames {
		if !strings.Contains(out.String(), e+" ") {
			t.Errorf("no line for %s", e)
		}
	}
	if strings.Contains(out.String(), "   0.0 ") {
		t.Errorf("an engine found nothing:\n%s", out.String())
	}
}
