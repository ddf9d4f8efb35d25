package inmem

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/changefeed"
	"github.com/inmemdb/inmem/extension"
)

// ErrLagged ends a subscription whose buffer filled up: the subscriber fell behind the
// commits. The error is a *LaggedError: re-read the state and subscribe again from there.
var ErrLagged = errors.New("inmem: subscriber lagged behind")

// LaggedError is the detail of ErrLagged: the version of the last change the subscriber was
// given (0 if none). Every change it missed has a higher version.
type LaggedError struct{ LastVersion uint64 }

func (e *LaggedError) Error() string {
	return fmt.Sprintf("%v: the last change delivered was of version %d", ErrLagged, e.LastVersion)
}

// Unwrap makes errors.Is(err, ErrLagged) true.
func (e *LaggedError) Unwrap() error { return ErrLagged }

// ChangeOp says what a change did; String gives its name ("put", "delete", "append", "set",
// "create", "patch", "record", "begin", "end", "abort", "resume", "orphan", "delete-run").
type ChangeOp = extension.ChangeOp

// The operations of a Change.
const (
	OpPut       = extension.OpPut       // KV put
	OpDelete    = extension.OpDelete    // KV delete, JSON delete (at a path or the document), cell delete
	OpAppend    = extension.OpAppend    // event appended (Key: its type, Seq: its sequence number)
	OpSet       = extension.OpSet       // JSON set, cell set or CAS
	OpCreate    = extension.OpCreate    // JSON create, cell init
	OpPatch     = extension.OpPatch     // JSON patch (or several operations on one document)
	OpRecord    = extension.OpRecord    // span recorded (Key: its id)
	OpBegin     = extension.OpBegin     // run begun (lifecycle)
	OpEnd       = extension.OpEnd       // run ended (lifecycle)
	OpAbort     = extension.OpAbort     // run aborted (lifecycle)
	OpResume    = extension.OpResume    // run resumed (lifecycle)
	OpOrphan    = extension.OpOrphan    // run marked Orphaned at Open (lifecycle)
	OpDeleteRun = extension.OpDeleteRun // run deleted (lifecycle)
)

// Change is one thing a commit changed. Lifecycle changes have Kind KindRun and no Key.
type Change struct {
	Version uint64    // the commit's version
	Time    time.Time // the commit's time
	Run     RunID
	Step    int // the run's number of data transactions once this commit is applied
	Kind    PrimitiveKind
	Key     string // KV key, document key, cell name, span id, or event type
	Seq     uint64 // an appended event's sequence number
	Op      ChangeOp
}

// Filter says which changes a subscription receives. Empty Runs and Kinds mean all. KeyPrefix
// applies to KV keys, document keys and cell names (events and spans pass it). Lifecycle
// changes (begin, end, …) are delivered only with Lifecycle set. Buffer is the most changes
// waiting for the subscriber (1024 if 0): past it the subscription ends with ErrLagged.
type Filter struct {
	Runs      []RunID
	Kinds     []PrimitiveKind
	KeyPrefix string
	Lifecycle bool
	Buffer    int
}

// defaultBuffer is Filter.Buffer's default.
const defaultBuffer = 1024

func (f Filter) matches(c Change) bool {
	if len(f.Runs) > 0 && !slices.Contains(f.Runs, c.Run) {
		return false
	}
	if c.Kind == KindRun {
		return f.Lifecycle
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, c.Kind) {
		return false
	}
	switch c.Kind {
	case KindKV, KindJSON, KindState:
		return strings.HasPrefix(c.Key, f.KeyPrefix)
	}
	return true
}

// route is where the feed files a subscription, so that a change is offered only to those
// that may want it: the run (or any run), the class of change, and for keyed data (KV,
// documents, cells) the key prefix.
type route struct {
	run    RunID
	anyRun bool
	class  routeClass
	prefix string
}

type routeClass uint8

const (
	keyed routeClass = iota + 1 // KV, JSON, state: filed by key prefix
	events
	spans
	lifecycle
	other // primitives from Options.Primitives
)

// classOf is the route class of a data change's kind.
func classOf(k PrimitiveKind) routeClass {
	switch k {
	case KindKV, KindJSON, KindState:
		return keyed
	case KindEvent:
		return events
	case KindTrace:
		return spans
	}
	return other
}

