package inmem

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/snapshotter"
)

// Durability says when a commit returns and what a crash can take (docs/guarantees.md).
type Durability int

const (
	// Strict returns after the commit's batch is fsynced: nothing acknowledged is ever lost.
	// It is the zero value, so a forgotten field errs on the safe side.
	Strict Durability = iota
	// Buffered returns after the batch is written to the OS: a process crash loses nothing,
	// power loss at most FlushInterval or MaxUnsyncedBytes of commits.
	Buffered
	// InMemory keeps no files at all: everything is lost when the process stops.
	InMemory
)

func (d Durability) String() string {
	switch d {
	case Strict:
		return "Strict"
	case Buffered:
		return "Buffered"
	case InMemory:
		return "InMemory"
	}
	return "Durability(?)"
}

// RecoveryMode says what recovery does with a damaged WAL entry (docs/format.md, Damage).
type RecoveryMode int

const (
	PointInTime      RecoveryMode = iota // stop at the last intact transaction; quarantine the rest
	SkipCorrupt                          // skip damaged transactions, up to MaxCorruptEntries
	FailOnCorruption                     // Open fails with ErrCorruption; nothing changes
)

// SnapshotConfig controls when snapshots are taken and how many are kept.
type SnapshotConfig struct {
	WALSizeThreshold int64         // WAL bytes since the last snapshot that trigger one (100 MiB)
	Interval         time.Duration // time between snapshots (30 min)
	// RetentionCount is how many valid snapshots are kept (2). At least two are kept whatever
	// it says, and the log is retired only below the oldest one kept: if one snapshot file is
	// damaged, recovery falls back to the other and replays the log from its cut.
	RetentionCount int
	OnClose        bool // snapshot at Close (true in DefaultOptions)
	// DutyCycle is the share of the time a snapshot may spend writing while commits are being
	// made (0.2; 1: never paused). The snapshot pauses between writes to keep to it, so that
	// the commits meanwhile find the cores and the disk free most of the time; it then takes
	// up to 1/DutyCycle as long. While no commit is made it never pauses. Measured
	// (docs/experiments.md, "Commit latency during snapshots"; 2 cores, one disk): commit p99 during
	// back-to-back snapshots 1.04–2.43× the p99 without at 0.2, within 2× in 10 runs of 11,
	// and 7–13× unpaced. The price is
	// paid in memory as well as time: the versions a snapshot pins are kept until it ends, and
	// a key written on every commit keeps every version written meanwhile.
	DutyCycle float64
	// Priority is the CPU priority snapshot files are written at (SnapshotNormalPriority).
	Priority SnapshotPriority
}

// SnapshotPriority is the CPU priority snapshot files are written at. A lowered thread gives
// way to the commits made meanwhile, but the Go runtime does not know it is lowered: while
// the kernel keeps it waiting for a core it holds one of the runtime's processors, and a
// garbage collection waits for it to reach a safe point. On a machine whose cores other
// processes keep busy that is long: beside two CPU-bound processes on 2 cores the longest
// stop-the-world pause was 84–403 ms at SnapshotLowPriority and 0.67–1.6 s at
// SnapshotIdlePriority, against 5–67 ms at normal priority (docs/experiments.md). Only Linux lowers
// one thread's priority; elsewhere every value writes at the process's priority.
type SnapshotPriority = snapshotter.Priority

const (
	// SnapshotNormalPriority (the default) writes at the process's priority; DutyCycle keeps
	// the snapshot out of the commits' way.
	SnapshotNormalPriority = snapshotter.Normal
	// SnapshotLowPriority writes from a thread lowered to nice 10: commit p99 during
	// back-to-back unpaced snapshots 1.2–4.3× the p99 without. Beside two CPU-bound processes
	// a snapshot crawls (one in 10 s instead of 8–11) and holds up the garbage collector
	// (above).
	SnapshotLowPriority = snapshotter.Lowered
	// SnapshotIdlePriority writes from a thread in the idle scheduling class (SCHED_IDLE),
	// which runs only when no other thread wants a core: commit p99 during back-to-back
	// unpaced snapshots 1.03–2.7× the p99 without. Beside two CPU-bound processes a 195 MB
	// snapshot took 64 s, and the garbage collector waited up to 1.6 s for it. For machines
	// whose cores the database's process has to itself. Close's own snapshot (OnClose) is
	// written at SnapshotLowPriority: Close waits for it.
	SnapshotIdlePriority = snapshotter.Idle
)

// RecoveryOptions controls recovery at Open.
type RecoveryOptions struct {
	Mode              RecoveryMode
	MaxCorruptEntries int // SkipCorrupt gives up past this many (10)
	// IgnoreLock lets OpenReadOnly read a directory a live writer holds: it then recovers a
	// consistent prefix of what is on disk at that moment (the writer's last batch may be cut
	// off as a torn tail; a segment the writer retires meanwhile can make it fail: try again).
	IgnoreLock bool
}

