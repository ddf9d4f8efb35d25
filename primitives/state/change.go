package state

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each cell a published commit wrote (extension.Describer): created by Init,
// set (Set or a CAS), or deleted.
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	for _, e := range entries {
		d, err := decode(e)
		if err != nil {
			continue
		}
		op := extension.OpSet
		switch e.Type {
		case TypeInit:
			op = extension.OpCreate
		case TypeDelete:
			op = extension.OpDelete
		}
		emit(extension.Described{Key: d.name, Op: op})
	}
}
