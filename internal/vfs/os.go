package vfs

import (
	"io"
	"io/fs"
	"os"
	"time"
)

// The modes the real filesystem creates files and directories with unless told otherwise:
// readable and writable by the owner only, like etcd's WAL. The database's files hold whatever
// agents remember (conversations, tool outputs, credentials).
const (
	PrivateFileMode os.FileMode = 0o600
	PrivateDirMode  os.FileMode = 0o700
)

// OS is the real filesystem (the same value Default returns). Do not reassign it.
var OS FS = osFS{file: PrivateFileMode, dir: PrivateDirMode}

// Default returns the real filesystem: package os, with File.Sync = fdatasync on Linux,
// SyncDir = fsync of the directory, and Lock = flock(LOCK_EX|LOCK_NB) where available. It
// creates files (Create, Lock) with PrivateFileMode and directories (MkdirAll) with
// PrivateDirMode.
func Default() FS { return OS }

// OSWithMode returns the real filesystem creating files (Create, Lock) with the permission bits
// file and directories (MkdirAll) with dir, both less the process umask as for any creation.
// What exists already keeps its mode: Create truncates without changing it, Lock and MkdirAll
// leave it alone. Bits outside os.ModePerm are ignored.
func OSWithMode(file, dir os.FileMode) FS {
	return osFS{file: file & os.ModePerm, dir: dir & os.ModePerm}
}

// DirMode returns the mode for directories that goes with the file mode file: file plus the
// execute (search) bit of every class that can read, so that whoever may read the files can
// reach them: 0600 gives 0700, 0640 gives 0750, 0644 gives 0755.
func DirMode(file os.FileMode) os.FileMode {
	file &= os.ModePerm
	return file | (file&0o444)>>2
}

// osFS creates files with the permission bits file and directories with dir.
type osFS struct{ file, dir os.FileMode }

// osFile is an *os.File whose Sync is a data sync (fdatasync on Linux, fsync elsewhere).
type osFile struct{ *os.File }

func (f osFile) Sync() error {
	if err := datasync(f.File); err != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return nil
}

func wrapOS(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o osFS) Create(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, o.file))
}

func (osFS) Open(name string) (File, error) { return wrapOS(os.Open(name)) }

func (osFS) OpenReadWrite(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR, 0))
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (o osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, o.dir) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // os.ReadDir sorts by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) Stat(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) ModTime(name string) (time.Time, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync() // fsync of a directory fd persists its entries
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

func (o osFS) Lock(name string) (io.Closer, error) { return lockFile(name, o.file, false) }

func (o osFS) LockShared(name string) (io.Closer, error) { return lockFile(name, 0, true) }
