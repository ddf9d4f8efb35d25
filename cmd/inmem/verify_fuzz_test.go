package main

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// FuzzVerify damages a database directory as the input says — bytes flipped, files cut short,
// junk written over a stretch, in any file — and runs verify's checks on it: they may report
// damage, they must never panic.
func FuzzVerify(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0xff})
	f.Add([]byte{1, 200, 0, 3, 2, 0, 0, 7})
	f.Add([]byte{2, 0, 30, 0x40, 3, 1, 1, 1, 0, 255, 255, 9})
	base := sampleDB(f)
	f.Fuzz(func(t *testing.T, damage []byte) {
		dir := copyTree(t, base)
		files := regularFiles(t, dir)
		for len(damage) >= 4 {
			file := files[int(damage[0])%len(files)]
			b, err := os.ReadFile(file)
			if err != nil || len(b) == 0 {
				damage = damage[4:]
				continue
			}
			at := (int(damage[1])<<8 | int(damage[2])) % len(b)
			switch damage[3] % 3 {
			case 0:
				b[at] ^= damage[3] | 1
			case 1:
				b = b[:at]
			default:
				for i := at; i < min(len(b), at+int(damage[3])); i++ {
					b[i] = damage[3]
				}
			}
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			damage = damage[4:]
		}
		if _, err := examine(dir, nil); err != nil {
			return // a directory it cannot read at all is reported as an error, not a panic
		}
		_ = recoverAndCheck(dir)
	})
}

func regularFiles(t testing.TB, dir string) []string {
	var out []string
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func copyTree(t testing.TB, src string) string {
	dst := filepath.Join(t.TempDir(), "db")
	for _, p := range regularFiles(t, src) {
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"wal", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
