package inmem

import "github.com/inmemdb/inmem/internal/dberr"

// Errors. Match them with errors.Is; most arrive wrapped with detail (the key, the run, the
// expected and actual version). ConflictError and VersionMismatchError carry that detail for
// errors.As.
var (
	ErrConflict        = dberr.ErrConflict
	ErrVersionMismatch = dberr.ErrVersionMismatch
	ErrNotFound        = dberr.ErrNotFound
	ErrAlreadyExists   = dberr.ErrAlreadyExists
	ErrRunNotFound     = dberr.ErrRunNotFound
	ErrRunExists       = dberr.ErrRunExists
	ErrRunNotActive    = dberr.ErrRunNotActive
	// ErrRunActive: DeleteRun of a run that is Active or Orphaned. End it (EndRun, AbortRun;
	// ResumeRun first for an Orphaned one) and delete it then.
	ErrRunActive = dberr.ErrRunActive
	// ErrHistoryCompacted: a replay or listing of a step before a compacted run's base
	// (CompactRun, Retention.KeepSteps). RunSteps tells where the run's history starts.
	ErrHistoryCompacted = dberr.ErrHistoryCompacted
	ErrNotReplayable    = dberr.ErrNotReplayable
	ErrClosed           = dberr.ErrClosed
	ErrLocked           = dberr.ErrLocked
	// ErrPoisoned: a write or fsync of the log failed. Every commit waiting for it and every
	// later one fails with it until the database is reopened; a failed fsync is never retried.
	// A commit reported failed with ErrPoisoned may still be present after reopen (its bytes
	// may have reached the file before the sync failed): reopen and read to learn the truth.
	ErrPoisoned              = dberr.ErrPoisoned
	ErrInMemory              = dberr.ErrInMemory
	ErrCorruption            = dberr.ErrCorruption
	ErrTooManyCorruptEntries = dberr.ErrTooManyCorruptEntries
	ErrInvalidPath           = dberr.ErrInvalidPath
	ErrTypeMismatch          = dberr.ErrTypeMismatch
	ErrIndexOutOfRange       = dberr.ErrIndexOutOfRange
	ErrTooLarge              = dberr.ErrTooLarge
	ErrInvalidArgument       = dberr.ErrInvalidArgument
	// ErrNotImplemented: a primitive registered through Options.Primitives lacks what an
	// operation needs (ForkRun of a run that holds some of its state needs an
	// extension.Materializer).
	ErrNotImplemented = dberr.ErrNotImplemented
	// ErrReadOnly: a write (or a snapshot, a backup) on a database opened with OpenReadOnly.
	// Open the directory with Open to write; only one process may.
	ErrReadOnly = dberr.ErrReadOnly

	// ErrTxDone is returned by any use of a Tx after Commit or Rollback. It is also ErrClosed.
	ErrTxDone = dberr.ErrTxDone
	// ErrTxReadOnly is returned by a write in a read-only Tx. It is also ErrInvalidArgument.
	ErrTxReadOnly = dberr.ErrTxReadOnly
)

type (
	// ConflictError says which key made a commit lose (errors.Is(err, ErrConflict)).
	ConflictError = dberr.ConflictError
	// VersionMismatchError carries a failed compare-and-set's expected and actual versions.
	VersionMismatchError = dberr.VersionMismatchError
)
