// Package extensiontest helps test primitives without an engine: Commit stands in for the
// sequencer's view of one transaction, so that a primitive's TxPart can be validated and its
// entries produced exactly as the engine would do it; the section helpers write a primitive's
// frozen shard views into a snapshot section and load it back chunk by chunk as the engine does,
// and damage chunks for the tests of LoadSection.
package extensiontest

import "github.com/inmemdb/inmem/extension"

// Commit is an extension.Commit backed by plain fields and a staged table. Share Staged between
// commits to play a sequence of transactions that are sequenced but not yet applied.
type Commit struct {
	RunID    extension.RunID
	Snap     uint64 // the snapshot the transaction read at
	Ver      uint64 // the version it commits at
	TS       int64  // its timestamp, µs
	StagedAt map[extension.Key]extension.Staged
}

func (c *Commit) Run() extension.RunID { return c.RunID }
func (c *Commit) Snapshot() uint64     { return c.Snap }
func (c *Commit) Version() uint64      { return c.Ver }
func (c *Commit) Timestamp() int64     { return c.TS }

// Staged returns what was staged for k, by this or an earlier commit sharing the table.
func (c *Commit) Staged(k extension.Key) (extension.Staged, bool) {
	st, ok := c.StagedAt[k]
	return st, ok
}

// Stage records a write at once (the engine applies it only if every part validates; a test
// that needs that distinction validates into a fresh Commit).
func (c *Commit) Stage(k extension.Key, s extension.Staged) {
	if c.StagedAt == nil {
		c.StagedAt = map[extension.Key]extension.Staged{}
	}
	c.StagedAt[k] = s
}

var _ extension.Commit = (*Commit)(nil)
