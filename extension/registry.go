package extension

import (
	"errors"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
)

// ErrDuplicate is returned when a primitive's name, section id or entry types are taken.
var ErrDuplicate = errors.New("extension: primitive conflicts with a registered one")

// Registry holds the registered primitives in registration order. A primitive's index in it is
// its owner number in the entry-type registry, so an entry's owner is one array lookup away.
type Registry struct {
	prims    []Primitive
	types    commitlog.Registry
	sections [256]int // owner+1 of each section id; 0: free
	names    map[string]bool
	whole    []bool // per owner: its shards receive whole transactions (Journaler)
}

// Register adds p, rejecting a nil primitive, an empty name, and a name, section id or entry
// range that overlaps a registered primitive.
func (r *Registry) Register(p Primitive) error {
	if p == nil {
		return fmt.Errorf("extension: nil primitive")
	}
	name, sec := p.Name(), p.SectionID()
	if name == "" {
		return fmt.Errorf("extension: primitive with section %d has no name", sec)
	}
	if r.names[name] {
		return fmt.Errorf("%w: name %q", ErrDuplicate, name)
	}
	if r.sections[sec] != 0 {
		return fmt.Errorf("%w: %q wants section id %d", ErrDuplicate, name, sec)
	}
	lo, hi := p.EntryTypes()
	if err := r.types.Register(len(r.prims), lo, hi); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrDuplicate, name, err)
	}
	if r.names == nil {
		r.names = make(map[string]bool)
	}
	r.names[name], r.sections[sec] = true, len(r.prims)+1
	r.prims = append(r.prims, p)
	j, ok := p.(Journaler)
	r.whole = append(r.whole, ok && j.WholeTransactions())
	return nil
}

// Primitives returns the registered primitives; index i is owner i.
func (r *Registry) Primitives() []Primitive { return r.prims }

// SectionOwner returns the index of the primitive whose snapshot section id is id.
func (r *Registry) SectionOwner(id uint8) (int, bool) {
	return r.sections[id] - 1, r.sections[id] != 0
}

// Owner returns the index of the primitive owning entry type t.
func (r *Registry) Owner(t uint8) (int, bool) { return r.types.Owner(t) }

// WholeTransactions reports whether owner's shards receive whole transactions (Journaler).
func (r *Registry) WholeTransactions(owner int) bool { return r.whole[owner] }
