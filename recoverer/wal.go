// Package recoverer rebuilds the database's state at Open: it streams the write-ahead log, groups
// entries into transactions by tx_id, and hands every committed transaction, in commit order, to
// the engine, which fans its entries out to the shard actors by entry-type range exactly as it does
// for live commits. Recovery never reads the clock, draws randomness or re-runs user logic: it
// applies recorded results, so the same files always recover to the same state.
//
// recover.go is the whole of it: snapshot discovery with fallback, then the WAL half (wal.go).
//
// Commit versions are dense: a commit whose version skips one that the log does not account for
// (recovered, aborted, or begun without a marker) is damage that no checksum saw, handled by
// the recovery mode like any other (WALResult.VersionGap).
//
// A torn tail with stranded entries (a lost write followed by valid entries, see commitlog) ends
// the log in every mode; the bytes after the cut are copied to the quarantine directory first.
//
// LSNs never restart: when the segment the replay starts in has a damaged header, it is set
// aside whole and the log continues at the start LSN (a snapshot's cut) in a new segment; and
// whenever part of the log is set aside, snapshots whose cut lies in that part are moved aside
// too (WALConfig.SetAsideAbove).
//
// Where appends continue: at the end of the last complete transaction, not at the last valid
// entry. Entries of a transaction whose commit marker never reached the disk are cut off with
// the torn tail; otherwise a new commit, which reuses the lost transaction's version as its
// tx_id, would be grouped with them at the next recovery.
package recoverer

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/quarantine"
	"github.com/inmemdb/inmem/internal/vfs"
)

// Mode says what to do with a damaged entry that is not a torn tail.
type Mode int

const (
	// PointInTime stops at the last intact transaction before the damage and moves the rest of
	// the log to wal/quarantine/ (never deleted). The state is a prefix of the commit order.
	PointInTime Mode = iota
	// SkipCorrupt skips damaged entries and every transaction they touch, and goes on, up to
	// MaxCorrupt damaged entries. The result may not be a prefix: Consistent says so.
	SkipCorrupt
	// FailOnCorruption fails with ErrCorruption, naming the segment and LSN; nothing changes.
	FailOnCorruption
)

// QuarantineDir is where recovery moves what it cannot use, relative to the WAL dir.
const QuarantineDir = quarantine.Dir

// Txn is one committed transaction read back from the log.
type Txn struct {
	Version uint64
	Run     extension.RunID
	Entries []commitlog.Entry
}

// WALConfig describes one WAL replay.
type WALConfig struct {
	FS         vfs.FS
	Dir        string // the wal/ directory
	From       uint64 // LSN to start at (a snapshot's wal_offset, or 0)
	After      uint64 // skip transactions at or below this version (a snapshot's tx_count)
	Mode       Mode
	MaxCorrupt int
	Registry   *extension.Registry // entry types no primitive owns are skipped and counted
	Apply      func(Txn) error     // called for each committed transaction, in commit order
	// SetAsideAbove, if set, is called when recovery set part of the log aside (PointInTime
	// damage, a torn tail with stranded entries) with the LSN where the log now continues. It
	// moves aside every snapshot whose cut lies above it (such a snapshot names log that is
	// gone, and new entries will reuse its LSNs) and returns their new paths.
	SetAsideAbove func(lsn uint64) ([]string, error)
	// ReadOnly: write nothing. Replay stops where PointInTime would cut the log, but nothing is
	// moved, truncated or created; the result says where the log would continue all the same.
	ReadOnly bool
}

// WALResult reports a replay and where the log continues.
type WALResult struct {
	EntriesReplayed       int
	TransactionsRecovered int
	TransactionsDiscarded int // no marker, aborted, or touched by damage
	CorruptEntries        int
	UnknownEntries        int
	TornTailBytes         int64    // bytes of a torn write cut off the end (the zeros after it excluded)
	PreallocatedBytes     int64    // zeros cut off the end after the torn write: preallocated, never written
	Quarantined           []string // paths moved to (or written into) the quarantine directory
	Consistent            bool     // false if SkipCorrupt skipped a transaction
	LastVersion           uint64   // newest transaction recovered (or After)
	// VersionGap: the log went on past a missing commit version (the first version after the
	// gap). Versions are dense, so a gap is damage: PointInTime stops before it.
	VersionGap uint64

	// Where appends continue: the last segment and the file offset after its last complete
	// transaction. HasSegment is false for an empty log.
	HasSegment bool
	TailBase   uint64
	TailOffset int64
}

