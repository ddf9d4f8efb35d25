// Package run is the run primitive: the record and lifecycle of every run, the
// guard that refuses writes to runs that are unknown or no longer active, and the run journal:
// every committed transaction of a run, kept so that the run can be replayed.
//
// Where the journal keeps a step depends on the store. With a Source (SetSource: the log, in
// the Strict and Buffered modes) a step is only where its transaction is in the log — LSN and
// byte length, 32 bytes with its version and time — and is read back from there when a reader
// asks; the log is the history's store, so nothing is written twice and the commit path pays
// nothing for history. Without one (InMemory) the step keeps its entries, sharing their
// payloads with the primitives that applied them. Retained tells the log's owner which of its
// ranges the history still reads.
//
// Lifecycle changes are system transactions of their own: one entry each, with their own
// commit version, never part of a user's transaction, never journaled — except a begin with an
// initial state (BeginWith; a fork), whose transaction also holds that state: its begin entry,
// a RunBase entry, and the state's entries, journaled as the run's step 0.
//
// A run's deletion (RunDelete) reaches every primitive's DropRun, this one's included, and no
// Apply: the engine fans it out (extension.TypeRunDelete).
//
// WAL payloads (entry version 1), after the 16-byte run id:
//
//	RunBegin  0x63: i64 start time (µs), JSON-encoded Info
//	RunEnd    0x62: i64 end time (µs), u8 final status, reason (the rest)
//	RunUpdate 0x61: i64 time (µs), u8 new status (Orphaned at recovery, Active on resume)
//	RunStep   0x64: i64 commit time (µs)
//	RunDelete 0x65: i64 time (µs)
//	RunBase   0x66: i64 commit time (µs) [| uvarint base step [| 16-byte run id | uvarint step:
//	          a fork's source]]
//	RunCompact 0x67: see compact.go
//
// RunStep journals a transaction: the sequencer puts one first in every user transaction of a
// run (JournalEntries; none for GlobalRun). The primitive is an extension.Journaler, so its
// shard receives such a transaction whole and records it as one Step: where its entries are
// in the log, or the entries themselves. RunBase does the same for step 0, in the transaction
// that begins the run. A logged step spans the whole transaction but its commit marker, its
// RunStep or RunBase entry included; reading it back drops those and checks that what the log
// holds there is exactly the step (this run's entries, of the step's version, as many as the
// journal counted), or the step is damaged: ErrCorruption for that run's history alone.
//
// Snapshot section: one chunk per run with a record at the frozen version (extension.Chunk),
// body
//
//	u8 format version (4) | uvarint commit version of the record |
//	uvarint commit version of the run's begin | u8 status |
//	i64 started-at (µs) | i64 ended-at (µs) | uvarint len(reason) | reason |
//	uvarint len(info) | JSON-encoded Info (as in RunBegin) |
//	base: uvarint step number | uvarint commit version | i64 commit time (µs) |
//	  u8 forked (0, 1) | if forked: 16-byte source run id | uvarint source step | place |
//	uvarint steps | per step: uvarint commit version | i64 commit time (µs) | place
//
//	place: uvarint length in the log; if > 0: uvarint LSN | uvarint entries (in the log);
//	  if 0: uvarint entries | per entry: u8 type | u8 version | uvarint len(payload) | payload
//
// Logged steps come in log order; the base may come after them (a compaction is logged after
// the steps it keeps). Format 3 is format 4 with every place in memory and without its length
// (uvarint entries | entries); format 2, written before runs had a base, is format 3 without
// the begin's version and the base. Both still load, into a journal whose older steps are in
// memory and whose newer ones, logged from then on, are in the log.
//
// Only the record a reader at the version sees is written, and the journal's steps up to the
// version; LoadSection pushes the record with its commit version, so later WAL entries apply on
// top of it. Loaded journal payloads alias the snapshot buffer, and must each start with the
// chunk's run id.
package run

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Identity of the primitive in the WAL and in snapshots.
const (
	SectionID   uint8 = 6
	TypeCreate  uint8 = 0x60
	TypeUpdate  uint8 = 0x61
	TypeEnd     uint8 = 0x62
	TypeBegin   uint8 = 0x63
	TypeStep    uint8 = 0x64
	TypeDelete        = extension.TypeRunDelete
	TypeBase    uint8 = 0x66
	TypeCompact uint8 = 0x67
	typesLow    uint8 = 0x60
	typesHigh   uint8 = 0x6F
)

// ErrMalformed is returned by Apply for a payload that does not decode: corruption.
var ErrMalformed = errors.New("run: malformed entry payload")

// Status is a run's place in its lifecycle. The zero value is NotFound.
type Status uint8

