package snapshotter

import (
	"time"

	"github.com/inmemdb/inmem/internal/vfs"
)

// pacer holds the writing of a snapshot to a duty cycle while commits are being made: the
// snapshot then works at most a duty share of the time and pauses for the rest, so that the
// commits running beside it find the cores and the disk free most of the time. While the log
// is not being written it never pauses, and a snapshot of an idle database goes at full speed.
// The cost is a snapshot that takes up to 1/duty as long while commits go on, and with it the
// old versions it pins and the WAL that waits for it. Pausing, unlike a lowered thread,
// holds nothing the rest of the process needs (see Priority).
type pacer struct {
	duty     float64
	logBytes func() int64 // bytes written to the log so far: a change means commits were made
	lastLog  int64
	resumed  time.Time     // when the snapshot last resumed work
	owed     time.Duration // pause owed and not yet taken: sleeps are coarse, this evens them out
}

// minPause is the shortest pause worth a sleep: a Go timer sleeps about a millisecond at the
// least, so shorter pauses are saved up (owed) rather than overslept.
const minPause = time.Millisecond

// sleep is time.Sleep; tests make it oversleep.
var sleep = time.Sleep

func newPacer(duty float64, logBytes func() int64) *pacer {
	return &pacer{duty: duty, logBytes: logBytes, lastLog: logBytes(), resumed: time.Now()}
}

// pause is called between two pieces of the snapshot's work. If the log was written since the
// last call, the time worked since then earns a pause of (1/duty − 1) times as long, taken once
// at least minPause is owed.
func (p *pacer) pause() {
	now := time.Now()
	worked := now.Sub(p.resumed)
	p.resumed = now
	if log := p.logBytes(); log != p.lastLog {
		p.lastLog = log
		p.owed += time.Duration(float64(worked) * (1/p.duty - 1))
	}
	if p.owed < minPause {
		return
	}
	sleep(p.owed)
	p.resumed = time.Now()
	p.owed -= p.resumed.Sub(now) // a sleep that ran long pays for later pauses
}

// pacedFile is a snapshot file whose writes are paced: each Write pauses afterwards.
type pacedFile struct {
	vfs.File
	p *pacer
}

func (f pacedFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.p.pause()
	return n, err
}
