package quarantine

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/internal/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func put(t *testing.T, c *vfs.CrashFS, path, content string) {
	t.Helper()
	f, err := c.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Sync(), f.Close(), c.SyncDir(filepath.Dir(path))); err != nil {
		t.Fatal(err)
	}
}

// Move sets a file aside durably under its own name, never over an earlier one, and a power
// loss right after finds it there and not in its old place.
func TestMoveIsDurableAndNeverOverwrites(t *testing.T) {
	c := vfs.NewCrashFS()
	if err := errors.Join(c.MkdirAll("/db/snaps"), c.SyncDir("/"), c.SyncDir("/db")); err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, content := range []string{"first", "second"} {
		put(t, c, "/db/snaps/x.dat", content)
		to, err := Move(c, "/db/snaps/x.dat")
		if err != nil {
			t.Fatal(err)
		}
		moved = append(moved, to)
	}
	if want := []string{"/db/snaps/quarantine/x.dat", "/db/snaps/quarantine/x.dat.1"}; moved[0] != want[0] || moved[1] != want[1] {
		t.Fatalf("moved to %v, want %v", moved, want)
	}
	after := c.CrashKeepNothing()
	if _, err := after.Stat("/db/snaps/x.dat"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old name survived the crash: %v", err)
	}
	for i, want := range []int64{5, 6} {
		if size, err := after.Stat(moved[i]); err != nil || size != want {
			t.Fatalf("%s after the crash: size %d, %v", moved[i], size, err)
		}
	}
}