// replay is the state of one WAL replay.
type replay struct {
	cfg       WALConfig
	r         *commitlog.Reader
	res       WALResult
	open      map[uint64][]commitlog.Entry // entries of transactions without a marker yet
	discarded map[uint64]bool              // transactions touched by skipped damage
	cutBase   uint64                       // end of the last complete transaction: segment …
	cutOff    int64                        // … and file offset
	torn      *commitlog.TornTailError     // the torn tail, if the log ended in one
	setAside  bool                         // part of the log was moved to the quarantine
	aborted   uint64                       // the newest version an abort marker discarded
	// afterDamage is set when SkipCorrupt resumes past damage that no open transaction
	// explains: the damaged bytes were the first entry of the transaction that follows.
	afterDamage bool
}

// ReplayWAL streams the log in cfg.Dir from cfg.From and applies every committed transaction.
func ReplayWAL(cfg WALConfig) (WALResult, error) {
	r, err := commitlog.NewReader(cfg.FS, cfg.Dir, cfg.From)
	if err != nil {
		return WALResult{}, fmt.Errorf("%w: open the log at LSN %d: %w", dberr.ErrCorruption, cfg.From, err)
	}
	defer r.Close()
	p := &replay{cfg: cfg, r: r, open: map[uint64][]commitlog.Entry{}, discarded: map[uint64]bool{}}
	p.res.Consistent = true
	p.res.LastVersion = cfg.After
	p.cutBase, p.cutOff = r.Position()
	if err := p.run(); err != nil {
		return p.res, err
	}
	// Transactions left open had no marker; discarded ones whose marker was lost to damage were
	// never counted at a marker.
	for v := range p.open {
		if !p.discarded[v] {
			p.res.TransactionsDiscarded++
		}
	}
	p.res.TransactionsDiscarded += len(p.discarded)
	return p.res, p.continueAt()
}

// continueAt sets where appends continue (WALResult's tail): the last segment, after its last
// complete transaction.
func (p *replay) continueAt() error {
	bases, err := commitlog.ListSegments(p.cfg.FS, p.cfg.Dir)
	if err != nil || len(bases) == 0 {
		return err
	}
	p.res.HasSegment = true
	p.res.TailBase, p.res.TailOffset = bases[len(bases)-1], commitlog.HeaderSize
	switch {
	case p.torn != nil && p.torn.Base == p.res.TailBase && p.torn.ValidEnd < commitlog.HeaderSize:
		// A crash while the last segment was created tore its header: it holds nothing and is
		// written afresh (an offset below the header size says so).
		p.res.TailOffset = p.torn.ValidEnd
	case p.cutBase == p.res.TailBase && p.cutOff == 0 && p.cfg.ReadOnly:
		p.res.TailOffset = 0
	case p.cutBase == p.res.TailBase && p.cutOff == 0:
		// Set aside with its damaged header. LSNs never restart: the log continues at the cut
		// the snapshot named, which may lie inside the segment.
		if err := p.restartAt(max(p.cfg.From, p.res.TailBase)); err != nil {
			return err
		}
	case p.cutBase == p.res.TailBase:
		p.res.TailOffset = max(p.cutOff, commitlog.HeaderSize)
	}
	if !p.setAside || p.cfg.SetAsideAbove == nil {
		return nil
	}
	moved, err := p.cfg.SetAsideAbove(p.res.TailBase + uint64(max(p.res.TailOffset-commitlog.HeaderSize, 0)))
	p.res.Quarantined = append(p.res.Quarantined, moved...)
	return err
}

// restartAt continues the log at lsn after its last segment was emptied into the quarantine
// (its header could not be trusted). At the segment's own base it is written afresh in place;
// above it, a new segment is created at lsn first, durably, and the empty file removed after,
// so that a crash in between still finds a segment where the log continues.
func (p *replay) restartAt(lsn uint64) error {
	old := p.res.TailBase
	p.res.TailBase, p.res.TailOffset = lsn, 0
	if lsn == old {
		return nil
	}
	seg, err := commitlog.CreateSegment(p.cfg.FS, p.cfg.Dir, lsn)
	if err != nil {
		return err
	}
	if err := seg.Close(); err != nil {
		return err
	}
	p.res.TailOffset = commitlog.HeaderSize
	if err := p.cfg.FS.Remove(filepath.Join(p.cfg.Dir, commitlog.SegmentName(old))); err != nil {
		return err
	}
	return p.cfg.FS.SyncDir(p.cfg.Dir)
}

// run reads to the end of the log, or to damage the mode cannot get past.
func (p *replay) run() error {
	for {
		e, lsn, err := p.r.Next()
		var torn *commitlog.TornTailError
		var corrupt *commitlog.CorruptionError
		switch {
		case err == nil:
			e.LSN = lsn
			if stop, err := p.entry(e); stop || err != nil {
				return err
			}
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &torn):
			p.res.TornTailBytes, p.res.PreallocatedBytes = torn.Dropped-torn.Zeros, torn.Zeros
			p.torn = torn
			if torn.Stranded {
				// Valid entries after a lost write were never synced, so no commit among them
				// was acknowledged as durable; the log ends here in every mode, but the bytes
				// are kept aside: damage that zeroed a sector looks the same.
				return p.quarantine()
			}
		case errors.As(err, &corrupt):
			if stop, err := p.damage(corrupt); stop || err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: read the log at LSN %d: %w", dberr.ErrCorruption, lsn, err)
		}
	}
}

