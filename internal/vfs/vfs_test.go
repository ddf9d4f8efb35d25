package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every implementation must behave like the real filesystem for the operations the database uses.
func TestConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) (FS, string){
		"OS": func(t *testing.T) (FS, string) { return Default(), t.TempDir() },
		"CrashFS": func(t *testing.T) (FS, string) {
			c := NewCrashFS()
			must(t, c.MkdirAll("/data/db"))
			return c, "/data/db"
		},
		"CrashFS-relative": func(t *testing.T) (FS, string) {
			c := NewCrashFS()
			must(t, c.MkdirAll("db"))
			return c, "db"
		},
		"InjectFS(CrashFS)": func(t *testing.T) (FS, string) {
			c := NewCrashFS()
			must(t, c.MkdirAll("/db"))
			return NewInjectFS(c), "/db"
		},
		"InjectFS(OS)": func(t *testing.T) (FS, string) { return NewInjectFS(Default()), t.TempDir() },
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			for _, tc := range conformanceCases {
				t.Run(tc.name, func(t *testing.T) {
					fsys, root := mk(t)
					tc.fn(t, fsys, func(parts ...string) string {
						return filepath.Join(append([]string{root}, parts...)...)
					})
				})
			}
		})
	}
}

type pathFn func(parts ...string) string

