package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// durableDir returns a CrashFS with a durable directory /d.
func durableDir(t *testing.T) *CrashFS {
	t.Helper()
	c := NewCrashFS()
	must(t, c.MkdirAll("/d"))
	must(t, c.SyncDir("/"))
	return c
}

// dump returns every file of c as "path=content", sorted, directories as "path/".
func dump(t testing.TB, c *CrashFS) []string {
	t.Helper()
	var out []string
	var walk func(dir string)
	walk = func(dir string) {
		names, err := c.List(dir)
		must(t, err)
		for _, n := range names {
			p := filepath.Join(dir, n)
			if _, err := c.List(p); err == nil {
				out = append(out, p+"/")
				walk(p)
				continue
			}
			out = append(out, p+"="+readFile(t, c, p))
		}
	}
	walk("/")
	return out
}

func exists(t testing.TB, c *CrashFS, name string) bool {
	t.Helper()
	_, err := c.Stat(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCrashSyncedBytesSurvive(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/wal")
	must(t, c.SyncDir("/d"))
	write(t, f, "synced")
	must(t, f.Sync())
	write(t, f, "+unsynced")

	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "synced" {
		t.Fatalf("keep-nothing crash: %q, want %q", got, "synced")
	}
	if got := readFile(t, c.CrashKeepAll(), "/d/wal"); got != "synced+unsynced" {
		t.Fatalf("keep-all crash: %q", got)
	}
	for seed := range uint64(200) {
		got := readFile(t, c.Crash(newRand(seed)), "/d/wal")
		if !strings.HasPrefix(got, "synced") || !strings.HasPrefix("synced+unsynced", got) {
			t.Fatalf("seed %d: %q is not synced bytes plus a prefix of the rest", seed, got)
		}
	}
	// The crashed-from filesystem is unchanged.
	if got := readFile(t, c, "/d/wal"); got != "synced+unsynced" {
		t.Fatalf("original after crashes: %q", got)
	}
}

func TestCrashUnsyncedBytesLost(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/wal")
	must(t, c.SyncDir("/d"))
	write(t, f, "never synced")
	after := c.CrashKeepNothing()
	if got := readFile(t, after, "/d/wal"); got != "" {
		t.Fatalf("unsynced bytes survived: %q", got)
	}
	// SyncDir does not make content durable.
	must(t, c.SyncDir("/d"))
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "" {
		t.Fatalf("SyncDir made content durable: %q", got)
	}
}

func TestCrashUnsyncedCreateLost(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/seg")
	write(t, f, "header")
	must(t, f.Sync()) // content durable, name not
	if exists(t, c.CrashKeepNothing(), "/d/seg") {
		t.Fatal("a file whose directory was never synced survived")
	}
	if got := readFile(t, c.CrashKeepAll(), "/d/seg"); got != "header" {
		t.Fatalf("keep-all: %q", got)
	}
	must(t, c.SyncDir("/d"))
	if got := readFile(t, c.CrashKeepNothing(), "/d/seg"); got != "header" {
		t.Fatalf("synced file in synced dir: %q", got)
	}
}

func TestCrashSyncDirOfOtherDirDoesNotHelp(t *testing.T) {
	c := durableDir(t)
	must(t, c.MkdirAll("/e"))
	must(t, c.SyncDir("/"))
	writeFile(t, c, "/d/f", "")
	must(t, c.SyncDir("/e"))
	if exists(t, c.CrashKeepNothing(), "/d/f") {
		t.Fatal("SyncDir(/e) made an entry of /d durable")
	}
}

func TestCrashNewDirNeedsParentSync(t *testing.T) {
	c := NewCrashFS()
	must(t, c.MkdirAll("/db/wal"))
	f := create(t, c, "/db/wal/1.wal")
	write(t, f, "x")
	must(t, f.Sync())
	must(t, c.SyncDir("/db/wal"))
	if after := c.CrashKeepNothing(); exists(t, after, "/db") || exists(t, after, "/db/wal/1.wal") {
		t.Fatalf("entries survived although / was never synced: %q", dump(t, after))
	}
	must(t, c.SyncDir("/"))
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, []string{"/db/"}) {
		t.Fatalf("/db/wal survived although /db was never synced: %q", got)
	}
	must(t, c.SyncDir("/db"))
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, []string{"/db/", "/db/wal/", "/db/wal/1.wal=x"}) {
		t.Fatalf("after syncing every level: %q", got)
	}
}

