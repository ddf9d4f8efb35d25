package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logged is a slog handler that keeps every record: level and message.
type logged struct {
	mu      sync.Mutex
	records []string
}

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }
func (l *logged) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logged) WithGroup(string) slog.Handler            { return l }
func (l *logged) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Level.String()+" "+r.Message)
	return nil
}

// has reports whether a record of level with message was logged.
func (l *logged) has(level slog.Level, message string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.records, level.String()+" "+message)
}

func (l *logged) option(o *inmem.Options) { o.Logger = slog.New(l) }

func TestLogsOpenSnapshotsAndRetention(t *testing.T) {
	l := &logged{}
	dir := t.TempDir()
	db := openDir(t, dir, l.option, func(o *inmem.Options) { o.Retention.MaxEndedRuns = 1 })
	assert.True(t, l.has(slog.LevelInfo, "inmem: opened"), "%v", l.records)
	_, err := db.Snapshot()
	require.NoError(t, err)
	assert.True(t, l.has(slog.LevelInfo, "inmem: snapshot written"), "%v", l.records)
	for range 2 {
		run := newRun(t, db)
		require.NoError(t, db.EndRun(ctx, run))
	}
	eventually(t, "a retention pass is logged", func() bool { return l.has(slog.LevelInfo, "inmem: retention pass") })
	require.NoError(t, db.Close())

	mem := &logged{}
	openMem(t, mem.option)
	assert.True(t, mem.has(slog.LevelInfo, "inmem: opened"))
}

func TestLogsTornTail(t *testing.T) {
	w := wdWrite(t, 3)
	last := w.tx(2)
	wdEdit(t, last.seg, func(b []byte) []byte { return b[:last.start+5] })
	l := &logged{}
	db := openDir(t, w.dir, l.option)
	defer db.Close()
	require.Positive(t, db.LastRecovery().TornTailBytes)
	assert.True(t, l.has(slog.LevelWarn, "inmem: a torn write cut off the log's end (a crash interrupted it)"), "%v", l.records)
}

func TestLogsPoisoning(t *testing.T) {
	fs := vfs.NewInjectFS(vfs.NewCrashFS())
	l := &logged{}
	db := openDir(t, "db", l.option, func(o *inmem.Options) { o.FS = fs; o.Snapshot.OnClose = false })
	defer db.Close()
	run := newRun(t, db)
	fs.Inject(vfs.Fault{Op: vfs.OpSync, Nth: 1, Err: errors.New("disk on fire")})
	err := db.KV().Put(ctx, run, "k", []byte("v"))
	require.ErrorIs(t, err, inmem.ErrPoisoned)
	assert.True(t, l.has(slog.LevelError, "inmem: the log is poisoned: every commit fails until the database is reopened"),
		"%v", fmt.Sprint(l.records))
}
