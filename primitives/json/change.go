package json

import (
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
