package commitlog

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/inmemdb/inmem/internal/vfs"
)

// memFS is a minimal in-memory vfs.FS for this package's tests: no durability model (every
// write is immediately "durable"), plus hooks to fail syncs. Directories exist implicitly as
// path prefixes and explicitly through MkdirAll.
type memFS struct {
	mu       sync.Mutex
	files    map[string]*memData
	dirs     map[string]bool
	syncErr  error // returned by File.Sync when set
	writeErr error // returned by File.Write when set
	syncs    int   // File.Sync calls
	dirSyncs int   // SyncDir calls
}

type memData struct{ b []byte }

func newMemFS() *memFS {
	return &memFS{files: map[string]*memData{}, dirs: map[string]bool{}}
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *memFS) Create(name string) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := &memData{}
	m.files[filepath.Clean(name)] = d
	return &memFile{fs: m, d: d}, nil
}

func (m *memFS) open(name string, write bool) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[filepath.Clean(name)]
	if !ok {
		return nil, notExist("open", name)
	}
	return &memFile{fs: m, d: d, readOnly: !write}, nil
}

func (m *memFS) Open(name string) (vfs.File, error)          { return m.open(name, false) }
func (m *memFS) OpenReadWrite(name string) (vfs.File, error) { return m.open(name, true) }

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[filepath.Clean(oldname)]
	if !ok {
		return notExist("rename", oldname)
	}
	delete(m.files, filepath.Clean(oldname))
	m.files[filepath.Clean(newname)] = d
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[filepath.Clean(name)]; !ok {
		return notExist("remove", name)
	}
	delete(m.files, filepath.Clean(name))
	return nil
}

func (m *memFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs[filepath.Clean(dir)] = true
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = filepath.Clean(dir)
	seen := map[string]bool{}
	add := func(p string) {
		if rest, ok := strings.CutPrefix(p, dir+string(filepath.Separator)); ok {
			seen[strings.Split(rest, string(filepath.Separator))[0]] = true
		}
	}
	for p := range m.files {
		add(p)
	}
	for p := range m.dirs {
		add(p)
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// ModTime is the zero time: the log never compares modification times.
func (m *memFS) ModTime(name string) (time.Time, error) {
	if _, err := m.Stat(name); err != nil {
		return time.Time{}, err
	}
	return time.Time{}, nil
}

func (m *memFS) Stat(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[filepath.Clean(name)]
	if !ok {
		return 0, notExist("stat", name)
	}
	return int64(len(d.b)), nil
}

func (m *memFS) SyncDir(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirSyncs++
	return nil
}

func (m *memFS) Lock(string) (io.Closer, error)       { return io.NopCloser(nil), nil }
func (m *memFS) LockShared(string) (io.Closer, error) { return io.NopCloser(nil), nil }

// bytes returns the contents of a file (shared: tests mutate it to damage the log).
func (m *memFS) bytes(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[filepath.Clean(name)].b
}

// set replaces the contents of a file, creating it.
func (m *memFS) set(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[filepath.Clean(name)] = &memData{b: slices.Clone(b)}
}

type memFile struct {
	fs       *memFS
	d        *memData
	pos      int64
	readOnly bool
	closed   bool
}

var errClosed = errors.New("memfs: file closed")

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if f.pos >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if off >= int64(len(f.d.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if f.readOnly {
		return 0, errors.New("memfs: read-only")
	}
	if f.fs.writeErr != nil {
		return 0, f.fs.writeErr
	}
	if end := f.pos + int64(len(p)); end > int64(len(f.d.b)) {
		f.d.b = append(f.d.b, make([]byte, end-int64(len(f.d.b)))...)
	}
	copy(f.d.b[f.pos:], p)
	f.pos += int64(len(p))
	return len(p), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.syncs++
	return f.fs.syncErr
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if size < int64(len(f.d.b)) {
		f.d.b = f.d.b[:size]
	} else {
		f.d.b = append(f.d.b, make([]byte, size-int64(len(f.d.b)))...)
	}
	return nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += int64(len(f.d.b))
	}
	if offset < 0 {
		return 0, errors.New("memfs: negative offset")
	}
	f.pos = offset
	return offset, nil
}
