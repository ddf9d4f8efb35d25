// Package dberr holds the database's error sentinels and the typed errors that carry detail.
//
// The public package re-exports every sentinel, so users match them with errors.Is on the
// inmem names; the primitives, which cannot import the public package, return these. A detail
// error (ConflictError, VersionMismatchError, …) always unwraps to its sentinel.
package dberr

import (
	"errors"
	"fmt"
)

// The error sentinels of the public API. Each is matched with errors.Is; most reach callers wrapped with detail.
var (
	ErrConflict              = errors.New("inmem: conflict")
	ErrVersionMismatch       = errors.New("inmem: version mismatch")
	ErrNotFound              = errors.New("inmem: not found")
	ErrAlreadyExists         = errors.New("inmem: already exists")
	ErrRunNotFound           = errors.New("inmem: run not found")
	ErrRunExists             = errors.New("inmem: run already exists")
	ErrRunNotActive          = errors.New("inmem: run not active")
	ErrRunActive             = errors.New("inmem: run still active")
	ErrHistoryCompacted      = errors.New("inmem: history compacted")
	ErrNotReplayable         = errors.New("inmem: run not replayable")
	ErrClosed                = errors.New("inmem: closed")
	ErrLocked                = errors.New("inmem: database directory locked")
	ErrPoisoned              = errors.New("inmem: commit log poisoned")
	ErrInMemory              = errors.New("inmem: not available in InMemory mode")
	ErrCorruption            = errors.New("inmem: corruption")
	ErrTooManyCorruptEntries = errors.New("inmem: too many corrupt entries")
	ErrInvalidPath           = errors.New("inmem: invalid path")
	ErrTypeMismatch          = errors.New("inmem: type mismatch")
	ErrIndexOutOfRange       = errors.New("inmem: index out of range")
	ErrTooLarge              = errors.New("inmem: too large")
	ErrInvalidArgument       = errors.New("inmem: invalid argument")
	ErrNotImplemented        = errors.New("inmem: not implemented")
	ErrReadOnly              = errors.New("inmem: database opened read-only")
)

// Refinements: each is also its parent sentinel under errors.Is.
var (
	// ErrTxDone is returned by any use of a transaction after Commit or Rollback.
	ErrTxDone = fmt.Errorf("%w: transaction already committed or rolled back", ErrClosed)
	// ErrTxReadOnly is returned by a write in a read-only transaction.
	ErrTxReadOnly = fmt.Errorf("%w: write in a read-only transaction", ErrInvalidArgument)
)

// ConflictError reports which key made a commit lose against a concurrent one.
type ConflictError struct {
	Primitive string // "kv", "json", …
	Run       string // the run, printed
	Key       string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("inmem: conflict on %s key %q of run %s", e.Primitive, e.Key, e.Run)
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

// VersionMismatchError reports a compare-and-set whose expected version was not current.
type VersionMismatchError struct {
	Key              string
	Expected, Actual uint64
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("inmem: version mismatch on %q: expected %d, actual %d", e.Key, e.Expected, e.Actual)
}
func (e *VersionMismatchError) Unwrap() error { return ErrVersionMismatch }

// Invalid wraps ErrInvalidArgument with a formatted detail.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// TooLarge wraps ErrTooLarge with what was too large and the limit.
func TooLarge(what string, size, limit int) error {
	return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, what, size, limit)
}