// Primitive is the extension interface: implement it, list it in Options.Primitives,
// and the engine logs, snapshots, recovers and replays the new kind of state like its own.
type Primitive = extension.Primitive

// Options configures a DB. Start from DefaultOptions and change what you need: Open fills any
// zero numeric or duration field with its default and rejects nonsense (negative sizes,
// unknown modes) with ErrInvalidArgument.
type Options struct {
	Durability       Durability
	FlushInterval    time.Duration // Buffered: background fsync period (100 ms)
	MaxUnsyncedBytes int64         // Buffered: fsync once this much is unsynced (4 MiB)
	MinSyncInterval  time.Duration // Strict: minimum time between fsyncs, to grow batches (0)
	MaxBatchBytes    int           // payload bytes per commit batch (4 MiB)
	SegmentSize      int64         // WAL segment size (64 MiB)
	Shards           int           // shards per primitive (GOMAXPROCS)
	Snapshot         SnapshotConfig
	Recovery         RecoveryOptions
	Logger           *slog.Logger     // nil: discard
	Retention        RetentionOptions // ended runs deleted by the database itself (none)
	History          HistoryOptions   // how much run history read back from the log is cached
	Primitives       []Primitive      // extra primitives, registered after the built-in ones
	Search           SearchOptions    // scoring, fusion, and which primitives keep an index (none)

	// FS is the filesystem every file operation goes through; nil means the operating
	// system's, creating with FileMode. It is the seam tests use to simulate crashes and
	// inject I/O errors; see FS.
	FS FS

	// FileMode is the permission bits of every file and directory the database creates
	// (0600): files get FileMode, directories FileMode plus the execute (search) bit of each
	// class that can read, so 0600 gives 0700 and 0640 (a group that reads backups, say)
	// gives 0750. Private is the default because agent memory holds conversations, tool
	// outputs and credentials. It applies to the directory given to Open and any parents
	// Open creates, wal/, snapshots/, the quarantine directories, log segments, snapshot
	// files and what recovery copies into quarantine, and LOCK. The process umask still
	// takes bits away, as for any file. The database never changes a mode: existing files
	// and directories keep theirs, a FileMode changed between Opens applies only to what is
	// created afterwards, and a file the database reuses (a recycled snapshot file, a segment
	// moved into quarantine) keeps the mode it has. Open rejects a mode with bits outside
	// 0777, or without owner read and write, with ErrInvalidArgument. With FS set, FileMode
	// is checked but unused: the FS chooses the modes of what it creates.
	FileMode os.FileMode

	// UpdateAttempts is how many times Update runs its function before it gives up on
	// conflicts and returns the last one (10).
	UpdateAttempts int
}

// DefaultOptions returns the defaults: Strict durability and the values listed on Options.
func DefaultOptions() *Options {
	return &Options{
		Durability:       Strict,
		FlushInterval:    100 * time.Millisecond,
		MaxUnsyncedBytes: 4 << 20,
		MaxBatchBytes:    4 << 20,
		SegmentSize:      64 << 20,
		Shards:           runtime.GOMAXPROCS(0),
		Snapshot: SnapshotConfig{
			WALSizeThreshold: 100 << 20,
			Interval:         30 * time.Minute,
			RetentionCount:   2,
			OnClose:          true,
			DutyCycle:        0.2,
		},
		Recovery:       RecoveryOptions{Mode: PointInTime, MaxCorruptEntries: 10},
		History:        HistoryOptions{CacheBytes: defaultHistoryCache},
		UpdateAttempts: 10,
	}
}

