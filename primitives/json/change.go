package json

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each document a published commit changed, once (extension.Describer): a
// create, a set, a delete at a path or of the document, or a patch (several operations).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	for _, e := range entries {
		d, err := decode(e)
		if err != nil {
			continue
		}
		op := extension.OpPatch
		switch e.Type {
		case TypeCreate:
			op = extension.OpCreate
		case TypeSet:
			op = extension.OpSet
		case TypeDelete, TypeDeleteDoc:
			op = extension.OpDelete
		}
		emit(extension.Described{Key: d.key, Op: op})
	}
}