// routes is where a subscription with filter f is filed.
func (f Filter) routes() []route {
	var classes []route
	kinds := f.Kinds
	if len(kinds) == 0 {
		kinds = []PrimitiveKind{KindKV, KindEvent, KindTrace, KindOther}
	}
	for _, k := range kinds {
		if k == KindRun {
			continue // lifecycle changes follow f.Lifecycle
		}
		r := route{class: classOf(k)}
		if r.class == keyed {
			r.prefix = f.KeyPrefix
		}
		if !slices.Contains(classes, r) {
			classes = append(classes, r)
		}
	}
	if f.Lifecycle {
		classes = append(classes, route{class: lifecycle})
	}
	var out []route
	for _, c := range classes {
		if len(f.Runs) == 0 {
			c.anyRun = true
			out = append(out, c)
			continue
		}
		for _, run := range f.Runs {
			c.run = run
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// changeRoutes yields the routes a change is offered under: for its run and for any run, its
// class, and for keyed data every prefix of its key (substrings: no allocation).
func changeRoutes(c Change, yield func(route)) {
	for _, r := range [2]route{{run: c.Run}, {anyRun: true}} {
		switch {
		case c.Kind == KindRun:
			r.class = lifecycle
			yield(r)
		case classOf(c.Kind) == keyed:
			r.class = keyed
			for i := 0; i <= len(c.Key); i++ {
				r.prefix = c.Key[:i]
				yield(r)
			}
		default:
			r.class = classOf(c.Kind)
			yield(r)
		}
	}
}

// Subscription is a stream of changes (see Subscribe).
type Subscription struct {
	sub  *changefeed.Subscription[Change, route]
	stop func() bool // stops watching the subscription's context
}

// C is the channel the changes arrive on, in commit order; it is closed when the subscription
// ends, and Err then says why.
func (s *Subscription) C() <-chan Change { return s.sub.C() }

// Err says why the subscription ended: ErrLagged (a *LaggedError), ErrClosed (the database
// closed), the context's error, or nil (while it is live, or after Close).
func (s *Subscription) Err() error { return s.sub.Err() }

// Close ends the subscription. Safe to call more than once and concurrently with delivery.
func (s *Subscription) Close() {
	s.stop()
	s.sub.End(nil)
}

// All yields the changes until the subscription ends, then its error if it ended with one.
// Breaking out of the loop closes the subscription.
func (s *Subscription) All() iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		defer s.Close()
		for c := range s.sub.C() {
			if !yield(c, nil) {
				return
			}
		}
		if err := s.Err(); err != nil {
			yield(Change{}, err)
		}
	}
}

// Subscribe delivers the changes of commits made after it returns that f accepts, in commit
// order, each once, once they are published (readable) — and, in Strict mode, durable. It
// never slows a commit: a subscriber that falls Buffer changes behind is ended with ErrLagged.
// The subscription ends when ctx does, when Close is called, or when the database closes
// (ErrClosed). InMemory databases deliver too.
func (db *DB) Subscribe(ctx context.Context, f Filter) (*Subscription, error) {
	if err := checkContext(ctx); err != nil {
		return nil, err
	}
	if err := db.usable(); err != nil {
		return nil, err
	}
	if f.Buffer < 0 {
		return nil, fmt.Errorf("%w: negative Filter.Buffer %d", ErrInvalidArgument, f.Buffer)
	}
	buffer := f.Buffer
	if buffer == 0 {
		buffer = defaultBuffer
	}
	sub, err := db.feed.Subscribe(f.routes(), f.matches, buffer)
	if err != nil {
		return nil, err
	}
	s := &Subscription{sub: sub}
	s.stop = context.AfterFunc(ctx, func() { sub.End(ctx.Err()) })
	return s, nil
}

// newFeed starts the database's change feed; lagged counts the subscriptions it ends.
func newFeed(lagged *atomic.Uint64) *changefeed.Feed[Change, route] {
	return changefeed.New(func(c Change) uint64 { return c.Version },
		func(last uint64) error { lagged.Add(1); return &LaggedError{LastVersion: last} }, changeRoutes)
}

// published hands a batch that just became visible to the feed. The publisher calls it in
// commit order under its lock: with no subscription it returns at once, and otherwise the
// batch is described on the feed's goroutine, not here. That is safe later: a published batch
// and its entries never change, and what describing reads (the event log, the run journal) is
// read at the batch's versions.
func (db *DB) published(b *actors.Batch) {
	db.metrics.batchCommits.Record(uint64(len(b.Commits)))
	db.metrics.batchBytes.Record(uint64(b.Bytes))
	if db.feed == nil || !db.feed.Active() {
		return
	}
	db.feed.Publish(func() []Change {
		out := make([]Change, 0, len(b.Commits))
		for _, c := range b.Commits {
			out = db.describe(out, c)
		}
		return out
	})
}

// describe appends the changes of one commit, in the order of its entries: each run of entries
// of one primitive that can describe them (extension.Describer) is handed to it.
func (db *DB) describe(out []Change, c *actors.Commit) []Change {
	first := len(out)
	at := time.UnixMicro(c.Timestamp).UTC()
	for i := 0; i < len(c.Entries); {
		owner, ok := db.registry.Owner(c.Entries[i].Type)
		j := i + 1
		for j < len(c.Entries) {
			if o, _ := db.registry.Owner(c.Entries[j].Type); o != owner {
				break
			}
			j++
		}
		if d := db.describers[owner]; ok && d != nil {
			kind := db.kinds[owner]
			d.Describe(c.Version, c.Entries[i:j], func(x extension.Described) {
				ch := Change{Version: c.Version, Time: at, Run: c.Run, Kind: kind, Key: x.Key, Seq: x.Seq, Op: x.Op}
				if x.Lifecycle {
					ch.Kind = KindRun
				}
				out = append(out, ch)
			})
		}
		i = j
	}
	if len(out) > first && c.Run != GlobalRun {
		step, _, _ := db.runs.Counts(c.Run, c.Version)
		for i := first; i < len(out); i++ {
			out[i].Step = step
		}
	}
	return out
}

// describersOf returns, per registered primitive, its Describer (nil if it has none) and kind.
func (db *DB) describersOf() ([]extension.Describer, []PrimitiveKind) {
	prims := db.registry.Primitives()
	ds, kinds := make([]extension.Describer, len(prims)), make([]PrimitiveKind, len(prims))
	for i, p := range prims {
		ds[i], _ = p.(extension.Describer)
		kinds[i] = kindOf(p.Name())
	}
	return ds, kinds
}

// Wait returns the cell once its version exceeds afterVersion: at once if it already does,
// else when a commit makes it so. It waits for ctx (its error is returned) and for the
// database (ErrClosed). A cell that does not exist yet is waited for; afterVersion 0 waits
// for it to exist.
func (s *State) Wait(ctx context.Context, run RunID, name string, afterVersion uint64) (Cell, error) {
	for {
		// Subscribe before reading, so that no change between the two is missed.
		sub, err := s.db.Subscribe(ctx, Filter{Runs: []RunID{run}, Kinds: []PrimitiveKind{KindState}, KeyPrefix: name, Buffer: 16})
		if err != nil {
			return Cell{}, err
		}
		cell, err := s.waitOn(sub, run, name, afterVersion)
		sub.Close()
		if !errors.Is(err, ErrLagged) {
			return cell, err
		}
		// Fell behind (other cells share the prefix): read again and resubscribe.
	}
}

func (s *State) waitOn(sub *Subscription, run RunID, name string, after uint64) (Cell, error) {
	for {
		cell, err := s.Get(run, name)
		switch {
		case err == nil && cell.Version > after:
			return cell, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return Cell{}, err
		}
		for changed := false; !changed; {
			c, ok := <-sub.C()
			if !ok {
				if err := sub.Err(); err != nil {
					return Cell{}, err
				}
				return Cell{}, ErrClosed
			}
			changed = c.Key == name
		}
	}
}

// Tail yields the run's events from sequence number from on: those already there, then each
// new one as it commits, until ctx ends or the database closes (the iteration then yields the
// error once and stops). Breaking out of the loop stops it.
func (e *Events) Tail(ctx context.Context, run RunID, from uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		next := from
		for {
			sub, err := e.db.Subscribe(ctx, Filter{Runs: []RunID{run}, Kinds: []PrimitiveKind{KindEvent}})
			if err != nil {
				yield(Event{}, err)
				return
			}
			stop, err := e.tailOn(sub, run, &next, yield)
			sub.Close()
			if stop {
				return
			}
			if !errors.Is(err, ErrLagged) {
				yield(Event{}, err)
				return
			}
		}
	}
}

// tailOn yields the events from *next on, the existing ones first, then as sub reports new
// ones. It returns stop when the caller stopped, else the error that ended sub.
func (e *Events) tailOn(sub *Subscription, run RunID, next *uint64, yield func(Event, error) bool) (stop bool, err error) {
	catchUp := func() bool {
		n, err := e.Len(run)
		if err != nil {
			yield(Event{}, err)
			return false
		}
		if *next >= n {
			return true
		}
		evs, err := e.Range(run, *next, n)
		if err != nil {
			yield(Event{}, err)
			return false
		}
		for _, ev := range evs {
			if !yield(ev, nil) {
				return false
			}
			*next = ev.Seq + 1
		}
		return true
	}
	if !catchUp() {
		return true, nil
	}
	for c := range sub.C() {
		if c.Seq >= *next && !catchUp() {
			return true, nil
		}
	}
	if err := sub.Err(); err != nil {
		return false, err
	}
	return false, ErrClosed
}
