package trace

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each span a published commit recorded, by id (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	extension.DescribeEach(entries, emit, func(e commitlog.Entry) (extension.Described, bool) {
		d, err := decode(e)
		if err != nil {
			return extension.Described{}, false
		}
		return extension.Described{Key: d.span.ID, Op: extension.OpRecord}, true
	})
}
