package snapshotter

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/inmemdb/inmem/internal/quarantine"
	"github.com/inmemdb/inmem/internal/vfs"
)

// Catalog knows which files of the snapshot directory are valid snapshots. A snapshot counts
// for anything — retention, WAL retirement, the guard on deleting the last one, "newest" —
// only once its whole file validated (Verify: size, magic, version, CRC, section framing):
// its header alone proves nothing, and a wal_offset read from a damaged header once let
// retention retire the log a valid snapshot needed.
//
// Validating reads the whole file, so each file's verdict is remembered with its size and
// modification time and redone only when either changes (or the name is new). The files this
// process writes or loads are recorded as valid without a second read (Trust).
//
// A Catalog is safe for concurrent use.
type Catalog struct {
	fs  vfs.FS
	dir string

	mu       sync.Mutex
	verdicts map[string]verdict // by file name
}

type verdict struct {
	size  int64
	mtime time.Time
	info  Info  // what the valid file says about itself
	err   error // why the file is not a valid snapshot; nil if it is
}

// Rejected is a file with a snapshot's name that is not a valid snapshot.
type Rejected struct {
	Path string
	Err  error
}

// NewCatalog returns the catalog of the snapshot directory dir.
func NewCatalog(fs vfs.FS, dir string) *Catalog {
	return &Catalog{fs: fs, dir: dir, verdicts: map[string]verdict{}}
}

// Scan returns the valid snapshots of the directory, newest first, and the files with snapshot
// names that are not valid. It validates the files it has no current verdict for.
func (c *Catalog) Scan() (valid []Info, rejected []Rejected, err error) {
	names, err := c.fs.List(c.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("snapshotter: list %s: %w", c.dir, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, name := range names {
		if _, ok := parseName(name, fileSuffix); !ok {
			continue
		}
		seen[name] = true
		v, err := c.verdict(name)
		if errors.Is(err, iofs.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, nil, err
		}
		if v.err != nil {
			rejected = append(rejected, Rejected{Path: filepath.Join(c.dir, name), Err: v.err})
			continue
		}
		valid = append(valid, v.info)
	}
	for name := range c.verdicts {
		if !seen[name] {
			delete(c.verdicts, name)
		}
	}
	sort.Slice(valid, func(i, j int) bool { return valid[i].Timestamp > valid[j].Timestamp })
	return valid, rejected, nil
}

// verdict returns the file's verdict, validating it unless the one remembered still holds. An
// error is one of reaching the file, not a verdict on it.
func (c *Catalog) verdict(name string) (verdict, error) {
	path := filepath.Join(c.dir, name)
	size, mtime, err := c.stat(path)
	if err != nil {
		return verdict{}, err
	}
	if v, ok := c.verdicts[name]; ok && v.size == size && v.mtime.Equal(mtime) {
		return v, nil
	}
	v := verdict{size: size, mtime: mtime}
	h, err := Verify(c.fs, path)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return verdict{}, err
	case err != nil:
		// Invalid, or unreadable: either way it cannot be counted on. (A file that cannot be
		// read today would otherwise fail every retention pass.)
		v.err = err
	default:
		ts, _ := parseName(name, fileSuffix)
		h.Timestamp = ts // the name orders snapshots
		v.info = Info{Path: path, Header: h}
	}
	c.verdicts[name] = v
	return v, nil
}

func (c *Catalog) stat(path string) (int64, time.Time, error) {
	size, err := c.fs.Stat(path)
	if err != nil {
		return 0, time.Time{}, err
	}
	mtime, err := c.fs.ModTime(path)
	return size, mtime, err
}

// Trust records info's file as valid without reading it: the caller validated it whole (it
// loaded it) or wrote it and made it durable.
func (c *Catalog) Trust(info Info) error {
	size, mtime, err := c.stat(info.Path)
	if err != nil {
		return fmt.Errorf("snapshotter: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verdicts[filepath.Base(info.Path)] = verdict{size: size, mtime: mtime, info: info}
	return nil
}

// Quarantine moves a file of the directory to its quarantine/ subdirectory, durably, and
// returns its new path. The file is never deleted.
func (c *Catalog) Quarantine(path string) (string, error) {
	to, err := quarantine.Move(c.fs, path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.verdicts, filepath.Base(path))
	return to, nil
}

// NewestName returns the largest timestamp among the names of snapshot files, valid or not,
// and whether there is any.
func (c *Catalog) NewestName() (int64, bool) {
	names, err := c.fs.List(c.dir)
	if err != nil {
		return 0, false
	}
	var newest int64
	found := false
	for _, name := range names {
		if ts, ok := parseName(name, fileSuffix); ok && (!found || ts > newest) {
			newest, found = ts, true
		}
	}
	return newest, found
}