// The snapshot protocol (write .tmp, sync, rename, sync the directory): until SyncDir the rename may be undone.
func TestCrashRenameNeedsSyncDir(t *testing.T) {
	c := durableDir(t)
	writeFile(t, c, "/d/snap.dat", "old")
	tmp := create(t, c, "/d/snap.tmp")
	write(t, tmp, "new")
	must(t, tmp.Sync())
	must(t, tmp.Close())
	must(t, c.SyncDir("/d"))
	// snap.dat's content was never synced: make it so, to isolate the rename.
	old, err := c.OpenReadWrite("/d/snap.dat")
	must(t, err)
	must(t, old.Sync())
	must(t, old.Close())

	must(t, c.Rename("/d/snap.tmp", "/d/snap.dat"))
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, []string{"/d/", "/d/snap.dat=old", "/d/snap.tmp=new"}) {
		t.Fatalf("keep-nothing before SyncDir: %q", got)
	}
	want := []string{"/d/", "/d/snap.dat=new"}
	if got := dump(t, c.CrashKeepAll()); !slices.Equal(got, want) {
		t.Fatalf("keep-all: %q", got)
	}
	// All or nothing: never both names, never neither.
	seen := map[string]bool{}
	for seed := range uint64(100) {
		got := strings.Join(dump(t, c.Crash(newRand(seed))), " ")
		if got != "/d/ /d/snap.dat=old /d/snap.tmp=new" && got != "/d/ /d/snap.dat=new" {
			t.Fatalf("seed %d: rename half-applied: %s", seed, got)
		}
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Fatalf("random crashes never chose both outcomes: %v", seen)
	}
	must(t, c.SyncDir("/d"))
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, want) {
		t.Fatalf("keep-nothing after SyncDir: %q", got)
	}
}

func TestCrashRenameDurableInTargetDir(t *testing.T) {
	c := durableDir(t)
	must(t, c.MkdirAll("/d/q"))
	must(t, c.SyncDir("/d"))
	writeFile(t, c, "/d/seg", "")
	must(t, c.SyncDir("/d"))
	must(t, c.Rename("/d/seg", "/d/q/seg"))
	must(t, c.SyncDir("/d")) // the source's directory does not make the rename durable
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, []string{"/d/", "/d/q/", "/d/seg="}) {
		t.Fatalf("after SyncDir of the source dir: %q", got)
	}
	must(t, c.SyncDir("/d/q"))
	if got := dump(t, c.CrashKeepNothing()); !slices.Equal(got, []string{"/d/", "/d/q/", "/d/q/seg="}) {
		t.Fatalf("after SyncDir of the target dir: %q", got)
	}
}

func TestCrashRemoveNeedsSyncDir(t *testing.T) {
	c := durableDir(t)
	writeFile(t, c, "/d/old.wal", "")
	must(t, c.SyncDir("/d"))
	must(t, c.Remove("/d/old.wal"))
	if !exists(t, c.CrashKeepNothing(), "/d/old.wal") {
		t.Fatal("an unsynced Remove was durable")
	}
	must(t, c.SyncDir("/d"))
	if exists(t, c.CrashKeepNothing(), "/d/old.wal") {
		t.Fatal("a synced Remove was undone")
	}
}

func TestCrashTruncateIsData(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/wal")
	must(t, c.SyncDir("/d"))
	write(t, f, "0123456789")
	must(t, f.Sync())
	must(t, f.Truncate(3))
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "0123456789" {
		t.Fatalf("unsynced truncate was durable: %q", got)
	}
	must(t, f.Sync())
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "012" {
		t.Fatalf("synced truncate: %q", got)
	}
	// Create on an existing file truncates it: also data.
	must(t, f.Close())
	g := create(t, c, "/d/wal")
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "012" {
		t.Fatalf("unsynced Create-truncate was durable: %q", got)
	}
	must(t, g.Sync())
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "" {
		t.Fatalf("synced Create-truncate: %q", got)
	}
}

