package inmem

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/inmemdb/inmem/replayer"
)

// exportFormat names the export format in its header; a reader refuses any other.
const exportFormat = "inmem-run/1"

// exportHeader is an export's first line.
type exportHeader struct {
	Format string    `json:"format"`
	Run    exportRun `json:"run"`
	First  int       `json:"first_step"` // the first step exported: the run's base
}

// exportRun is the run's metadata as an export holds it: ids as text, for people and tools.
type exportRun struct {
	ID         string          `json:"id"`
	Name       string          `json:"name,omitempty"`
	Agent      string          `json:"agent,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Parent     string          `json:"parent,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	EndedAt    time.Time       `json:"ended_at,omitzero"`
	Steps      int             `json:"steps"`
	ForkedFrom *exportFork     `json:"forked_from,omitempty"`
}

type exportFork struct {
	Run  string `json:"run"`
	Step int    `json:"step"`
}

func exportRunOf(m RunMetadata) exportRun {
	r := exportRun{ID: m.ID.String(), Name: m.Info.Name, Agent: m.Info.Agent, Tags: m.Info.Tags,
		Metadata: m.Info.Metadata, Status: m.Status.String(), Reason: m.Reason, StartedAt: m.StartedAt,
		EndedAt: m.EndedAt, Steps: m.Steps}
	if m.Info.Parent != GlobalRun {
		r.Parent = m.Info.Parent.String()
	}
	if f := m.ForkedFrom; f != nil {
		r.ForkedFrom = &exportFork{Run: f.Run.String(), Step: f.Step}
	}
	return r
}

// info is the RunInfo an import begins its run with: the exported one, less a Parent this
// database does not hold.
func (r exportRun) info(db *DB) (RunInfo, error) {
	info := RunInfo{Name: r.Name, Agent: r.Agent, Tags: r.Tags, Metadata: r.Metadata}
	if r.Parent == "" {
		return info, nil
	}
	parent, err := ParseRunID(r.Parent)
	if err != nil {
		return info, fmt.Errorf("%w: parent: %v", errBadExport, err)
	}
	if db.RunStatus(parent) != RunNotFound {
		info.Parent = parent
	}
	return info, nil
}

// exportStep is one line per step after the header.
type exportStep struct {
	Step    int        `json:"step"`
	Version uint64     `json:"version"`
	Time    time.Time  `json:"time"`
	Ops     []exportOp `json:"ops"`
}

// exportOp is one operation: the primitive's WAL entry, its payload without the run id that
// starts every payload (the run an import writes to has another). Op, Key and Value, when the
// primitive can tell them (extension.Describer, Exporter), are for people; an import reads
// Type, Version and the payload.
type exportOp struct {
	Kind    string          `json:"kind"` // the primitive: "kv", "json", …
	Op      string          `json:"op,omitempty"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"` // what it wrote, when the primitive can show it`
	Type    uint8           `json:"type"`
	Version uint8           `json:"v"`
	JSON    json.RawMessage `json:"json,omitempty"`   // the payload, when it is JSON
	Base64  []byte          `json:"base64,omitempty"` // the payload otherwise
}

