// Package snapshotter writes, reads and manages snapshot files: the file format
// (format.go), the files in the snapshot directory and the retirement of WAL segments they make
// unnecessary (files.go), and the snapshotter actor, the one goroutine that takes snapshots.
//
// Taking a snapshot: the actor pins the newest published cut (version V, LSN L) so
// that trimming keeps every version a reader at V sees, asks every shard actor by message for
// its frozen view at V (O(1) each), makes the WAL durable up to L, and streams the views into
// snapshot_<µs>.tmp while commits go on. Then fsync, rename to .dat, fsync the directory: only
// now does the snapshot exist. Retention keeps the newest Retention valid snapshots (at least
// two) and retires the WAL segments wholly below the oldest one kept. No writer waits for any
// of it; the cost is the old versions kept alive while the file is written, O(keys changed
// meanwhile).
//
// Only files that validated whole count (Catalog): a file with a snapshot's name that does not
// validate is moved to quarantine/ and logged, never counted and never deleted. With two valid
// snapshots kept and the log retired only below the older, any one damaged file is survivable.
//
// A snapshot retention lets go is not removed but kept as recycled.old, and the next snapshot is
// written over it and truncated to its size (recycledName says why: removing and allocating
// files the size of the state stalled the log's syncs). Only one is kept; others are removed.
// A decision of our own: the file is not a snapshot (recovery and ListSnapshots never see
// it), and DeleteSnapshot removes a file outright.
//
// Triggers: Snapshot (an explicit request), WAL bytes since the last snapshot reaching the
// threshold (Wrote), the interval, and the database's Close, which calls Closing.
// Triggered snapshots that fail are logged and retried at the next trigger; a trigger with no
// commit since the last snapshot does nothing.
//
// Encoding the state keeps a core busy for hundreds of milliseconds, and commits made meanwhile
// must not pay for it. By default the snapshot paces itself while commits are made
// (Config.DutyCycle, pacer); it can also be written from a thread of its own at a lowered
// priority (Config.Priority; atPriority says what each measured, and what a lowered thread
// risks on a busy machine).
//
// Decisions of our own: DeleteSnapshot refuses, with ErrInvalidArgument, to delete a snapshot
// the state could not be rebuilt without (the log has been retired and no other valid snapshot
// has its cut in what is left); snapshot file names are unique even when two are taken within
// one µs (the later timestamp is bumped); Check, after Open, takes a snapshot at once if fewer
// than two valid snapshots have their cut in the log.
package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
)

// View is one primitive's frozen state: a view per shard.
type View struct {
	SectionID uint8
	Shards    []extension.FrozenView
}

// Source is the engine as the snapshotter sees it.
type Source interface {
	// PinCut pins the newest published cut and returns its version and the LSN just past its
	// last batch. Every commit ≤ version is applied and in the log before that LSN.
	PinCut() (version, lsn uint64)
	// Unpin releases a version pinned by PinCut.
	Unpin(version uint64)
	// Freeze asks every shard actor for its view at a published version.
	Freeze(ctx context.Context, version uint64) ([]View, error)
	// SyncLog makes the log durable up to at least the newest cut's LSN.
	SyncLog() error
}

// Config describes the snapshotter.
type Config struct {
	FS           vfs.FS
	Dir          string   // the snapshots/ directory
	Catalog      *Catalog // of Dir; nil: a new one
	WALDir       string   // the wal/ directory, for retirement
	Source       Source
	Retention    int           // valid snapshots kept; fewer than 2 keeps 2 (see retain)
	Interval     time.Duration // 0: no interval trigger
	WALThreshold int64         // WAL bytes since the last snapshot that trigger one; 0: never
	Logger       *slog.Logger
	// Priority is the CPU priority snapshot files are written at (Normal, the zero value, by
	// default; see atPriority).
	Priority Priority
	// DutyCycle is the share of the time a snapshot may spend writing while commits are being
	// made (see pacer); 0 or ≥ 1: it never pauses.
	DutyCycle float64
	// OnSnapshot is called after each snapshot is durable (statistics), with how long it took.
	OnSnapshot func(info Info, took time.Duration)
	// History returns the ranges of the log below LSN below that the runs' history still
	// reads: retirement keeps them (see commitlog.RetireBelow). Nil: the log below the
	// snapshots' cuts is never read. Called on the actor's goroutine.
	History func(below uint64) []commitlog.Range
	// OnRetire is called after a retirement removed or moved files of the log, so that its
	// readers let go of them.
	OnRetire func()
}