func TestCrashIsolatesOldHandlesAndLocks(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/wal")
	must(t, c.SyncDir("/d"))
	write(t, f, "abc")
	must(t, f.Sync())
	lock, err := c.Lock("/d/LOCK")
	must(t, err)
	must(t, c.SyncDir("/d"))

	after := c.CrashKeepNothing()
	write(t, f, "def") // the old process keeps running on the old filesystem
	must(t, f.Sync())
	if got := readFile(t, after, "/d/wal"); got != "abc" {
		t.Fatalf("an old handle changed the crashed filesystem: %q", got)
	}
	l2, err := after.Lock("/d/LOCK")
	if err != nil {
		t.Fatalf("lock carried over a crash: %v", err)
	}
	must(t, l2.Close())
	must(t, lock.Close())
	// And the new filesystem's handles do not touch the old one.
	g, err := after.OpenReadWrite("/d/wal")
	must(t, err)
	must(t, g.Truncate(0))
	if got := readFile(t, c, "/d/wal"); got != "abcdef" {
		t.Fatalf("a new handle changed the old filesystem: %q", got)
	}
}

func TestCrashKeepAllEqualsCurrentView(t *testing.T) {
	for seed := range uint64(50) {
		c, _ := randomDirHistory(t, newRand(seed))
		if got, want := dump(t, c.CrashKeepAll()), dump(t, c); !slices.Equal(got, want) {
			t.Fatalf("seed %d: keep-all crash %q, current view %q", seed, got, want)
		}
	}
}

func TestCrashDeterministic(t *testing.T) {
	c, _ := randomDirHistory(t, newRand(7))
	outcomes := map[string]bool{}
	for seed := range uint64(40) {
		a := strings.Join(dump(t, c.Crash(newRand(seed))), " ")
		b := strings.Join(dump(t, c.Crash(newRand(seed))), " ")
		if a != b {
			t.Fatalf("seed %d gave two outcomes:\n%s\n%s", seed, a, b)
		}
		outcomes[a] = true
	}
	if len(outcomes) < 2 {
		t.Fatalf("40 seeds gave %d outcome(s)", len(outcomes))
	}
}

// Property: a random crash leaves each file with its synced content followed by a prefix of the
// later operations (the first k whole, then maybe a strict prefix of write k+1): never reordered,
// never a later byte without the earlier ones. Checked by enumerating every allowed content.
func TestCrashPrefixProperty(t *testing.T) {
	for seed := range uint64(300) {
		rng := newRand(seed)
		c := durableDir(t)
		f := create(t, c, "/d/f")
		must(t, c.SyncDir("/d"))
		var model []byte     // current content
		var allowed [][]byte // contents a crash may leave, reset at each Sync
		allowed = append(allowed, nil)
		nops := 1 + rng.IntN(12)
		for i := range nops {
			switch r := rng.IntN(10); {
			case r < 6: // write at a random offset, bytes unique to this write
				off := int64(rng.IntN(len(model) + 4))
				buf := make([]byte, 1+rng.IntN(6))
				for j := range buf {
					buf[j] = byte('A' + i*8 + j%8)
				}
				seek(t, f, off, 0, off)
				write(t, f, string(buf))
				for j := 1; j < len(buf); j++ { // torn versions of this write
					allowed = append(allowed, dataOp{off: off, buf: buf[:j]}.applyTo(slices.Clone(model)))
				}
				model = dataOp{off: off, buf: buf}.applyTo(model)
			case r < 8:
				size := int64(rng.IntN(len(model) + 3))
				must(t, f.Truncate(size))
				model = dataOp{truncate: true, size: size}.applyTo(model)
			default:
				must(t, f.Sync())
				allowed = allowed[:0]
			}
			allowed = append(allowed, slices.Clone(model))
		}
		if got := readFile(t, c, "/d/f"); got != string(model) {
			t.Fatalf("seed %d: current %q, model %q", seed, got, model)
		}
		kinds := map[int]bool{}
		for cs := range uint64(20) {
			got := []byte(readFile(t, c.Crash(newRand(cs)), "/d/f"))
			i := slices.IndexFunc(allowed, func(a []byte) bool { return bytes.Equal(a, got) })
			if i < 0 {
				t.Fatalf("seed %d/%d: crash left %q, allowed %q", seed, cs, got, allowed)
			}
			kinds[i] = true
		}
		if got := []byte(readFile(t, c.CrashKeepNothing(), "/d/f")); !bytes.Equal(got, allowed[0]) {
			t.Fatalf("seed %d: keep-nothing %q, want %q", seed, got, allowed[0])
		}
	}
}