// ExportRun writes run's metadata and every step of its history (from its base, step 0 unless
// it was compacted) as JSON Lines: a header {"format":"inmem-run/1","run":{…},"first_step":n},
// then one object per step {"step","version","time","ops":[…]}, each operation the primitive's
// log entry with its payload as JSON where it is JSON and base64 otherwise, and for people what
// it did: its op, key and value ({"kind":"kv","op":"put","key":"plan","value":"search",…}). It reads one
// snapshot of the run: commits made meanwhile are not in it. ImportRun reads it back.
func (db *DB) ExportRun(ctx context.Context, id RunID, w io.Writer) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	now, unpin := db.pin()
	defer unpin()
	j, err := db.journal(id, now)
	if err != nil {
		return err
	}
	meta, err := db.Run(id)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // payloads that are JSON go out byte for byte (see exportStep)
	if err := enc.Encode(exportHeader{Format: exportFormat, Run: exportRunOf(meta), First: j.First()}); err != nil {
		return err
	}
	for n := j.First(); n <= j.Last(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := db.exportStep(j, n)
		if err == nil {
			err = enc.Encode(line)
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// exportStep is step n of j as an export line.
func (db *DB) exportStep(j run.Journal, n int) (exportStep, error) {
	entries, err := j.StepEntries(n)
	if err != nil {
		return exportStep{}, err
	}
	s, _ := j.Step(n)
	line := exportStep{Step: n, Version: s.Version, Time: time.UnixMicro(s.Timestamp).UTC(), Ops: []exportOp{}}
	for _, e := range entries {
		owner, _ := db.registry.Owner(e.Type)
		op := exportOp{Kind: db.registry.Primitives()[owner].Name(), Type: e.Type, Version: e.Version}
		if d := db.describers[owner]; d != nil {
			d.Describe(e.TxID, []commitlog.Entry{e}, func(x extension.Described) { op.Op, op.Key = x.Op.String(), x.Key })
		}
		if x, ok := db.registry.Primitives()[owner].(extension.Exporter); ok {
			op.Value, _ = x.ExportValue(e)
		}
		if p := e.Payload[commitlog.RunIDSize:]; compactJSON(p) {
			op.JSON = p
		} else {
			op.Base64 = p
		}
		line.Ops = append(line.Ops, op)
	}
	return line, nil
}

// compactJSON reports whether p is JSON that the encoder writes out unchanged: valid and
// compact. Other payloads, JSON with spaces included, go as base64, so an import gets every
// byte back.
func compactJSON(p []byte) bool {
	if len(p) == 0 || !json.Valid(p) {
		return false
	}
	var b bytes.Buffer
	return json.Compact(&b, p) == nil && bytes.Equal(b.Bytes(), p)
}

// errBadExport wraps what ImportRun finds wrong in its input; the database is unchanged.
var errBadExport = fmt.Errorf("%w: not an inmem run export", dberr.ErrInvalidArgument)

// ImportRun reads an export (ExportRun) and makes it run dst: begun with the export's first
// step as its base, then each step as a transaction of its own, then ended as the exported run
// ended (Failed with its reason, Completed otherwise), so that replaying dst at any step
// equals replaying the exported run there; the steps get new versions and times, the data in
// them (event times included) is as exported. The whole input is read and checked first
// (every operation replayed into a scratch copy): a malformed export is ErrInvalidArgument
// and writes nothing. The exported info is kept, but a Parent that does not exist here is
// dropped. dst must not exist (ErrRunExists). A crash during the import leaves dst partly
// imported and Orphaned: delete it and import again.
func (db *DB) ImportRun(ctx context.Context, r io.Reader, dst RunID) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	h, steps, err := db.readExport(r, dst)
	if err != nil {
		return err
	}
	info, err := h.Run.info(db)
	if err != nil {
		return err
	}
	ch, err := db.runs.Restore(dst, info, h.First)
	if err != nil {
		return err
	}
	begin := actors.NewCommit(dst, 0, ch, entriesPart(steps[0]))
	begin.System = true
	if err := db.submit(ctx, begin); err != nil {
		return err
	}
	for _, entries := range steps[1:] {
		if err := db.submit(ctx, actors.NewCommit(dst, 0, entriesPart(entries))); err != nil {
			return err
		}
	}
	if h.Run.Status == RunFailed.String() {
		return db.AbortRun(ctx, dst, h.Run.Reason)
	}
	return db.EndRun(ctx, dst)
}

// readExport reads an export whole, checks it, and returns its header and each step's entries
// for run dst (the first: the base).
func (db *DB) readExport(r io.Reader, dst RunID) (exportHeader, [][]commitlog.Entry, error) {
	dec := json.NewDecoder(r)
	var h exportHeader
	if err := dec.Decode(&h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", errBadExport, err)
	}
	if h.Format != exportFormat || h.First < 0 {
		return h, nil, fmt.Errorf("%w: format %q, first step %d", errBadExport, h.Format, h.First)
	}
	check := replayer.New(&db.registry, dst)
	var steps [][]commitlog.Entry
	for n := h.First; ; n++ {
		var line exportStep
		err := dec.Decode(&line)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || line.Step != n {
			return h, nil, fmt.Errorf("%w: step %d: %v (step %d read)", errBadExport, n, err, line.Step)
		}
		entries, err := db.importOps(line.Ops, dst, uint64(len(steps)+1))
		if err != nil {
			return h, nil, fmt.Errorf("%w: step %d: %w", errBadExport, n, err)
		}
		if err := check.Apply(entries); err != nil {
			return h, nil, fmt.Errorf("%w: step %d: %w", errBadExport, n, err)
		}
		steps = append(steps, entries)
	}
	if len(steps) == 0 {
		return h, nil, fmt.Errorf("%w: no steps", errBadExport)
	}
	return h, steps, nil
}

// importOps turns one step's operations into entries of run dst, stamped with version (for the
// check's replay only: the commit stamps its own). An operation must belong to a primitive that
// replays (so the check covers it) and not to the runs' own.
func (db *DB) importOps(ops []exportOp, dst RunID, version uint64) ([]commitlog.Entry, error) {
	entries := make([]commitlog.Entry, 0, len(ops))
	for _, op := range ops {
		owner, ok := db.registry.Owner(op.Type)
		if _, replays := db.registry.Primitives()[owner].(extension.Replayable); !ok || !replays || db.kinds[owner] == KindRun {
			return nil, fmt.Errorf("entry type %#02x is not data this database can import", op.Type)
		}
		body := []byte(op.JSON)
		if body == nil {
			body = op.Base64
		}
		payload := append(append(make([]byte, 0, commitlog.RunIDSize+len(body)), dst[:]...), body...)
		entries = append(entries, commitlog.Entry{Type: op.Type, Version: op.Version, TxID: version, Payload: payload})
	}
	return entries, nil
}
