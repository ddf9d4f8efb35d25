package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"
)

// ErrInjected is wrapped by every error an InjectFS fault produces.
var ErrInjected = errors.New("vfs: injected failure")

// Op names a kind of call through an InjectFS: an FS method or a File method.
type Op uint8

// The operations an InjectFS counts and can fail.
const (
	OpCreate Op = iota + 1
	OpOpen
	OpOpenReadWrite
	OpRename
	OpRemove
	OpMkdirAll
	OpList
	OpStat
	OpSyncDir
	OpLock
	OpRead
	OpReadAt
	OpWrite
	OpSync
	OpTruncate
	OpSeek
	OpClose
	numOps
)

var opNames = [numOps]string{
	OpCreate: "create", OpOpen: "open", OpOpenReadWrite: "openrw", OpRename: "rename",
	OpRemove: "remove", OpMkdirAll: "mkdirall", OpList: "list", OpStat: "stat",
	OpSyncDir: "syncdir", OpLock: "lock", OpRead: "read", OpReadAt: "readat", OpWrite: "write",
	OpSync: "sync", OpTruncate: "truncate", OpSeek: "seek", OpClose: "close",
}

func (o Op) String() string {
	if o == 0 || o >= numOps {
		return fmt.Sprintf("Op(%d)", uint8(o))
	}
	return opNames[o]
}

// Fault describes calls to fail.
type Fault struct {
	Op Op
	// Nth (≥ 1): the Nth matching call of Op counted from when the fault is injected fails.
	Nth int
	// Sticky: every matching call after the Nth fails too.
	Sticky bool
	// Err is the cause; the returned error wraps both ErrInjected and Err (nil: ErrInjected only),
	// inside an *fs.PathError naming the operation and the path.
	Err error
	// Path, if not empty, restricts the fault to calls whose path contains it (for Rename: either
	// name; for File methods: the name the file was opened with). Only matching calls count
	// towards Nth.
	Path string
	// ShortWrite applies to OpWrite: the failing Write first passes min(ShortWrite, len(p)) bytes
	// to the inner file and reports them as written, with the error (a torn write).
	ShortWrite int
}

type armedFault struct {
	Fault
	seen int  // matching calls since injection
	done bool // a non-sticky fault that has fired
}

// InjectFS wraps an FS, fails calls as its faults say, and counts calls per Op. A failed call
// does not reach the inner FS, except that Close still closes the inner file and a short write
// writes its prefix. Safe for concurrent use.
type InjectFS struct {
	inner FS

	mu     sync.Mutex
	calls  [numOps]int
	failed [numOps]int
	faults []*armedFault
}

// NewInjectFS returns an InjectFS over inner with no faults.
func NewInjectFS(inner FS) *InjectFS { return &InjectFS{inner: inner} }

// Inner returns the wrapped FS.
func (f *InjectFS) Inner() FS { return f.inner }

// Inject arms a fault. Faults are independent; when several fire on one call, the error is the
// first-injected one's (each still counts the call, and a non-sticky one is spent).
func (f *InjectFS) Inject(fault Fault) {
	if fault.Op == 0 || fault.Op >= numOps || fault.Nth < 1 {
		panic(fmt.Sprintf("vfs: invalid fault %+v", fault))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &armedFault{Fault: fault})
}

// FailNth makes the nth call of op from now fail with err (wrapped with ErrInjected).
func (f *InjectFS) FailNth(op Op, n int, err error) {
	f.Inject(Fault{Op: op, Nth: n, Err: err})
}

// FailFromNth makes the nth call of op from now, and every later one, fail with err.
func (f *InjectFS) FailFromNth(op Op, n int, err error) {
	f.Inject(Fault{Op: op, Nth: n, Err: err, Sticky: true})
}

// ClearFaults disarms every fault. Counts are kept.
func (f *InjectFS) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Calls returns how many calls of op were made, failed ones included.
func (f *InjectFS) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Failures returns how many calls of op were failed by a fault.
func (f *InjectFS) Failures(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[op]
}

