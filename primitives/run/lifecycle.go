package run

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
)

// Change is a lifecycle system transaction's only part. It implements extension.TxPart.
type Change struct {
	store  *Store
	id     extension.RunID
	from   Status // the status the change requires; NotFound for a begin
	to     Status
	info   []byte // encoded Info, for a begin
	reason string
}

// Begin returns the change that starts run id.
func (s *Store) Begin(id extension.RunID, info Info) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be begun")
	}
	if len(info.Metadata) > 0 && !json.Valid(info.Metadata) {
		return nil, dberr.Invalid("run metadata is not valid JSON")
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, dberr.Invalid("run info: %v", err)
	}
	return &Change{store: s, id: id, from: NotFound, to: Active, info: b}, nil
}

// End returns the change that completes run id (Completed), or fails it with reason (Failed).
func (s *Store) End(id extension.RunID, failed bool, reason string) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be ended")
	}
	to := Completed
	if failed {
		to = Failed
	}
	return &Change{store: s, id: id, from: Active, to: to, reason: reason}, nil
}

// Orphan returns the change that marks an active run Orphaned: recovery's, after a restart.
func (s *Store) Orphan(id extension.RunID) *Change {
	return &Change{store: s, id: id, from: Active, to: Orphaned}
}

// Resume returns the change that turns an Orphaned run back to Active.
func (s *Store) Resume(id extension.RunID) (*Change, error) {
	if id == extension.GlobalRun {
		return nil, dberr.Invalid("GlobalRun cannot be resumed")
	}
	return &Change{store: s, id: id, from: Orphaned, to: Active}, nil
}

func (c *Change) Empty() bool { return false }

// Validate checks the transition against the run's newest status and stages the new one.
func (c *Change) Validate(cm extension.Commit) error {
	cur := c.store.current(cm, c.id)
	switch {
	case c.from == NotFound:
		if cur != NotFound {
			return fmt.Errorf("%w: %s", dberr.ErrRunExists, c.id)
		}
	case cur == NotFound:
		return fmt.Errorf("%w: %s", dberr.ErrRunNotFound, c.id)
	case cur != c.from && c.from == Active:
		return fmt.Errorf("%w: %s is %s", dberr.ErrRunNotActive, c.id, cur)
	case cur != c.from:
		return fmt.Errorf("%w: %s is %s, not %s", dberr.ErrInvalidArgument, c.id, cur, c.from)
	}
	cm.Stage(key(c.id), extension.Staged{Version: cm.Version(), Aux: uint64(c.to)})
	return nil
}

// Entries appends the one lifecycle entry.
func (c *Change) Entries(dst []commitlog.Entry, cm extension.Commit) []commitlog.Entry {
	p := make([]byte, 0, commitlog.RunIDSize+8+1+len(c.info)+len(c.reason))
	p = append(p, c.id[:]...)
	p = binary.LittleEndian.AppendUint64(p, uint64(cm.Timestamp()))
	var typ uint8
	switch {
	case c.from == NotFound:
		typ = TypeBegin
		p = append(p, c.info...)
	case c.to == Completed || c.to == Failed:
		typ = TypeEnd
		p = append(p, byte(c.to))
		p = append(p, c.reason...)
	default:
		typ = TypeUpdate
		p = append(p, byte(c.to))
	}
	return append(dst, commitlog.Entry{Type: typ, Version: 1, Payload: p})
}
