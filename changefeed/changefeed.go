// Package changefeed delivers what published commits changed to subscribers, without ever
// making a commit wait for one.
//
// The commit path calls Publish, under the publisher's lock, in commit order, with a function
// that makes a published batch's changes: it queues the function and returns (with no
// subscription it does nothing at all). One goroutine takes the queue, makes the changes — off
// the commit path — and offers each to the subscriptions that may want it, with
// a non-blocking send into the subscription's buffered channel. A subscriber whose buffer is
// full has fallen behind: its subscription ends with the error lagged makes (it carries the
// last version the subscriber was given, so it can re-read the state and subscribe again). So
// a slow subscriber costs the commit path nothing and other subscribers nothing either.
//
// Each subscription sees the changes of commits published after it was made, in commit order,
// each once.
//
// Offering every change to every subscription would cost the delivering goroutine a match per
// subscription per change: a thousand supervisors each waiting for one key would make it fall
// behind the commits. So subscriptions are filed under routes (strings the caller chooses —
// "run r, keys with prefix p", say), and a change is offered only to the subscriptions filed
// under the routes the caller's routes function yields for it; their match function then
// decides exactly. A change must reach a subscription through one route at most.
package changefeed

import (
	"sync"
	"sync/atomic"
)

// Feed fans changes of type C out to subscriptions filed under routes of type K. Its methods are safe for concurrent use.
type Feed[C any, K comparable] struct {
	version func(C) uint64                 // the commit version of a change
	lagged  func(lastVersion uint64) error // the error that ends a subscription that fell behind
	routes  func(C, func(route K))         // the routes of a change
	active  atomic.Int64                   // live subscriptions: Publish does nothing while 0

	qmu   sync.Mutex
	queue []func() []C // published batches, not yet described nor delivered; guarded by qmu

	smu     sync.Mutex
	byRoute map[K]map[*Subscription[C, K]]struct{} // guarded by smu
	closed  error                                  // guarded by smu: set by Close

	wake  chan struct{} // a batch is queued (buffered: one pending wake-up is enough)
	stop  chan struct{}
	done  chan struct{}
	pumps sync.WaitGroup // the goroutines emptying subscriptions' overflows
}