// Snapshotter is the actor. Its methods are safe for concurrent use.
type Snapshotter struct {
	cfg      Config
	cat      *Catalog
	requests chan request
	trigger  chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	unsnap   atomic.Int64 // WAL bytes written since the last snapshot started

	// Actor-owned.
	lastTS      int64
	lastVersion uint64
	taken       bool
}

type request struct {
	del    *Info  // nil: take a snapshot (or check, or back up)
	check  bool   // check the snapshots (see Check); nobody waits for the reply
	backup string // back up into this directory (see Backup)
	prio   Priority
	reply  chan result
}

type result struct {
	info Info
	err  error
}

// ErrStopped is returned by requests made after Stop.
var ErrStopped = errors.New("snapshotter: stopped")

// Start creates the snapshot directory if needed and starts the actor. It takes snapshots on
// request at once, but of its own (Interval, WALThreshold) only after the first Check: the
// database calls it once it serves.
func Start(cfg Config) (*Snapshotter, error) {
	if err := cfg.FS.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("snapshotter: create %s: %w", cfg.Dir, err)
	}
	if err := cfg.FS.SyncDir(filepath.Dir(cfg.Dir)); err != nil {
		return nil, fmt.Errorf("snapshotter: sync the parent of %s: %w", cfg.Dir, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Catalog == nil {
		cfg.Catalog = NewCatalog(cfg.FS, cfg.Dir)
	}
	s := &Snapshotter{cfg: cfg, cat: cfg.Catalog, requests: make(chan request), trigger: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	// Names only, not validated: a new snapshot's name must sort after every file there. (At
	// Open, recovery has moved aside every file newer than the snapshot it loaded.)
	s.lastTS, _ = s.cat.NewestName()
	go s.run()
	return s, nil
}

// Snapshot takes a snapshot now and returns it once it is durable.
func (s *Snapshotter) Snapshot(ctx context.Context) (Info, error) {
	return s.ask(ctx, request{prio: s.cfg.Priority})
}

// Closing takes the snapshot of a closing database: Snapshot, but never at Idle priority,
// because Close waits for it and no commit is left to give way to (it is paced only while the
// commits already handed over finish: Close refuses new ones first).
func (s *Snapshotter) Closing(ctx context.Context) (Info, error) {
	p := s.cfg.Priority
	if p == Idle {
		p = Lowered
	}
	return s.ask(ctx, request{prio: p})
}

// Check asks the actor to validate every snapshot file, move aside those that do not validate,
// and take a snapshot if fewer than two valid ones have their cut in the log that is left (see
// retain for why two). It returns once the actor has the request, not when it is done: a
// request made after it is served after it. The database calls it once it serves commits
// after Open: recovery validated only the snapshot it loaded, and an older one that rotted
// meanwhile would otherwise go unnoticed until a second damaged file made the state
// unrecoverable. The first Check also starts the snapshots the actor takes of its own.
func (s *Snapshotter) Check() {
	select {
	case s.requests <- request{check: true, reply: make(chan result, 1)}:
	case <-s.done:
	}
}

// Delete deletes a snapshot file (see the package doc for the one it refuses).
func (s *Snapshotter) Delete(ctx context.Context, info Info) error {
	_, err := s.ask(ctx, request{del: &info})
	return err
}

func (s *Snapshotter) ask(ctx context.Context, req request) (Info, error) {
	req.reply = make(chan result, 1)
	select {
	case s.requests <- req:
	case <-s.done:
		return Info{}, ErrStopped
	case <-ctx.Done():
		return Info{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.info, r.err
	case <-ctx.Done():
		return Info{}, ctx.Err()
	}
}

// Wrote counts n bytes written to the WAL; past the threshold it triggers a snapshot, and a
// snapshot being written paces itself while the count moves. Called from the log's goroutine:
// it never blocks.
func (s *Snapshotter) Wrote(n int) {
	if t, written := s.cfg.WALThreshold, s.unsnap.Add(int64(n)); t > 0 && written >= t {
		select {
		case s.trigger <- struct{}{}:
		default: // one is pending already
		}
	}
}

// Stop stops the actor after the snapshot in progress, if any, and waits for it.
func (s *Snapshotter) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Snapshotter) run() {
	defer close(s.done)
	// No snapshot of its own before the first Check: the database calls it once it serves, and
	// a snapshot needs the log it syncs and the cut it pins. Until then triggers wait.
	var tick <-chan time.Time
	var trigger <-chan struct{}
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-s.stop:
			return
		case req := <-s.requests:
			var r result
			switch {
			case req.check:
				if trigger == nil && s.cfg.Interval > 0 {
					ticker = time.NewTicker(s.cfg.Interval)
					tick = ticker.C
				}
				trigger = s.trigger
				if r.err = s.check(); r.err != nil {
					s.cfg.Logger.Error("inmem: checking the snapshots failed", "err", r.err)
				}
			case req.del != nil:
				r.err = s.delete(*req.del)
			case req.backup != "":
				r.info, r.err = s.backup(req.backup, req.prio)
			default:
				r.info, r.err = s.take(false, req.prio)
			}
			req.reply <- r
		case <-trigger:
			s.triggered()
		case <-tick:
			s.triggered()
		}
	}
}

