package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// CrashFS is an in-memory FS that remembers what a power loss could take away. The crash model
// is in the package comment. All methods are safe for concurrent use (one mutex guards the whole
// filesystem, including every open handle's offset).
//
// Representation, chosen so that the oracle is obviously right rather than fast:
//
//   - A file's content is an inode holding durable (its content at its last Sync) and pending
//     (every Write and Truncate since then, in call order). The content the program sees is
//     always durable with pending applied; it is cached in data and produced by the same apply
//     function, so the two cannot disagree.
//   - The namespace (path → inode) is base (the durable namespace) followed by log, the directory
//     operations not yet folded into base, in call order. The namespace the program sees, cur,
//     is base with every logged operation applied, again by the same apply function. An entry of
//     log is marked durable by SyncDir of its directory; the durable prefix of log is folded into
//     base.
//   - A crash applies to a copy of base every durable entry of log plus the non-durable entries
//     it chooses to keep, in log order, drops entries whose parent directory did not survive,
//     and gives every surviving file durable plus a chosen prefix of its pending operations.
type CrashFS struct {
	mu      sync.Mutex
	cur     *namespace // what the running program sees: base + every op of log
	base    *namespace // durable namespace: base + the durable prefix of the log, folded
	log     []dirOp    // directory operations not folded into base, in call order
	locks   map[string]*crashLock
	shared  map[string]int // shared locks held, by path
	changes int64          // data operations so far: the clock ModTime reads
}

// NewCrashFS returns an empty CrashFS. The roots "." and "/" always exist and are durable.
func NewCrashFS() *CrashFS {
	return &CrashFS{cur: newNamespace(), base: newNamespace(), locks: map[string]*crashLock{}}
}

// inode is a file or a directory. A path names at most one inode and an inode has at most one
// name (there are no hard links), so an operation can name the inode it acts on.
type inode struct {
	dir     bool
	data    []byte   // current content = apply(durable, pending); what reads see
	durable []byte   // content as of the last Sync; survives any crash while the file has a name
	pending []dataOp // writes and truncates since the last Sync, in call order
	changed int64    // CrashFS.changes at the last data operation
}

// dataOp is a Write (buf at off) or a Truncate (to size).
type dataOp struct {
	truncate bool
	off      int64
	buf      []byte
	size     int64
}

// applyTo applies the operation to d (which it may modify or reallocate) and returns the result.
func (op dataOp) applyTo(d []byte) []byte {
	if op.truncate {
		if op.size <= int64(len(d)) {
			return d[:op.size]
		}
		return append(d, make([]byte, op.size-int64(len(d)))...)
	}
	if len(op.buf) == 0 {
		return d // a zero-length write does not extend the file
	}
	if end := op.off + int64(len(op.buf)); end > int64(len(d)) {
		d = append(d, make([]byte, end-int64(len(d)))...)
	}
	copy(d[op.off:], op.buf)
	return d
}

// do performs a data operation on ino's current content and remembers it as pending.
func (c *CrashFS) do(ino *inode, op dataOp) {
	ino.data = op.applyTo(ino.data)
	ino.pending = append(ino.pending, op)
	c.changes++
	ino.changed = c.changes
}

// sync makes the current content durable.
func (ino *inode) sync() {
	ino.durable = slices.Clone(ino.data)
	ino.pending = nil
}

// dirOp is a directory operation. link gives ino the name path (creating a file or directory,
// or renaming ino to path); whatever path named before loses the name and ino loses its previous
// name, so a rename is one op and all-or-nothing. unlink removes ino's name (path). Either is made
// durable by SyncDir of filepath.Dir(path): for a rename that is the directory of the new name.
type dirOp struct {
	unlink  bool
	path    string
	ino     *inode
	durable bool
}

type namespace struct {
	byPath map[string]*inode
	byIno  map[*inode]string
}

func newNamespace() *namespace {
	return &namespace{byPath: map[string]*inode{}, byIno: map[*inode]string{}}
}

func (ns *namespace) clone() *namespace {
	c := newNamespace()
	for p, ino := range ns.byPath {
		c.byPath[p] = ino
		c.byIno[ino] = p
	}
	return c
}

