package main

import (
	"log"

	"github.com/cockroachdb/pebble"
)

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

// openPebble opens pebble with its default options; sync picks pebble.Sync (the WAL is
// fsynced before Set returns, with pebble's own group commit) or pebble.NoSync.
func openPebble(sync bool) opener {
	return func(dir string) (store, error) {
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
		if err != nil {
			return nil, err
		}
		wo := pebble.NoSync
		if sync {
			wo = pebble.Sync
		}
		return pebbleStore{db, wo}, nil
	}
}

func (s pebbleStore) committer(g int) (func() error, error) {
	key := committerKey(g)
	return func() error { return s.db.Set(key, value, s.wo) }, nil
}

func (s pebbleStore) close() error { return s.db.Close() }

// quietPebble drops pebble's informational lines, which would interleave with the table.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Fatalf(format string, a ...any) { log.Fatalf(format, a...) }
