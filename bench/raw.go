package main

import (
	"os"
	"path/filepath"

	"github.com/inmemdb/inmem/commitlog"
)

// rawPrealloc is how much of the log file is written with zeros and synced before the
// measurement, as inmem preallocates its segments, so that a durable commit's fdatasync
// flushes data only and no file-size metadata. Commits past it append.
const rawPrealloc = 64 << 20

type rawStore struct {
	f    *os.File
	sync bool
}

// openRaw is the floor every durable engine is held against: each commit is one write of
// what inmem logs for a one-key put, followed (with sync) by its own fdatasync, into one
// shared file. Concurrent committers each sync for themselves; nothing groups their commits
// but the kernel.
func openRaw(sync bool) opener {
	return func(dir string) (store, error) {
		f, err := os.Create(filepath.Join(dir, "raw.log"))
		if err != nil {
			return nil, err
		}
		if sync {
			if err := preallocate(f, rawPrealloc); err != nil {
				f.Close()
				return nil, err
			}
		}
		return rawStore{f, sync}, nil
	}
}

// rawRecord is what inmem's log holds for a one-key put of value and its commit marker,
// encoded as the main module's BenchmarkRawWriteSync encodes it.
var rawRecord = func() []byte {
	payload := make([]byte, commitlog.RunIDSize+1+1+len(value)) // run id, key length, "k", value
	buf, err := commitlog.AppendEntry(nil, commitlog.Entry{Type: 0x10, Version: 1, TxID: 1, Payload: payload})
	if err != nil {
		panic(err)
	}
	buf, err = commitlog.AppendEntry(buf, commitlog.CommitMarker(1))
	if err != nil {
		panic(err)
	}
	return buf
}()

func (s rawStore) committer(int) (func() error, error) {
	if !s.sync {
		return func() error {
			_, err := s.f.Write(rawRecord)
			return err
		}, nil
	}
	return func() error {
		if _, err := s.f.Write(rawRecord); err != nil {
			return err
		}
		return fdatasync(s.f)
	}, nil
}

func (s rawStore) close() error { return s.f.Close() }

func preallocate(f *os.File, size int) error {
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		if _, err := f.Write(zeros); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	_, err := f.Seek(0, 0)
	return err
}
