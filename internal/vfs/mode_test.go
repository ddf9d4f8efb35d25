package vfs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// umask returns the bits the process umask (and any default ACL of a temporary directory)
// takes away from new files, found by creating one with every permission bit requested. It
// reads without setting the umask, which is process-wide and would race with parallel tests.
func umask(t *testing.T) os.FileMode {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not Unix modes on Windows")
	}
	p := filepath.Join(t.TempDir(), "probe")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o777)
	must(t, err)
	must(t, f.Close())
	fi, err := os.Stat(p)
	must(t, err)
	return 0o777 &^ fi.Mode().Perm()
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

// The real filesystem creates files 0600 and directories 0700 unless told otherwise (the umask
// can only take bits away), and creates the lock file like any other.
func TestOSCreatesPrivateFiles(t *testing.T) {
	mask := umask(t)
	root := t.TempDir()
	for name, fs := range map[string]FS{"OS": OS, "Default": Default()} {
		dir := filepath.Join(root, name)
		must(t, fs.MkdirAll(filepath.Join(dir, "a", "b")))
		f, err := fs.Create(filepath.Join(dir, "a", "b", "file"))
		must(t, err)
		must(t, f.Close())
		l, err := fs.Lock(filepath.Join(dir, "LOCK"))
		must(t, err)
		must(t, l.Close())
		for _, d := range []string{dir, filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
			wantMode(t, d, PrivateDirMode&^mask)
		}
		wantMode(t, filepath.Join(dir, "a", "b", "file"), PrivateFileMode&^mask)
		wantMode(t, filepath.Join(dir, "LOCK"), PrivateFileMode&^mask)
	}
	if PrivateFileMode != 0o600 || PrivateDirMode != 0o700 {
		t.Fatalf("private modes %#o, %#o", PrivateFileMode, PrivateDirMode)
	}
}

// OSWithMode creates with the modes given; files and directories that exist keep theirs.
func TestOSWithMode(t *testing.T) {
	mask := umask(t)
	dir := t.TempDir()
	fs := OSWithMode(0o640, 0o750)
	sub := filepath.Join(dir, "x", "y")
	must(t, fs.MkdirAll(sub))
	f, err := fs.Create(filepath.Join(sub, "file"))
	must(t, err)
	must(t, f.Close())
	l, err := fs.Lock(filepath.Join(sub, "LOCK"))
	must(t, err)
	must(t, l.Close())
	wantMode(t, filepath.Join(dir, "x"), 0o750&^mask)
	wantMode(t, sub, 0o750&^mask)
	wantMode(t, filepath.Join(sub, "file"), 0o640&^mask)
	wantMode(t, filepath.Join(sub, "LOCK"), 0o640&^mask)
	if mask&0o040 == 0 {
		fi, err := os.Stat(filepath.Join(sub, "file"))
		must(t, err)
		if fi.Mode().Perm()&0o040 == 0 {
			t.Errorf("group read missing: %#o", fi.Mode().Perm())
		}
	}

	// Existing entries: set modes the FS would never choose, then create, lock and MkdirAll
	// over them.
	must(t, os.Chmod(filepath.Join(sub, "file"), 0o604))
	must(t, os.Chmod(filepath.Join(sub, "LOCK"), 0o604))
	must(t, os.Chmod(sub, 0o705))
	for _, fs := range []FS{fs, Default()} {
		f, err := fs.Create(filepath.Join(sub, "file")) // truncates, keeps the mode
		must(t, err)
		write(t, f, "data")
		must(t, f.Close())
		l, err := fs.Lock(filepath.Join(sub, "LOCK"))
		must(t, err)
		must(t, l.Close())
		must(t, fs.MkdirAll(sub))
		wantMode(t, filepath.Join(sub, "file"), 0o604)
		wantMode(t, filepath.Join(sub, "LOCK"), 0o604)
		wantMode(t, sub, 0o705)
	}
}

// A directory gets the file mode plus the execute bit of every class that can read.
func TestDirMode(t *testing.T) {
	for file, dir := range map[os.FileMode]os.FileMode{
		0o600: 0o700, 0o640: 0o750, 0o644: 0o755, 0o660: 0o770, 0o664: 0o775, 0o604: 0o705,
		0o620: 0o720, 0o700: 0o700, 0o777: 0o777, 0o000: 0o000, 0o400: 0o500,
	} {
		if got := DirMode(file); got != dir {
			t.Errorf("DirMode(%#o) = %#o, want %#o", file, got, dir)
		}
	}
}