// The prefix property also shows the crash chooses broadly: over many seeds a fixed history of
// four unsynced appends ends at every length from 0 to 16.
func TestCrashPrefixCoverage(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/wal")
	must(t, c.SyncDir("/d"))
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		write(t, f, s)
	}
	const full = "aaaabbbbccccdddd"
	lengths := map[int]bool{}
	for seed := range uint64(500) {
		got := readFile(t, c.Crash(newRand(seed)), "/d/wal")
		if !strings.HasPrefix(full, got) {
			t.Fatalf("seed %d: %q", seed, got)
		}
		lengths[len(got)] = true
	}
	for n := 0; n <= len(full); n++ {
		if !lengths[n] {
			t.Fatalf("length %d never chosen: %v", n, lengths)
		}
	}
}

// randomDirHistory runs random creates, renames, removes, syncs and SyncDirs in /d and /d/sub.
// Each file created gets a unique id as its content, synced at once. It returns the filesystem
// and the history's facts, computed without looking inside CrashFS.
type dirFacts struct {
	everNamed map[string]bool   // "path=id" pairs that existed at some moment
	stable    map[string]string // path → id, durable and untouched since: survives any crash
}

func randomDirHistory(t testing.TB, rng *rand.Rand) (*CrashFS, dirFacts) {
	t.Helper()
	c := NewCrashFS()
	must(t, c.MkdirAll("/d/sub"))
	must(t, c.SyncDir("/"))
	must(t, c.SyncDir("/d"))
	dirs := []string{"/d", "/d/sub"}
	names := []string{"a", "b", "c", "d"}
	cur := map[string]string{} // the model: path → id
	facts := dirFacts{everNamed: map[string]bool{}, stable: map[string]string{}}
	// synced[dir] is the model of dir's entries at its last SyncDir. pending[key], for a path
	// or an id, is the set of directories whose SyncDir would make durable the operations that
	// touched key (per the documented rule: an entry's directory; a rename's target directory).
	synced := map[string]map[string]string{"/d": {}, "/d/sub": {}}
	pending := map[string]map[string]bool{}
	touch := func(dir string, keys ...string) {
		for _, k := range keys {
			if pending[k] == nil {
				pending[k] = map[string]bool{}
			}
			pending[k][dir] = true
		}
	}
	next := 0
	for range 10 + rng.IntN(30) {
		dir := dirs[rng.IntN(2)]
		p := filepath.Join(dir, names[rng.IntN(len(names))])
		switch r := rng.IntN(10); {
		case r < 3:
			if _, ok := cur[p]; ok {
				continue
			}
			id := fmt.Sprintf("id%d", next)
			next++
			f := create(t, c, p)
			write(t, f, id)
			must(t, f.Sync())
			must(t, f.Close())
			cur[p] = id
			touch(dir, p, id)
		case r < 6:
			id, ok := cur[p]
			if !ok {
				continue
			}
			q := filepath.Join(dirs[rng.IntN(2)], names[rng.IntN(len(names))])
			must(t, c.Rename(p, q))
			if q == p {
				continue
			}
			if old, ok := cur[q]; ok {
				touch(filepath.Dir(q), old)
			}
			delete(cur, p)
			cur[q] = id
			touch(filepath.Dir(q), p, q, id)
		case r < 8:
			id, ok := cur[p]
			if !ok {
				continue
			}
			must(t, c.Remove(p))
			delete(cur, p)
			touch(dir, p, id)
		default:
			must(t, c.SyncDir(dir))
			m := map[string]string{}
			for q, id := range cur {
				if filepath.Dir(q) == dir {
					m[q] = id
				}
			}
			synced[dir] = m
			for _, dirs := range pending {
				delete(dirs, dir)
			}
		}
		for q, id := range cur {
			facts.everNamed[q+"="+id] = true
		}
	}
	for _, m := range synced {
		for q, id := range m {
			if len(pending[q]) == 0 && len(pending[id]) == 0 && cur[q] == id {
				facts.stable[q] = id
			}
		}
	}
	return c, facts
}