// apply performs op on ns. It is total: in a crash, op may be applied although earlier ops were
// dropped (the inode has another name or none, the path names another inode); the outcome is then
// the same as if those earlier ops that op supersedes had been kept.
func (ns *namespace) apply(op dirOp) {
	if old, ok := ns.byIno[op.ino]; ok {
		delete(ns.byPath, old)
		delete(ns.byIno, op.ino)
	}
	if op.unlink {
		return
	}
	if prev, ok := ns.byPath[op.path]; ok {
		delete(ns.byIno, prev)
	}
	ns.byPath[op.path] = op.ino
	ns.byIno[op.ino] = op.path
}

// sortedPaths lists ns's paths in lexical order, which puts every directory before its contents.
func (ns *namespace) sortedPaths() []string {
	paths := make([]string, 0, len(ns.byPath))
	for p := range ns.byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// isRoot reports whether p is "." or "/" (or a volume root): always present, always durable.
func isRoot(p string) bool { return filepath.Dir(p) == p }

func (ns *namespace) isDir(p string) bool {
	if isRoot(p) {
		return true
	}
	ino, ok := ns.byPath[p]
	return ok && ino.dir
}

// pruneOrphans drops every entry whose parent directory is absent (its creation did not survive
// the crash): such a file or directory is unreachable after reboot.
func (ns *namespace) pruneOrphans() {
	for _, p := range ns.sortedPaths() { // parents are visited, and settled, before children
		if !ns.isDir(filepath.Dir(p)) {
			delete(ns.byIno, ns.byPath[p])
			delete(ns.byPath, p)
		}
	}
}

var (
	errIsDir       = errors.New("is a directory")
	errNotDir      = errors.New("not a directory")
	errNotEmpty    = errors.New("directory not empty")
	errReadOnly    = errors.New("file not open for writing")
	errInvalid     = errors.New("invalid argument")
	errRenameDir   = errors.New("CrashFS renames files only")
	errRemoveRoots = errors.New("cannot remove a root")
)

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

// logOp records a directory operation and performs it on the current namespace.
func (c *CrashFS) logOp(op dirOp) {
	c.cur.apply(op)
	c.log = append(c.log, op)
}

// checkParent reports why p cannot be created, or nil if its parent is an existing directory.
func (c *CrashFS) checkParent(op, name, p string) error {
	parent := filepath.Dir(p)
	if c.cur.isDir(parent) {
		return nil
	}
	if _, ok := c.cur.byPath[parent]; ok {
		return pathErr(op, name, errNotDir)
	}
	return pathErr(op, name, fs.ErrNotExist)
}

// file returns the file inode named p.
func (c *CrashFS) file(op, name, p string) (*inode, error) {
	ino, ok := c.cur.byPath[p]
	switch {
	case isRoot(p) || ok && ino.dir:
		return nil, pathErr(op, name, errIsDir)
	case !ok:
		return nil, pathErr(op, name, fs.ErrNotExist)
	}
	return ino, nil
}

// create returns the file inode named p, creating it if needed (and truncating it if asked).
func (c *CrashFS) create(op, name, p string, truncate bool) (*inode, error) {
	ino, err := c.file(op, name, p)
	if err == nil {
		if truncate {
			c.do(ino, dataOp{truncate: true})
		}
		return ino, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := c.checkParent(op, name, p); err != nil {
		return nil, err
	}
	ino = &inode{}
	c.logOp(dirOp{path: p, ino: ino})
	return ino, nil
}

// Create creates or truncates the named file. Creating is a directory operation (durable after
// SyncDir); truncating an existing file is a data operation (durable after File.Sync).
func (c *CrashFS) Create(name string) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ino, err := c.create("open", name, filepath.Clean(name), true)
	if err != nil {
		return nil, err
	}
	return &crashFile{fs: c, ino: ino, name: name, writable: true}, nil
}

// Open opens an existing file read-only.
func (c *CrashFS) Open(name string) (File, error) { return c.open(name, false) }

// OpenReadWrite opens an existing file for reading and writing.
func (c *CrashFS) OpenReadWrite(name string) (File, error) { return c.open(name, true) }

func (c *CrashFS) open(name string, writable bool) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ino, err := c.file("open", name, filepath.Clean(name))
	if err != nil {
		return nil, err
	}
	return &crashFile{fs: c, ino: ino, name: name, writable: writable}, nil
}

