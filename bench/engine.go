package main

import "fmt"

// A store is one engine opened in a fresh directory, in one mode.
type store interface {
	// committer prepares committer g's own key space (an inmem run, a key of its own) outside
	// the measured window, and returns the function that makes one durable (or, in the
	// inmemory mode, non-durable) one-key commit.
	committer(g int) (commit func() error, err error)
	close() error
}

// An opener opens a store in dir, an empty directory of its own on the measured filesystem.
type opener func(dir string) (store, error)

type mode string

const (
	durable  mode = "durable"
	inMemory mode = "inmemory"
)

// A series is one line of the chart: an engine in one configuration.
type series struct {
	engine string // the -engines name, which also picks the colour
	label  string
	mode   mode
	open   opener
}

// allSeries lists every configuration the comparison covers, in table order.
func allSeries() []series {
	return []series{
		{"inmem", "inmem Strict", durable, openInmem(inmemStrict)},
		{"inmem", "inmem Buffered", durable, openInmem(inmemBuffered)},
		{"pebble", "pebble Sync", durable, openPebble(true)},
		{"badger", "badger SyncWrites", durable, openBadger(true)},
		{"bbolt", "bbolt Update", durable, openBbolt(true, false)},
		{"bbolt", "bbolt Batch", durable, openBbolt(true, true)},
		{"sqlite", "sqlite WAL sync=FULL", durable, openSQLite(true)},
		{"raw", "raw write+fdatasync", durable, openRaw(true)},

		{"inmem", "inmem InMemory", inMemory, openInmem(inmemInMemory)},
		{"pebble", "pebble NoSync", inMemory, openPebble(false)},
		{"badger", "badger no SyncWrites", inMemory, openBadger(false)},
		{"bbolt", "bbolt Update NoSync", inMemory, openBbolt(false, false)},
		{"bbolt", "bbolt Batch NoSync", inMemory, openBbolt(false, true)},
		{"sqlite", "sqlite WAL sync=OFF", inMemory, openSQLite(false)},
		{"raw", "raw write", inMemory, openRaw(false)},
	}
}

var engineNames = []string{"inmem", "pebble", "badger", "bbolt", "sqlite", "raw"}

// value is what every commit writes: 100 bytes, as in the main module's commit benchmark.
var value = make([]byte, 100)

// committerKey is committer g's own key for the engines without inmem's runs.
func committerKey(g int) []byte { return fmt.Appendf(nil, "c%04d/k", g) }
