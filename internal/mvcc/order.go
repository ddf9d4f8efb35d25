package mvcc

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// order keeps one run's names sorted for scans, at almost no cost to the actor.
//
// A run that is never scanned pays nothing: the index exists only once a scan asked for it
// (enabled). From then on the actor appends each name it creates to born, under mu (O(1), an
// uncontended lock), and scanners do the rest: a scan merges the names born since the sorted
// index was built into its own walk, and once there are more of them than mergeAfter, builds a
// new index with them, off the actor. A scan therefore costs O(log n + names walked), plus
// sorting at most mergeAfter new names, or, once per index, the merge (O(n)).
//
// The index holds candidates, not answers: a name in it may have been forgotten (its
// tombstone trimmed), or created after the scanning reader's snapshot. The scan looks each one
// up in the run's map and reads its chain at the snapshot, as every read does, so the index
// never needs to know about versions. Names forgotten meanwhile are dropped at the next merge.
//
// If scans stop while names keep being created, born would grow without bound: past
// maxBorn(index) the actor drops the index and born (O(1)) and the run is back to paying
// nothing; the next scan builds it again from the map (O(n log n), once).
type order struct {
	enabled atomic.Bool
	mu      sync.Mutex
	index   *sortedNames // guarded by mu (a built index is immutable)
	born    []string     // names created since index was built; guarded by mu
}

// sortedNames is a sorted, duplicate-free list of names.
type sortedNames struct{ names []string }

// mergeAfter is how many names born since the index a scan merges into its walk before it
// builds a new index instead.
const mergeAfter = 512

// maxBorn is how many born names the actor keeps for an index of n names before it drops both.
func maxBorn(n int) int { return max(4*mergeAfter, n) }

// created records a name the actor just created. Actor only.
func (o *order) created(name string) {
	if !o.enabled.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.index == nil { // a scan is building it: it takes born when done
		o.born = append(o.born, name)
		return
	}
	if len(o.born) >= maxBorn(len(o.index.names)) {
		o.index, o.born = nil, nil
		o.enabled.Store(false)
		return
	}
	o.born = append(o.born, name)
}

// walk calls fn with every name ≥ from that may exist, in order, until fn returns false.
// exists reports whether a name is in the run's map now; all lists names the map holds (used
// to build the index the first time).
func (o *order) walk(from string, exists func(string) bool, all func() []string, fn func(string) bool) {
	index, born := o.snapshot(all)
	if len(born) > mergeAfter {
		index = o.rebuild(index, born, exists)
		born = nil
	}
	slices.Sort(born)
	i := sort.SearchStrings(index.names, from)
	j := sort.SearchStrings(born, from)
	last, seen := "", false
	for i < len(index.names) || j < len(born) {
		var name string
		if j == len(born) || i < len(index.names) && index.names[i] <= born[j] {
			name, i = index.names[i], i+1
		} else {
			name, j = born[j], j+1
		}
		if seen && name == last {
			continue // born twice, or born and in the index
		}
		last, seen = name, true
		if !fn(name) {
			return
		}
	}
}

// snapshot returns the index and a copy of the names born since, building the index first if
// there is none.
func (o *order) snapshot(all func() []string) (*sortedNames, []string) {
	o.mu.Lock()
	if o.index != nil {
		defer o.mu.Unlock()
		return o.index, slices.Clone(o.born)
	}
	o.enabled.Store(true) // names created from now on are in born
	o.mu.Unlock()
	names := all()
	slices.Sort(names)
	built := &sortedNames{names: slices.Compact(names)}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.index == nil {
		o.index = built
		// born holds what was created while the map was listed: some of it twice, which the
		// walk and the next merge drop.
	}
	return o.index, slices.Clone(o.born)
}

// rebuild merges born into index, drops names the map no longer holds, and installs the result
// unless another scan installed an index meanwhile.
func (o *order) rebuild(index *sortedNames, born []string, exists func(string) bool) *sortedNames {
	slices.Sort(born)
	merged := make([]string, 0, len(index.names)+len(born))
	i, j := 0, 0
	for i < len(index.names) || j < len(born) {
		var name string
		if j == len(born) || i < len(index.names) && index.names[i] <= born[j] {
			name, i = index.names[i], i+1
		} else {
			name, j = born[j], j+1
		}
		if n := len(merged); n > 0 && merged[n-1] == name || !exists(name) {
			continue
		}
		merged = append(merged, name)
	}
	built := &sortedNames{names: merged}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.index == index && len(o.born) >= len(born) {
		// born only grows while the index stays: its first len(born) names are the ones merged.
		o.index, o.born = built, slices.Clone(o.born[len(born):])
	}
	return built
}