// Rename gives oldname's file the name newname, replacing any file there. It is one operation,
// durable after SyncDir of newname's directory (only), all-or-nothing in a crash.
func (c *CrashFS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	po, pn := filepath.Clean(oldname), filepath.Clean(newname)
	ino, ok := c.cur.byPath[po]
	switch {
	case isRoot(po) || ok && ino.dir:
		return pathErr("rename", oldname, errRenameDir)
	case !ok:
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	if err := c.checkParent("rename", newname, pn); err != nil {
		return err
	}
	if c.cur.isDir(pn) {
		return pathErr("rename", newname, errIsDir)
	}
	if po != pn {
		c.logOp(dirOp{path: pn, ino: ino})
	}
	return nil
}

// Remove removes a file or an empty directory; durable after SyncDir of its parent. Open handles
// of a removed file keep working on its (now nameless) content.
func (c *CrashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(name)
	if isRoot(p) {
		return pathErr("remove", name, errRemoveRoots)
	}
	ino, ok := c.cur.byPath[p]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if ino.dir && len(c.list(p)) > 0 {
		return pathErr("remove", name, errNotEmpty)
	}
	c.logOp(dirOp{unlink: true, path: p, ino: ino})
	return nil
}

// MkdirAll creates dir and its missing parents. Each new directory is an entry of its parent:
// durable only after SyncDir of the parent. Files in a directory whose own entry did not survive
// a crash do not survive either.
func (c *CrashFS) MkdirAll(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var chain []string
	for p := filepath.Clean(dir); !isRoot(p); p = filepath.Dir(p) {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		p := chain[i]
		if ino, ok := c.cur.byPath[p]; ok {
			if !ino.dir {
				return pathErr("mkdir", p, errNotDir)
			}
			continue
		}
		c.logOp(dirOp{path: p, ino: &inode{dir: true}})
	}
	return nil
}

// list returns the sorted names of the entries of directory p in the current namespace.
func (c *CrashFS) list(p string) []string {
	names := []string{}
	for q := range c.cur.byPath {
		if !isRoot(q) && filepath.Dir(q) == p {
			names = append(names, filepath.Base(q))
		}
	}
	sort.Strings(names)
	return names
}

// List returns the sorted names of dir's entries (files and directories).
func (c *CrashFS) List(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(dir)
	if err := c.checkDir("open", dir, p); err != nil {
		return nil, err
	}
	return c.list(p), nil
}

func (c *CrashFS) checkDir(op, name, p string) error {
	if c.cur.isDir(p) {
		return nil
	}
	if _, ok := c.cur.byPath[p]; ok {
		return pathErr(op, name, errNotDir)
	}
	return pathErr(op, name, fs.ErrNotExist)
}

// Stat returns the current size of the named file (0 for a directory).
func (c *CrashFS) Stat(name string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(name)
	if isRoot(p) {
		return 0, nil
	}
	ino, ok := c.cur.byPath[p]
	if !ok {
		return 0, pathErr("stat", name, fs.ErrNotExist)
	}
	return int64(len(ino.data)), nil
}

// ModTime returns a stamp that changes with every Write and Truncate of the named file: not a
// wall-clock time (CrashFS has no clock), only something to compare for equality.
func (c *CrashFS) ModTime(name string) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(name)
	ino, ok := c.cur.byPath[p]
	if !ok || isRoot(p) {
		return time.Time{}, pathErr("stat", name, fs.ErrNotExist)
	}
	return time.Unix(0, ino.changed), nil
}

