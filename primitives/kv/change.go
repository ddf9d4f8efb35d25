package kv

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each put and delete of a published commit (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	for _, e := range entries {
		if _, key, _, err := decode(e); err == nil {
			op := extension.OpPut
			if e.Type == TypeDelete {
				op = extension.OpDelete
			}
			emit(extension.Described{Key: key, Op: op})
		}
	}
}