// entry handles one intact entry. It reports whether replay stops there.
func (p *replay) entry(e commitlog.Entry) (stop bool, err error) {
	if p.afterDamage {
		p.afterDamage = false
		if e.TxID != 0 && e.TxID > p.res.LastVersion {
			p.discarded[e.TxID] = true
		}
	}
	switch {
	case e.Type == commitlog.TypeTransactionCommit:
		return p.commit(e.TxID)
	case e.Type == commitlog.TypeTransactionAbort:
		delete(p.open, e.TxID)
		p.res.TransactionsDiscarded++
		p.aborted = max(p.aborted, e.TxID)
	case e.Type <= commitlog.CoreTypesHigh, e.TxID == 0:
		// Snapshot markers carry nothing to apply; other core types and non-transactional
		// entries have no writer yet: skipped and counted, for forward compatibility.
		if e.Type != commitlog.TypeSnapshotMarker {
			p.res.UnknownEntries++
		}
	default:
		if _, ok := p.cfg.Registry.Owner(e.Type); !ok {
			p.res.UnknownEntries++
			return false, nil
		}
		tx, ok := p.open[e.TxID]
		if !ok {
			tx = make([]commitlog.Entry, 0, 4) // one allocation for most transactions
		}
		p.open[e.TxID] = append(tx, e)
	}
	return false, nil
}

// commit applies the transaction whose marker was just read. It reports whether replay stops
// there (a version gap that the mode does not get past).
func (p *replay) commit(v uint64) (stop bool, err error) {
	if prev := p.accountedBelow(v); v > prev+1 && !p.discarded[v] {
		if stop, err := p.gap(v, prev); stop || err != nil {
			return stop, err
		}
	}
	entries := p.open[v] // none for an empty transaction, applied too: a version to publish
	delete(p.open, v)
	p.cutBase, p.cutOff = p.r.Position()
	switch {
	case p.discarded[v]:
		delete(p.discarded, v) // counted here, once
		p.res.TransactionsDiscarded++
		return false, nil
	case v <= p.res.LastVersion: // at or below the snapshot, or replayed already
		return false, nil
	}
	run, err := runOf(entries)
	if err != nil {
		return true, err
	}
	if err := p.cfg.Apply(Txn{Version: v, Run: run, Entries: entries}); err != nil {
		return true, err
	}
	p.res.EntriesReplayed += len(entries)
	p.res.TransactionsRecovered++
	p.res.LastVersion = v
	return false, nil
}

// accountedBelow returns the newest version below v that the log accounts for: recovered (or
// in the snapshot), discarded by an abort marker, or begun by entries whose transaction never
// got a marker (a transaction's entries are contiguous, so it never will).
func (p *replay) accountedBelow(v uint64) uint64 {
	prev := p.res.LastVersion
	if p.aborted < v {
		prev = max(prev, p.aborted)
	}
	for w := range p.open {
		if w < v {
			prev = max(prev, w)
		}
	}
	return prev
}

// gap handles commit version v read when prev+1 was due. Versions are assigned densely
// and logged in order, so versions missing from an intact log mean a commit was lost where no
// checksum saw it (or a bug): never accepted silently. PointInTime keeps the prefix before v;
// FailOnCorruption refuses; SkipCorrupt goes on, counting it as damage unless damage it
// already skipped explains the missing versions.
func (p *replay) gap(v, prev uint64) (stop bool, err error) {
	if p.res.VersionGap == 0 {
		p.res.VersionGap = v
	}
	what := fmt.Errorf("%w: commit version %d follows %d: versions %d to %d are missing (LSN %d)",
		dberr.ErrCorruption, v, prev, prev+1, v-1, p.r.EndLSN())
	switch p.cfg.Mode {
	case FailOnCorruption:
		return true, what
	case SkipCorrupt:
		p.res.Consistent = false
		if p.res.CorruptEntries > 0 {
			return false, nil
		}
		p.res.CorruptEntries++
		return false, nil
	default:
		p.res.CorruptEntries++
		return true, p.quarantine()
	}
}

