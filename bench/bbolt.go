package main

import (
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("kv")

type bboltStore struct {
	db    *bolt.DB
	batch bool
}

// openBbolt opens bbolt with its default options (NoSync when !sync). With batch, commits go
// through db.Batch, which merges concurrent callers' functions into one transaction (at most
// MaxBatchSize of them, waiting up to MaxBatchDelay, 10 ms, for more); without, each commit is
// its own db.Update.
func openBbolt(sync, batch bool) opener {
	return func(dir string) (store, error) {
		db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: !sync})
		if err != nil {
			return nil, err
		}
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucket)
			return err
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		return bboltStore{db, batch}, nil
	}
}

func (s bboltStore) committer(g int) (func() error, error) {
	key := committerKey(g)
	put := func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }
	if s.batch {
		return func() error { return s.db.Batch(put) }, nil
	}
	return func() error { return s.db.Update(put) }, nil
}

func (s bboltStore) close() error { return s.db.Close() }
