package run

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// sectionFormat is the format version byte of a run's chunk body.
const sectionFormat = 1

// Freeze returns the shard at version: O(1). The view reads the chains as readers do; the
// engine pins version while the view is written.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return frozen{sh: sh, at: version}
}

type frozen struct {
	sh *shard
	at uint64
}

// WriteSection writes one chunk per run that exists at the view's version.
func (f frozen) WriteSection(w io.Writer) error {
	var body []byte
	var err error
	f.sh.runs.Range(func(id extension.RunID, ch *mvcc.Chain[*Record]) bool {
		v := ch.At(f.at)
		if v == nil {
			return true
		}
		body, err = appendRecord(body[:0], v.Commit, v.Value)
		if err == nil {
			err = extension.WriteChunk(w, id, body)
		}
		return err == nil
	})
	return err
}

func appendRecord(b []byte, commit uint64, r *Record) ([]byte, error) {
	info, err := json.Marshal(r.Info)
	if err != nil {
		return b, fmt.Errorf("run section: info of %s: %w", r.ID, err)
	}
	b = append(b, sectionFormat)
	b = binary.AppendUvarint(b, commit)
	b = append(b, byte(r.Status))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.StartedAt))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.EndedAt))
	b = binary.AppendUvarint(b, uint64(len(r.Reason)))
	b = append(b, r.Reason...)
	b = binary.AppendUvarint(b, uint64(len(info)))
	return append(b, info...), nil
}

// LoadSection restores one run's record from a snapshot chunk. The chunk is decoded whole
// first: a malformed chunk changes nothing.
func (sh *shard) LoadSection(rd io.Reader) error {
	id, body, err := extension.ReadChunk(rd)
	if err != nil {
		return err
	}
	if id == extension.GlobalRun {
		return fmt.Errorf("%w: run section: a record of GlobalRun", dberr.ErrCorruption)
	}
	if _, ok := sh.runs.Load(id); ok {
		return fmt.Errorf("%w: run section: run %s loaded twice", dberr.ErrCorruption, id)
	}
	commit, rec, err := decodeRecord(body)
	if err != nil {
		return fmt.Errorf("%w: run section, run %s: %w", dberr.ErrCorruption, id, err)
	}
	rec.ID = id
	ch := new(mvcc.Chain[*Record])
	ch.Push(commit, rec, false)
	sh.runs.Store(id, ch)
	return nil
}

// decodeRecord reads a chunk body written by appendRecord.
func decodeRecord(b []byte) (uint64, *Record, error) {
	if len(b) == 0 || b[0] != sectionFormat {
		return 0, nil, fmt.Errorf("%w: unknown format (want version %d)", ErrMalformed, sectionFormat)
	}
	b = b[1:]
	commit, n := binary.Uvarint(b)
	if n <= 0 || commit == 0 {
		return 0, nil, fmt.Errorf("%w: bad commit version", ErrMalformed)
	}
	b = b[n:]
	if len(b) < 1+8+8 {
		return 0, nil, fmt.Errorf("%w: %d bytes left for status and times", ErrMalformed, len(b))
	}
	r := &Record{Status: Status(b[0])}
	if r.Status == NotFound || r.Status > Orphaned {
		return 0, nil, fmt.Errorf("%w: status %d", ErrMalformed, b[0])
	}
	r.StartedAt = int64(binary.LittleEndian.Uint64(b[1:]))
	r.EndedAt = int64(binary.LittleEndian.Uint64(b[9:]))
	b = b[17:]
	reason, b, ok := bytesField(b)
	if !ok {
		return 0, nil, fmt.Errorf("%w: bad reason length", ErrMalformed)
	}
	r.Reason = string(reason)
	info, b, ok := bytesField(b)
	if !ok || len(b) != 0 {
		return 0, nil, fmt.Errorf("%w: bad info length", ErrMalformed)
	}
	if err := json.Unmarshal(info, &r.Info); err != nil {
		return 0, nil, fmt.Errorf("%w: run info: %v", ErrMalformed, err)
	}
	return commit, r, nil
}

// bytesField splits a uvarint-length-prefixed byte string off the front of b.
func bytesField(b []byte) (field, rest []byte, ok bool) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return nil, b, false
	}
	end := n + int(size)
	return b[n:end], b[end:], true
}
