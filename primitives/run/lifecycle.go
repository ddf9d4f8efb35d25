package run

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
)

// Change is a lifecycle system transaction's only part. It implements extension.TxPart.
type Change struct {
	store  *Store
	id     extension.RunID
	from   Status // the status the change requires; NotFound for a begin, Completed for a deletion (or Failed)
	to     Status // NotFound for a deletion
	info   []byte // encoded Info, for a begin
	parent extension.RunID
	reason string
	// base: the begin's transaction holds the run's initial state, the parts after this one:
	// the change journals them as step 0 (a RunBase entry after the begin).
	base     bool
	baseStep int        // the base's step number: 0, but for a run imported from a compacted one
	fork     *ForkPoint // the run and step the initial state was taken from, for a fork
}

// ForkPoint names the run and step a forked run's initial state was taken from.
type ForkPoint struct {
	Run  extension.RunID
	Step int
}

// Begin returns the change that starts run id.
func (s *Store) Begin(id extension.RunID, info Info) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be begun")
	}
	if len(info.Metadata) > 0 && !json.Valid(info.Metadata) {
		return nil, dberr.Invalid("run metadata is not valid JSON")
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, dberr.Invalid("run info: %v", err)
	}
	return &Change{store: s, id: id, from: NotFound, to: Active, info: b, parent: info.Parent}, nil
}

// BeginWith returns the change that starts run id with an initial state: the transaction's
// other parts, journaled as the run's step 0.
func (s *Store) BeginWith(id extension.RunID, info Info) (*Change, error) {
	c, err := s.Begin(id, info)
	if err != nil {
		return nil, err
	}
	c.base = true
	return c, nil
}

// Restore returns the change that starts run id with an initial state that is its step number
// step (an imported run whose history began at that step).
func (s *Store) Restore(id extension.RunID, info Info, step int) (*Change, error) {
	if step < 0 || step > maxStep {
		return nil, dberr.Invalid("restore run %s at step %d", id, step)
	}
	c, err := s.BeginWith(id, info)
	if err != nil {
		return nil, err
	}
	c.baseStep = step
	return c, nil
}

// Fork returns the change that starts run id with the state of run from.Run at step
// from.Step as its step 0: the transaction's other parts.
func (s *Store) Fork(id extension.RunID, info Info, from ForkPoint) (*Change, error) {
	c, err := s.BeginWith(id, info)
	if err != nil {
		return nil, err
	}
	c.fork = &from
	return c, nil
}

// End returns the change that completes run id (Completed), or fails it with reason (Failed).
func (s *Store) End(id extension.RunID, failed bool, reason string) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be ended")
	}
	to := Completed
	if failed {
		to = Failed
	}
	return &Change{store: s, id: id, from: Active, to: to, reason: reason}, nil
}

// Orphan returns the change that marks an active run Orphaned: recovery's, after a restart.
func (s *Store) Orphan(id extension.RunID) *Change {
	return &Change{store: s, id: id, from: Active, to: Orphaned}
}

// Resume returns the change that turns an Orphaned run back to Active.
func (s *Store) Resume(id extension.RunID) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be resumed")
	}
	return &Change{store: s, id: id, from: Orphaned, to: Active}, nil
}

// Delete returns the change that deletes run id: its record, its journal, and (through every
// primitive's DropRun) its data. Only an ended run may be deleted.
func (s *Store) Delete(id extension.RunID) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be deleted")
	}
	return &Change{store: s, id: id, from: Completed, to: NotFound}, nil
}

func (c *Change) deletion() bool { return c.to == NotFound }

func (c *Change) Empty() bool { return false }

// Validate checks the transition against the run's newest status and stages the new one.
func (c *Change) Validate(cm extension.Commit) error {
	cur := c.store.current(cm, c.id)
	switch {
	case c.deletion():
		if cur == NotFound {
			return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, c.id)
		}
		if cur != Completed && cur != Failed {
			return fmt.Errorf("%w: %s is %s", dberr.ErrRunActive, c.id, cur)
		}
	case c.from == NotFound:
		if cur != NotFound {
			return fmt.Errorf("%w: %s", dberr.ErrRunExists, c.id)
		}
		if c.parent != extension.GlobalRun && c.store.current(cm, c.parent) == NotFound {
			return fmt.Errorf("%w: parent %s of %s", dberr.ErrRunNotFound, c.parent, c.id)
		}
	case cur == NotFound:
		return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, c.id)
	case cur != c.from && c.from == Active:
		return fmt.Errorf("%w: %s is %s", dberr.ErrRunNotActive, c.id, cur)
	case cur != c.from:
		return fmt.Errorf("%w: %s is %s, not %s", dberr.ErrInvalidArgument, c.id, cur, c.from)
	}
	cm.Stage(key(c.id), extension.Staged{Version: cm.Version(), Aux: uint64(c.to)})
	return nil
}

// Entries appends the one lifecycle entry.
func (c *Change) Entries(dst []commitlog.Entry, cm extension.Commit) []commitlog.Entry {
	p := make([]byte, 0, commitlog.RunIDSize+8+1+len(c.info)+len(c.reason))
	p = append(p, c.id[:]...)
	p = binary.LittleEndian.AppendUint64(p, uint64(cm.Timestamp()))
	var typ uint8
	switch {
	case c.deletion():
		typ = TypeDelete
	case c.from == NotFound:
		typ = TypeBegin
		p = append(p, c.info...)
	case c.to == Completed || c.to == Failed:
		typ = TypeEnd
		p = append(p, byte(c.to))
		p = append(p, c.reason...)
	default:
		typ = TypeUpdate
		p = append(p, byte(c.to))
	}
	dst = append(dst, commitlog.Entry{Type: typ, Version: 1, Payload: p})
	if c.base {
		dst = append(dst, commitlog.Entry{Type: TypeBase, Version: 1, Payload: c.basePayload(cm.Timestamp())})
	}
	return dst
}

// basePayload is the RunBase entry's payload: the run, the commit time, then — unless the base
// is a plain step 0 — the base's step number and, for a fork, the fork point.
func (c *Change) basePayload(ts int64) []byte {
	b := make([]byte, stepSize, stepSize+2*binary.MaxVarintLen64+commitlog.RunIDSize)
	copy(b, c.id[:])
	binary.LittleEndian.PutUint64(b[commitlog.RunIDSize:], uint64(ts))
	if c.baseStep != 0 || c.fork != nil {
		b = binary.AppendUvarint(b, uint64(c.baseStep))
	}
	if c.fork != nil {
		b = append(b, c.fork.Run[:]...)
		b = binary.AppendUvarint(b, uint64(c.fork.Step))
	}
	return b
}

// decodeBase reads the step number and the fork point of a RunBase payload.
func decodeBase(p []byte) (step int, fork *ForkPoint, err error) {
	d := &decoder{b: p[stepSize:]}
	if len(d.b) == 0 {
		return 0, nil, nil
	}
	if step = int(min(d.uvarint(), maxStep+1)); step > maxStep {
		d.fail("base step out of range")
	}
	if len(d.b) > 0 {
		fork = &ForkPoint{}
		if len(d.b) < commitlog.RunIDSize {
			d.fail("truncated fork point")
		} else {
			d.b = d.b[copy(fork.Run[:], d.b):]
			if fork.Step = int(min(d.uvarint(), maxStep+1)); fork.Step > maxStep {
				d.fail("fork step out of range")
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return step, fork, d.err
}
