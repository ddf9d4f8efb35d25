package prometheus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	inmemprom "github.com/inmemdb/inmem/contrib/prometheus"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A scrape over HTTP, as Prometheus makes it, shows the database's counters, histograms and
// gauges.
func TestScrape(t *testing.T) {
	db, err := inmem.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := db.KV().Put(ctx, run, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	reg := prom.NewRegistry()
	reg.MustRegister(inmemprom.NewCollector(db, "inmem"))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	for _, want := range []string{
		"inmem_commits_total 11",
		"inmem_commit_latency_seconds_count 11",
		"inmem_fsync_latency_seconds_bucket",
		`inmem_runs{status="active"} 1`,
		"inmem_wal_disk_bytes",
		"inmem_history_memory_bytes",
		"inmem_history_disk_bytes",
		"inmem_retention_deleted_total 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %q:\n%s", want, body)
		}
	}
}
