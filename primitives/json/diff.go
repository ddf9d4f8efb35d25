package json

import (
	"cmp"
	stdjson "encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ChangedPaths compares two encoded JSON documents (for DiffEntry.Paths) and returns the
// paths at which they differ, rendered with Path.String, sorted segment by segment (member
// names bytewise, indexes numerically, so "$.a[2]" comes before "$.a[10]"), without
// duplicates; nil when the documents are equal. Invalid JSON on either side is an error
// wrapping ErrInvalidArgument.
//
// A changed path is the deepest path at which the two documents differ: a member or element
// present on only one side is reported at its own path, a scalar that changed at its path, and
// a subtree replaced by a value of another kind (object, array, scalar) once at its root, not
// per leaf inside it. Numbers compare as written ("1.0" differs from "1"). Member names
// containing '.', '[' or ']' cannot be addressed by the path syntax and are rendered as they
// are, so such a path may not parse back (and two changed paths may render alike; the result
// lists each string once).
func ChangedPaths(before, after []byte) ([]string, error) {
	b, err := parseValue(before)
	if err != nil {
		return nil, fmt.Errorf("before document: %w", err)
	}
	a, err := parseValue(after)
	if err != nil {
		return nil, fmt.Errorf("after document: %w", err)
	}
	paths := diffValues(b, a)
	if len(paths) == 0 {
		return nil, nil
	}
	slices.SortFunc(paths, comparePaths)
	out := make([]string, 0, len(paths))
	seen := make(map[string]struct{}, len(paths))
	for _, p := range paths {
		s := p.String()
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out, nil
}

// diffValues returns the changed paths between two parsed documents, unsorted. Recursion is
// bounded by the documents' nesting (at most MaxDepth after parseValue).
func diffValues(before, after any) []Path {
	var d differ
	d.walk(before, after)
	return d.out
}

// differ walks two documents together; cur is the path of the values being compared, shared
// by the whole walk and copied only when a path is recorded.
type differ struct {
	cur Path
	out []Path
}

func (d *differ) record() { d.out = append(d.out, slices.Clone(d.cur)) }

func (d *differ) walk(before, after any) {
	switch b := before.(type) {
	case map[string]any:
		if a, ok := after.(map[string]any); ok {
			d.objects(b, a)
			return
		}
	case []any:
		if a, ok := after.([]any); ok {
			d.arrays(b, a)
			return
		}
	default:
		if sameScalar(before, after) {
			return
		}
	}
	d.record() // different kinds, or different scalars
}

func (d *differ) objects(before, after map[string]any) {
	for name, bv := range before {
		d.cur = append(d.cur, Segment{Name: name})
		if av, ok := after[name]; ok {
			d.walk(bv, av)
		} else {
			d.record()
		}
		d.cur = d.cur[:len(d.cur)-1]
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			d.cur = append(d.cur, Segment{Name: name})
			d.record()
			d.cur = d.cur[:len(d.cur)-1]
		}
	}
}

func (d *differ) arrays(before, after []any) {
	common := min(len(before), len(after))
	for i := range max(len(before), len(after)) {
		d.cur = append(d.cur, Segment{Index: i, IsIndex: true})
		if i < common {
			d.walk(before[i], after[i])
		} else {
			d.record() // an element on one side only
		}
		d.cur = d.cur[:len(d.cur)-1]
	}
}

// sameScalar reports whether two scalars are equal: null, booleans and strings by value,
// numbers by their text as written. A container is never a same scalar.
func sameScalar(before, after any) bool {
	switch b := before.(type) {
	case nil:
		return after == nil
	case bool:
		a, ok := after.(bool)
		return ok && a == b
	case string:
		a, ok := after.(string)
		return ok && a == b
	case stdjson.Number:
		a, ok := after.(stdjson.Number)
		return ok && a == b
	}
	return false
}

// comparePaths orders paths segment by segment (member names bytewise before indexes,
// indexes numerically), a prefix before its extensions.
func comparePaths(a, b Path) int {
	for i := range min(len(a), len(b)) {
		if c := compareSegments(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func compareSegments(a, b Segment) int {
	switch {
	case a.IsIndex && b.IsIndex:
		return cmp.Compare(a.Index, b.Index)
	case a.IsIndex != b.IsIndex:
		if a.IsIndex {
			return 1
		}
		return -1
	}
	return strings.Compare(a.Name, b.Name)
}
