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
	stats     *Stats
}

// NewLogStage wires w in front of next. Pass it as PipelineConfig.Log.
func NewLogStage(w *commitlog.Writer) LogFactory {
	return func(next Stage, p *Publisher, g *Group, s *Stats) Stage {
		l := &LogStage{writer: w, next: next, publisher: p, group: g, stats: s}
		g.Go("commitlog", func() error {
			defer next.Close() // after the last batch went through
			return w.Run()
		})
		return l
	}
}

// Submit hands b to the Writer.
func (l *LogStage) Submit(b *Batch) {
	b.log = l
	l.writer.Submit(b)
}

// Close stops the Writer once it has written everything submitted.
func (l *LogStage) Close() { l.writer.Close() }

// AppendEncoded appends every commit's entries and then its commit marker: recovery applies a
// transaction only once it reads the marker (commitlog/doc.go, Framing).
func (b *Batch) AppendEncoded(dst []byte) ([]byte, error) {
	var err error
	for _, c := range b.Commits {
		for _, e := range c.Entries {
			if dst, err = commitlog.AppendEntry(dst, e); err != nil {
				return dst, err
			}
		}
		if dst, err = commitlog.AppendEntry(dst, commitlog.CommitMarker(c.Version)); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// NeedsSync reports whether a commit of the batch asked for a durable commit.
func (b *Batch) NeedsSync() bool {
	for _, c := range b.Commits {
		if c.Sync {
			return true
		}
	}
	return false
}

// Logged moves a written batch on to the shard actors, or fails it. A poisoned log stops the
// engine: every later commit fails too, until the database is reopened.
func (b *Batch) Logged(endLSN uint64, err error) {
	l := b.log
	if err != nil {
		l.group.Fail(err)
		b.Fail(err)
		l.publisher.Complete(b)
		return
	}
	b.EndLSN = endLSN
	l.next.Submit(b)
}
