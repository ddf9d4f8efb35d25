package keys

// Keyed is an entry of a transaction part's write list: it knows the name it writes.
type Keyed interface{ Key() string }

// indexFrom is the entry count from which lookups use a map instead of a scan: a transaction
// that writes a handful of names — the common case — never builds the map.
const indexFrom = 8

// Index finds a transaction part's writes by name. The part keeps its entries in a slice, in
// first-write order, one per name; the Index answers where a name is, scanning while the slice
// is short and through a map once it is long.
type Index[E Keyed] struct {
	pos map[string]int
}

// Find returns the position of name in items, or -1.
func (x *Index[E]) Find(items []E, name string) int {
	if x.pos != nil {
		if i, ok := x.pos[name]; ok {
			return i
		}
		return -1
	}
	for i := range items {
		if items[i].Key() == name {
			return i
		}
	}
	return -1
}

// Added records that the last entry of items was just appended (its name must be new).
func (x *Index[E]) Added(items []E) {
	switch {
	case x.pos != nil:
		x.pos[items[len(items)-1].Key()] = len(items) - 1
	case len(items) >= indexFrom:
		x.pos = make(map[string]int, 2*len(items))
		for i := range items {
			x.pos[items[i].Key()] = i
		}
	}
}
