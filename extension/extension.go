// Package extension is the contract between the engine and a primitive: adding a primitive
// changes neither the log, the snapshots, recovery nor replay.
//
// A primitive — the built-in six or one supplied through Options.Primitives — implements
// Primitive and is registered before recovery. From then on the engine treats every primitive
// alike: it routes each WAL entry to the shard actor that owns the entry's type range, asks
// shards for frozen views when it snapshots, and loads sections back at recovery. The WAL
// envelope, the snapshot envelope, recovery and replay never change when a primitive is added.
//
// A primitive takes part in transactions through TxPart: the public Tx buffers one part per
// primitive it touches; at commit the sequencer (one goroutine, in commit order) calls Validate
// on every part, then Entries. Everything that can fail is checked in Validate, so that Apply —
// of a live commit or of a WAL entry at recovery — can never fail on well-formed input.
//
// Payload convention: every transactional entry's payload starts with the 16-byte RunID of its
// run. The engine routes entries to shards with it, with no knowledge of the rest of the payload.
package extension

import (
	"fmt"
	"io"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/dberr"
)

// Primitive is one kind of state (KV, JSON documents, …) split into shards.
type Primitive interface {
	// Name is a short lower-case name ("kv"), unique among registered primitives.
	Name() string
	// SectionID identifies the primitive's section in snapshot files; unique.
	SectionID() uint8
	// EntryTypes is the inclusive WAL entry-type range the primitive owns (see docs/format.md).
	EntryTypes() (lo, hi uint8)
	// NewShard creates the state of shard id (0 ≤ id < shard count). The engine calls it once
	// per shard before starting; the shard's actor is from then on its only writer.
	NewShard(id int) Shard
}

// Shard is the actor-owned state of one shard of a primitive. Apply, Trim and LoadSection are
// called only from the shard's actor goroutine; reads by transactions go directly to the
// primitive's state and must be safe against a concurrent Apply (multi-version state).
type Shard interface {
	// Apply applies the entries of committed transactions, in commit order. Every entry's
	// TxID is its commit version; readers must not see it until the engine publishes that
	// version. An error means the entry is malformed (corruption), never a semantic failure.
	// The slice is reused after Apply returns; the payloads are the shard's to keep.
	Apply(batch []commitlog.Entry) error
	// Freeze returns an O(1) copy-on-write view of the shard at version.
	Freeze(version uint64) FrozenView
	// LoadSection restores the shard from a snapshot section written by a FrozenView.
	LoadSection(r io.Reader) error
	// DropRun deletes everything the shard holds of run, at commit version: readers at that
	// version or later must find the run as if it never existed (and a write after it starts
	// the run afresh), readers at older snapshots may still read what they saw until the engine
	// trims past it. It is called in commit order between Apply calls, for the run-deletion
	// entry (TypeRunDelete) of a run this shard owns, whether or not the shard holds anything
	// of the run. It cannot fail: the deletion was validated before it was logged.
	DropRun(run RunID, version uint64)
}

// TypeRunDelete is the WAL entry type of a run's deletion: a system transaction of that one
// entry, owned by the run primitive. The engine hands its run to DropRun of every primitive's
// shard that owns the run, in commit order with the other entries.
const TypeRunDelete uint8 = 0x65

// Trimmer is implemented by shards that keep old versions for readers. The engine calls Trim
// from the shard's actor with the oldest version any active reader can still ask for; versions
// older than what that reader needs may be dropped.
type Trimmer interface {
	Trim(oldest uint64)
}

// FrozenView is a shard's state at one version, immutable however the shard moves on.
type FrozenView interface {
	WriteSection(w io.Writer) error
}

// Key names one unit of conflict detection: a KV key, a JSON document, a state cell, a run.
// Section is the primitive's SectionID, so keys of different primitives never collide.
type Key struct {
	Section uint8
	Run     RunID
	Name    string
}

// Staged is what the sequencer remembers of a write that is sequenced but not yet published,
// so that later transactions validate against it.
type Staged struct {
	Version uint64 // commit version of the write
	Aux     uint64 // the primitive's own counter after the write (a cell's or document's version)
	Deleted bool   // the write removed the key
}

// Commit is the sequencer's view of one transaction while it is validated.
type Commit interface {
	Run() RunID
	Snapshot() uint64 // version the transaction read at
	Version() uint64  // version it commits at if it validates
	Timestamp() int64 // commit time, µs since the Unix epoch
	// Staged returns the newest sequenced-but-unpublished write to k, if any. Committed state
	// is read from the primitive itself; Staged covers what the shards may not have applied yet.
	Staged(k Key) (Staged, bool)
	// Stage records a write of this transaction. It takes effect only if every part of the
	// transaction validates.
	Stage(k Key, s Staged)
}

// TxPart is one primitive's buffered share of a transaction.
type TxPart interface {
	// Validate checks the part against the newest state and stages its writes. It runs on the
	// sequencer goroutine; it must not block and must not mutate the primitive's state.
	Validate(c Commit) error
	// Entries appends the part's WAL entries (TxID left zero: the engine stamps it). It is called
	// only after every part validated, with the same Commit.
	Entries(dst []commitlog.Entry, c Commit) []commitlog.Entry
	// Empty reports whether the part has no writes (reads alone never reach the sequencer).
	Empty() bool
}

// Unsnapshotted stands in for the snapshot methods of a primitive whose section codec is not
// written yet: WriteSection and LoadSection fail with ErrNotImplemented, naming the primitive.
type Unsnapshotted string

// WriteSection fails: the primitive cannot be snapshotted yet.
func (u Unsnapshotted) WriteSection(io.Writer) error {
	return fmt.Errorf("%s: write snapshot section: %w", string(u), dberr.ErrNotImplemented)
}

// LoadSection fails: the primitive cannot be restored from a snapshot yet.
func (u Unsnapshotted) LoadSection(io.Reader) error {
	return fmt.Errorf("%s: load snapshot section: %w", string(u), dberr.ErrNotImplemented)
}
