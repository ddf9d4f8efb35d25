package snapshotter

import (
	"runtime"
	"syscall"
)

// lowestNice is the nice value of the thread that writes a snapshot: the lowest CPU priority
// an unprivileged process can give itself.
const lowestNice = 19

// atLowPriority runs f on an OS thread of its own whose CPU priority is lowered to nice 19,
// and returns f's result.
//
// Why: writing a snapshot encodes and copies the whole state, which keeps one core busy for
// hundreds of milliseconds; at normal priority the kernel shares the machine's cores between
// that thread and the commit pipeline's threads in slices of milliseconds, and commit latency
// pays for it (BENCHMARKS.md: commit p99 during back-to-back snapshots 4.1–4.9 ms at normal
// priority, 1.4–2.2 ms lowered). Lowered, the snapshot gets every cycle the commits leave idle
// and yields to them at once when they wake. RocksDB lowers its background threads the same way.
//
// The goroutine never unlocks its thread, so the runtime ends the thread when f returns instead
// of handing it, still lowered, to other goroutines. If the kernel refuses the change, f runs
// at the priority it has.
func atLowPriority(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), lowestNice)
		done <- f()
	}()
	return <-done
}