func (s *Snapshotter) triggered() {
	if _, err := s.take(true, s.cfg.Priority); err != nil {
		s.cfg.Logger.Error("inmem: snapshot failed", "err", err)
	}
}

// take writes one snapshot at priority p. With ifChanged, a cut no newer than the last
// snapshot is skipped.
func (s *Snapshotter) take(ifChanged bool, p Priority) (Info, error) {
	src := s.cfg.Source
	version, lsn := src.PinCut()
	defer src.Unpin(version)
	if ifChanged && s.taken && version == s.lastVersion {
		return Info{}, nil
	}
	began := time.Now()
	s.unsnap.Store(0)
	views, err := src.Freeze(context.Background(), version)
	if err != nil {
		return Info{}, fmt.Errorf("snapshotter: freeze at version %d: %w", version, err)
	}
	// The snapshot must never be durable while the log before it is not: after a power loss
	// the log would end before wal_offset.
	if err := src.SyncLog(); err != nil {
		return Info{}, fmt.Errorf("snapshotter: sync the log: %w", err)
	}
	ts := max(time.Now().UnixMicro(), s.lastTS+1)
	h := Header{Timestamp: ts, WALOffset: lsn, TxCount: version}
	info := Info{Path: filepath.Join(s.cfg.Dir, fileName(ts, fileSuffix)), Header: h}
	if err := s.writeFile(info, views, p); err != nil {
		return Info{}, err
	}
	s.lastTS, s.lastVersion, s.taken = ts, version, true
	if err := s.cat.Trust(info); err != nil {
		return info, err
	}
	size, _ := s.cfg.FS.Stat(info.Path)
	s.cfg.Logger.Info("inmem: snapshot written", "file", filepath.Base(info.Path), "version", version,
		"wal_offset", lsn, "bytes", size, "took", time.Since(began))
	if s.cfg.OnSnapshot != nil {
		s.cfg.OnSnapshot(info, time.Since(began))
	}
	if err := s.retain(); err != nil {
		return info, err
	}
	return info, nil
}