// Property: after any random crash of a random directory history, every stable entry (durable
// and untouched since) is there with its content, every file is a name its content had at some
// moment, and no content appears under two names (renames are atomic).
func TestCrashDirectoryProperty(t *testing.T) {
	stableSeen := 0
	for seed := range uint64(300) {
		c, facts := randomDirHistory(t, newRand(seed))
		stableSeen += len(facts.stable)
		crashes := []*CrashFS{c.CrashKeepNothing(), c.CrashKeepAll()}
		for cs := range uint64(10) {
			crashes = append(crashes, c.Crash(newRand(seed*1000+cs)))
		}
		for i, after := range crashes {
			got := map[string]string{}
			ids := map[string]bool{}
			for _, e := range dump(t, after) {
				if strings.HasSuffix(e, "/") {
					continue
				}
				if !facts.everNamed[e] {
					t.Fatalf("seed %d crash %d: %s never existed", seed, i, e)
				}
				p, id, _ := strings.Cut(e, "=")
				if ids[id] {
					t.Fatalf("seed %d crash %d: %s under two names: %q", seed, i, id, dump(t, after))
				}
				ids[id] = true
				got[p] = id
			}
			for p, id := range facts.stable {
				if got[p] != id {
					t.Fatalf("seed %d crash %d: stable %s=%s lost: %q", seed, i, p, id, dump(t, after))
				}
			}
		}
	}
	t.Logf("stable entries: %d", stableSeen)
	if stableSeen < 100 {
		t.Fatalf("only %d stable entries over all histories: the property checks little", stableSeen)
	}
}

func TestCrashLockInMemory(t *testing.T) {
	c := durableDir(t)
	l, err := c.Lock("/d/LOCK")
	must(t, err)
	if _, err := c.Lock("/d/../d/LOCK"); err == nil || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock via another spelling: %v", err)
	}
	must(t, l.Close())
	must(t, l.Close()) // idempotent, and must not release a later holder
	l2, err := c.Lock("/d/LOCK")
	must(t, err)
	must(t, l.Close())
	if _, err := c.Lock("/d/LOCK"); !errors.Is(err, ErrLocked) {
		t.Fatalf("a stale Close released a later holder: %v", err)
	}
	must(t, l2.Close())
}

func TestCrashRemovedFileHandleKeepsWorking(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/f")
	write(t, f, "abc")
	must(t, c.Remove("/d/f"))
	write(t, f, "def")
	must(t, f.Sync())
	buf := make([]byte, 6)
	if n, err := f.ReadAt(buf, 0); n != 6 || err != nil || string(buf) != "abcdef" {
		t.Fatalf("ReadAt on a removed file: %d %v %q", n, err, buf)
	}
	if exists(t, c, "/d/f") || exists(t, c.CrashKeepAll(), "/d/f") {
		t.Fatal("removed file still named")
	}
}

func TestCrashConcurrentUse(t *testing.T) {
	c := durableDir(t)
	done := make(chan struct{})
	for i := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			name := fmt.Sprintf("/d/f%d", i)
			f, err := c.Create(name)
			if err != nil {
				t.Error(err)
				return
			}
			for range 100 {
				if _, err := f.Write([]byte("x")); err != nil {
					t.Error(err)
				}
				if err := f.Sync(); err != nil {
					t.Error(err)
				}
				if err := c.SyncDir("/d"); err != nil {
					t.Error(err)
				}
			}
			f.Close()
		}()
	}
	for range 20 {
		_ = c.Crash(newRand(1))
	}
	for range 4 {
		<-done
	}
	after := c.CrashKeepNothing()
	for i := range 4 {
		if got := readFile(t, after, fmt.Sprintf("/d/f%d", i)); got != strings.Repeat("x", 100) {
			t.Fatalf("f%d: %d bytes", i, len(got))
		}
	}
}

