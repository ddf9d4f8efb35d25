package inmem_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// tally is a toy primitive defined outside the engine's packages: per run,
// named counters that transactions add to. It reaches the WAL, snapshots and recovery only
// through the extension interface; the tests prove it survives snapshot, SIGKILL and recovery
// with no engine change.
//
// It is deliberately naive where the engine allows it: its state is a list of applied deltas
// with their commit versions under a mutex, folded on every read, so that a frozen view at a
// version is exact however far the actor has applied past it.
type tally struct {
	mu     sync.Mutex
	shards []*tallyShard
}

const (
	tallySection uint8 = 0x90
	tallyType    uint8 = 0x90
)

var errTallyMalformed = errors.New("tally: malformed")

func newTally() *tally { return &tally{} }

func (t *tally) Name() string               { return "tally" }
func (t *tally) SectionID() uint8           { return tallySection }
func (t *tally) EntryTypes() (lo, hi uint8) { return tallyType, tallyType }

// NewShard is called for ids 0..n-1 each time the engine (re)creates its shards.
func (t *tally) NewShard(id int) extension.Shard {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 {
		t.shards = nil
	}
	sh := &tallyShard{}
	t.shards = append(t.shards, sh)
	return sh
}

type tallyDelta struct {
	commit uint64
	run    extension.RunID
	name   string
	delta  int64
	drop   bool // the run was deleted at commit: its counters are gone from there on
}

type tallyShard struct {
	mu     sync.Mutex
	deltas []tallyDelta
}

// Value returns run's counter name, every applied commit included.
func (t *tally) Value(run inmem.RunID, name string) int64 {
	t.mu.Lock()
	sh := t.shards[run.Shard(len(t.shards))]
	t.mu.Unlock()
	return sh.fold(^uint64(0))[run][name]
}

func (sh *tallyShard) fold(at uint64) map[extension.RunID]map[string]int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := map[extension.RunID]map[string]int64{}
	for _, d := range sh.deltas {
		if d.commit <= at {
			if d.drop {
				delete(out, d.run)
				continue
			}
			if out[d.run] == nil {
				out[d.run] = map[string]int64{}
			}
			out[d.run][d.name] += d.delta
		}
	}
	return out
}

func (sh *tallyShard) Apply(batch []commitlog.Entry) error {
	var ds []tallyDelta
	for _, e := range batch {
		p := e.Payload
		if e.Type != tallyType || len(p) < 16 {
			return errTallyMalformed
		}
		d := tallyDelta{commit: e.TxID}
		copy(d.run[:], p)
		n, w := binary.Uvarint(p[16:])
		if w <= 0 || n > uint64(len(p)-16-w) {
			return errTallyMalformed
		}
		d.name = string(p[16+w : 16+w+int(n)])
		v, k := binary.Varint(p[16+w+int(n):])
		if k <= 0 {
			return errTallyMalformed
		}
		d.delta = v
		ds = append(ds, d)
	}
	sh.mu.Lock()
	sh.deltas = append(sh.deltas, ds...)
	sh.mu.Unlock()
	return nil
}

// DropRun forgets the run's counters from version on (extension.Shard): a marker in the list
// of deltas, so that a view at an older version still folds them.
func (sh *tallyShard) DropRun(run extension.RunID, version uint64) {
	sh.mu.Lock()
	sh.deltas = append(sh.deltas, tallyDelta{commit: version, run: run, drop: true})
	sh.mu.Unlock()
}

// Fresh and Items make the toy replayable and comparable (extension.Replayable, Lister):
// ReplayRun and DiffRuns then cover it with no engine change.
func (t *tally) Fresh() extension.Primitive { return newTally() }

func (t *tally) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	t.mu.Lock()
	sh := t.shards[run.Shard(len(t.shards))]
	t.mu.Unlock()
	counters := sh.fold(version)[run]
	var items []extension.Item
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		items = append(items, extension.Item{Key: name, Value: fmt.Append(nil, counters[name])})
	}
	return items, false
}

// Materialize writes run's counters at version as one delta each, for run to
// (extension.Materializer): ForkRun covers the toy with no engine change.
func (t *tally) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, _ bool) []commitlog.Entry {
	t.mu.Lock()
	sh := t.shards[run.Shard(len(t.shards))]
	t.mu.Unlock()
	counters := sh.fold(version)[run]
	tx := &tallyTx{run: to}
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		tx.deltas = append(tx.deltas, tallyDelta{name: name, delta: counters[name]})
	}
	return tx.Entries(dst, nil)
}

// Freeze folds at version: not O(1), which a toy may afford.
func (sh *tallyShard) Freeze(version uint64) extension.FrozenView {
	return tallyView(sh.fold(version))
}

type tallyView map[extension.RunID]map[string]int64

func (v tallyView) WriteSection(w io.Writer) error {
	for run, counters := range v {
		body := []byte{1}
		for name, value := range counters {
			body = binary.AppendUvarint(body, uint64(len(name)))
			body = append(body, name...)
			body = binary.AppendVarint(body, value)
		}
		if err := extension.WriteChunk(w, run, body); err != nil {
			return err
		}
	}
	return nil
}

func (sh *tallyShard) LoadSection(r io.Reader) error {
	run, body, err := extension.ReadChunk(r)
	if err != nil {
		return err
	}
	if len(body) == 0 || body[0] != 1 {
		return errTallyMalformed
	}
	var ds []tallyDelta
	for p := body[1:]; len(p) > 0; {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return errTallyMalformed
		}
		name := string(p[w : w+int(n)])
		v, k := binary.Varint(p[w+int(n):])
		if k <= 0 {
			return errTallyMalformed
		}
		ds = append(ds, tallyDelta{run: run, name: name, delta: v}) // commit 0: before everything
		p = p[w+int(n)+k:]
	}
	sh.mu.Lock()
	sh.deltas = append(sh.deltas, ds...)
	sh.mu.Unlock()
	return nil
}

// tallyTx is the toy's share of a transaction: the deltas it adds.
type tallyTx struct {
	run    extension.RunID
	deltas []tallyDelta
}

func (tx *tallyTx) Validate(extension.Commit) error { return nil } // adding never conflicts
func (tx *tallyTx) Empty() bool                     { return len(tx.deltas) == 0 }

func (tx *tallyTx) Entries(dst []commitlog.Entry, _ extension.Commit) []commitlog.Entry {
	for _, d := range tx.deltas {
		p := append([]byte(nil), tx.run[:]...)
		p = binary.AppendUvarint(p, uint64(len(d.name)))
		p = append(p, d.name...)
		p = binary.AppendVarint(p, d.delta)
		dst = append(dst, commitlog.Entry{Type: tallyType, Version: 1, Payload: p})
	}
	return dst
}

// Add adds delta to counter name in tx.
func (t *tally) Add(tx *inmem.Tx, name string, delta int64) error {
	if name == "" {
		return fmt.Errorf("%w: empty counter name", inmem.ErrInvalidArgument)
	}
	part, err := tx.Part(t, func(run inmem.RunID, _ uint64) inmem.TxPart { return &tallyTx{run: run} })
	if err != nil {
		return err
	}
	p := part.(*tallyTx)
	p.deltas = append(p.deltas, tallyDelta{name: name, delta: delta})
	return nil
}