// New starts a feed and its delivering goroutine; Close stops it. routes yields the routes of
// a change (see the package doc).
func New[C any, K comparable](version func(C) uint64, lagged func(lastVersion uint64) error, routes func(C, func(K))) *Feed[C, K] {
	f := &Feed[C, K]{version: version, lagged: lagged, routes: routes,
		byRoute: map[K]map[*Subscription[C, K]]struct{}{},
		wake:    make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

// Subscriptions is the number of live subscriptions.
func (f *Feed[C, K]) Subscriptions() int { return int(f.active.Load()) }

// Active reports whether any subscription is live: the caller can skip building changes.
func (f *Feed[C, K]) Active() bool { return f.active.Load() > 0 }

// Publish queues changes of published commits, in commit order, as a function that makes
// them: the delivering goroutine calls it, so what it reads must stay as it is now. It never
// blocks on a subscriber.
func (f *Feed[C, K]) Publish(changes func() []C) {
	if !f.Active() {
		return
	}
	f.qmu.Lock()
	f.queue = append(f.queue, changes)
	f.qmu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// chanSize is the most a subscription's channel holds; a larger buffer overflows into a slice
// that grows only while the subscriber is behind. A thousand idle subscriptions with channels of
// a thousand changes each would otherwise hold a hundred megabytes that the garbage collector
// scans on every cycle — paid by every commit.
const chanSize = 32

// Subscribe returns a subscription filed under routes to the changes match accepts among those
// offered to it, with a buffer of buffer changes (at least 1). After Close it returns the error
// Close was given.
func (f *Feed[C, K]) Subscribe(routes []K, match func(C) bool, buffer int) (*Subscription[C, K], error) {
	buffer = max(buffer, 1)
	s := &Subscription[C, K]{feed: f, routes: routes, match: match, buffer: buffer,
		ch: make(chan C, min(buffer, chanSize)), quit: make(chan struct{})}
	f.smu.Lock()
	defer f.smu.Unlock()
	if f.closed != nil {
		return nil, f.closed
	}
	for _, r := range routes {
		if f.byRoute[r] == nil {
			f.byRoute[r] = map[*Subscription[C, K]]struct{}{}
		}
		f.byRoute[r][s] = struct{}{}
	}
	f.active.Add(1)
	return s, nil
}

// Close stops the feed: the delivering goroutine exits and every subscription ends with err.
func (f *Feed[C, K]) Close(err error) {
	f.smu.Lock()
	already := f.closed != nil
	if !already {
		f.closed = err
	}
	f.smu.Unlock()
	if already {
		return
	}
	close(f.stop)
	<-f.done
	f.smu.Lock()
	for _, subs := range f.byRoute {
		for s := range subs {
			s.endLocked(err)
		}
	}
	f.smu.Unlock()
	f.pumps.Wait() // each pump sees its subscription ended, closes its channel and returns
}

func (f *Feed[C, K]) run() {
	defer close(f.done)
	for {
		select {
		case <-f.stop:
			return
		case <-f.wake:
		}
		f.qmu.Lock()
		batches := f.queue
		f.queue = nil
		f.qmu.Unlock()
		f.deliver(batches)
	}
}

// deliver makes the changes of every batch and offers each to the subscriptions filed under its
// routes.
func (f *Feed[C, K]) deliver(batches []func() []C) {
	for _, changes := range batches {
		cs := changes()
		f.smu.Lock()
		for _, c := range cs {
			f.routes(c, func(r K) {
				for s := range f.byRoute[r] {
					if s.match(c) {
						s.offer(c)
					}
				}
			})
		}
		f.smu.Unlock()
	}
}

// Subscription is one subscriber's stream of changes.
type Subscription[C any, K comparable] struct {
	feed   *Feed[C, K]
	routes []K
	match  func(C) bool
	buffer int
	ch     chan C
	quit   chan struct{} // closed when the subscription ends, for its pump

	// Guarded by feed.smu.
	overflow []C    // changes the channel had no room for, oldest first
	pumping  bool   // a goroutine is moving overflow into ch; it closes ch when it stops
	last     uint64 // the version of the last change put in the channel (the pump's, a little late)
	err      error  // why it ended
	ended    bool
}

// C is the channel the changes arrive on; it is closed when the subscription ends.
func (s *Subscription[C, K]) C() <-chan C { return s.ch }

// Err returns why the subscription ended: nil while it is live or after End(nil).
func (s *Subscription[C, K]) Err() error {
	s.feed.smu.Lock()
	defer s.feed.smu.Unlock()
	return s.err
}

// End ends the subscription with err (nil: the subscriber's own Close). Later calls do nothing.
func (s *Subscription[C, K]) End(err error) {
	s.feed.smu.Lock()
	defer s.feed.smu.Unlock()
	s.endLocked(err)
}

// offer delivers c, or ends the subscription if its buffer is full. Under feed.smu.
func (s *Subscription[C, K]) offer(c C) {
	if !s.pumping {
		select {
		case s.ch <- c:
			s.last = s.feed.version(c)
			return
		default:
		}
	}
	if cap(s.ch)+len(s.overflow) >= s.buffer {
		s.endLocked(s.feed.lagged(s.last))
		return
	}
	s.overflow = append(s.overflow, c)
	if !s.pumping {
		s.pumping = true
		s.feed.pumps.Add(1)
		go s.pump()
	}
}

// pump moves the overflow into the channel as the subscriber reads, in order, and stops once
// the overflow is empty or the subscription ended (then it closes the channel, which endLocked
// left to it).
func (s *Subscription[C, K]) pump() {
	defer s.feed.pumps.Done()
	f := s.feed
	var sent *C
	for {
		f.smu.Lock()
		if sent != nil {
			s.last = f.version(*sent)
		}
		if s.ended || len(s.overflow) == 0 {
			s.pumping = false
			if s.ended {
				close(s.ch)
			}
			s.overflow = nil
			f.smu.Unlock()
			return
		}
		c := s.overflow[0]
		s.overflow = s.overflow[1:]
		f.smu.Unlock()
		sent = nil
		select {
		case s.ch <- c:
			sent = &c
		case <-s.quit:
		}
	}
}

func (s *Subscription[C, K]) endLocked(err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	for _, r := range s.routes {
		delete(s.feed.byRoute[r], s)
		if len(s.feed.byRoute[r]) == 0 {
			delete(s.feed.byRoute, r)
		}
	}
	s.feed.active.Add(-1)
	close(s.quit)
	if !s.pumping { // else the pump closes it: it may be sending
		close(s.ch)
	}
}
