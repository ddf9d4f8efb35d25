package snapshotter

import (
	"runtime"
	"syscall"
	"unsafe"
)

// snapshotNice is the nice value of the thread that writes a snapshot. Not the lowest (19):
// on this project's 2-core machine commit latency during snapshots was the same at 10 as at 19
// (p99 0.45–1.19 against 0.52–1.11 ms, alternating, 2026-11-27 12:55 UTC), while with two
// CPU-bound processes beside it a snapshot took 2.0 s at 10 and 12.8 s at 19 (0.36 s at 0):
// the lowest value starves snapshots, and with them WAL retirement, on a busy machine. The
// idle class (SCHED_IDLE) kept commits closer still but starved a snapshot to 64 s there.
const snapshotNice = 10

// atPriority runs f at priority p and returns f's result: for Lowered and Idle on an OS thread
// of its own, lowered to nice snapshotNice or put in the idle scheduling class (SCHED_IDLE).
//
// Why: writing a snapshot encodes and copies the whole state, which keeps one core busy for
// hundreds of milliseconds; at normal priority the kernel gives that thread the same share of
// the cores as the commit pipeline's threads, and commit latency pays for it (BENCHMARKS.md,
// "Commit latency during snapshots", eight runs: commit p99 during back-to-back snapshots
// 0.39–1.02 ms at nice 10 against 2.1–3.3 ms at normal priority, 0.24–0.36 ms without
// snapshots). Lowered, the snapshot gets the cycles the commits leave idle and gives way to
// them when they wake. RocksDB lowers its background threads the same way. The idle class
// gives way sooner still (0.33–0.75 ms in the same runs), but it gets almost no CPU while
// other threads want it: beside two CPU-bound processes on 2 cores a snapshot took 64 s,
// against 2.0 s at nice 10. It is for machines whose cores the database's process has to
// itself.
//
// The goroutine never unlocks its thread, so the runtime ends the thread when f returns instead
// of handing it, still lowered, to other goroutines. If the kernel refuses the change (a
// process already above snapshotNice cannot come back down to it), f runs at the priority it
// has.
func atPriority(p Priority, f func() error) error {
	if p == Normal {
		return f()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		lower(p)
		done <- f()
	}()
	return <-done
}

// schedIdle is SCHED_IDLE, the idle scheduling class (linux/sched.h).
const schedIdle = 5

// lower lowers the calling thread to priority p; failures leave it as it is.
func lower(p Priority) {
	tid := syscall.Gettid()
	if p == Idle {
		var param struct{ priority int32 } // sched_param: 0 for the idle class
		_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedIdle,
			uintptr(unsafe.Pointer(&param)))
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, snapshotNice)
}