// resolve returns a copy of o with zero fields defaulted, or ErrInvalidArgument.
func (o *Options) resolve() (Options, error) {
	if o == nil {
		o = DefaultOptions()
	}
	r, d := *o, DefaultOptions()
	if r.Durability < Strict || r.Durability > InMemory {
		return r, dberr.Invalid("unknown durability %d", r.Durability)
	}
	if r.Recovery.Mode < PointInTime || r.Recovery.Mode > FailOnCorruption {
		return r, dberr.Invalid("unknown recovery mode %d", r.Recovery.Mode)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"FlushInterval", int64(r.FlushInterval)}, {"MaxUnsyncedBytes", r.MaxUnsyncedBytes},
		{"MinSyncInterval", int64(r.MinSyncInterval)}, {"MaxBatchBytes", int64(r.MaxBatchBytes)},
		{"SegmentSize", r.SegmentSize}, {"Shards", int64(r.Shards)},
		{"Snapshot.WALSizeThreshold", r.Snapshot.WALSizeThreshold},
		{"Snapshot.Interval", int64(r.Snapshot.Interval)},
		{"Snapshot.RetentionCount", int64(r.Snapshot.RetentionCount)},
		{"Recovery.MaxCorruptEntries", int64(r.Recovery.MaxCorruptEntries)},
		{"Retention.EndedRunTTL", int64(r.Retention.EndedRunTTL)},
		{"Retention.MaxEndedRuns", int64(r.Retention.MaxEndedRuns)},
		{"Retention.KeepSteps", int64(r.Retention.KeepSteps)},
		{"History.CacheBytes", r.History.CacheBytes},
		{"UpdateAttempts", int64(r.UpdateAttempts)},
	} {
		if f.v < 0 {
			return r, dberr.Invalid("%s is negative (%d)", f.name, f.v)
		}
	}
	if d := r.Snapshot.DutyCycle; d < 0 || d > 1 || d != d {
		return r, dberr.Invalid("Snapshot.DutyCycle is %v, not in (0, 1]", d)
	}
	if p := r.Snapshot.Priority; p < SnapshotNormalPriority || p > SnapshotIdlePriority {
		return r, dberr.Invalid("unknown snapshot priority %d", p)
	}
	if m := r.FileMode; m&^os.ModePerm != 0 || (m != 0 && m&0o600 != 0o600) {
		return r, dberr.Invalid("FileMode is %#o: want permission bits (0777) only, owner read and write included", uint32(m))
	}
	if r.Shards > maxShards {
		return r, dberr.Invalid("Shards is %d, at most %d", r.Shards, maxShards)
	}
	fill(&r.FlushInterval, d.FlushInterval)
	fill(&r.MaxUnsyncedBytes, d.MaxUnsyncedBytes)
	fill(&r.MaxBatchBytes, d.MaxBatchBytes)
	fill(&r.SegmentSize, d.SegmentSize)
	fill(&r.Shards, d.Shards)
	fill(&r.Snapshot.WALSizeThreshold, d.Snapshot.WALSizeThreshold)
	fill(&r.Snapshot.Interval, d.Snapshot.Interval)
	fill(&r.Snapshot.RetentionCount, d.Snapshot.RetentionCount)
	fill(&r.Snapshot.DutyCycle, d.Snapshot.DutyCycle)
	fill(&r.Recovery.MaxCorruptEntries, d.Recovery.MaxCorruptEntries)
	fill(&r.UpdateAttempts, d.UpdateAttempts)
	fill(&r.History.CacheBytes, d.History.CacheBytes)
	fill(&r.FileMode, vfs.PrivateFileMode)
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	r.Primitives = append([]Primitive(nil), o.Primitives...)
	if err := checkSearchKinds("Search.Index", r.Search.Index); err != nil {
		return r, err
	}
	r.Search.Index = append([]PrimitiveKind(nil), o.Search.Index...)
	return r, nil
}

const maxShards = 1024

func fill[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// FS is a filesystem: the few operations the log, the snapshots and the directory lock need.
// Implement it to put a database somewhere else than the operating system's filesystem, or to
// simulate crashes and I/O errors in tests. Its contract, method by method, is what durability
// rests on: Sync makes a file's written data durable and nothing else; SyncDir makes a
// directory's entries (creations, renames, removals) durable and nothing else; Rename is atomic;
// Lock excludes every other holder, in this process too, failing with an error that wraps
// ErrFSLocked. The modes of the files and directories it creates (Create, MkdirAll, Lock) are
// the FS's to choose; Options.FileMode sets them for the operating system's filesystem only.
type FS interface {
	// Create creates or truncates the named file for reading and writing. A new file's name is
	// durable only after SyncDir of its directory; the truncation is data (durable after Sync).
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing without truncating it.
	OpenReadWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname; durable after SyncDir of newname's
	// directory.
	Rename(oldname, newname string) error
	// Remove deletes a file or an empty directory; durable after SyncDir.
	Remove(name string) error
	// MkdirAll creates a directory and any missing parents; each is durable after SyncDir of
	// its parent.
	MkdirAll(dir string) error
	// List returns the sorted names (not paths) of dir's entries.
	List(dir string) ([]string, error)
	// Stat returns the size of the named file.
	Stat(name string) (size int64, err error)
	// ModTime returns a value that changes whenever the file's content does (compared for
	// equality only).
	ModTime(name string) (time.Time, error)
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if needed; closing the
	// returned Closer releases it.
	Lock(name string) (io.Closer, error)
	// LockShared takes a shared lock on the existing named file (OpenReadOnly): it excludes
	// Lock's holders, not other LockShared holders.
	LockShared(name string) (io.Closer, error)
}

// File is an open file of an FS: io.Reader, io.ReaderAt, io.Writer, io.Closer, Seek,
// Truncate(size int64) error (durable after Sync), and Sync() error, which makes the data
// written durable (fdatasync), not the file's name.
type File = vfs.File

// The engine's own filesystem seam is the same interface.
var _ vfs.FS = FS(nil)

// ErrFSLocked is what an FS's Lock wraps when another holder has the lock; Open then fails
// with ErrLocked.
var ErrFSLocked = vfs.ErrLocked
