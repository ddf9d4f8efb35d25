package extension

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/inmemdb/inmem/commitlog"
)

// ChangeOp says what a change did, for change feeds.
type ChangeOp uint8

// The operations a change can be.
const (
	OpPut ChangeOp = iota + 1
	OpDelete
	OpAppend
	OpSet
	OpCreate
	OpPatch
	OpRecord
	OpBegin
	OpEnd
	OpAbort
	OpResume
	OpOrphan
	OpDeleteRun
)

var opNames = [...]string{"unknown", "put", "delete", "append", "set", "create", "patch", "record",
	"begin", "end", "abort", "resume", "orphan", "delete-run"}

// String returns the operation's name: "put", "delete", "append", …
func (o ChangeOp) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Described is one change a committed entry made: which key (document, cell, span id; the
// event type for an append), the event's sequence number for an append, and the operation.
// Lifecycle says it changed the run itself (begin, end, …), not its data.
type Described struct {
	Key       string
	Seq       uint64
	Op        ChangeOp
	Lifecycle bool
}

// Describer is implemented by primitives whose commits change feeds can report. Describe is
// called once a commit is published, in commit order, with the commit's entries of the
// primitive's types; it calls emit for each change they made and may read the primitive's
// state at version (the commit's, published). Entries it does not report (a journal, say) it
// skips. It must not fail: the entries were applied.
type Describer interface {
	Describe(version uint64, entries []commitlog.Entry, emit func(Described))
}

// DescribeEach emits, for each entry one decodes, the change it describes: the Describe of a
// primitive whose entries each change one key and need no state to describe. Entries one does
// not decode (ok false) are skipped.
func DescribeEach(entries []commitlog.Entry, emit func(Described), one func(commitlog.Entry) (d Described, ok bool)) {
	for _, e := range entries {
		if d, ok := one(e); ok {
			emit(d)
		}
	}
}

// Exporter is implemented by a primitive whose entries a run's export can show people as JSON:
// the value a put wrote, an event's payload, a document's operations, a span. The export
// carries each entry's payload whole besides, for the import; this is for reading.
type Exporter interface {
	ExportValue(e commitlog.Entry) (json.RawMessage, bool)
}

// JSONValue is b as an export shows a value: as it is when it is JSON, as a JSON string when it
// is other UTF-8 text; false for other bytes.
func JSONValue(b []byte) (json.RawMessage, bool) {
	if json.Valid(b) {
		return b, true
	}
	if !utf8.Valid(b) {
		return nil, false
	}
	s, err := json.Marshal(string(b))
	return s, err == nil
}
