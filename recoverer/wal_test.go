package recoverer_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/recoverer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dir = "/db/wal"

// owner claims the entry types 0x10–0x1F so that the replay knows them.
type owner struct{}

func (owner) Name() string                 { return "t" }
func (owner) SectionID() uint8             { return 1 }
func (owner) EntryTypes() (lo, hi uint8)   { return 0x10, 0x1F }
func (owner) NewShard(int) extension.Shard { return nil }
func registry(t *testing.T) *extension.Registry {
	var r extension.Registry
	require.NoError(t, r.Register(owner{}))
	return &r
}

var runA = extension.RunID{1}

func entry(typ uint8, tx uint64, run extension.RunID, body string) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: 1, TxID: tx, Payload: append(run[:], body...)}
}

// writeLog writes the entries into one sealed segment at base 0.
func writeLog(t *testing.T, fs vfs.FS, es ...commitlog.Entry) {
	t.Helper()
	require.NoError(t, fs.MkdirAll(dir))
	s, err := commitlog.CreateSegment(fs, dir, 0)
	require.NoError(t, err)
	var buf []byte
	for _, e := range es {
		buf, err = commitlog.AppendEntry(buf, e)
		require.NoError(t, err)
	}
	require.NoError(t, s.Write(buf))
	require.NoError(t, s.Seal())
	require.NoError(t, s.Close())
}

func replay(t *testing.T, fs vfs.FS, cfg recoverer.WALConfig) ([]recoverer.Txn, recoverer.WALResult, error) {
	t.Helper()
	var got []recoverer.Txn
	cfg.FS, cfg.Dir, cfg.Registry = fs, dir, registry(t)
	cfg.Apply = func(tx recoverer.Txn) error { got = append(got, tx); return nil }
	res, err := recoverer.ReplayWAL(cfg)
	return got, res, err
}

func TestReplayGroupsByTransaction(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs,
		entry(0x10, 1, runA, "a"), entry(0x11, 1, runA, "b"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "aborted"), commitlog.Entry{Type: commitlog.TypeTransactionAbort, Version: 1, TxID: 2},
		entry(0x7F, 3, runA, "unknown type"), entry(0x10, 3, runA, "c"), commitlog.CommitMarker(3),
		entry(0x10, 4, runA, "no marker"),
	)
	got, res, err := replay(t, fs, recoverer.WALConfig{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.EqualValues(t, 1, got[0].Version)
	assert.Equal(t, runA, got[0].Run)
	assert.Len(t, got[0].Entries, 2)
	assert.EqualValues(t, 3, got[1].Version)
	assert.Len(t, got[1].Entries, 1, "the unknown entry type is skipped")
	assert.Equal(t, 2, res.TransactionsRecovered)
	assert.Equal(t, 3, res.EntriesReplayed)
	assert.Equal(t, 2, res.TransactionsDiscarded, "the aborted one and the one without a marker")
	assert.Equal(t, 1, res.UnknownEntries)
	assert.EqualValues(t, 3, res.LastVersion)
	assert.True(t, res.Consistent)

	// Appends continue after the last marker, not after the dangling entry: the next commit
	// reuses version 4 as its tx_id and must not be grouped with the orphan.
	size, err := fs.Stat(filepath.Join(dir, commitlog.SegmentName(0)))
	require.NoError(t, err)
	orphan := int64(commitlog.EncodedSize(commitlog.RunIDSize + len("no marker")))
	assert.True(t, res.HasSegment)
	assert.Equal(t, size-orphan, res.TailOffset)
}

func TestReplaySkipsWhatTheSnapshotHolds(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs,
		entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2),
	)
	got, res, err := replay(t, fs, recoverer.WALConfig{After: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.EqualValues(t, 2, got[0].Version)
	assert.EqualValues(t, 2, res.LastVersion)
}

func TestReplayRejectsTransactionSpanningRuns(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs, entry(0x10, 1, runA, "a"), entry(0x10, 1, extension.RunID{2}, "b"), commitlog.CommitMarker(1))
	_, _, err := replay(t, fs, recoverer.WALConfig{})
	require.ErrorIs(t, err, dberr.ErrCorruption)
}

func TestReplayApplyErrorStops(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs, entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1), entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2))
	boom := errors.New("boom")
	calls := 0
	_, err := recoverer.ReplayWAL(recoverer.WALConfig{FS: fs, Dir: dir, Registry: registry(t),
		Apply: func(recoverer.Txn) error { calls++; return boom }})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
}

func TestReplayEmptyLog(t *testing.T) {
	fs := vfs.NewCrashFS()
	require.NoError(t, fs.MkdirAll(dir))
	got, res, err := replay(t, fs, recoverer.WALConfig{})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.False(t, res.HasSegment)
}
