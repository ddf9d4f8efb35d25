package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
)

// Backup takes a snapshot and copies it, with the part of the log its cut needs, into dst: a
// directory that Open accepts as a database whose state is the snapshot's. dst must exist and
// be empty (the caller checks). The actor does it, so neither retention nor WAL retirement can
// remove the files while they are copied; commits go on meanwhile.
func (s *Snapshotter) Backup(ctx context.Context, dst string) (Info, error) {
	return s.ask(ctx, request{backup: dst, prio: s.cfg.Priority})
}

// backup is Backup on the actor's goroutine.
func (s *Snapshotter) backup(dst string, p Priority) (Info, error) {
	info, err := s.take(false, p)
	if err != nil {
		return Info{}, err
	}
	fs := s.cfg.FS
	snaps, wal := filepath.Join(dst, filepath.Base(s.cfg.Dir)), filepath.Join(dst, filepath.Base(s.cfg.WALDir))
	for _, d := range []string{snaps, wal} {
		if err := fs.MkdirAll(d); err != nil {
			return Info{}, fmt.Errorf("snapshotter: backup: %w", err)
		}
	}
	if err := copyFile(fs, info.Path, filepath.Join(snaps, filepath.Base(info.Path)), -1); err != nil {
		return Info{}, err
	}
	// The log up to the cut, no further: the segment that holds it, cut there, and the whole
	// segments before it and the history directory, which hold the run history the snapshot
	// names. Recovery of the copy replays nothing and appends from the cut on.
	bases, err := commitlog.ListSegments(fs, s.cfg.WALDir)
	if err != nil {
		return Info{}, err
	}
	to := sort.Search(len(bases), func(i int) bool { return bases[i] > info.WALOffset }) - 1
	if to < 0 {
		return Info{}, fmt.Errorf("snapshotter: backup: no segment holds the cut, LSN %d", info.WALOffset)
	}
	for i, base := range bases[:to+1] {
		name, size := commitlog.SegmentName(base), int64(-1)
		if i == to {
			size = commitlog.HeaderSize + int64(info.WALOffset-base)
		}
		if err := copyFile(fs, filepath.Join(s.cfg.WALDir, name), filepath.Join(wal, name), size); err != nil {
			return Info{}, err
		}
	}
	if err := copyHistory(fs, s.cfg.WALDir, wal); err != nil {
		return Info{}, err
	}
	for _, d := range []string{snaps, wal, dst, filepath.Dir(filepath.Clean(dst))} {
		if err := fs.SyncDir(d); err != nil {
			return Info{}, fmt.Errorf("snapshotter: backup: sync %s: %w", d, err)
		}
	}
	return info, nil
}

// copyHistory copies the history directory of the log in from, if there is one, into to's.
func copyHistory(fs vfs.FS, from, to string) error {
	src, dst := filepath.Join(from, commitlog.HistoryDir), filepath.Join(to, commitlog.HistoryDir)
	names, err := fs.List(src)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshotter: backup: %w", err)
	}
	if err := fs.MkdirAll(dst); err != nil {
		return fmt.Errorf("snapshotter: backup: %w", err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") {
			continue // a history file half written
		}
		if err := copyFile(fs, filepath.Join(src, name), filepath.Join(dst, name), -1); err != nil {
			return err
		}
	}
	return fs.SyncDir(dst)
}

// copyFile copies the first n bytes of from (all of it if n < 0) into a new file to, and syncs
// it. A shorter source is an error.
func copyFile(fs vfs.FS, from, to string, n int64) (err error) {
	src, err := fs.Open(from)
	if err != nil {
		return fmt.Errorf("snapshotter: backup: %w", err)
	}
	defer src.Close()
	if n < 0 {
		if n, err = fs.Stat(from); err != nil {
			return fmt.Errorf("snapshotter: backup: %w", err)
		}
	}
	dst, err := fs.Create(to)
	if err != nil {
		return fmt.Errorf("snapshotter: backup: %w", err)
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	copied, err := io.CopyBuffer(dst, io.NewSectionReader(src, 0, n), make([]byte, 1<<20))
	if err == nil && copied != n {
		err = fmt.Errorf("%s has %d bytes, %d expected", from, copied, n)
	}
	if err != nil {
		return fmt.Errorf("snapshotter: backup %s: %w", from, err)
	}
	return dst.Sync()
}
