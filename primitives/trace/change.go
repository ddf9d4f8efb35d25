package trace

import (
	"encoding/json"

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

// ExportValue shows the span recorded (extension.Exporter).
func (s *Store) ExportValue(e commitlog.Entry) (json.RawMessage, bool) {
	d, err := decode(e)
	if err != nil {
		return nil, false
	}
	sp := d.span
	b, err := json.Marshal(struct {
		ID         string          `json:"id"`
		Parent     string          `json:"parent,omitempty"`
		Kind       string          `json:"kind"`
		Name       string          `json:"name"`
		Start      int64           `json:"start_us"`
		End        int64           `json:"end_us,omitempty"`
		Tags       []string        `json:"tags,omitempty"`
		Attributes json.RawMessage `json:"attributes,omitempty"`
	}{sp.ID, sp.ParentID, sp.Kind, sp.Name, sp.Start, sp.End, sp.Tags, jsonOrNil(sp.Attributes)})
	return b, err == nil
}

// jsonOrNil is b, or nil when it is not JSON (attributes are validated before they are logged).
func jsonOrNil(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}
