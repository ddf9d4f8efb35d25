package trace

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each span a published commit recorded, by id (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	for _, e := range entries {
		if d, err := decode(e); err == nil {
			emit(extension.Described{Key: d.span.ID, Op: extension.OpRecord})
		}
	}
}