var conformanceCases = []struct {
	name string
	fn   func(t *testing.T, fsys FS, p pathFn)
}{
	{"CreateWriteRead", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("a"), "hello world")
		if got := readFile(t, fsys, p("a")); got != "hello world" {
			t.Fatalf("read %q", got)
		}
		if n, err := fsys.Stat(p("a")); err != nil || n != 11 {
			t.Fatalf("Stat = %d, %v", n, err)
		}
	}},
	{"ReadAt", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("a"), "0123456789")
		f := open(t, fsys, p("a"))
		defer f.Close()
		buf := make([]byte, 4)
		if n, err := f.ReadAt(buf, 3); n != 4 || err != nil || string(buf) != "3456" {
			t.Fatalf("ReadAt(3) = %d, %v, %q", n, err, buf)
		}
		if n, err := f.ReadAt(buf, 8); n != 2 || err != io.EOF || string(buf[:n]) != "89" {
			t.Fatalf("ReadAt(8) = %d, %v, %q", n, err, buf[:n])
		}
		if n, err := f.ReadAt(buf, 20); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt(20) = %d, %v", n, err)
		}
		// ReadAt does not move the offset used by Read.
		all, err := io.ReadAll(f)
		if err != nil || string(all) != "0123456789" {
			t.Fatalf("ReadAll after ReadAt = %q, %v", all, err)
		}
	}},
	{"Seek", func(t *testing.T, fsys FS, p pathFn) {
		f := create(t, fsys, p("a"))
		defer f.Close()
		write(t, f, "0123456789")
		seek(t, f, 2, io.SeekStart, 2)
		write(t, f, "ab")
		seek(t, f, 1, io.SeekCurrent, 5)
		write(t, f, "c")
		seek(t, f, -1, io.SeekEnd, 9)
		write(t, f, "d")
		seek(t, f, 2, io.SeekEnd, 12) // past the end: the gap reads as zeros
		write(t, f, "e")
		if _, err := f.Seek(-1, io.SeekStart); err == nil {
			t.Fatal("negative Seek succeeded")
		}
		seek(t, f, 0, io.SeekStart, 0)
		all, err := io.ReadAll(f)
		if err != nil || string(all) != "01ab4c678d\x00\x00e" {
			t.Fatalf("content %q, %v", all, err)
		}
	}},
	{"Truncate", func(t *testing.T, fsys FS, p pathFn) {
		f := create(t, fsys, p("a"))
		defer f.Close()
		write(t, f, "0123456789")
		must(t, f.Truncate(4))
		if n, _ := fsys.Stat(p("a")); n != 4 {
			t.Fatalf("size after shrink %d", n)
		}
		must(t, f.Truncate(6))
		if got := readFile(t, fsys, p("a")); got != "0123\x00\x00" {
			t.Fatalf("after grow %q", got)
		}
		// Truncate leaves the offset alone: the next write lands at 10.
		write(t, f, "x")
		if got := readFile(t, fsys, p("a")); got != "0123\x00\x00\x00\x00\x00\x00x" {
			t.Fatalf("after write %q", got)
		}
		if err := f.Truncate(-1); err == nil {
			t.Fatal("negative Truncate succeeded")
		}
	}},
	{"CreateTruncatesOpenReadWriteDoesNot", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("a"), "long content")
		f, err := fsys.OpenReadWrite(p("a"))
		must(t, err)
		write(t, f, "LONG")
		must(t, f.Close())
		if got := readFile(t, fsys, p("a")); got != "LONG content" {
			t.Fatalf("after OpenReadWrite %q", got)
		}
		writeFile(t, fsys, p("a"), "x")
		if got := readFile(t, fsys, p("a")); got != "x" {
			t.Fatalf("after Create %q", got)
		}
	}},
	{"OpenIsReadOnly", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("a"), "abc")
		f := open(t, fsys, p("a"))
		defer f.Close()
		if _, err := f.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only file succeeded")
		}
		if err := f.Truncate(0); err == nil {
			t.Fatal("Truncate on a read-only file succeeded")
		}
	}},
	{"ClosedFile", func(t *testing.T, fsys FS, p pathFn) {
		f := create(t, fsys, p("a"))
		must(t, f.Close())
		if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		if err := f.Sync(); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Sync after Close: %v", err)
		}
		if err := f.Close(); err == nil {
			t.Fatal("second Close succeeded")
		}
	}},
	{"RenameReplacesTarget", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("new.tmp"), "new")
		writeFile(t, fsys, p("cur.dat"), "old")
		must(t, fsys.Rename(p("new.tmp"), p("cur.dat")))
		if got := readFile(t, fsys, p("cur.dat")); got != "new" {
			t.Fatalf("target holds %q", got)
		}
		if _, err := fsys.Stat(p("new.tmp")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("source still there: %v", err)
		}
		if err := fsys.Rename(p("missing"), p("x")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Rename of a missing file: %v", err)
		}
		// Into a subdirectory.
		must(t, fsys.MkdirAll(p("q")))
		must(t, fsys.Rename(p("cur.dat"), p("q", "moved")))
		if got := readFile(t, fsys, p("q", "moved")); got != "new" {
			t.Fatalf("moved holds %q", got)
		}
		assertList(t, fsys, p(), "q")
	}},
	{"Remove", func(t *testing.T, fsys FS, p pathFn) {
		writeFile(t, fsys, p("a"), "x")
		must(t, fsys.Remove(p("a")))
		if _, err := fsys.Open(p("a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open after Remove: %v", err)
		}
		if err := fsys.Remove(p("a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second Remove: %v", err)
		}
		must(t, fsys.MkdirAll(p("d")))
		writeFile(t, fsys, p("d", "f"), "x")
		if err := fsys.Remove(p("d")); err == nil {
			t.Fatal("Remove of a non-empty directory succeeded")
		}
		must(t, fsys.Remove(p("d", "f")))
		must(t, fsys.Remove(p("d")))
		assertList(t, fsys, p())
	}},
	{"ListSorted", func(t *testing.T, fsys FS, p pathFn) {
		assertList(t, fsys, p())
		for _, n := range []string{"c", "a", "b10", "b2"} {
			writeFile(t, fsys, p(n), n)
		}
		must(t, fsys.MkdirAll(p("d", "e")))
		assertList(t, fsys, p(), "a", "b10", "b2", "c", "d")
		assertList(t, fsys, p("d"), "e")
		if _, err := fsys.List(p("nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List of a missing dir: %v", err)
		}
	}},
	{"MkdirAll", func(t *testing.T, fsys FS, p pathFn) {
		must(t, fsys.MkdirAll(p("x", "y", "z")))
		must(t, fsys.MkdirAll(p("x", "y"))) // idempotent
		writeFile(t, fsys, p("x", "y", "z", "f"), "deep")
		if got := readFile(t, fsys, p("x", "y", "z", "f")); got != "deep" {
			t.Fatalf("read %q", got)
		}
		writeFile(t, fsys, p("file"), "")
		if err := fsys.MkdirAll(p("file", "sub")); err == nil {
			t.Fatal("MkdirAll through a file succeeded")
		}
	}},
	{"NotExist", func(t *testing.T, fsys FS, p pathFn) {
		if _, err := fsys.Open(p("missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open: %v", err)
		}
		if _, err := fsys.OpenReadWrite(p("missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenReadWrite: %v", err)
		}
		if _, err := fsys.Stat(p("missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat: %v", err)
		}
		if _, err := fsys.Create(p("nodir", "f")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Create in a missing dir: %v", err)
		}
		if err := fsys.SyncDir(p("nodir")); err == nil {
			t.Fatal("SyncDir of a missing dir succeeded")
		}
	}},
	{"Sync", func(t *testing.T, fsys FS, p pathFn) {
		f := create(t, fsys, p("a"))
		write(t, f, "abc")
		must(t, f.Sync())
		must(t, f.Close())
		must(t, fsys.SyncDir(p()))
		r := open(t, fsys, p("a"))
		must(t, r.Sync()) // fdatasync on a read-only descriptor is allowed
		must(t, r.Close())
	}},
	{"Lock", func(t *testing.T, fsys FS, p pathFn) {
		l1, err := fsys.Lock(p("LOCK"))
		must(t, err)
		if _, err := fsys.Stat(p("LOCK")); err != nil {
			t.Fatalf("Lock did not create the file: %v", err)
		}
		l2, err := fsys.Lock(p("LOCK"))
		if !errors.Is(err, ErrLocked) {
			if l2 != nil {
				l2.Close()
			}
			t.Fatalf("second Lock: %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), p("LOCK")) {
			t.Fatalf("error %q does not name the path", err)
		}
		// Another path is independent.
		other, err := fsys.Lock(p("OTHER"))
		must(t, err)
		must(t, other.Close())
		must(t, l1.Close())
		l3, err := fsys.Lock(p("LOCK"))
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		must(t, l3.Close())
	}},
}