// runOf returns the run of a transaction: every payload starts with it, and all must agree.
func runOf(entries []commitlog.Entry) (extension.RunID, error) {
	var run extension.RunID
	for i, e := range entries {
		if len(e.Payload) < commitlog.RunIDSize {
			return run, fmt.Errorf("%w: tx %d: entry type %#02x has no run id", dberr.ErrCorruption, e.TxID, e.Type)
		}
		var r extension.RunID
		copy(r[:], e.Payload)
		if i > 0 && r != run {
			return run, fmt.Errorf("%w: tx %d spans runs %s and %s", dberr.ErrCorruption, e.TxID, run, r)
		}
		run = r
	}
	return run, nil
}

// damage applies the recovery mode to corruption. It reports whether replay stops there.
func (p *replay) damage(c *commitlog.CorruptionError) (stop bool, err error) {
	switch p.cfg.Mode {
	case FailOnCorruption:
		return true, fmt.Errorf("%w: segment %s, LSN %d: %w", dberr.ErrCorruption, c.Segment, c.LSN, c.Reason)
	case SkipCorrupt:
		p.res.CorruptEntries++
		p.res.Consistent = false
		if p.res.CorruptEntries > p.cfg.MaxCorrupt {
			return true, fmt.Errorf("%w: %d damaged entries, the limit is %d (last: segment %s, LSN %d)",
				dberr.ErrTooManyCorruptEntries, p.res.CorruptEntries, p.cfg.MaxCorrupt, c.Segment, c.LSN)
		}
		// With a transaction open, the damaged entry is taken to be its next entry (or marker):
		// it is discarded. With none open, the damaged entry was the first of the transaction
		// that follows, which is discarded when its remaining entries are read. Damage that
		// spans entries of two transactions can still leave part of the second: SkipCorrupt
		// trades R3 for availability, and the result says so (Consistent = false).
		for v := range p.open {
			p.discarded[v] = true
		}
		p.afterDamage = len(p.open) == 0
		clear(p.open)
		if _, err := p.r.Resync(); err != nil {
			return true, err
		}
		return false, nil
	default:
		p.res.CorruptEntries++
		if c.Offset < commitlog.HeaderSize && c.Base == p.cutBase {
			// The segment's own header is damaged: nothing of it can be kept, not even the
			// header, and the segment is written afresh at the same base.
			p.cutOff = 0
		}
		return true, p.quarantine()
	}
}

// quarantine cuts the log at the end of the last complete transaction: the rest of that
// segment is copied into the quarantine directory and the segment truncated; every later
// segment is moved there whole. Nothing is deleted.
func (p *replay) quarantine() error {
	if p.cfg.ReadOnly {
		p.res.TransactionsDiscarded += len(p.open)
		clear(p.open)
		return nil // the prefix is what a reader sees; the files stay as they are
	}
	fs, dir := p.cfg.FS, p.cfg.Dir
	p.setAside = true
	qdir, err := quarantine.Prepare(fs, dir)
	if err != nil {
		return err
	}
	bases, err := commitlog.ListSegments(fs, dir)
	if err != nil {
		return err
	}
	for _, base := range bases {
		switch {
		case base == p.cutBase:
			if err := p.quarantineTail(base, qdir); err != nil {
				return err
			}
		case base > p.cutBase:
			name := commitlog.SegmentName(base)
			to, err := quarantine.FreshName(fs, filepath.Join(qdir, name))
			if err != nil {
				return err
			}
			if err := fs.Rename(filepath.Join(dir, name), to); err != nil {
				return err
			}
			p.res.Quarantined = append(p.res.Quarantined, to)
		}
	}
	if err := fs.SyncDir(qdir); err != nil {
		return err
	}
	p.res.TransactionsDiscarded += len(p.open)
	clear(p.open)
	return fs.SyncDir(dir)
}

// quarantineTail copies the segment's bytes past the cut into the quarantine directory, makes
// the copy durable, and only then truncates the segment.
func (p *replay) quarantineTail(base uint64, qdir string) error {
	fs := p.cfg.FS
	path := filepath.Join(p.cfg.Dir, commitlog.SegmentName(base))
	size, err := fs.Stat(path)
	if err != nil || size <= p.cutOff {
		return err
	}
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rest := make([]byte, size-p.cutOff)
	if _, err := f.ReadAt(rest, p.cutOff); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	to, err := quarantine.FreshName(fs, filepath.Join(qdir, fmt.Sprintf("%s.from-%d", commitlog.SegmentName(base), p.cutOff)))
	if err != nil {
		return err
	}
	q, err := fs.Create(to)
	if err != nil {
		return err
	}
	if _, err := q.Write(rest); err != nil {
		q.Close()
		return err
	}
	if err := errors.Join(q.Sync(), q.Close()); err != nil {
		return err
	}
	if err := fs.SyncDir(qdir); err != nil {
		return err
	}
	p.res.Quarantined = append(p.res.Quarantined, to)
	if err := f.Truncate(p.cutOff); err != nil {
		return err
	}
	return f.Sync()
}
