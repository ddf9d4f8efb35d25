package main

import (
	"context"

	"github.com/inmemdb/inmem"
)

const (
	inmemStrict   = inmem.Strict
	inmemBuffered = inmem.Buffered
	inmemInMemory = inmem.InMemory
)

type inmemStore struct{ db *inmem.DB }

// openInmem opens inmem with its default options, as commit_bench_test.go does.
func openInmem(d inmem.Durability) opener {
	return func(dir string) (store, error) {
		o := inmem.DefaultOptions()
		o.Durability = d
		if d == inmem.InMemory {
			dir = "" // InMemory keeps no files
		}
		db, err := inmem.Open(dir, o)
		if err != nil {
			return nil, err
		}
		return inmemStore{db}, nil
	}
}

func (s inmemStore) committer(int) (func() error, error) {
	ctx := context.Background()
	run := inmem.NewRunID()
	if err := s.db.BeginRun(ctx, run, inmem.RunInfo{}); err != nil {
		return nil, err
	}
	kv := s.db.KV()
	return func() error { return kv.Put(ctx, run, "k", value) }, nil
}

func (s inmemStore) close() error { return s.db.Close() }
