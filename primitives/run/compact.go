package run

import (
	"encoding/binary"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// A compaction replaces a run's history up to a step by a new base: the run's state at that
// step, materialized. It is a system transaction of one RunCompact entry, which only this
// primitive applies: the run's data does not change, only how its history is kept.
//
//	RunCompact 0x67: i64 commit time (µs) | uvarint base step | uvarint version of the history
//	  it folds (the current base's) | per entry of the new base: u8 type | u8 version |
//	  uvarint len(payload) | payload

// Compaction is a compaction's transaction part.
type Compaction struct {
	store *Store
	id    extension.RunID
	from  Journal // the history the base was computed from
	step  int     // the new base's step number
	base  []commitlog.Entry
}

// Compact returns the part that makes base — the run's state at step, computed from the
// journal j — the new base of run id's history. It fails at commit if the history changed
// meanwhile in a way that matters (compacted again, deleted).
func (s *Store) Compact(id extension.RunID, j Journal, step int, base []commitlog.Entry) (*Compaction, error) {
	if step <= j.First() || step > j.Last() {
		return nil, dberr.Invalid("compact run %s to step %d: its history holds steps %d–%d", id, step, j.First(), j.Last())
	}
	return &Compaction{store: s, id: id, from: j, step: step, base: base}, nil
}

func (c *Compaction) Empty() bool { return false }

func compactKey(id extension.RunID) extension.Key {
	return extension.Key{Section: SectionID, Run: id, Name: "compact"}
}

// Validate checks that the run still has the history the base was computed from: the same
// life (its base at the same version and step) and nothing staged that changes it.
func (c *Compaction) Validate(cm extension.Commit) error {
	if c.store.current(cm, c.id) == NotFound {
		return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, c.id)
	}
	if _, ok := cm.Staged(compactKey(c.id)); ok {
		return fmt.Errorf("%w: run %s is being compacted already", dberr.ErrConflict, c.id)
	}
	r, ok := c.store.state(c.id, mvcc.Latest)
	if !ok {
		return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, c.id)
	}
	j := r.history(r.records.Latest().Value, mvcc.Latest)
	if j.base.Version != c.from.base.Version || j.baseStep != c.from.baseStep {
		return fmt.Errorf("%w: run %s's history changed while it was compacted", dberr.ErrConflict, c.id)
	}
	cm.Stage(compactKey(c.id), extension.Staged{Version: cm.Version(), Aux: uint64(c.step)})
	return nil
}

// Entries appends the one RunCompact entry.
func (c *Compaction) Entries(dst []commitlog.Entry, cm extension.Commit) []commitlog.Entry {
	p := append([]byte(nil), c.id[:]...)
	p = binary.LittleEndian.AppendUint64(p, uint64(cm.Timestamp()))
	p = binary.AppendUvarint(p, uint64(c.step))
	p = binary.AppendUvarint(p, c.from.base.Version)
	for _, e := range c.base {
		p = append(p, e.Type, e.Version)
		p = binary.AppendUvarint(p, uint64(len(e.Payload)))
		p = append(p, e.Payload...)
	}
	return append(dst, commitlog.Entry{Type: TypeCompact, Version: 1, Payload: p})
}

// compact applies a RunCompact entry.
func (sh *shard) compact(e commitlog.Entry) error {
	id, step, from, base, err := decodeCompaction(e.Payload, e.Version)
	if err != nil {
		return err
	}
	r := sh.runs.At(id, mvcc.Latest)
	if r == nil {
		return fmt.Errorf("%w: compaction of unknown run %s", ErrMalformed, id)
	}
	where := sh.where([]commitlog.Entry{e})
	if j := r.journal.Load(); j == nil || !j.compact(e.TxID, int(min(step, maxStep)), from, where, base) {
		return fmt.Errorf("%w: compaction of run %s to step %d does not fit its history", ErrMalformed, id, step)
	}
	sh.trim.Add(r, &r.listed) // Trim forgets the history before it once no reader can see it
	return nil
}

// decodeCompaction decodes a RunCompact entry's payload: the run, the new base's step, the
// version of the base it replaces, and the new base's entries (aliasing p).
func decodeCompaction(p []byte, version uint8) (id extension.RunID, step, from uint64, base []entry, err error) {
	if version != 1 || len(p) < commitlog.RunIDSize+8 {
		return id, 0, 0, nil, fmt.Errorf("%w: compaction of %d bytes", ErrMalformed, len(p))
	}
	copy(id[:], p)
	d := &decoder{b: p[commitlog.RunIDSize+8:], run: id}
	step, from = d.uvarint(), d.uvarint()
	for len(d.b) > 0 && d.err == nil {
		e := entry{Type: d.byte(), Version: d.byte(), Payload: d.bytes()}
		if e.Type >= typesLow && e.Type <= typesHigh {
			d.fail("a run entry in a compacted base")
		}
		base = append(base, e)
	}
	return id, step, from, base, d.err
}

// compact makes base the journal's new base, as step number step, dropping the steps up to it,
// at commit version version; readers older than that keep the history as it was (compacted).
// The base is where the compaction is in the log (where.Len > 0) or kept in memory. It refuses
// (false) a compaction computed from another base, or to a step the journal does not hold.
// The base's entries take the commit version of the last step folded in, below every step
// kept, so that a replay applies versions in order. The journal's lists are rebuilt, not
// changed: readers keep the views they took, and the dropped payloads go to the garbage
// collector with the last of those.
func (j *journal) compact(version uint64, step int, from uint64, where Step, base []entry) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if from != j.base.Version || step <= j.baseStep || step > j.baseStep+j.steps.Len() {
		return false
	}
	old := Journal{baseStep: j.baseStep, base: j.base, fork: j.fork, steps: j.steps.View(), entries: j.entries.View()}
	j.compacted = &compaction{version: version, before: old, older: j.compacted}
	folded := old.steps.At(step - j.baseStep - 1) // the last step folded in: its version and time
	kept := journal{base: Step{Version: folded.Version, Timestamp: folded.Timestamp, At: where.At, Len: where.Len, End: uint32(len(base))}}
	if !where.logged() {
		for _, e := range base {
			e.TxID = folded.Version
			kept.entries.Append(e)
			kept.bytes += int64(len(e.Payload))
		}
	}
	start := folded.End
	for i := step - j.baseStep; i < old.steps.Len(); i++ {
		s := old.steps.At(i)
		ops := s.End - start
		start = s.End
		if !s.logged() {
			at := s.At
			s.At = uint64(kept.entries.Len())
			for k := range uint64(ops) {
				e := old.entries.At(int(at + k))
				e.Payload = kept.arena.copy(e.Payload)
				kept.entries.Append(e)
				kept.bytes += int64(len(e.Payload))
			}
		}
		kept.push(s, int(ops))
	}
	j.baseStep, j.base = step, kept.base
	j.steps, j.entries, j.arena, j.bytes = kept.steps, kept.entries, kept.arena, kept.bytes
	return true
}