// SyncDir makes durable every directory operation so far whose entry is in dir: creations,
// removals, and renames whose new name is in dir. It does not make file content durable, nor
// dir's own entry in its parent.
func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(dir)
	if err := c.checkDir("sync", dir, p); err != nil {
		return err
	}
	for i := range c.log {
		if filepath.Dir(c.log[i].path) == p {
			c.log[i].durable = true
		}
	}
	// Fold the durable prefix into base; ops after a non-durable one stay in the log (marked)
	// so that a crash still applies everything in call order.
	n := 0
	for n < len(c.log) && c.log[n].durable {
		c.base.apply(c.log[n])
		n++
	}
	if n > 0 {
		c.log = slices.Clone(c.log[n:])
	}
	return nil
}

// Lock takes the in-memory lock on name, creating the file if needed (a directory operation like
// Create). A second Lock of the same path fails with ErrLocked until the first is closed. Locks
// do not survive a crash.
func (c *CrashFS) Lock(name string) (io.Closer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(name)
	if _, err := c.create("open", name, p, false); err != nil {
		return nil, err
	}
	if c.locks[p] != nil || c.shared[p] > 0 {
		return nil, pathErr("lock", name, ErrLocked)
	}
	l := &crashLock{fs: c, path: p}
	c.locks[p] = l
	return l, nil
}

// LockShared takes a shared in-memory lock on the existing file name: any number of them, but
// not with Lock's. Shared locks do not survive a crash either.
func (c *CrashFS) LockShared(name string) (io.Closer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := filepath.Clean(name)
	if _, err := c.file("open", name, p); err != nil {
		return nil, err
	}
	if c.locks[p] != nil {
		return nil, pathErr("lock", name, ErrLocked)
	}
	if c.shared == nil {
		c.shared = map[string]int{}
	}
	c.shared[p]++
	return &crashLock{fs: c, path: p, shared: true}, nil
}

type crashLock struct {
	fs     *CrashFS
	path   string
	shared bool
	once   sync.Once
}

// Close releases the lock; a second Close does nothing.
func (l *crashLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		defer l.fs.mu.Unlock()
		if l.shared {
			if l.fs.shared[l.path]--; l.fs.shared[l.path] <= 0 {
				delete(l.fs.shared, l.path)
			}
		} else if l.fs.locks[l.path] == l {
			delete(l.fs.locks, l.path)
		}
	})
	return nil
}

// Crash returns the filesystem as a reboot after a power loss now could find it, choosing with
// rng among the possible outcomes (see the package comment); the same rng state gives the same
// outcome. c itself is unchanged: many crash outcomes may be drawn from one history, and handles
// and locks of c never affect the result.
func (c *CrashFS) Crash(rng *rand.Rand) *CrashFS {
	if rng == nil {
		panic("vfs: CrashFS.Crash needs a non-nil rng")
	}
	return c.crash(
		func() bool { return rng.IntN(2) == 0 },
		func(ino *inode) []byte { return ino.randomPrefixData(rng) },
	)
}

// CrashPages is Crash on a disk that writes pages back in any order: directory operations are
// kept or dropped as by Crash, and each surviving file's unsynced content is kept or dropped a
// page (PageSize bytes) at a time, independently, at a size some prefix of its pending
// operations gave it. A dropped page reads as it was at the last Sync, or as zeros past the
// synced size: a preallocated file can hold zeros followed by a later write that survived.
func (c *CrashFS) CrashPages(rng *rand.Rand) *CrashFS {
	if rng == nil {
		panic("vfs: CrashFS.CrashPages needs a non-nil rng")
	}
	return c.crash(
		func() bool { return rng.IntN(2) == 0 },
		func(ino *inode) []byte { return ino.randomPagesData(rng) },
	)
}

// PageSize is the unit CrashPages keeps or drops: the page cache writes back whole pages.
const PageSize = 4096

// CrashKeepNothing returns the filesystem after a power loss that keeps exactly the durable
// state: synced content, and directory operations made durable by SyncDir.
func (c *CrashFS) CrashKeepNothing() *CrashFS {
	return c.crash(
		func() bool { return false },
		func(ino *inode) []byte { return slices.Clone(ino.durable) },
	)
}

