package actors

import (
	"github.com/inmemdb/inmem/commitlog"
)

// LogStage puts the group-commit Writer between the sequencer and the applier: a batch reaches
// the shard actors only once it is written (and synced, in Strict mode), so nothing becomes
// visible that a crash could take back. The Writer goroutine runs in the engine's group and
// closes the applier when it exits.
type LogStage struct {
	writer    *commitlog.Writer
	next      Stage
	publisher *Publisher
	group     *Group
}

// startLogStage puts w in front of next and runs w's goroutine in g.
func startLogStage(w *commitlog.Writer, next Stage, p *Publisher, g *Group) *LogStage {
	l := &LogStage{writer: w, next: next, publisher: p, group: g}
	g.Go("commitlog", func() error {
		defer next.Close() // after the last batch went through
		return w.Run()
	})
	return l
}

// Submit hands b to the Writer.
func (l *LogStage) Submit(b *Batch) {
	b.log = l
	l.writer.Submit(b)
}

// Close stops the Writer once it has written everything submitted.
func (l *LogStage) Close() { l.writer.Close() }
