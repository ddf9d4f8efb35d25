package state

import (
	"encoding/json"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// ops names the change of the entry types that are not a set (Set or a CAS).
var ops = map[uint8]extension.ChangeOp{TypeInit: extension.OpCreate, TypeDelete: extension.OpDelete}

// Describe reports each cell a published commit wrote (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	extension.DescribeEach(entries, emit, func(e commitlog.Entry) (extension.Described, bool) {
		d, err := decode(e)
		op, ok := ops[e.Type]
		if !ok {
			op = extension.OpSet
		}
		return extension.Described{Key: d.name, Op: op}, err == nil
	})
}

// ExportValue shows the value a cell was given (extension.Exporter).
func (s *Store) ExportValue(e commitlog.Entry) (json.RawMessage, bool) {
	d, err := decode(e)
	if err != nil || e.Type == TypeDelete {
		return nil, false
	}
	return extension.JSONValue(d.value)
}
