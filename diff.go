package inmem

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/inmemdb/inmem/replayer"
)

// PrimitiveKind names a primitive in a DiffEntry.
type PrimitiveKind uint8

// Primitive kinds. KindOther is a primitive registered through Options.Primitives.
const (
	KindKV PrimitiveKind = iota + 1
	KindJSON
	KindEvent
	KindState
	KindTrace
	KindRun
	KindOther
)

var kindNames = [...]string{"unknown", "kv", "json", "event", "state", "trace", "run", "other"}

// String returns the kind's name, the name of its primitive: "kv", "json", "event", …
func (k PrimitiveKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// RunDiff is what tells run B from run A.
type RunDiff struct {
	A, B     RunID
	Added    []DiffEntry // in B, not in A
	Removed  []DiffEntry // in A, not in B
	Modified []DiffEntry // in both, different
}

// DiffEntry is one difference. Key is a KV key, a document key, a cell name, an event's
// sequence number or a span's id. Before and After are the compared forms (nil on the side
// without the item): a KV value, an encoded document, a cell's value, {"type","payload"} of an
// event, {"kind","name","tags","attributes"} of a span. Paths lists the changed paths inside
// a JSON document present in both runs.
type DiffEntry struct {
	Kind          PrimitiveKind
	Primitive     string // the primitive's name; for KindOther the only way to tell them apart
	Key           string
	Before, After []byte
	Paths         []string
}

// DiffRuns replays a and b as of one moment and compares them: KV pairs, JSON documents and
// state cells by key (Modified when the values differ; a cell's version and time are not
// compared), events and spans as sequences — their common prefix, then what each run added
// (timestamps, hashes, span ids and times are not compared). DiffRuns(a, b).Added is
// DiffRuns(b, a).Removed. Either run unknown is ErrRunNotFound, GlobalRun ErrNotReplayable.
func (db *DB) DiffRuns(a, b RunID) (*RunDiff, error) {
	if err := db.usable(); err != nil {
		return nil, err // once, not once per run
	}
	// Both runs as of one moment; the two replays are independent, so they run side by side.
	now, unpin := db.pin()
	defer unpin()
	var views [2]*replayer.View
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { views[1], _, errs[1] = db.replayed(b, now, allSteps) })
	views[0], _, errs[0] = db.replayed(a, now, allSteps)
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	d, err := replayer.Compare(views[0], views[1])
	if err != nil {
		return nil, err
	}
	return &RunDiff{A: a, B: b, Added: db.diffEntries(d.Added), Removed: db.diffEntries(d.Removed),
		Modified: db.diffEntries(d.Modified)}, nil
}

func (db *DB) diffEntries(cs []replayer.Change) []DiffEntry {
	if len(cs) == 0 {
		return nil
	}
	out := make([]DiffEntry, len(cs))
	for i, c := range cs {
		name := db.registry.Primitives()[c.Owner].Name()
		out[i] = DiffEntry{Kind: kindOf(name), Primitive: name, Key: c.Key,
			Before: bytes.Clone(c.Before), After: bytes.Clone(c.After), Paths: c.Paths}
	}
	return out
}

func kindOf(name string) PrimitiveKind {
	for k, n := range kindNames {
		if n == name && PrimitiveKind(k) != KindOther && k != 0 {
			return PrimitiveKind(k)
		}
	}
	return KindOther
}
