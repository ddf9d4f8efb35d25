package main

import (
	"context"
	"database/sql"
	"path/filepath"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

type sqliteStore struct{ db *sql.DB }

// openSQLite opens one database in WAL journal mode with synchronous=FULL (the WAL is fsynced
// at every commit) or OFF. Transactions begin IMMEDIATE so that concurrent writers queue on
// the busy timeout for the write lock instead of failing to upgrade a read lock.
func openSQLite(sync bool) opener {
	return func(dir string) (store, error) {
		syncMode := "OFF"
		if sync {
			syncMode = "FULL"
		}
		dsn := "file:" + filepath.Join(dir, "bench.db") +
			"?_pragma=journal_mode(WAL)&_pragma=synchronous(" + syncMode + ")" +
			"&_pragma=busy_timeout(60000)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		if _, err := db.Exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"); err != nil {
			db.Close()
			return nil, err
		}
		return &sqliteStore{db}, nil
	}
}

// committer grows the pool by one connection per committer, so the pool is sized to the
// committers and no committer waits for a connection, only for SQLite's write lock.
func (s *sqliteStore) committer(g int) (func() error, error) {
	s.db.SetMaxOpenConns(g + 1)
	s.db.SetMaxIdleConns(g + 1)
	key := committerKey(g)
	ctx := context.Background()
	return func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", key, value); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}, nil
}

func (s *sqliteStore) close() error { return s.db.Close() }
