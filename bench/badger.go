package main

import badger "github.com/dgraph-io/badger/v4"

type badgerStore struct{ db *badger.DB }

// openBadger opens badger with its default options but no logger; with sync every commit's
// value log write is fsynced before Update returns.
func openBadger(sync bool) opener {
	return func(dir string) (store, error) {
		db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(sync).WithLogger(nil))
		if err != nil {
			return nil, err
		}
		return badgerStore{db}, nil
	}
}

func (s badgerStore) committer(g int) (func() error, error) {
	key := committerKey(g)
	return func() error {
		return s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
	}, nil
}

func (s badgerStore) close() error { return s.db.Close() }
