package inmem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/primitives/state"
)

// Cell is a state cell as read: its value, its own version counter (1 at Init, +1 per changing
// transaction, never going back — not even across Delete and Init), and its last change's time.
type Cell struct {
	Value     []byte
	Version   uint64
	UpdatedAt time.Time
}

// State is the state-cell primitive: named cells with compare-and-set, for agents
// that coordinate through shared state. Each write method is a one-operation transaction.
type State struct{ db *DB }

// State returns the state-cell facade.
func (db *DB) State() *State { return &db.stateAPI }

// Init creates the cell; an existing cell is ErrAlreadyExists. It returns the new version.
func (s *State) Init(ctx context.Context, run RunID, name string, v []byte) (uint64, error) {
	return s.write(ctx, run, name, func(t *state.Tx) error { return t.Init(name, v) })
}

// Set writes the cell, creating it if missing, and returns its new version. A blind Set never
// conflicts.
func (s *State) Set(ctx context.Context, run RunID, name string, v []byte) (uint64, error) {
	return s.write(ctx, run, name, func(t *state.Tx) error { return t.Set(name, v) })
}

// CAS writes the cell only if its version is expected at commit; otherwise the error is a
// *VersionMismatchError (errors.Is ErrVersionMismatch) with the expected and actual versions.
func (s *State) CAS(ctx context.Context, run RunID, name string, expected uint64, v []byte) (uint64, error) {
	return s.write(ctx, run, name, func(t *state.Tx) error { return t.CAS(name, expected, v) })
}

// Delete removes the cell. Its version counter is kept: a later Init continues from it.
func (s *State) Delete(ctx context.Context, run RunID, name string) error {
	_, err := s.write(ctx, run, name, func(t *state.Tx) error { return t.Delete(name) })
	return err
}

// write commits one operation on one cell and returns the version it left.
func (s *State) write(ctx context.Context, run RunID, name string, op func(*state.Tx) error) (uint64, error) {
	part := s.db.states.NewTx(run, 0)
	if err := op(part); err != nil {
		return 0, err
	}
	if err := s.db.submit(ctx, actors.NewCommit(run, 0, part)); err != nil {
		return 0, err
	}
	v, _ := part.Version(name)
	return v, nil
}

// Transition reads the cell, computes its next value with fn, and writes it with a CAS on the
// version read, retrying (like Update) when another commit got there first. fn must be pure: it
// may run several times. A missing cell is ErrNotFound. It returns the new version.
func (s *State) Transition(ctx context.Context, run RunID, name string, fn func(Cell) ([]byte, error)) (uint64, error) {
	if fn == nil {
		return 0, fmt.Errorf("%w: Transition: nil function", ErrInvalidArgument)
	}
	var last *state.Tx
	err := s.db.Update(ctx, run, func(tx *Tx) error {
		cell, err := tx.State().Get(name)
		if err != nil {
			return err
		}
		next, err := fn(cell)
		if err != nil {
			return err
		}
		last = tx.statePart()
		return tx.State().CAS(name, cell.Version, next)
	})
	if err != nil {
		return 0, err
	}
	v, _ := last.Version(name)
	return v, nil
}

// Get returns a copy of the cell. A missing cell is ErrNotFound; an unknown run ErrRunNotFound.
func (s *State) Get(run RunID, name string) (Cell, error) {
	if err := s.db.usable(); err != nil {
		return Cell{}, err
	}
	snap := s.db.clock.Now()
	if c, ok := s.db.states.Get(run, name, snap); ok {
		return publicCell(c), nil
	}
	if err := state.CheckName(name); err != nil {
		return Cell{}, err
	}
	if err := s.db.runCheck(run, snap, false); err != nil {
		return Cell{}, err
	}
	return Cell{}, fmt.Errorf("%w: cell %q", ErrNotFound, name)
}

// List returns the names of the run's cells, sorted.
func (s *State) List(run RunID) (names []string, err error) {
	err = s.db.View(run, func(tx *Tx) error {
		names, err = tx.State().List()
		return err
	})
	return names, err
}

// StateTx is the state-cell primitive inside a transaction. Reads see the transaction's own
// writes; a cell read (Get, List) that changes before the commit makes it fail with ErrConflict.
type StateTx struct{ tx *Tx }

// State returns the transaction's state-cell view.
func (tx *Tx) State() *StateTx { return &tx.stateTx }

// Get returns a copy of the cell as the transaction sees it.
func (t *StateTx) Get(name string) (Cell, error) {
	if err := t.tx.check(false); err != nil {
		return Cell{}, err
	}
	c, err := t.tx.statePart().Get(name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Cell{}, fmt.Errorf("%w: cell %q", ErrNotFound, name)
		}
		return Cell{}, err
	}
	return publicCell(c), nil
}

// Init buffers creating the cell (ErrAlreadyExists at commit if it exists then).
func (t *StateTx) Init(name string, v []byte) error {
	return t.write(func(p *state.Tx) error { return p.Init(name, v) })
}

// Set buffers writing the cell.
func (t *StateTx) Set(name string, v []byte) error {
	return t.write(func(p *state.Tx) error { return p.Set(name, v) })
}

// CAS buffers a compare-and-set, checked at commit against the cell's newest version.
func (t *StateTx) CAS(name string, expected uint64, v []byte) error {
	return t.write(func(p *state.Tx) error { return p.CAS(name, expected, v) })
}

// Delete buffers removing the cell.
func (t *StateTx) Delete(name string) error {
	return t.write(func(p *state.Tx) error { return p.Delete(name) })
}

// List returns the sorted names of the cells the transaction sees.
func (t *StateTx) List() ([]string, error) {
	if err := t.tx.check(false); err != nil {
		return nil, err
	}
	return t.tx.statePart().List(), nil
}

func (t *StateTx) write(op func(*state.Tx) error) error {
	if err := t.tx.check(true); err != nil {
		return err
	}
	return op(t.tx.statePart())
}

func publicCell(c state.Cell) Cell {
	return Cell{Value: clone(c.Value), Version: c.Version, UpdatedAt: time.UnixMicro(c.UpdatedAt).UTC()}
}
