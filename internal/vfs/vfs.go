// Package vfs is the filesystem seam: every file operation of the database goes through an FS so
// that tests can substitute a crash-simulating or an error-injecting implementation.
//
// The interface is deliberately small: exactly what the write-ahead log, the snapshotter and the
// directory lock need, and nothing that would let a caller bypass durability rules (there is no
// "write file atomically" helper; callers compose Create, Write, Sync, Rename and SyncDir).
//
// Three implementations:
//
//   - Default (also OS): the real filesystem. File.Sync is fdatasync on Linux (fsync elsewhere),
//     SyncDir fsyncs the directory, Lock is flock(LOCK_EX|LOCK_NB), which also excludes a second
//     Lock of the same file inside one process. It creates files 0600 and directories 0700
//     (the files hold agents' memory); OSWithMode gives other modes.
//   - CrashFS: an in-memory filesystem that simulates power loss (below).
//   - InjectFS: a wrapper around any FS that fails chosen calls (the Nth Write, Sync, Rename, ...)
//     with errors wrapping ErrInjected, optionally after a short write, and counts calls.
//
// # The crash model of CrashFS
//
// CrashFS tracks what is durable. A file's content becomes durable only by File.Sync (of any
// handle on it): Sync makes the whole current content durable, including the effect of
// Truncate and of the truncation done by Create on an existing file. A directory entry (a file
// or directory created by Create, Lock or MkdirAll, a Remove, a Rename) becomes durable only by
// SyncDir of the directory holding the entry; for a Rename that is the directory of the new name.
// Sync never makes a name durable and SyncDir never makes content durable.
//
// A crash (Crash, CrashKeepNothing, CrashKeepAll) returns a new CrashFS holding what a reboot
// could find:
//
//   - Every durable directory operation is applied. Each non-durable one is independently kept
//     or dropped (CrashKeepNothing drops all, CrashKeepAll keeps all, Crash flips a coin); kept
//     operations take effect in call order. A Rename is a single operation, kept or dropped
//     whole (the new name and the removal of the old name, and of the replaced target, go
//     together); a file is never found under two names. An entry whose parent directory did not
//     survive is gone too.
//   - Every surviving file holds its content at its last Sync, followed by a prefix of the Writes
//     and Truncates done since: CrashKeepNothing keeps none of them, CrashKeepAll all of them,
//     Crash a random number k of them whole and then, possibly, a random strict prefix of the
//     bytes of write k+1. Unsynced writes are never reordered, partly applied out of order or
//     replaced by garbage (byte-level damage is for the WAL's own tests to inject).
//   - Locks and open handles do not carry over; the crashed-from CrashFS is unchanged and its
//     handles never touch the new one. The outcome of Crash depends only on the history and the
//     rng, so a seed reproduces it.
//
// CrashPages explores what a real disk adds to that: the page cache writes a file's dirty pages
// back in no particular order, so after a power loss each unsynced page is independently new or
// old (zeros past the synced size), at a file size some prefix of the unsynced operations gave
// it (the way ALICE and LazyFS explore crash states). A preallocated log segment can then hold
// zeros followed by a later batch that survived.
//
// CrashKeepNothing leaves exactly the durable state; Crash (rng from math/rand/v2) also explores
// the states in between. A correct database must find every acknowledged commit after any of them.
// CrashFS has the roots "." and "/" (always present and durable) and does not rename directories.
package vfs

import (
	"errors"
	"io"
	"time"
)

// ErrLocked is returned by FS.Lock when another holder (this process or another) has the lock.
var ErrLocked = errors.New("vfs: locked by another holder")

// FS is a filesystem. Paths are slash- or OS-separated as filepath produces them.
type FS interface {
	// Create creates or truncates the named file for reading and writing. A new file's name is
	// durable only after SyncDir of its directory; the truncation is data (durable after Sync).
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing without truncating it.
	OpenReadWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname. The rename is durable only after SyncDir
	// of the directory holding newname.
	Rename(oldname, newname string) error
	// Remove deletes a file or an empty directory. Durable only after SyncDir.
	Remove(name string) error
	// MkdirAll creates a directory and any missing parents. Each new directory is an entry of its
	// parent: durable only after SyncDir of the parent.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat returns the size of the named file.
	Stat(name string) (size int64, err error)
	// ModTime returns when the named file's content last changed. Callers compare it for
	// equality only (a file whose size and ModTime are unchanged is taken to be unchanged), so
	// an implementation may return any value that changes whenever the content does.
	ModTime(name string) (time.Time, error)
	// SyncDir makes the directory's entries (creations, renames, removals) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if needed. It fails with an
	// error wrapping ErrLocked (and naming the path) while another holder has it, including a
	// holder in the same process. Closing the returned Closer releases the lock.
	Lock(name string) (io.Closer, error)
	// LockShared takes a shared lock on the existing named file: it excludes Lock's holders,
	// not other LockShared holders, and fails with an error wrapping ErrLocked while Lock's
	// holder has it (and makes Lock fail while it is held).
	LockShared(name string) (io.Closer, error)
}

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes the file's written data durable (fdatasync on Linux). It does not make the file's
	// name durable: that takes SyncDir of its directory.
	Sync() error
	// Truncate changes the file's size. Durable only after Sync.
	Truncate(size int64) error
	// Seek sets the offset for the next Read or Write.
	Seek(offset int64, whence int) (int64, error)
}
