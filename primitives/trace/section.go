package trace

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// sectionFormat is the format version byte of a run's chunk body.
const sectionFormat = 1

// minSpanBytes is the size of the smallest span of a chunk body (commit, record length, and a
// record of a 1-byte id and name with everything else empty or zero): it bounds the span count
// a body of a given size can claim.
const minSpanBytes = 1 + 1 + (1 + 1) + 1 + 1 + (1 + 1) + 1 + 1 + 1

// Freeze returns the shard at version: O(1). The view reads the byCommit lists as readers do;
// the engine pins version while the view is written.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return frozen{sh: sh, at: version}
}

type frozen struct {
	sh *shard
	at uint64
}

// WriteSection writes one chunk per run that has spans at the view's version.
func (f frozen) WriteSection(w io.Writer) error {
	var body, rec []byte
	var err error
	f.sh.runs.Range(f.at, func(run extension.RunID, r *runSpans) bool {
		l := r.byCommit.load()
		n := sort.Search(len(l), func(i int) bool { return l[i].Commit > f.at })
		if n == 0 {
			return true
		}
		body = binary.AppendUvarint(append(body[:0], sectionFormat), uint64(n))
		for _, s := range l[:n] {
			rec = appendSpan(rec[:0], s)
			body = binary.AppendUvarint(body, s.Commit)
			body = binary.AppendUvarint(body, uint64(len(rec)))
			body = append(body, rec...)
		}
		err = extension.WriteChunk(w, run, body)
		return err == nil
	})
	return err
}

// LoadSection restores one run's spans from a snapshot chunk and rebuilds the run's indexes.
// The chunk is decoded and checked whole first: a malformed chunk changes nothing.
func (sh *shard) LoadSection(rd io.Reader) error {
	run, body, err := extension.ReadChunk(rd)
	if err != nil {
		return err
	}
	if sh.runs.At(run, mvcc.Latest) != nil {
		return fmt.Errorf("%w: trace section: run %s loaded twice", dberr.ErrCorruption, run)
	}
	spans, err := decodeSection(body)
	if err != nil {
		return fmt.Errorf("%w: trace section, run %s: %w", dberr.ErrCorruption, run, err)
	}
	if len(spans) == 0 {
		return nil
	}
	r := sh.runs.Create(run, spans[0].Commit, newRunSpans)
	for _, s := range spans {
		r.ids.Store(s.ID, s)
		r.byCommit.appendLast(s)
		if sh.idx != nil { // indexes are not in snapshots: rebuilt from what is loaded, at version 0
			sh.idx.Put(run, extension.SearchRef{SpanID: s.ID}, 0, searchText(s))
		}
	}
	// The ordered lists get the spans in their own order, so that every add appends in place:
	// the same lists Apply builds, in O(n log n) however the spans' starts were ordered.
	slices.SortFunc(spans, func(a, b *Span) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.ID, b.ID))
	})
	for _, s := range spans {
		r.order(s)
	}
	return nil
}

// decodeSection decodes a chunk body into the run's spans in commit order, checking what Apply
// checks: every span decodes, ids are unique and each parent comes earlier.
func decodeSection(body []byte) ([]*Span, error) {
	if len(body) == 0 || body[0] != sectionFormat {
		return nil, fmt.Errorf("%w: unknown format (want version %d)", ErrMalformed, sectionFormat)
	}
	p := body[1:]
	count, w := binary.Uvarint(p)
	if w <= 0 || count > uint64(len(p)-w)/minSpanBytes {
		return nil, fmt.Errorf("%w: bad span count", ErrMalformed)
	}
	p = p[w:]
	spans := make([]*Span, 0, count)
	ids := make(map[string]bool, count)
	var last uint64
	for i := range count {
		commit, w := binary.Uvarint(p)
		if w <= 0 || commit == 0 || commit < last {
			return nil, fmt.Errorf("%w: span %d: bad commit version", ErrMalformed, i)
		}
		last, p = commit, p[w:]
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return nil, fmt.Errorf("%w: span %d: bad record length", ErrMalformed, i)
		}
		end := w + int(n)
		s, err := decodeSpan(p[w:end:end], commit)
		if err != nil {
			return nil, fmt.Errorf("span %d: %w", i, err)
		}
		p = p[end:]
		if ids[s.ID] {
			return nil, fmt.Errorf("%w: span %q recorded twice", ErrMalformed, s.ID)
		}
		if s.ParentID != "" && !ids[s.ParentID] {
			return nil, fmt.Errorf("%w: span %q has no parent %q", ErrMalformed, s.ID, s.ParentID)
		}
		ids[s.ID] = true
		spans = append(spans, s)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last span", ErrMalformed, len(p))
	}
	return spans, nil
}
