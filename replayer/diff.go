package replayer

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/inmemdb/inmem/extension"
)

// Change is one difference between two replayed runs, in the primitive registered as Owner.
type Change struct {
	Owner         int
	Key           string
	Before, After []byte   // the compared forms; nil on the side that lacks the item
	Paths         []string // for a modified value of an extension.PathDiffer: what changed inside
}

// Diff is what tells run B from run A.
type Diff struct {
	Added    []Change // in B, not in A
	Removed  []Change // in A, not in B
	Modified []Change // in both, with different values
}

// Compare returns the differences from a to b, primitive by primitive in registration order
// (each extension.Lister present in both views; both views come from one registry). Keyed items
// are matched by key, and a primitive's changes listed by key. Sequences are
// compared position by position: after their common prefix, what is left of a is Removed and
// what is left of b Added. Compare(a, b).Added is Compare(b, a).Removed, and so on.
func Compare(a, b *View) (*Diff, error) {
	d := new(Diff)
	for owner, pa := range a.prims {
		la, ok := pa.(extension.Lister)
		lb, okb := b.prims[owner].(extension.Lister)
		if !ok || !okb {
			continue
		}
		ia, ordered := la.Items(a.Run, a.Version)
		ib, _ := lb.Items(b.Run, b.Version)
		if ordered {
			d.sequences(owner, ia, ib)
			continue
		}
		paths, _ := pa.(extension.PathDiffer)
		if err := d.keyed(owner, ia, ib, paths); err != nil {
			return nil, fmt.Errorf("replayer: %s: %w", pa.Name(), err)
		}
	}
	return d, nil
}

// sequences adds what follows the common prefix of a and b.
func (d *Diff) sequences(owner int, a, b []extension.Item) {
	i := 0
	for i < len(a) && i < len(b) && bytes.Equal(a[i].Value, b[i].Value) {
		i++
	}
	for _, it := range a[i:] {
		d.Removed = append(d.Removed, Change{Owner: owner, Key: it.Key, Before: it.Value})
	}
	for _, it := range b[i:] {
		d.Added = append(d.Added, Change{Owner: owner, Key: it.Key, After: it.Value})
	}
}

// keyed matches two lists by key; the changes it adds are sorted by key.
func (d *Diff) keyed(owner int, a, b []extension.Item, paths extension.PathDiffer) error {
	inB := make(map[string]int, len(b)) // key → index in b; -1 once matched
	for i, it := range b {
		inB[it.Key] = i
	}
	var removed, modified, added []Change
	for _, it := range a {
		j, ok := inB[it.Key]
		if !ok {
			removed = append(removed, Change{Owner: owner, Key: it.Key, Before: it.Value})
			continue
		}
		inB[it.Key] = -1
		ch, err := change(owner, it, b[j], paths)
		if err != nil {
			return err
		}
		if ch != nil {
			modified = append(modified, *ch)
		}
	}
	for _, it := range b {
		if inB[it.Key] >= 0 {
			added = append(added, Change{Owner: owner, Key: it.Key, After: it.Value})
		}
	}
	d.Removed = append(d.Removed, byKey(removed)...)
	d.Modified = append(d.Modified, byKey(modified)...)
	d.Added = append(d.Added, byKey(added)...)
	return nil
}

func byKey(cs []Change) []Change {
	slices.SortFunc(cs, func(x, y Change) int { return strings.Compare(x.Key, y.Key) })
	return cs
}

// change compares one key's two values: nil if they are equal.
func change(owner int, a, b extension.Item, paths extension.PathDiffer) (*Change, error) {
	if bytes.Equal(a.Value, b.Value) {
		return nil, nil
	}
	ch := &Change{Owner: owner, Key: a.Key, Before: a.Value, After: b.Value}
	if paths != nil {
		var err error
		if ch.Paths, err = paths.ChangedPaths(a.Value, b.Value); err != nil {
			return nil, fmt.Errorf("changed paths of %q: %w", a.Key, err)
		}
	}
	return ch, nil
}
