package trace

import (
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
)

// Tx is the trace share of one transaction: spans buffered in record order. It implements
// extension.TxPart.
type Tx struct {
	store    *Store
	run      extension.RunID
	snapshot uint64
	spans    []*Span        // private copies, in record order
	ids      map[string]int // id → index in spans
}

// NewTx starts the trace part of a transaction of run reading at snapshot.
func (s *Store) NewTx(run extension.RunID, snapshot uint64) *Tx {
	return &Tx{store: s, run: run, snapshot: snapshot}
}

// Record buffers span and returns its id: span.ID, or a fresh one (NewID) if it is empty. The
// span is checked (Check: ErrInvalidArgument, ErrTooLarge) and copied; repeated tags are kept
// once, in first-seen order; Commit is ignored. An id already recorded in this transaction is
// ErrAlreadyExists at once; an id taken by another transaction, or a parent that is neither
// recorded earlier in this transaction nor committed, fails at commit (Validate).
func (t *Tx) Record(span Span) (string, error) {
	if err := Check(span); err != nil {
		return "", err
	}
	if span.ID == "" {
		span.ID = NewID()
	}
	if _, dup := t.ids[span.ID]; dup {
		return "", fmt.Errorf("%w: span %q of run %s recorded twice in one transaction", dberr.ErrAlreadyExists, span.ID, t.run)
	}
	cp := span
	cp.Commit = 0
	cp.Tags = nil
	if len(span.Tags) > 0 {
		seen := make(map[string]bool, len(span.Tags))
		cp.Tags = make([]string, 0, len(span.Tags))
		for _, tag := range span.Tags {
			if !seen[tag] {
				seen[tag] = true
				cp.Tags = append(cp.Tags, tag)
			}
		}
	}
	cp.Attributes = nil
	if len(span.Attributes) > 0 {
		cp.Attributes = append([]byte(nil), span.Attributes...)
	}
	if t.ids == nil {
		t.ids = map[string]int{}
	}
	t.ids[cp.ID] = len(t.spans)
	t.spans = append(t.spans, &cp)
	return cp.ID, nil
}

// Get returns the span the transaction sees: its own pending span (Commit 0), else the
// snapshot's. It adds nothing to a read set: spans are immutable once recorded.
func (t *Tx) Get(id string) (Span, error) {
	if i, ok := t.ids[id]; ok {
		return *t.spans[i], nil
	}
	if s, ok := t.store.Get(t.run, id, t.snapshot); ok {
		return s, nil
	}
	return Span{}, fmt.Errorf("%w: span %q of run %s", dberr.ErrNotFound, id, t.run)
}

// Pending returns how many spans the transaction buffered.
func (t *Tx) Pending() int { return len(t.spans) }

// Empty reports whether the part has no writes.
func (t *Tx) Empty() bool { return len(t.spans) == 0 }

func (t *Tx) key(id string) extension.Key {
	return extension.Key{Section: SectionID, Run: t.run, Name: id}
}

// taken reports whether id is committed, applied or sequenced-and-staged.
func (t *Tx) taken(c extension.Commit, id string) bool {
	if _, ok := c.Staged(t.key(id)); ok {
		return true
	}
	return t.store.exists(t.run, id)
}

// Validate fails with ErrAlreadyExists if a span's id is taken (applied, or staged by a
// sequenced commit), and with ErrNotFound if a span's parent is neither recorded earlier in
// this transaction nor applied nor staged. It then stages one key per span.
func (t *Tx) Validate(c extension.Commit) error {
	for i, s := range t.spans {
		if t.taken(c, s.ID) {
			return fmt.Errorf("%w: span %q of run %s", dberr.ErrAlreadyExists, s.ID, t.run)
		}
		if s.ParentID == "" {
			continue
		}
		if j, ok := t.ids[s.ParentID]; ok && j < i {
			continue
		}
		if !t.taken(c, s.ParentID) {
			return fmt.Errorf("%w: parent span %q of span %q of run %s", dberr.ErrNotFound, s.ParentID, s.ID, t.run)
		}
	}
	for _, s := range t.spans {
		c.Stage(t.key(s.ID), extension.Staged{Version: c.Version()})
	}
	return nil
}

// Entries appends one TraceRecord per buffered span, in record order (parents before children).
func (t *Tx) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	for _, s := range t.spans {
		dst = append(dst, commitlog.Entry{Type: TypeRecord, Version: 1, Payload: encode(t.run, s)})
	}
	return dst
}
