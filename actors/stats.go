package actors

import "sync/atomic"

// Stats are the engine's counters, updated by the stages that own each event.
type Stats struct {
	Commits   atomic.Uint64 // transactions published
	Conflicts atomic.Uint64 // commits refused with ErrConflict or ErrVersionMismatch
	Batches   atomic.Uint64 // batches formed by the sequencer
	Syncs     atomic.Uint64 // fdatasync calls on the log
	WALBytes  atomic.Uint64 // bytes written to the log
	Snapshots atomic.Uint64 // snapshots written
}