// TestCrashPagesKeepsSyncedAndMixesPages: CrashPages never loses synced bytes, every page it
// returns is the page's synced or current content, and across seeds it produces the state a
// reordering disk can: a dropped page (zeros, as preallocated) followed by a kept later page.
func TestCrashPagesKeepsSyncedAndMixesPages(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/seg")
	must(t, c.SyncDir("/d"))
	synced := bytes.Repeat([]byte{'s'}, 100)
	write(t, f, string(synced))
	write(t, f, string(make([]byte, 3*PageSize-100))) // preallocated zeros, synced with the data
	must(t, f.Sync())
	_, err := f.Seek(100, 0)
	must(t, err)
	later := bytes.Repeat([]byte{'a'}, PageSize-100)              // the rest of page 0
	later = append(later, bytes.Repeat([]byte{'b'}, PageSize)...) // page 1
	later = append(later, bytes.Repeat([]byte{'c'}, 50)...)       // start of page 2
	write(t, f, string(later))
	current := []byte(readFile(t, c, "/d/seg"))

	sawGap := false
	for seed := range uint64(200) {
		got := []byte(readFile(t, c.CrashPages(newRand(seed)), "/d/seg"))
		if !bytes.HasPrefix(got, synced) {
			t.Fatalf("seed %d: synced bytes lost", seed)
		}
		for p := 0; p < len(got); p += PageSize {
			page := got[p:min(p+PageSize, len(got))]
			if !bytes.Equal(page, current[p:p+len(page)]) && !bytes.Equal(page, make([]byte, len(page))) &&
				!(p == 0 && bytes.Equal(page, append(slices.Clone(synced), make([]byte, len(page)-100)...))) {
				t.Fatalf("seed %d: page %d is neither its synced nor its current content", seed, p/PageSize)
			}
		}
		if got[100] == 0 && len(got) > PageSize && got[PageSize] == 'b' {
			sawGap = true
		}
	}
	if !sawGap {
		t.Fatal("no seed dropped page 0's new bytes and kept page 1: pages are not independent")
	}
}

func TestCrashFSModTimeChangesWithContent(t *testing.T) {
	c := durableDir(t)
	f := create(t, c, "/d/x")
	t0, err := c.ModTime("/d/x")
	must(t, err)
	write(t, f, "abc")
	t1, err := c.ModTime("/d/x")
	must(t, err)
	must(t, f.Truncate(1))
	t2, err := c.ModTime("/d/x")
	must(t, err)
	if t0.Equal(t1) || t1.Equal(t2) {
		t.Fatalf("ModTime did not change with a write or a truncate: %v %v %v", t0, t1, t2)
	}
	must(t, f.Sync())
	if t3, _ := c.ModTime("/d/x"); !t3.Equal(t2) {
		t.Fatal("Sync changed ModTime")
	}
	if _, err := c.ModTime("/d/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// Shared locks: any number together, none with an exclusive one, on both implementations.
func TestSharedLocks(t *testing.T) {
	c := durableDir(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		fs   FS
		path string
	}{"crashfs": {c, "/d/LOCK"}, "os": {Default(), filepath.Join(dir, "LOCK")}} {
		t.Run(name, func(t *testing.T) {
			if _, err := tc.fs.LockShared(tc.path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a shared lock on a missing file: %v", err)
			}
			ex, err := tc.fs.Lock(tc.path)
			must(t, err)
			if _, err := tc.fs.LockShared(tc.path); !errors.Is(err, ErrLocked) {
				t.Fatalf("shared while held exclusively: %v", err)
			}
			must(t, ex.Close())
			a, err := tc.fs.LockShared(tc.path)
			must(t, err)
			b, err := tc.fs.LockShared(tc.path)
			must(t, err)
			if _, err := tc.fs.Lock(tc.path); !errors.Is(err, ErrLocked) {
				t.Fatalf("exclusive while shared: %v", err)
			}
			must(t, a.Close())
			if _, err := tc.fs.Lock(tc.path); !errors.Is(err, ErrLocked) {
				t.Fatalf("exclusive while one shared holder is left: %v", err)
			}
			must(t, b.Close())
			ex, err = tc.fs.Lock(tc.path)
			must(t, err)
			must(t, ex.Close())
		})
	}
}
