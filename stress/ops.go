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

// An op is one transaction of a run. Ops are a pure function of (run, index), so whoever knows
// a run's id and how many of its transactions committed — a parent process after SIGKILL, a
// checker after a simulated crash — can rebuild what the run must hold.
type op struct {
	i    int
	kind int
	k    int // which key, document, cell, event type
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

// runID derives agent's r-th run of a workload from its seed.
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

// opAt returns run's i-th op.
func opAt(run inmem.RunID, i int) op {
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(run[:8]), uint64(i)))
	return op{i: i, kind: rng.IntN(opKinds), k: rng.IntN(8)}
}

// model is what a run holds after a prefix of its ops: the reference the database is checked
// against. It learns only ops that were acknowledged (or, after a crash, that recovery kept).
type model struct {
	kv     map[string]string
	docs   map[string]map[string]int
	cells  map[string]string
	events []string // "type payload"
	spans  []string // "id<parent"
}

func newModel() *model {
	return &model{kv: map[string]string{}, docs: map[string]map[string]int{}, cells: map[string]string{}}
}

// fold returns the model of run after its first n ops.
func fold(run inmem.RunID, n int) *model {
	m := newModel()
	for i := range n {
		m.apply(opAt(run, i))
	}
	return m
}

func (o op) key() string   { return fmt.Sprint("k", o.k) }
func (o op) doc() string   { return fmt.Sprint("d", o.k%3) }
func (o op) cell() string  { return fmt.Sprint("c", o.k%2) }
func (o op) value() string { return fmt.Sprint("v", o.i) }
func (o op) field() string { return fmt.Sprint("f", o.k%4) }
func (o op) event() (typ, payload string) {
	return fmt.Sprint("t", o.k%3), fmt.Sprintf(`{"i":%d}`, o.i)
}
func (o op) spanID() string { return fmt.Sprint("s", o.i) }

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
