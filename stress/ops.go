package stress

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/inmemdb/inmem"
)

// An op is one transaction of a run. Ops are a pure function of (slot, index), so whoever
// knows a run's slot and how many of its transactions committed — a parent process after
// SIGKILL, a checker after a simulated crash — can rebuild what the run must hold (on top of
// its base: see tracker.fold).
type op struct {
	i    int
	kind int
	k    int    // which key, document, cell, event type
	tag  string // the slot's, in values and span ids: a fork's own writes differ from its source's
}

const (
	opPut = iota
	opDelete
	opJSON
	opEvent
	opCell
	opSpan
	opCross // a KV put, an event and a cell set in one transaction
	opKinds
)

// runID derives the key of agent's r-th slot of a workload from its seed: what the slot's
// content and fate derive from, and its run's id unless the slot reuses its predecessor's
// (slotID).
func runID(seed uint64, agent, r int) inmem.RunID {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(agent))
	binary.LittleEndian.PutUint64(b[16:], uint64(r))
	sum := sha256.Sum256(b[:])
	var id inmem.RunID
	copy(id[:], sum[:])
	return id
}

// opAt returns the i-th op of the slot keyed key.
func opAt(key inmem.RunID, tag string, i int) op {
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(key[:8]), uint64(i)))
	return op{i: i, kind: rng.IntN(opKinds), k: rng.IntN(8), tag: tag}
}

// initOps is how many ops the initial state of a run begun with BeginRunWith holds.
const initOps = 4

// initOp returns the j-th op of the initial state of the slot keyed key, written by
// BeginRunWith as its step 0 (in one transaction: the model applies them in order, and so do
// the writes, each seeing the ones before).
func initOp(key inmem.RunID, tag string, j int) op {
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(key[:8])^0x5bd1e995, uint64(j)))
	return op{i: j, kind: rng.IntN(opKinds), k: rng.IntN(8), tag: tag + "i"}
}

// A slot's fate, decided by its key: how it begins, whether its agent deletes it once it
// ended, and whether it takes over its deleted predecessor's id.
const (
	beginPlain = iota
	beginWith  // BeginRunWith: an initial state as step 0
	beginFork  // ForkRun of another run, if one can be forked (else beginPlain)
)

