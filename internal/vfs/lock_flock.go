//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// lockFile takes flock(LOCK_EX|LOCK_NB) on name, creating it with the permission bits perm if
// needed — or, shared, flock(LOCK_SH|LOCK_NB) on the existing file, opened read-only. flock
// locks belong to the open file description, so a second open+flock of the same file conflicts
// even inside the same process; that is what makes a second Open of one database directory in
// one process fail.
func lockFile(name string, perm os.FileMode, shared bool) (io.Closer, error) {
	how, f, err := syscall.LOCK_EX, (*os.File)(nil), error(nil)
	if shared {
		how = syscall.LOCK_SH
		f, err = os.Open(name)
	} else {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	}
	if err != nil {
		return nil, err
	}
	if err := flock(f, how|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			err = ErrLocked
		}
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	return &flockCloser{f: f}, nil
}

func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return os.ErrClosed // Control fails only when the descriptor is closed (or closing)
	}
	return ferr
}

type flockCloser struct {
	once sync.Once
	f    *os.File
	err  error
}

// Close releases the lock (closing the only descriptor of the open file description releases
// it; the explicit LOCK_UN is belt and braces). A second Close returns nil.
func (c *flockCloser) Close() error {
	c.once.Do(func() {
		uerr := flock(c.f, syscall.LOCK_UN)
		c.err = c.f.Close()
		if c.err == nil && uerr != nil {
			c.err = &fs.PathError{Op: "unlock", Path: c.f.Name(), Err: uerr}
		}
	})
	return c.err
}