const (
	NotFound Status = iota
	Active
	Completed
	Failed
	Orphaned
)

var statusNames = [...]string{"not_found", "active", "completed", "failed", "orphaned"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Info describes a run; it is given at BeginRun and never changes. Metadata is kept as
// encoding/json writes a json.RawMessage: compacted, with <, > and & escaped.
type Info struct {
	Name     string          `json:"name,omitempty"`
	Agent    string          `json:"agent,omitempty"`
	Tags     []string        `json:"tags,omitempty"`
	Parent   extension.RunID `json:"parent"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// decodeInfo decodes an Info as the WAL and snapshots hold it. Everything but Metadata is
// re-encoded the same way whatever spelling the bytes used; Metadata would keep the bytes
// as they are, so it is brought to the form json.Marshal writes. Otherwise bytes this package
// did not write (spaces, an unescaped &) would load as they are and be written back changed
// by the next snapshot: a state that changes across a snapshot and a reopen. Found by
// FuzzLoadSection.
func decodeInfo(b []byte, info *Info) error {
	if err := json.Unmarshal(b, info); err != nil {
		return err
	}
	if len(info.Metadata) == 0 {
		return nil
	}
	m, err := json.Marshal(info.Metadata)
	if err != nil {
		return err
	}
	info.Metadata = m
	return nil
}

// Record is a run's state at one version. Records are immutable: a change pushes a new one.
type Record struct {
	ID        extension.RunID
	Info      Info
	Status    Status
	StartedAt int64 // µs
	EndedAt   int64 // µs, 0 while not ended
	Reason    string
	Began     uint64 // commit version of the begin (0 if loaded from a format 2 snapshot)
}

// Store is the run primitive.
type Store struct {
	shards []*shard
	src    Source // the log, where journaled steps are read back; nil: they stay in memory
}

// New returns a run store of n shards, which keeps its runs' history in memory until
// SetSource gives it a log.
func New(n int) *Store { return &Store{shards: make([]*shard, n)} }

// SetSource makes the store journal each step as where it is in the log, read back from src,
// instead of its payloads: from then on every journaled transaction must come with its
// entries' LSNs (logged, or read back by recovery). Call it before the shards are made.
func (s *Store) SetSource(src Source) { s.src = src }

func (s *Store) Name() string               { return "run" }
func (s *Store) SectionID() uint8           { return SectionID }
func (s *Store) EntryTypes() (lo, hi uint8) { return typesLow, typesHigh }

// NewShard creates shard id.
func (s *Store) NewShard(id int) extension.Shard {
	sh := &shard{runs: mvcc.NewRuns[extension.RunID, runState](extension.RunID.Hash), logged: s.src != nil}
	s.shards[id] = sh
	return sh
}

// WholeTransactions makes every journaled transaction reach the run's shard whole.
func (s *Store) WholeTransactions() bool { return true }

type shard struct {
	runs mvcc.Runs[extension.RunID, runState]
	// trim lists the runs whose record chain holds versions a later Trim may drop: a run that
	// ended keeps one record, not every one it had. Actor-owned.
	trim mvcc.TrimList[*runState]
	// listing is what Matching ranges over: every run in runs, and no other. Its digests point
	// at their runState, so a run removed from runs must leave it too (a new list of the runs
	// left, with their slots, published whole, is safe: a reader still holding the old view
	// finds every status bit it needs set there, since bits are set before a version is
	// published and the old list's are never cleared).
	listing listing
	// gone counts the listed runs that are deleted for every reader (see relist). Actor-owned.
	gone int
	// logged says the journal indexes steps in the log (Store.SetSource) instead of keeping
	// their payloads.
	logged bool
}

// runState is everything the primitive keeps of one run.
type runState struct {
	records mvcc.Chain[*Record]
	// journal is nil until the run's first step: a run that never commits a transaction pays
	// nothing for it. The actor stores it once and never replaces it.
	journal atomic.Pointer[journal]
	listed  bool   // in shard.trim; actor-owned
	slot    uint32 // the run's digest in shard.listing; actor-owned
}

func newRunState() *runState { return new(runState) }

// DropRun deletes the run's record and journal at version (see extension.Shard): a new life
// of the run in the map of runs, and a tombstone on the old life's records, which the listing
// reads. Trim lets go of the old life's history once no reader can see it.
func (sh *shard) DropRun(id extension.RunID, version uint64) {
	if r := sh.runs.At(id, mvcc.Latest); r != nil {
		r.records.Push(version, nil, true)
		sh.trim.Add(r, &r.listed)
	}
	sh.runs.Drop(id, version)
}

// state returns the run's state as a reader at snapshot finds it (mvcc.Latest: the newest).
func (s *Store) state(id extension.RunID, snapshot uint64) (*runState, bool) {
	r := s.shards[id.Shard(len(s.shards))].runs.At(id, snapshot)
	return r, r != nil
}

// Get returns the run's record at snapshot.
func (s *Store) Get(id extension.RunID, snapshot uint64) (*Record, bool) {
	r, ok := s.state(id, snapshot)
	if !ok {
		return nil, false
	}
	v := r.records.At(snapshot)
	if v == nil {
		return nil, false
	}
	return v.Value, true
}

// Status returns the run's status at snapshot (NotFound for an unknown run).
func (s *Store) Status(id extension.RunID, snapshot uint64) Status {
	if r, ok := s.Get(id, snapshot); ok {
		return r.Status
	}
	return NotFound
}

func key(id extension.RunID) extension.Key { return extension.Key{Section: SectionID, Run: id} }

// current returns the run's newest status, sequenced or applied.
func (s *Store) current(c extension.Commit, id extension.RunID) Status {
	if st, ok := c.Staged(key(id)); ok {
		return Status(st.Aux)
	}
	r, ok := s.state(id, mvcc.Latest)
	if !ok {
		return NotFound
	}
	return r.records.Latest().Value.Status
}

// CheckRun refuses a transaction whose run does not accept writes. GlobalRun always does.
func (s *Store) CheckRun(c extension.Commit) error {
	id := c.Run()
	if id == extension.GlobalRun {
		return nil
	}
	switch st := s.current(c, id); st {
	case Active:
		return nil
	case NotFound:
		return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, id)
	default:
		return fmt.Errorf("%w: %s is %s", dberr.ErrRunNotActive, id, st)
	}
}

// Apply applies committed lifecycle entries and journals whole transactions (a step entry
// followed by the transaction's other entries).
func (sh *shard) Apply(batch []commitlog.Entry) error {
	defer sh.listing.publish() // the runs begun, before the engine publishes their versions
	for len(batch) > 0 {
		n, err := 1, error(nil)
		if batch[0].Type == TypeStep || batch[0].Type == TypeBase {
			n = txLen(batch)
			err = sh.journalTx(batch[:n])
		} else if batch[0].Type == TypeCompact {
			err = sh.compact(batch[0])
		} else {
			err = sh.apply(batch[0])
		}
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

func (sh *shard) apply(e commitlog.Entry) error {
	p := e.Payload
	if e.Version != 1 || len(p) < commitlog.RunIDSize+8 {
		return fmt.Errorf("%w: type %#02x version %d, %d bytes", ErrMalformed, e.Type, e.Version, len(p))
	}
	var id extension.RunID
	copy(id[:], p)
	ts := int64(binary.LittleEndian.Uint64(p[commitlog.RunIDSize:]))
	rest := p[commitlog.RunIDSize+8:]
	if e.Type == TypeBegin {
		next := &Record{ID: id, Status: Active, StartedAt: ts}
		if err := decodeInfo(rest, &next.Info); err != nil {
			return fmt.Errorf("%w: run info: %v", ErrMalformed, err)
		}
		r := sh.runs.Create(id, e.TxID, newRunState)
		if r.records.Latest() != nil {
			return fmt.Errorf("%w: run %s begun twice", ErrMalformed, id)
		}
		next.Began = e.TxID
		r.records.Push(e.TxID, next, false)
		sh.listing.add(r, next)
		return nil
	}
	r := sh.runs.At(id, mvcc.Latest)
	if r == nil || len(rest) < 1 {
		return fmt.Errorf("%w: type %#02x for unknown run %s", ErrMalformed, e.Type, id)
	}
	next := *r.records.Latest().Value
	to := Status(rest[0])
	switch {
	case e.Type == TypeEnd && (to == Completed || to == Failed):
		next.Status, next.EndedAt, next.Reason = to, ts, string(rest[1:])
	case e.Type == TypeUpdate && (to == Orphaned || to == Active) && len(rest) == 1:
		next.Status = to
	default:
		return fmt.Errorf("%w: type %#02x to status %d", ErrMalformed, e.Type, to)
	}
	r.records.Push(e.TxID, &next, false)
	sh.listing.pushed(r, to)
	sh.trim.Add(r, &r.listed)
	return nil
}

// Records returns every run's record at snapshot, in no particular order.
func (s *Store) Records(snapshot uint64) []*Record {
	var out []*Record
	for _, sh := range s.shards {
		sh.runs.Range(snapshot, func(_ extension.RunID, r *runState) bool {
			if v := r.records.At(snapshot); v != nil {
				out = append(out, v.Value)
			}
			return true
		})
	}
	return out
}
