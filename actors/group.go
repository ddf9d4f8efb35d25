package actors

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Group supervises a set of actor goroutines. The first actor to fail sets the group's cause
// and runs the failure hook once; the others go on draining so that nobody waiting on them is
// stranded, and Wait returns the cause.
type Group struct {
	eg     errgroup.Group
	once   sync.Once
	cause  atomic.Pointer[error] // read on every commit: no lock
	onFail func(error)
}

// NewGroup returns a group that calls onFail (if not nil) once, with the first failure.
func NewGroup(onFail func(error)) *Group { return &Group{onFail: onFail} }

// Go starts an actor. run returns nil when the actor's mailbox is closed and drained; an error
// is a failure of the engine.
func (g *Group) Go(name string, run func() error) {
	g.eg.Go(func() error {
		err := run()
		if err != nil {
			err = fmt.Errorf("actor %s: %w", name, err)
			g.Fail(err)
		}
		return err
	})
}

// Fail records err as the group's cause if it is the first failure.
func (g *Group) Fail(err error) {
	g.once.Do(func() {
		g.cause.Store(&err)
		if g.onFail != nil {
			g.onFail(err)
		}
	})
}

// Err returns the first failure, or nil.
func (g *Group) Err() error {
	if p := g.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// Wait waits for every actor to return and reports the first failure.
func (g *Group) Wait() error { return g.eg.Wait() }
