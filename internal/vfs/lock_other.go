//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package vfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// On platforms without flock through package syscall the lock only excludes holders in this
// process (a process-wide table keyed by absolute path). Cross-process exclusion is not provided.
var (
	procLocksMu sync.Mutex
	procLocks   = map[string]bool{}
)

func lockFile(name string, perm os.FileMode) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	key, err := filepath.Abs(name)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	procLocksMu.Lock()
	defer procLocksMu.Unlock()
	if procLocks[key] {
		_ = f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	procLocks[key] = true
	return &procLock{key: key, f: f}, nil
}

type procLock struct {
	once sync.Once
	key  string
	f    *os.File
	err  error
}

func (l *procLock) Close() error {
	l.once.Do(func() {
		procLocksMu.Lock()
		delete(procLocks, l.key)
		procLocksMu.Unlock()
		l.err = l.f.Close()
	})
	return l.err
}
