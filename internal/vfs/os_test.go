package vfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// flock locks belong to open file descriptions: a second open+flock conflicts even in the same
// process. This is what makes a second Open of one directory in one process fail.
func TestOSLockSameProcess(t *testing.T) {
	p := filepath.Join(t.TempDir(), "LOCK")
	l, err := Default().Lock(p)
	must(t, err)
	if _, err := OS.Lock(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock in the same process: %v", err)
	}
	must(t, l.Close())
	must(t, l.Close()) // idempotent
	l2, err := OS.Lock(p)
	must(t, err)
	must(t, l2.Close())
}

const lockHelperEnv = "VFS_TEST_LOCK_HELPER"

// TestOSLockHelper runs only as the child of TestOSLockOtherProcess: it tries the lock and exits
// 3 on ErrLocked, 0 on success.
func TestOSLockHelper(t *testing.T) {
	p := os.Getenv(lockHelperEnv)
	if p == "" {
		t.Skip("helper process only")
	}
	l, err := Default().Lock(p)
	if errors.Is(err, ErrLocked) {
		os.Exit(3)
	}
	if err != nil {
		os.Exit(4)
	}
	l.Close()
	os.Exit(0)
}

func TestOSLockOtherProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("flock across processes is verified on Linux")
	}
	p := filepath.Join(t.TempDir(), "LOCK")
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOSLockHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockHelperEnv+"="+p)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		must(t, err)
		return 0
	}
	l, err := Default().Lock(p)
	must(t, err)
	if code := child(); code != 3 {
		t.Fatalf("child while locked exited %d, want 3 (ErrLocked)", code)
	}
	must(t, l.Close())
	if code := child(); code != 0 {
		t.Fatalf("child after release exited %d, want 0", code)
	}
}

func TestOSSyncDataVisible(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Default().Create(p)
	must(t, err)
	write(t, f, "data")
	must(t, f.Truncate(2))
	must(t, f.Sync())
	must(t, Default().SyncDir(dir))
	must(t, f.Close())
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "da" {
		t.Fatalf("%q, %v", b, err)
	}
	if err := Default().SyncDir(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir of a missing dir: %v", err)
	}
}
