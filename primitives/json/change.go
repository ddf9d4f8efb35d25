package json

import (
	"encoding/json"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// ops names the change each entry type makes to its document; any other is a patch (several
// operations on one document).
var ops = map[uint8]extension.ChangeOp{TypeCreate: extension.OpCreate, TypeSet: extension.OpSet,
	TypeDelete: extension.OpDelete, TypeDeleteDoc: extension.OpDelete}

// Describe reports each document a published commit changed, once (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	extension.DescribeEach(entries, emit, func(e commitlog.Entry) (extension.Described, bool) {
		d, err := decode(e)
		if err != nil {
			return extension.Described{}, false
		}
		op, ok := ops[e.Type]
		if !ok {
			op = extension.OpPatch
		}
		return extension.Described{Key: d.key, Op: op}, true
	})
}

// opNames are the operations as an export shows them.
var opNames = [...]string{opCreate: "create", opSet: "set", opDelete: "delete", opDeleteDoc: "delete-doc"}

// ExportValue shows a document's operations (extension.Exporter): each its kind, path and value.
func (s *Store) ExportValue(e commitlog.Entry) (json.RawMessage, bool) {
	d, err := decode(e)
	if err != nil {
		return nil, false
	}
	type shown struct {
		Op    string          `json:"op"`
		Path  string          `json:"path,omitempty"`
		Value json.RawMessage `json:"value,omitempty"`
	}
	out := make([]shown, len(d.ops))
	for i, o := range d.ops {
		out[i] = shown{Op: opNames[o.kind], Path: o.pathText}
		if len(o.raw) > 0 {
			out[i].Value = o.raw
		}
	}
	b, err := json.Marshal(out)
	return b, err == nil
}