// fateBits mixes the key's second half (which length reads too) into bits independent of it.
func fateBits(key inmem.RunID) uint64 {
	h := binary.LittleEndian.Uint64(key[8:])
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// beginKind says how the slot keyed key begins its run.
func beginKind(key inmem.RunID) int {
	switch (fateBits(key) >> 8) % 8 {
	case 0, 1:
		return beginFork
	case 2, 3:
		return beginWith
	}
	return beginPlain
}

// deletes says whether the slot's agent deletes its run once it ended (a third of them).
func deletes(key inmem.RunID) bool { return fateBits(key)%3 == 0 }

// reuses says whether the slot begins its run under its predecessor's id, if its agent
// deleted that one: a deleted id begun again.
func reuses(key inmem.RunID) bool { return (fateBits(key)>>16)%2 == 0 }

// slotID is the run id of agent's r-th slot: its key, or the id of its predecessor if that
// one's run is deleted by its agent and the slot reuses it. The predecessor's deletion is
// acknowledged before the slot begins, so one id holds one slot's run at a time, and the
// slots sharing an id hold it one after the other.
func slotID(seed uint64, agent, r int) inmem.RunID {
	for r > 0 && reuses(runID(seed, agent, r)) && deletes(runID(seed, agent, r-1)) {
		r--
	}
	return runID(seed, agent, r)
}

// slotName is the RunInfo.Name of agent's r-th slot's run: how any process maps a run it
// finds to its slot, whatever id it has.
func slotName(agent, r int) string { return fmt.Sprintf("agent %d run %d", agent, r) }

// parseSlot reads slotName.
func parseSlot(name string) (agent, r int, ok bool) {
	n, err := fmt.Sscanf(name, "agent %d run %d", &agent, &r)
	return agent, r, err == nil && n == 2 && slotName(agent, r) == name
}

// model is what a run holds after a prefix of its ops: the reference the database is checked
// against. It learns only ops that were acknowledged (or, after a crash, that recovery kept).
type model struct {
	kv     map[string]string
	docs   map[string]map[string]int
	docv   map[string]int // each document's version: not in the image, see patched
	cells  map[string]string
	events []string // "type payload"
	spans  []string // "id<parent"
}

func newModel() *model {
	return &model{kv: map[string]string{}, docs: map[string]map[string]int{}, docv: map[string]int{}, cells: map[string]string{}}
}

// restart makes every document's version 1, as a fork's base has them.
func (m *model) restart() {
	for d := range m.docv {
		m.docv[d] = 1
	}
}

func (o op) key() string   { return fmt.Sprint("k", o.k) }
func (o op) doc() string   { return fmt.Sprint("d", o.k%3) }
func (o op) cell() string  { return fmt.Sprint("c", o.k%2) }
func (o op) value() string { return fmt.Sprint(o.tag, "v", o.i) }
func (o op) field() string { return fmt.Sprint("f", o.k%4) }
func (o op) event() (typ, payload string) {
	return fmt.Sprint("t", o.k%3), fmt.Sprintf(`{"i":%d}`, o.i)
}
func (o op) spanID() string { return fmt.Sprint(o.tag, "s", o.i) }

// parent is the span an op's span hangs from: the run's last span, for odd keys.
func (m *model) parent(o op) string {
	if o.k%2 == 0 || len(m.spans) == 0 {
		return ""
	}
	id, _, _ := cutSpan(m.spans[len(m.spans)-1])
	return id
}

func cutSpan(s string) (id, parent string, ok bool) {
	for j := range len(s) {
		if s[j] == '<' {
			return s[:j], s[j+1:], true
		}
	}
	return s, "", false
}

// apply is o's effect. It decides every branch the transaction takes (create or patch a
// document, a span's parent) from the model, so that the transaction and the fold agree.
func (m *model) apply(o op) {
	switch o.kind {
	case opPut:
		m.kv[o.key()] = o.value()
	case opDelete:
		delete(m.kv, o.key())
	case opJSON:
		if d, ok := m.docs[o.doc()]; ok {
			d["n"], d[o.field()] = o.i, o.i
		} else {
			m.docs[o.doc()] = map[string]int{"n": o.i}
		}
		m.docv[o.doc()]++
	case opEvent:
		typ, payload := o.event()
		m.events = append(m.events, typ+" "+payload)
	case opCell:
		if o.k == 7 {
			delete(m.cells, o.cell())
		} else {
			m.cells[o.cell()] = o.value()
		}
	case opSpan:
		m.spans = append(m.spans, o.spanID()+"<"+m.parent(o))
	case opCross:
		m.kv["x"] = o.value()
		m.events = append(m.events, "x "+fmt.Sprintf(`{"i":%d}`, o.i))
		m.cells["x"] = o.value()
	}
}

// write performs o in tx, as apply describes it (m is the model before o).
func (m *model) write(tx *inmem.Tx, o op) error {
	switch o.kind {
	case opPut:
		return tx.KV().Put(o.key(), []byte(o.value()))
	case opDelete:
		return tx.KV().Delete(o.key())
	case opJSON:
		if _, ok := m.docs[o.doc()]; !ok {
			return tx.JSON().Create(o.doc(), fmt.Appendf(nil, `{"n":%d}`, o.i))
		}
		v := fmt.Append(nil, o.i)
		return tx.JSON().Patch(o.doc(), []inmem.PatchOp{
			{Op: "set", Path: "$.n", Value: v}, {Op: "set", Path: "$." + o.field(), Value: v}})
	case opEvent:
		typ, payload := o.event()
		return tx.Events().Append(typ, []byte(payload))
	case opCell:
		if o.k == 7 {
			return tx.State().Delete(o.cell())
		}
		return tx.State().Set(o.cell(), []byte(o.value()))
	case opSpan:
		_, err := tx.Traces().Record(inmem.Span{ID: o.spanID(), ParentID: m.parent(o), Kind: inmem.SpanThought, Name: o.spanID()})
		return err
	default: // opCross
		return errors.Join(
			tx.KV().Put("x", []byte(o.value())),
			tx.Events().Append("x", fmt.Appendf(nil, `{"i":%d}`, o.i)),
			tx.State().Set("x", []byte(o.value())),
		)
	}
}

// sortedKeys lists a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
