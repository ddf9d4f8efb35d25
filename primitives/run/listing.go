package run

import (
	"iter"
	"slices"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/chunked"
)

// Match selects runs by the fields ListRuns filters on. Zero fields match everything.
type Match struct {
	Status Status // NotFound matches every status
	Agent  string
	Tag    string
	Parent extension.RunID // GlobalRun matches every parent
}

// Matches reports whether r matches m.
func (m Match) Matches(r *Record) bool {
	return (m.Status == NotFound || r.Status == m.Status) &&
		(m.Agent == "" || r.Info.Agent == m.Agent) &&
		(m.Tag == "" || slices.Contains(r.Info.Tags, m.Tag)) &&
		(m.Parent == extension.GlobalRun || r.Info.Parent == m.Parent)
}

// listing is a shard's runs in the order the actor began (or loaded) them, each with a digest
// of the fields ListRuns filters on, so that a filter is checked against a dense array instead
// of by following four pointers per run: over 100 000 runs, a filter that matched none took
// ~16 ms walking the records (BenchmarkListRunsFilterNone).
//
// A digest only rules runs out: a run whose digest passes is read at the reader's snapshot and
// matched exactly, so a false positive costs a read, never a wrong answer. Agent, tags and
// parent never change once a run is begun, so their digests are written once, before the
// digest is published. The statuses are the one field the actor changes in place, atomically
// (readers load it atomically, reading digests in place, never copying one): see digest.
//
// The actor appends, then publishes the list through view; a reader at snapshot S loaded S
// before the view, so the view lists every run begun at or before S (the actor applies,
// publishes the view, then the engine publishes the version). Runs begun later are listed too,
// and skipped: they have no record at S.
type listing struct {
	list  chunked.List[digest]                 // actor only
	view  atomic.Pointer[chunked.View[digest]] // what readers range over
	dirty bool                                 // appended since the last publish; actor only
}

// digest is one run's entry in the listing: 24 bytes.
type digest struct {
	run    *runState
	agent  uint32 // hash of Info.Agent
	parent uint32 // hash of Info.Parent
	tags   uint32 // a Bloom filter of Info.Tags: two bits per tag
	// statuses has the bit (statusBit) of every status a record on the run's chain has, and
	// maybe of statuses trimmed since: the actor sets a status's bit when it pushes a record,
	// before the version is published, and clears the others only when Trim leaves one record.
	// A reader at a snapshot no trim passed finds its record's status bit set. Atomic.
	statuses uint32
}

func hash32(s string) uint32 { return uint32(xxhash.Sum64String(s)) }

func parentHash(id extension.RunID) uint32 { return uint32(xxhash.Sum64(id[:])) }

func tagBits(tag string) uint32 {
	h := xxhash.Sum64String(tag)
	return 1<<(h&31) | 1<<(h>>5&31)
}

func statusBit(s Status) uint32 { return 1 << s }

// add lists run r, whose record is rec. Actor only; readers see it after publish.
func (l *listing) add(r *runState, rec *Record) {
	d := digest{run: r, agent: hash32(rec.Info.Agent), parent: parentHash(rec.Info.Parent),
		statuses: statusBit(rec.Status)}
	for _, t := range rec.Info.Tags {
		d.tags |= tagBits(t)
	}
	r.slot = uint32(l.list.Len())
	l.list.Append(d)
	l.dirty = true
}

// pushed records that r's chain has a record of status s. Actor only.
func (l *listing) pushed(r *runState, s Status) {
	atomic.OrUint32(&l.list.Ptr(int(r.slot)).statuses, statusBit(s))
}

// trimmed records that r's chain holds only a record of status s. Actor only.
func (l *listing) trimmed(r *runState, s Status) {
	atomic.StoreUint32(&l.list.Ptr(int(r.slot)).statuses, statusBit(s))
}

// publish makes what was added visible to readers. Actor only.
func (l *listing) publish() {
	if l.dirty {
		v := l.list.View()
		l.view.Store(&v)
		l.dirty = false
	}
}

// filter is a Match as digests are checked against it.
type filter struct {
	agent, parent, tags, statuses uint32
	byAgent, byParent             bool
}

func newFilter(m Match) filter {
	f := filter{byAgent: m.Agent != "", byParent: m.Parent != extension.GlobalRun}
	if f.byAgent {
		f.agent = hash32(m.Agent)
	}
	if f.byParent {
		f.parent = parentHash(m.Parent)
	}
	if m.Tag != "" {
		f.tags = tagBits(m.Tag)
	}
	if m.Status != NotFound {
		f.statuses = statusBit(m.Status)
	}
	return f
}

// may reports whether the run of d may match: false only if it cannot.
func (f *filter) may(d *digest) bool {
	return (!f.byAgent || d.agent == f.agent) &&
		(!f.byParent || d.parent == f.parent) &&
		d.tags&f.tags == f.tags &&
		(f.statuses == 0 || atomic.LoadUint32(&d.statuses)&f.statuses != 0)
}

// Matching returns the records at snapshot of the runs that match m, in no particular order.
func (s *Store) Matching(snapshot uint64, m Match) []*Record {
	f := newFilter(m)
	var out []*Record
	for b := range s.listed() {
		for i := range b {
			d := &b[i]
			if !f.may(d) {
				continue
			}
			if rec := d.run.records.At(snapshot); rec != nil && !rec.Deleted && m.Matches(rec.Value) {
				out = append(out, rec.Value)
			}
		}
	}
	return out
}

// listed yields the blocks of digests of every run the shards' published listings hold, to
// be read in place. By block, not by digest: a filter that matches none checks 100 000 digests
// in about 0.1 ms, and a call per digest would be most of it.
func (s *Store) listed() iter.Seq[[]digest] {
	return func(yield func([]digest) bool) {
		for _, sh := range s.shards {
			v := sh.listing.view.Load()
			if v == nil {
				continue
			}
			for b := range v.Blocks() {
				if !yield(b) {
					return
				}
			}
		}
	}
}
