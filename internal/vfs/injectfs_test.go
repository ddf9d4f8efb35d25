package vfs

import (
	"errors"
	"io/fs"
	"sync"
	"syscall"
	"testing"
)

func newInject(t *testing.T) (*InjectFS, *CrashFS) {
	t.Helper()
	c := durableDir(t)
	return NewInjectFS(c), c
}

func TestInjectNthWrite(t *testing.T) {
	in, c := newInject(t)
	f := create(t, in, "/d/wal")
	in.FailNth(OpWrite, 3, syscall.EIO)
	write(t, f, "1")
	write(t, f, "2")
	n, err := f.Write([]byte("3"))
	if n != 0 || !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("third write: %d, %v", n, err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "write" || pe.Path != "/d/wal" {
		t.Fatalf("error %#v does not name op and path", err)
	}
	write(t, f, "4") // not sticky
	if got := readFile(t, c, "/d/wal"); got != "124" {
		t.Fatalf("inner content %q", got)
	}
	if in.Calls(OpWrite) != 4 || in.Failures(OpWrite) != 1 {
		t.Fatalf("calls %d failures %d", in.Calls(OpWrite), in.Failures(OpWrite))
	}
}

// The poisoning scenario: after a failed fsync the caller must never sync again.
func TestInjectStickySync(t *testing.T) {
	in, c := newInject(t)
	f := create(t, in, "/d/wal")
	must(t, in.SyncDir("/d"))
	write(t, f, "a")
	must(t, f.Sync())
	in.FailFromNth(OpSync, 2, nil)
	write(t, f, "b")
	must(t, f.Sync())
	write(t, f, "c")
	for range 3 {
		if err := f.Sync(); !errors.Is(err, ErrInjected) {
			t.Fatalf("sticky sync: %v", err)
		}
	}
	if in.Calls(OpSync) != 5 || in.Failures(OpSync) != 3 {
		t.Fatalf("calls %d failures %d", in.Calls(OpSync), in.Failures(OpSync))
	}
	// The failed syncs never reached the inner filesystem.
	if got := readFile(t, c.CrashKeepNothing(), "/d/wal"); got != "ab" {
		t.Fatalf("durable after failed syncs: %q", got)
	}
	in.ClearFaults()
	must(t, f.Sync())
}

func TestInjectNamespaceOps(t *testing.T) {
	in, c := newInject(t)
	writeFile(t, in, "/d/a.tmp", "x")

	in.FailNth(OpRename, 1, nil)
	if err := in.Rename("/d/a.tmp", "/d/a.dat"); !errors.Is(err, ErrInjected) {
		t.Fatalf("rename: %v", err)
	}
	if !exists(t, c, "/d/a.tmp") || exists(t, c, "/d/a.dat") {
		t.Fatal("a failed rename reached the inner filesystem")
	}
	must(t, in.Rename("/d/a.tmp", "/d/a.dat"))

	in.FailNth(OpCreate, 2, nil)
	writeFile(t, in, "/d/b", "")
	if _, err := in.Create("/d/c"); !errors.Is(err, ErrInjected) {
		t.Fatalf("create: %v", err)
	}
	if exists(t, c, "/d/c") {
		t.Fatal("a failed create reached the inner filesystem")
	}

	in.FailNth(OpSyncDir, 1, nil)
	if err := in.SyncDir("/d"); !errors.Is(err, ErrInjected) {
		t.Fatalf("syncdir: %v", err)
	}
	if exists(t, c.CrashKeepNothing(), "/d/b") {
		t.Fatal("a failed SyncDir reached the inner filesystem")
	}

	in.FailNth(OpRemove, 1, nil)
	if err := in.Remove("/d/b"); !errors.Is(err, ErrInjected) || !exists(t, c, "/d/b") {
		t.Fatalf("remove: %v", err)
	}

	f := create(t, in, "/d/t")
	write(t, f, "abc")
	in.FailNth(OpTruncate, 1, nil)
	if err := f.Truncate(0); !errors.Is(err, ErrInjected) {
		t.Fatalf("truncate: %v", err)
	}
	in.FailNth(OpClose, 1, nil)
	if err := f.Close(); !errors.Is(err, ErrInjected) {
		t.Fatalf("close: %v", err)
	}
	if got := readFile(t, c, "/d/t"); got != "abc" {
		t.Fatalf("after failed truncate %q", got)
	}

	for op, want := range map[Op]int{OpRename: 2, OpCreate: 4, OpSyncDir: 1, OpRemove: 1, OpTruncate: 1, OpOpen: 0} {
		if got := in.Calls(op); got != want {
			t.Errorf("Calls(%v) = %d, want %d", op, got, want)
		}
	}
}

func TestInjectShortWrite(t *testing.T) {
	in, c := newInject(t)
	f := create(t, in, "/d/wal")
	in.Inject(Fault{Op: OpWrite, Nth: 2, ShortWrite: 3, Err: syscall.ENOSPC})
	write(t, f, "head|")
	n, err := f.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Fatalf("short write: %d, %v", n, err)
	}
	if got := readFile(t, c, "/d/wal"); got != "head|abc" {
		t.Fatalf("inner content %q", got)
	}
	// A short-write length beyond the buffer writes it all and still fails.
	in.Inject(Fault{Op: OpWrite, Nth: 1, ShortWrite: 100})
	if n, err := f.Write([]byte("xy")); n != 2 || !errors.Is(err, ErrInjected) {
		t.Fatalf("oversized short write: %d, %v", n, err)
	}
	if got := readFile(t, c, "/d/wal"); got != "head|abcxy" {
		t.Fatalf("inner content %q", got)
	}
}

func TestInjectPathFilter(t *testing.T) {
	in, _ := newInject(t)
	must(t, in.MkdirAll("/d/wal"))
	must(t, in.MkdirAll("/d/snapshots"))
	w := create(t, in, "/d/wal/1.wal")
	s := create(t, in, "/d/snapshots/1.tmp")
	in.Inject(Fault{Op: OpSync, Nth: 2, Path: "/wal/"})
	must(t, s.Sync()) // does not match, does not count
	must(t, w.Sync())
	must(t, s.Sync())
	if err := w.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("second WAL sync: %v", err)
	}
	in.Inject(Fault{Op: OpRename, Nth: 1, Path: "1.dat"}) // matches the new name
	if err := in.Rename("/d/snapshots/1.tmp", "/d/snapshots/1.dat"); !errors.Is(err, ErrInjected) {
		t.Fatalf("rename: %v", err)
	}
	must(t, w.Close())
	must(t, s.Close())
}

func TestInjectCountsConcurrent(t *testing.T) {
	in, _ := newInject(t)
	f := create(t, in, "/d/f")
	in.FailNth(OpWrite, 50, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if _, err := f.Write([]byte("x")); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if in.Calls(OpWrite) != 200 || in.Failures(OpWrite) != 1 || failed != 1 {
		t.Fatalf("calls %d failures %d failed %d", in.Calls(OpWrite), in.Failures(OpWrite), failed)
	}
	must(t, f.Close())
}

func TestInjectInvalidFaultPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Nth 0 accepted")
		}
	}()
	NewInjectFS(NewCrashFS()).FailNth(OpWrite, 0, nil)
}

func TestOpString(t *testing.T) {
	for op := OpCreate; op < numOps; op++ {
		if op.String() == "" || op.String()[0] == 'O' {
			t.Errorf("Op %d has no name", op)
		}
	}
	if Op(0).String() != "Op(0)" {
		t.Errorf("Op(0) = %q", Op(0).String())
	}
}
