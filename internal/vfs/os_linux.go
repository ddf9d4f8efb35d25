package vfs

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2): it persists the file's data and the metadata needed to read it back
// (notably its size), but not e.g. its modification time.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return os.ErrClosed // Control fails only when the descriptor is closed (or closing)
	}
	return serr
}