// before counts a call of op on paths and decides whether it fails. It returns the short-write
// length and the error of the fault that fires, or (0, nil).
func (f *InjectFS) before(op Op, paths ...string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	var fired *armedFault
	for _, a := range f.faults {
		if a.done || a.Op != op || !a.matches(paths) {
			continue
		}
		a.seen++
		if a.seen < a.Nth {
			continue
		}
		if !a.Sticky {
			a.done = true
		}
		if fired == nil {
			fired = a
		}
	}
	if fired == nil {
		return 0, nil
	}
	f.failed[op]++
	err := ErrInjected
	if fired.Err != nil {
		err = fmt.Errorf("%w: %w", ErrInjected, fired.Err)
	}
	return fired.ShortWrite, &fs.PathError{Op: op.String(), Path: strings.Join(paths, " -> "), Err: err}
}

func (a *armedFault) matches(paths []string) bool {
	if a.Path == "" {
		return true
	}
	for _, p := range paths {
		if strings.Contains(p, a.Path) {
			return true
		}
	}
	return false
}

func (f *InjectFS) wrapFile(name string, file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &injectFile{fs: f, inner: file, name: name}, nil
}

// Create implements FS.
func (f *InjectFS) Create(name string) (File, error) {
	if _, err := f.before(OpCreate, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	return f.wrapFile(name, file, err)
}

// Open implements FS.
func (f *InjectFS) Open(name string) (File, error) {
	if _, err := f.before(OpOpen, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Open(name)
	return f.wrapFile(name, file, err)
}

// OpenReadWrite implements FS.
func (f *InjectFS) OpenReadWrite(name string) (File, error) {
	if _, err := f.before(OpOpenReadWrite, name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenReadWrite(name)
	return f.wrapFile(name, file, err)
}

// Rename implements FS.
func (f *InjectFS) Rename(oldname, newname string) error {
	if _, err := f.before(OpRename, oldname, newname); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// Remove implements FS.
func (f *InjectFS) Remove(name string) error {
	if _, err := f.before(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// MkdirAll implements FS.
func (f *InjectFS) MkdirAll(dir string) error {
	if _, err := f.before(OpMkdirAll, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

// List implements FS.
func (f *InjectFS) List(dir string) ([]string, error) {
	if _, err := f.before(OpList, dir); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

// Stat implements FS.
func (f *InjectFS) Stat(name string) (int64, error) {
	if _, err := f.before(OpStat, name); err != nil {
		return 0, err
	}
	return f.inner.Stat(name)
}

// ModTime implements FS. It is counted and failed as a Stat.
func (f *InjectFS) ModTime(name string) (time.Time, error) {
	if _, err := f.before(OpStat, name); err != nil {
		return time.Time{}, err
	}
	return f.inner.ModTime(name)
}

// SyncDir implements FS.
func (f *InjectFS) SyncDir(dir string) error {
	if _, err := f.before(OpSyncDir, dir); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Lock implements FS. The returned Closer is the inner one (its Close is not counted).
func (f *InjectFS) Lock(name string) (io.Closer, error) {
	if _, err := f.before(OpLock, name); err != nil {
		return nil, err
	}
	return f.inner.Lock(name)
}

// LockShared implements FS. It is counted and failed as a Lock.
func (f *InjectFS) LockShared(name string) (io.Closer, error) {
	if _, err := f.before(OpLock, name); err != nil {
		return nil, err
	}
	return f.inner.LockShared(name)
}

type injectFile struct {
	fs    *InjectFS
	inner File
	name  string
}

func (f *injectFile) Read(p []byte) (int, error) {
	if _, err := f.fs.before(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.inner.Read(p)
}

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.before(OpReadAt, f.name); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *injectFile) Write(p []byte) (int, error) {
	short, err := f.fs.before(OpWrite, f.name)
	if err == nil {
		return f.inner.Write(p)
	}
	if short = min(short, len(p)); short > 0 {
		n, werr := f.inner.Write(p[:short])
		if werr != nil {
			return n, werr
		}
		return n, err
	}
	return 0, err
}

func (f *injectFile) Sync() error {
	if _, err := f.fs.before(OpSync, f.name); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *injectFile) Truncate(size int64) error {
	if _, err := f.fs.before(OpTruncate, f.name); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *injectFile) Seek(offset int64, whence int) (int64, error) {
	if _, err := f.fs.before(OpSeek, f.name); err != nil {
		return 0, err
	}
	return f.inner.Seek(offset, whence)
}

// Close always closes the inner file (as close(2) always releases the descriptor); an injected
// fault only changes the error returned.
func (f *injectFile) Close() error {
	_, ierr := f.fs.before(OpClose, f.name)
	err := f.inner.Close()
	if ierr != nil {
		return ierr
	}
	return err
}
