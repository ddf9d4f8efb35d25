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
// process (a process-wide table keyed by absolute path: -1 held exclusively, n > 0 shared by n).
// Cross-process exclusion is not provided.
var (
	procLocksMu sync.Mutex
	procLocks   = map[string]int{}
)

func lockFile(name string, perm os.FileMode, shared bool) (io.Closer, error) {
	var f *os.File
	var err error
	if shared {
		f, err = os.Open(name)
	} else {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	}
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
	if n := procLocks[key]; n < 0 || n > 0 && !shared {
		_ = f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	if shared {
		procLocks[key]++
	} else {
		procLocks[key] = -1
	}
	return &procLock{key: key, f: f, shared: shared}, nil
}

type procLock struct {
	once   sync.Once
	key    string
	shared bool
	f      *os.File
	err    error
}

func (l *procLock) Close() error {
	l.once.Do(func() {
		procLocksMu.Lock()
		if procLocks[l.key]--; !l.shared || procLocks[l.key] <= 0 {
			delete(procLocks, l.key)
		}
		procLocksMu.Unlock()
		l.err = l.f.Close()
	})
	return l.err
}
