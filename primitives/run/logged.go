package run

import (
	"bytes"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/dberr"
)

// fetch reads logged step s, of ops operations, back from the log and yields its entries
// until yield returns false: the transaction's own, without the run primitive's step or base
// entry, a compaction's base unpacked, each stamped with the step's version. What the log
// gives back must be exactly the step the journal indexed — ops entries of this run, of the
// step's version — or the step is damaged (ErrCorruption) and nothing of it is yielded: a
// damaged step fails its run's replay, it never shows a wrong state.
func (j Journal) fetch(s Step, ops int, yield func(commitlog.Entry) bool) error {
	if j.src == nil {
		return j.damaged(s, fmt.Errorf("no log to read it from"))
	}
	raw, err := j.src.Fetch(s.At, int(s.Len))
	if err != nil { // the log says whether it is corruption or an I/O failure
		return fmt.Errorf("%s: %w", j.stepName(s), err)
	}
	out, err := j.unlog(s, raw)
	if err == nil && len(out) != ops {
		err = fmt.Errorf("%d operations where the journal has %d", len(out), ops)
	}
	if err != nil {
		return j.damaged(s, err)
	}
	for _, e := range out {
		if !yield(e) {
			return nil
		}
	}
	return nil
}

// unlog turns the entries of a logged step into the step's operations.
func (j Journal) unlog(s Step, raw []commitlog.Entry) ([]commitlog.Entry, error) {
	out := make([]commitlog.Entry, 0, len(raw))
	for _, e := range raw {
		if !bytes.HasPrefix(e.Payload, j.run[:]) {
			return nil, fmt.Errorf("entry %#02x of another run", e.Type)
		}
		switch {
		case e.Type == TypeCompact: // its version is the compaction's, not the base's
			_, _, _, base, err := decodeCompaction(e.Payload, e.Version)
			if err != nil {
				return nil, err
			}
			for _, b := range base {
				b.TxID = s.Version
				out = append(out, b.logEntry())
			}
		case e.TxID != s.Version:
			return nil, fmt.Errorf("entry %#02x of version %d in the step of version %d", e.Type, e.TxID, s.Version)
		case e.Type >= typesLow && e.Type <= typesHigh: // the step's own RunStep or RunBase
		default:
			out = append(out, commitlog.Entry{Type: e.Type, Version: e.Version, TxID: e.TxID, Payload: e.Payload})
		}
	}
	return out, nil
}

// damaged is the error for a step that cannot be read back whole and right.
func (j Journal) damaged(s Step, err error) error {
	return fmt.Errorf("%w: %s: %w", dberr.ErrCorruption, j.stepName(s), err)
}

func (j Journal) stepName(s Step) string {
	return fmt.Sprintf("history of run %s, the step of version %d (log LSN %d, %d bytes)", j.run, s.Version, s.At, s.Len)
}

// Retained returns the ranges of the log below LSN below that a journal a reader may still
// read has a step in: the log's owner must keep them. Deleted runs and compactions count until
// no reader can see them (Trim lets go of them). Safe beside the actors: it reads what they
// published, and a step journaled meanwhile is in the log after everything a published journal
// names.
func (s *Store) Retained(below uint64) []commitlog.Range {
	var out []commitlog.Range
	for b := range s.listed() {
		for i := range b {
			if j := b[i].run.journal.Load(); j != nil {
				out = j.retained(out, below)
			}
		}
	}
	return out
}