// writeFile writes the snapshot to its .tmp name at priority p, syncs it, renames it and syncs
// the directory.
func (s *Snapshotter) writeFile(info Info, views []View, p Priority) (err error) {
	fs, tmp := s.cfg.FS, filepath.Join(s.cfg.Dir, fileName(info.Timestamp, tmpSuffix))
	f, err := s.openTemporary(tmp)
	if err != nil {
		return fmt.Errorf("snapshotter: create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = fs.Remove(tmp) // best effort: a stray .tmp is removed at the next Open anyway
		}
	}()
	write := func() error {
		var dst file = f
		if d := s.cfg.DutyCycle; d > 0 && d < 1 {
			dst = pacedFile{File: f, p: newPacer(d, s.unsnap.Load)}
		}
		size, err := Write(dst, info.Header, sectionWriters(views))
		if err != nil {
			return fmt.Errorf("snapshotter: write %s: %w", tmp, err)
		}
		if err := f.Truncate(size); err != nil { // a recycled file may be longer
			return fmt.Errorf("snapshotter: truncate %s: %w", tmp, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("snapshotter: sync %s: %w", tmp, err)
		}
		return nil
	}
	if err = atPriority(p, write); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshotter: close %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, info.Path); err != nil {
		return fmt.Errorf("snapshotter: rename %s: %w", tmp, err)
	}
	if err := fs.SyncDir(s.cfg.Dir); err != nil {
		return fmt.Errorf("snapshotter: sync %s: %w", s.cfg.Dir, err)
	}
	return nil
}

// openTemporary opens the file a snapshot is written into under the name tmp: the recycled
// file, renamed, if there is one (see recycledName), else a new file.
func (s *Snapshotter) openTemporary(tmp string) (vfs.File, error) {
	fs := s.cfg.FS
	recycled, ok := s.recycled()
	if !ok {
		return fs.Create(tmp)
	}
	if err := fs.Rename(recycled, tmp); err != nil {
		return nil, err
	}
	return fs.OpenReadWrite(tmp)
}

