package inmem

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/primitives/trace"
)

// SpanKind classifies a span of an agent's reasoning.
type SpanKind string

// Span kinds.
const (
	SpanToolCall SpanKind = trace.KindToolCall
	SpanDecision SpanKind = trace.KindDecision
	SpanQuery    SpanKind = trace.KindQuery
	SpanThought  SpanKind = trace.KindThought
	SpanError    SpanKind = trace.KindError
	SpanCustom   SpanKind = trace.KindCustom
)

// Span is one step of an agent's reasoning. ParentID, if set, names a span recorded earlier
// (or earlier in the same transaction). An empty ID is assigned at Record.
type Span struct {
	ID, ParentID string
	Kind         SpanKind
	Name         string
	Start, End   time.Time
	Tags         []string
	Attributes   []byte // JSON
}

// Traces is the reasoning-trace primitive. Spans are never changed once recorded;
// the indexes behind the queries are derived when spans are applied.
type Traces struct{ db *DB }

// Traces returns the trace facade.
func (db *DB) Traces() *Traces { return &db.tracesAPI }

// Record commits one span and returns its id. A missing parent is ErrNotFound, a taken id
// ErrAlreadyExists.
func (t *Traces) Record(ctx context.Context, run RunID, s Span) (string, error) {
	part := t.db.traces.NewTx(run, 0)
	id, err := part.Record(internalSpan(s))
	if err != nil {
		return "", err
	}
	if err := t.db.submit(ctx, actors.NewCommit(run, 0, part)); err != nil {
		return "", err
	}
	return id, nil
}

// Get returns the span with id.
func (t *Traces) Get(run RunID, id string) (Span, error) {
	snap, err := t.snapshot(run)
	if err != nil {
		return Span{}, err
	}
	s, ok := t.db.traces.Get(run, id, snap)
	if !ok {
		return Span{}, fmt.Errorf("%w: span %q", ErrNotFound, id)
	}
	return publicSpan(s), nil
}

// Children returns the spans whose parent is id, ordered by start time.
func (t *Traces) Children(run RunID, id string) ([]Span, error) {
	return t.query(run, id, t.db.traces.Children)
}

// Tree returns root and all its descendants, depth first.
func (t *Traces) Tree(run RunID, root string) ([]Span, error) {
	return t.query(run, root, t.db.traces.Tree)
}

// Roots returns the spans without a parent, ordered by start time.
func (t *Traces) Roots(run RunID) ([]Span, error) {
	snap, err := t.snapshot(run)
	return publicSpans(t.db.traces.Roots(run, snap)), err
}

// ByKind returns the spans of one kind, ordered by start time.
func (t *Traces) ByKind(run RunID, kind SpanKind) ([]Span, error) {
	snap, err := t.snapshot(run)
	return publicSpans(t.db.traces.ByKind(run, string(kind), snap)), err
}

// ByTag returns the spans carrying tag, ordered by start time.
func (t *Traces) ByTag(run RunID, tag string) ([]Span, error) {
	snap, err := t.snapshot(run)
	return publicSpans(t.db.traces.ByTag(run, tag, snap)), err
}

// InTime returns the spans that start in [from, to).
func (t *Traces) InTime(run RunID, from, to time.Time) ([]Span, error) {
	snap, err := t.snapshot(run)
	return publicSpans(t.db.traces.InTime(run, from.UnixMicro(), to.UnixMicro(), snap)), err
}

// List returns every span of the run, ordered by start time.
func (t *Traces) List(run RunID) ([]Span, error) {
	snap, err := t.snapshot(run)
	return publicSpans(t.db.traces.List(run, snap)), err
}

// Count returns the number of spans of the run.
func (t *Traces) Count(run RunID) (int, error) {
	snap, err := t.snapshot(run)
	return t.db.traces.Count(run, snap), err
}

// snapshot returns the version reads of run are answered at, or why they cannot be.
func (t *Traces) snapshot(run RunID) (uint64, error) {
	if err := t.db.usable(); err != nil {
		return 0, err
	}
	snap := t.db.clock.Now()
	return snap, t.db.runCheck(run, snap, false)
}

func (t *Traces) query(run RunID, id string, q func(RunID, string, uint64) ([]trace.Span, bool)) ([]Span, error) {
	snap, err := t.snapshot(run)
	if err != nil {
		return nil, err
	}
	spans, ok := q(run, id, snap)
	if !ok {
		return nil, fmt.Errorf("%w: span %q", ErrNotFound, id)
	}
	return publicSpans(spans), nil
}

// TraceTx is the trace primitive inside a transaction.
type TraceTx struct{ tx *Tx }

// Traces returns the transaction's trace view.
func (tx *Tx) Traces() *TraceTx { return &tx.traceTx }

// Record buffers a span and returns its id; its parent may be a span recorded earlier in the
// same transaction.
func (t *TraceTx) Record(s Span) (string, error) {
	if err := t.tx.check(true); err != nil {
		return "", err
	}
	return t.tx.tracePart().Record(internalSpan(s))
}

func internalSpan(s Span) trace.Span {
	ts := trace.Span{ID: s.ID, ParentID: s.ParentID, Kind: string(s.Kind), Name: s.Name,
		Tags: s.Tags, Attributes: s.Attributes}
	if !s.Start.IsZero() {
		ts.Start = s.Start.UnixMicro()
	}
	if !s.End.IsZero() {
		ts.End = s.End.UnixMicro()
	}
	return ts
}

func publicSpan(s trace.Span) Span {
	p := Span{ID: s.ID, ParentID: s.ParentID, Kind: SpanKind(s.Kind), Name: s.Name,
		Tags: slices.Clone(s.Tags), Attributes: clone(s.Attributes)}
	if s.Start != 0 {
		p.Start = time.UnixMicro(s.Start).UTC()
	}
	if s.End != 0 {
		p.End = time.UnixMicro(s.End).UTC()
	}
	return p
}

func publicSpans(ss []trace.Span) []Span {
	if len(ss) == 0 {
		return nil
	}
	out := make([]Span, len(ss))
	for i, s := range ss {
		out[i] = publicSpan(s)
	}
	return out
}
