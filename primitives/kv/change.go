package kv

import (
	"encoding/json"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each put and delete of a published commit (extension.Describer).
func (s *Store) Describe(_ uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	extension.DescribeEach(entries, emit, func(e commitlog.Entry) (extension.Described, bool) {
		_, key, _, err := decode(e)
		op := extension.OpPut
		if e.Type == TypeDelete {
			op = extension.OpDelete
		}
		return extension.Described{Key: key, Op: op}, err == nil
	})
}

// ExportValue shows the value a put wrote (extension.Exporter).
func (s *Store) ExportValue(e commitlog.Entry) (json.RawMessage, bool) {
	_, _, value, err := decode(e)
	if err != nil || e.Type != TypePut {
		return nil, false
	}
	return extension.JSONValue(value)
}