func sectionWriters(views []View) []SectionWriter {
	out := make([]SectionWriter, len(views))
	for i, v := range views {
		out[i] = SectionWriter{ID: v.SectionID, WriteTo: func(w io.Writer) error {
			for _, sh := range v.Shards {
				if err := sh.WriteSection(w); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return out
}

// retain keeps the newest valid snapshots, quarantines files with snapshot names that do not
// validate, deletes stray .tmp files, and retires the WAL below the oldest snapshot kept.
//
// Any one damaged file must be survivable: if the newest snapshot rots, recovery falls back to
// the one before it, and the log must still reach back to that one's cut. So at least two valid
// snapshots are kept whatever Retention says, and nothing is retired while fewer than two exist:
// until then the log alone can rebuild the state.
func (s *Snapshotter) retain() error {
	valid, err := s.scan()
	if err != nil {
		return err
	}
	keep := min(len(valid), max(s.cfg.Retention, 2))
	for _, old := range valid[keep:] {
		if err := s.discard(old.Path); err != nil {
			return err
		}
	}
	if _, err := RemoveTemporary(s.cfg.FS, s.cfg.Dir); err != nil {
		return err
	}
	// Retire only below snapshots whose removal of the others is durable behind them.
	if err := s.cfg.FS.SyncDir(s.cfg.Dir); err != nil {
		return err
	}
	if keep < 2 {
		return nil
	}
	below := valid[0].WALOffset
	for _, in := range valid[:keep] {
		below = min(below, in.WALOffset)
	}
	done, err := RetireSegments(s.cfg.FS, s.cfg.WALDir, below, valid[0].WALOffset, s.history(below))
	if done.Any() && s.cfg.OnRetire != nil {
		s.cfg.OnRetire()
	}
	return err
}

// history returns the ranges below LSN below that the runs' history reads.
//
// Only the live history counts, not that of the older snapshots kept: recovery from an older
// snapshot replays the log after its cut, deletions and compactions included, so the state it
// rebuilds needs no step the live state has let go of. A reader of history pins its snapshot,
// which keeps the journals it reads among the live ones.
func (s *Snapshotter) history(below uint64) []commitlog.Range {
	if s.cfg.History == nil {
		return nil
	}
	return s.cfg.History(below)
}

// scan returns the valid snapshots, newest first, after moving every file with a snapshot's
// name that does not validate into the quarantine directory (logged, never deleted).
func (s *Snapshotter) scan() ([]Info, error) {
	valid, rejected, err := s.cat.Scan()
	if err != nil {
		return nil, err
	}
	for _, r := range rejected {
		to, err := s.cat.Quarantine(r.Path)
		if err != nil {
			return nil, err
		}
		s.cfg.Logger.Warn("inmem: a file with a snapshot's name is not a valid snapshot; moved aside",
			"file", r.Path, "to", to, "err", r.Err)
	}
	return valid, nil
}

// check validates every snapshot file and restores the redundancy retain keeps: if fewer than
// two valid snapshots have their cut in the log that is left, and the log does not reach back
// to its beginning, it takes a snapshot.
func (s *Snapshotter) check() error {
	valid, err := s.scan()
	if err != nil {
		return err
	}
	bases, err := commitlog.ListSegments(s.cfg.FS, s.cfg.WALDir)
	if err != nil || len(bases) == 0 || bases[0] == 0 {
		return err
	}
	usable := 0
	for _, in := range valid {
		if in.WALOffset >= bases[0] {
			usable++
		}
	}
	if usable >= 2 {
		return nil
	}
	s.cfg.Logger.Warn("inmem: fewer than two valid snapshots; taking one", "valid", usable)
	_, err = s.take(false, s.cfg.Priority)
	return err
}

// recycled returns the path of the recycled file and whether there is one (a file that cannot
// be looked at counts as none: the next snapshot creates a new file, retention replaces it).
func (s *Snapshotter) recycled() (path string, ok bool) {
	path = filepath.Join(s.cfg.Dir, recycledName)
	_, err := s.cfg.FS.Stat(path)
	return path, err == nil
}

// discard makes a snapshot no longer kept the recycled file (see recycledName), unless there
// is one already: then it removes it.
func (s *Snapshotter) discard(path string) error {
	fs := s.cfg.FS
	if recycled, ok := s.recycled(); !ok {
		if err := fs.Rename(path, recycled); err != nil {
			return fmt.Errorf("snapshotter: recycle %s: %w", path, err)
		}
		return nil
	}
	if err := fs.Remove(path); err != nil {
		return fmt.Errorf("snapshotter: remove %s: %w", path, err)
	}
	return nil
}

// delete removes one snapshot file, unless the state could not be rebuilt without it: the log
// has been retired and no other valid snapshot has its cut inside what is left of the log.
func (s *Snapshotter) delete(info Info) error {
	fs := s.cfg.FS
	valid, err := s.scan()
	if err != nil {
		return err
	}
	found, rebuildable := false, false
	bases, err := commitlog.ListSegments(fs, s.cfg.WALDir)
	if err != nil {
		return err
	}
	for _, in := range valid {
		if in.Path == info.Path {
			found = true
		} else if len(bases) == 0 || in.WALOffset >= bases[0] {
			rebuildable = true
		}
	}
	if !found {
		return fmt.Errorf("%w: no valid snapshot %s", dberr.ErrNotFound, info.Path)
	}
	if !rebuildable && len(bases) > 0 && bases[0] > 0 {
		return dberr.Invalid("snapshot %s is the only valid one whose cut the log still reaches (it "+
			"starts at LSN %d): without it the state cannot be rebuilt", info.Path, bases[0])
	}
	if err := fs.Remove(info.Path); err != nil {
		return fmt.Errorf("snapshotter: remove %s: %w", info.Path, err)
	}
	return fs.SyncDir(s.cfg.Dir)
}

// List returns the valid snapshots, newest first (see Catalog).
func (s *Snapshotter) List() ([]Info, error) {
	valid, _, err := s.cat.Scan()
	return valid, err
}
