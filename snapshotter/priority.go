package snapshotter

import "fmt"

// Priority is the CPU priority a snapshot file is written at. Only Linux lowers the priority
// of one thread (priority_linux.go); elsewhere every value writes at the caller's priority.
type Priority int

const (
	// Normal: the caller's thread and priority (the default).
	Normal Priority = iota
	// Lowered: a thread of its own at nice snapshotNice (see atPriority).
	Lowered
	// Idle: a thread of its own in the idle scheduling class, which runs only when no other
	// thread wants the CPU (see atPriority for what it buys and what it risks).
	Idle
)

func (p Priority) String() string {
	switch p {
	case Lowered:
		return "lowered"
	case Normal:
		return "normal"
	case Idle:
		return "idle"
	}
	return fmt.Sprintf("Priority(%d)", int(p))
}
