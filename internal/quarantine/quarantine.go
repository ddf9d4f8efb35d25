// Package quarantine sets aside files the database cannot use — a damaged log tail, a snapshot
// that does not validate, a file with a snapshot's name that is not one — without ever deleting
// them: each directory that holds such files has a quarantine/ subdirectory, and what is moved
// there keeps its name (with a ".N" suffix if an earlier move took the name). Nothing reads the
// quarantine directory; an operator may inspect or delete it while the database is closed.
package quarantine

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/vfs"
)

// Dir is the name of the quarantine directory inside the directory whose files it holds.
const Dir = "quarantine"

// Prepare creates the quarantine directory of dir, durably, and returns its path.
func Prepare(fs vfs.FS, dir string) (string, error) {
	q := filepath.Join(dir, Dir)
	if err := fs.MkdirAll(q); err != nil {
		return "", fmt.Errorf("quarantine: create %s: %w", q, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return "", fmt.Errorf("quarantine: sync %s: %w", dir, err)
	}
	return q, nil
}

// Move moves the file at path into the quarantine directory beside it and makes the move
// durable. It returns the file's new path.
func Move(fs vfs.FS, path string) (string, error) {
	dir := filepath.Dir(path)
	q, err := Prepare(fs, dir)
	if err != nil {
		return "", err
	}
	to, err := FreshName(fs, filepath.Join(q, filepath.Base(path)))
	if err != nil {
		return "", err
	}
	if err := fs.Rename(path, to); err != nil {
		return "", fmt.Errorf("quarantine: move %s: %w", path, err)
	}
	// The rename is durable once its new name's directory is synced; the old one's too, for
	// filesystems that journal the two directories apart.
	if err := fs.SyncDir(q); err != nil {
		return "", fmt.Errorf("quarantine: sync %s: %w", q, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return "", fmt.Errorf("quarantine: sync %s: %w", dir, err)
	}
	return to, nil
}

// FreshName returns path, or path with the first free ".N" suffix: what an earlier move set
// aside is never overwritten.
func FreshName(fs vfs.FS, path string) (string, error) {
	for i := 0; ; i++ {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		if _, err := fs.Stat(name); errors.Is(err, iofs.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", fmt.Errorf("quarantine: %w", err)
		}
	}
}
