package stress

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/inmemdb/inmem"
)

// An image is a run's state in one canonical text, so that the model, the live database and a
// replayed view compare with ==. Event hashes are left to VerifyChain; spans are compared as a
// set of (id, parent), since every one of them starts at time zero.

func (m *model) image() string {
	var b strings.Builder
	for _, k := range sortedKeys(m.kv) {
		fmt.Fprintf(&b, "kv %s=%s\n", k, m.kv[k])
	}
	for _, k := range sortedKeys(m.docs) {
		fmt.Fprintf(&b, "json %s %s\n", k, docImage(m.docs[k]))
	}
	for _, k := range sortedKeys(m.cells) {
		fmt.Fprintf(&b, "cell %s=%s\n", k, m.cells[k])
	}
	for _, e := range m.events {
		fmt.Fprintf(&b, "event %s\n", e)
	}
	for _, s := range slices.Sorted(slices.Values(m.spans)) {
		fmt.Fprintf(&b, "span %s\n", s)
	}
	return b.String()
}

func docImage(fields map[string]int) string {
	var parts []string
	for _, f := range sortedKeys(fields) {
		parts = append(parts, fmt.Sprintf("%s:%d", f, fields[f]))
	}
	return strings.Join(parts, ",")
}

// source is what an image is read from: the live database, or a replayed view.
type source struct {
	kv     func() ([]string, func(string) ([]byte, bool), error)
	docs   func() ([]string, func(string) ([]byte, bool), error)
	cells  func() ([]string, func(string) ([]byte, bool), error)
	events func() ([]inmem.Event, error)
	spans  func() ([]inmem.Span, error)
}

func (s source) image() (string, error) {
	var b strings.Builder
	for _, part := range []struct {
		what string
		list func() ([]string, func(string) ([]byte, bool), error)
	}{{"kv", s.kv}, {"json", s.docs}, {"cell", s.cells}} {
		names, get, err := part.list()
		if err != nil {
			return "", err
		}
		for _, n := range names {
			v, ok := get(n)
			if !ok {
				return "", fmt.Errorf("%s %q listed but not found", part.what, n)
			}
			if part.what == "json" {
				fields := map[string]int{}
				if err := json.Unmarshal(v, &fields); err != nil {
					return "", fmt.Errorf("json %q: %w", n, err)
				}
				fmt.Fprintf(&b, "json %s %s\n", n, docImage(fields))
				continue
			}
			fmt.Fprintf(&b, "%s %s=%s\n", part.what, n, v)
		}
	}
	events, err := s.events()
	if err != nil {
		return "", err
	}
	for _, e := range events {
		fmt.Fprintf(&b, "event %s %s\n", e.Type, e.Payload)
	}
	spans, err := s.spans()
	if err != nil {
		return "", err
	}
	var ss []string
	for _, sp := range spans {
		ss = append(ss, sp.ID+"<"+sp.ParentID)
	}
	for _, sp := range slices.Sorted(slices.Values(ss)) {
		fmt.Fprintf(&b, "span %s\n", sp)
	}
	return b.String(), nil
}

// live reads run's image from the database.
func live(db *inmem.DB, run inmem.RunID) source {
	get := func(read func(string) ([]byte, error)) func(string) ([]byte, bool) {
		return func(n string) ([]byte, bool) {
			v, err := read(n)
			return v, err == nil
		}
	}
	return source{
		kv: func() ([]string, func(string) ([]byte, bool), error) {
			keys, err := db.KV().List(run, "")
			return keys, get(func(k string) ([]byte, error) { return db.KV().Get(run, k) }), err
		},
		docs: func() ([]string, func(string) ([]byte, bool), error) {
			keys, err := db.JSON().List(run)
			return keys, get(func(k string) ([]byte, error) { return db.JSON().Get(run, k, "$") }), err
		},
		cells: func() ([]string, func(string) ([]byte, bool), error) {
			names, err := db.State().List(run)
			return names, get(func(n string) ([]byte, error) {
				c, err := db.State().Get(run, n)
				return c.Value, err
			}), err
		},
		events: func() ([]inmem.Event, error) {
			n, err := db.Events().Len(run)
			if err != nil {
				return nil, err
			}
			return db.Events().Range(run, 0, n)
		},
		spans: func() ([]inmem.Span, error) { return db.Traces().List(run) },
	}
}

// replayed reads a view's image.
func replayed(v *inmem.ReadOnlyView) source {
	cell := func(n string) ([]byte, bool) {
		c, ok := v.State(n)
		return c.Value, ok
	}
	return source{
		kv:     func() ([]string, func(string) ([]byte, bool), error) { return v.KVKeys(), v.KV, nil },
		docs:   func() ([]string, func(string) ([]byte, bool), error) { return v.JSONKeys(), v.JSON, nil },
		cells:  func() ([]string, func(string) ([]byte, bool), error) { return v.StateNames(), cell, nil },
		events: func() ([]inmem.Event, error) { return v.Events(), nil },
		spans:  func() ([]inmem.Span, error) { return v.Spans(), nil },
	}
}