// --- helpers ---

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func create(t testing.TB, fsys FS, name string) File {
	t.Helper()
	f, err := fsys.Create(name)
	must(t, err)
	return f
}

func open(t testing.TB, fsys FS, name string) File {
	t.Helper()
	f, err := fsys.Open(name)
	must(t, err)
	return f
}

func write(t testing.TB, f File, s string) {
	t.Helper()
	n, err := f.Write([]byte(s))
	must(t, err)
	if n != len(s) {
		t.Fatalf("short write %d of %d", n, len(s))
	}
}

func seek(t testing.TB, f File, off int64, whence int, want int64) {
	t.Helper()
	got, err := f.Seek(off, whence)
	must(t, err)
	if got != want {
		t.Fatalf("Seek(%d, %d) = %d, want %d", off, whence, got, want)
	}
}

func writeFile(t testing.TB, fsys FS, name, content string) {
	t.Helper()
	f := create(t, fsys, name)
	write(t, f, content)
	must(t, f.Close())
}

func readFile(t testing.TB, fsys FS, name string) string {
	t.Helper()
	f := open(t, fsys, name)
	defer f.Close()
	var b bytes.Buffer
	_, err := io.Copy(&b, f)
	must(t, err)
	return b.String()
}

func assertList(t testing.TB, fsys FS, dir string, want ...string) {
	t.Helper()
	got, err := fsys.List(dir)
	must(t, err)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%s) = %q, want %q", dir, got, want)
	}
}
