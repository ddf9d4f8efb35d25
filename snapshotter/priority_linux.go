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
// hundreds of milliseconds; at normal priority the kernel gives that thread the same share of
// the cores as the commit pipeline's threads, and commit latency pays for it (BENCHMARKS.md,
// "Snapshots written at low CPU priority": commit p99 during back-to-back snapshots mostly
// 1.0–1.8 ms lowered against 2.1–4.4 ms at normal priority, 0.2–0.4 ms without snapshots).
// Lowered, the snapshot gets the cycles the commits leave idle and gives way to them when they
// wake. RocksDB lowers its background threads the same way.
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