// CrashKeepAll returns the filesystem after a crash of the process alone (the kernel survives):
// everything written is kept, only handles and locks are lost.
func (c *CrashFS) CrashKeepAll() *CrashFS {
	return c.crash(
		func() bool { return true },
		func(ino *inode) []byte { return slices.Clone(ino.data) },
	)
}

// crash builds the post-reboot filesystem. keepOp decides each non-durable directory operation
// (called in log order) and content each surviving file's bytes (called in path order), so a
// seeded rng gives a deterministic result.
func (c *CrashFS) crash(keepOp func() bool, content func(*inode) []byte) *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.base.clone()
	for _, op := range c.log {
		if op.durable || keepOp() {
			ns.apply(op)
		}
	}
	ns.pruneOrphans()
	out := NewCrashFS()
	for _, p := range ns.sortedPaths() {
		old := ns.byPath[p]
		ino := &inode{dir: old.dir}
		if !old.dir {
			ino.data = content(old)
			ino.durable = slices.Clone(ino.data) // after reboot, what is on disk is durable
		}
		for _, n := range []*namespace{out.base, out.cur} {
			n.byPath[p] = ino
			n.byIno[ino] = p
		}
	}
	return out
}

// randomPrefixData returns durable with a random prefix of pending applied: the first k pending
// operations whole, then possibly a strict prefix of the bytes of the next write. Operations are
// never reordered and bytes of a write never land without the bytes before them.
func (ino *inode) randomPrefixData(rng *rand.Rand) []byte {
	d := slices.Clone(ino.durable)
	k := rng.IntN(len(ino.pending) + 1)
	for _, op := range ino.pending[:k] {
		d = op.applyTo(d)
	}
	if k < len(ino.pending) {
		if op := ino.pending[k]; !op.truncate && len(op.buf) > 1 {
			op.buf = op.buf[:rng.IntN(len(op.buf))]
			d = op.applyTo(d)
		}
	}
	return d
}

// randomPagesData returns, at a size that durable with a random prefix of pending has, each page
// of the current content or of durable (zeros past its end), chosen page by page.
func (ino *inode) randomPagesData(rng *rand.Rand) []byte {
	if len(ino.pending) == 0 {
		return slices.Clone(ino.durable)
	}
	size, d := len(ino.durable), slices.Clone(ino.durable)
	for _, op := range ino.pending[:rng.IntN(len(ino.pending)+1)] {
		d = op.applyTo(d)
		size = len(d)
	}
	out := make([]byte, size)
	for p := 0; p < size; p += PageSize {
		src := ino.durable
		if rng.IntN(2) == 0 {
			src = ino.data
		}
		if p < len(src) {
			copy(out[p:min(p+PageSize, size)], src[p:])
		}
	}
	return out
}

// crashFile is an open handle. Its state is guarded by fs.mu.
type crashFile struct {
	fs       *CrashFS
	ino      *inode
	name     string
	off      int64
	writable bool
	closed   bool
}

func (f *crashFile) check(op string, write bool) error {
	if f.closed {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	if write && !f.writable {
		return pathErr(op, f.name, errReadOnly)
	}
	return nil
}

func (f *crashFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, errInvalid)
	}
	if off >= int64(len(f.ino.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *crashFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	f.fs.do(f.ino, dataOp{off: f.off, buf: slices.Clone(p)})
	f.off += int64(len(p))
	return len(p), nil
}

func (f *crashFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("seek", false); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(len(f.ino.data))
	default:
		return 0, pathErr("seek", f.name, errInvalid)
	}
	if offset < 0 {
		return 0, pathErr("seek", f.name, errInvalid)
	}
	f.off = offset
	return offset, nil
}

func (f *crashFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, errInvalid)
	}
	f.fs.do(f.ino, dataOp{truncate: true, size: size})
	return nil
}

// Sync makes the file's current content durable (whatever handle wrote it). It does not make the
// file's name durable: that takes SyncDir.
func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.ino.sync()
	return nil
}

func (f *crashFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("close", false); err != nil {
		return err
	}
	f.closed = true
	return nil
}
