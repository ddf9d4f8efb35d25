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
// What it buys: a lowered thread gives way to the commit pipeline's threads when they wake
// (docs/experiments.md, "Commit latency during snapshots": commit p99 during back-to-back unpaced
// snapshots 1.2–4.3× the p99 without at nice 10, 1.03–2.7× in the idle class, 7–13× at
// normal priority). What it risks: the runtime does not know the thread is lowered. While the
// kernel keeps it waiting for a core it holds a Go processor, and a stop-the-world waits for
// it: beside two CPU-bound processes on 2 cores the longest stop took 84–403 ms at nice 10 and
// up to 1.6 s in the idle class, against 5–67 ms at normal priority. That is why the default
// is Normal, with the snapshot paced instead (pacer).
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
