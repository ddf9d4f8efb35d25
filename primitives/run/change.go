package run

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports the lifecycle change a published system transaction made
// (extension.Describer): begin, end, abort, orphan, resume or deletion. Journal entries are not changes
// of their own: the data they record is reported by its primitives.
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	for _, e := range entries {
		p := e.Payload
		if e.Type == TypeStep || e.Type == TypeBase || e.Type == TypeCompact || len(p) < commitlog.RunIDSize+8 {
			continue
		}
		rest := p[commitlog.RunIDSize+8:]
		op := extension.ChangeOp(0)
		switch {
		case e.Type == TypeBegin:
			op = extension.OpBegin
		case e.Type == TypeDelete:
			op = extension.OpDeleteRun
		case len(rest) == 0:
		case e.Type == TypeEnd && Status(rest[0]) == Completed:
			op = extension.OpEnd
		case e.Type == TypeEnd && Status(rest[0]) == Failed:
			op = extension.OpAbort
		case e.Type == TypeUpdate && Status(rest[0]) == Orphaned:
			op = extension.OpOrphan
		case e.Type == TypeUpdate && Status(rest[0]) == Active:
			op = extension.OpResume
		}
		if op != 0 {
			emit(extension.Described{Op: op, Lifecycle: true})
		}
	}
}
