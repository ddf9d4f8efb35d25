package commitlog

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/inmemdb/inmem/internal/vfs"
)

// Retired says what RetireBelow did.
type Retired struct {
	Removed int // segments and history files deleted
	Moved   int // segments moved out of the log into the history directory whole
	Copied  int // ranges copied into a new history file
}

// Any reports whether a file was removed or moved.
func (r Retired) Any() bool { return r.Removed+r.Moved > 0 }

// maxHistoryFiles bounds the history files kept side by side: past it, the next retirement
// that writes one folds them all into it.
const maxHistoryFiles = 8

// RetireBelow takes the segments wholly below LSN below — those whose successor starts at or
// below it; never the last — out of the log in dir, and keeps of them, and of the history
// directory, what the ranges in live still read (run history: any order, duplicates and
// overlaps allowed; RetireBelow sorts live in place, as it may be a range per retained step):
//
//   - a file no live range is in is deleted;
//   - a segment at least half of which is live moves into the history directory whole;
//   - the live ranges of a segment or history file less than half live are copied into one new
//     history file, and the file is deleted.
//
// So the bytes kept for history stay within about twice what is live, and no copy is made of a
// segment that is mostly live. A history file that does not validate is left as it is.
//
// Every live range is in some file at every moment, whatever a crash interrupts: a new history
// file is durable before anything it copies is deleted, and a move is one rename. A crash can
// leave a range in two files; the next retirement deletes the one no range is assigned to.
func RetireBelow(fs vfs.FS, dir string, below uint64, live []Range) (Retired, error) {
	p, err := planRetirement(fs, dir, below, live)
	if err != nil {
		return Retired{}, err
	}
	return p.carry(fs)
}

// holder is a file of the log or of the history directory that may hold live ranges.
type holder struct {
	path   string
	inLog  bool   // a segment of the log (else of the history directory)
	base   uint64 // a segment's base; 0 for a history file
	size   uint64 // entry bytes held
	ranges []placed
	live   []Range
	bytes  uint64 // of live
	pinned bool   // a live range overlaps it without lying wholly in it: keep it whole
}

// retirement is what RetireBelow does, decided before anything is changed.
type retirement struct {
	dir, histDir string
	holders      []*holder
	nextSeq      uint64
	fold         bool // too many history files: fold every one into the new file
}

func planRetirement(fs vfs.FS, dir string, below uint64, live []Range) (*retirement, error) {
	p := &retirement{dir: dir, histDir: filepath.Join(dir, HistoryDir)}
	bases, err := ListSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(bases) && bases[i+1] <= below; i++ {
		// A sealed segment ends at its last entry; the next one listed may start further on,
		// past a segment an interrupted retirement moved out already.
		path := filepath.Join(dir, SegmentName(bases[i]))
		size, err := fs.Stat(path)
		if err != nil {
			return nil, err
		}
		p.holders = append(p.holders, &holder{path: path, inLog: true, base: bases[i],
			size: min(bases[i+1]-bases[i], uint64(max(size-HeaderSize, 0)))})
	}
	hist, err := listHistory(fs, dir)
	if err != nil {
		return nil, err
	}
	for _, name := range hist.partial { // retirements run one at a time: none is being written
		if err := fs.Remove(filepath.Join(p.histDir, name)); err != nil {
			return nil, err
		}
	}
	if hist.exists {
		// What an interrupted retirement left there must be durable before anything is
		// deleted for being held there.
		if err := fs.SyncDir(p.histDir); err != nil {
			return nil, err
		}
	}
	if err := p.addHistory(fs, hist); err != nil {
		return nil, err
	}
	p.assign(live)
	return p, nil
}

// addHistory adds the history directory's files as holders.
func (p *retirement) addHistory(fs vfs.FS, hist historyListing) error {
	for _, base := range hist.segments {
		path := filepath.Join(p.histDir, SegmentName(base))
		size, err := fs.Stat(path)
		if err != nil {
			return err
		}
		p.holders = append(p.holders, &holder{path: path, base: base, size: uint64(max(size-HeaderSize, 0))})
	}
	if n := len(hist.files); n > 0 {
		p.nextSeq = hist.files[n-1] + 1
	}
	valid := 0
	for _, seq := range hist.files {
		path := filepath.Join(p.histDir, historyName(seq))
		ranges, err := readIndexAt(fs, path)
		if errors.Is(err, ErrDamaged) {
			continue // left as it is: never delete what cannot be read
		}
		if err != nil {
			return err
		}
		valid++
		h := &holder{path: path, ranges: ranges}
		for _, r := range ranges {
			h.size += uint64(r.Len)
		}
		p.holders = append(p.holders, h)
	}
	p.fold = valid >= maxHistoryFiles
	return nil
}

func readIndexAt(fs vfs.FS, path string) ([]placed, error) {
	f, size, err := openSized(fs, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readHistoryIndex(f, size, path)
}

// assign gives each live range to one holder — a history file's range first, then a segment
// that holds it whole — and pins the segments a range overlaps without fitting in.
func (p *retirement) assign(live []Range) {
	live = union(live)
	var sparse []*holder
	var segs []*holder
	for _, h := range p.holders {
		if h.ranges != nil {
			sparse = append(sparse, h)
		} else {
			segs = append(segs, h)
		}
	}
	for _, r := range live {
		if h := p.sparseHolder(sparse, r); h != nil {
			h.take(r)
			continue
		}
		taken := false
		for _, h := range segs {
			switch {
			case r.End() <= h.base || r.LSN >= h.base+h.size:
			case r.LSN >= h.base && r.End() <= h.base+h.size && !taken:
				h.take(r)
				taken = true
			default:
				h.pinned = true
			}
		}
	}
}

// union returns the ranges that cover what the given ones cover, ascending and apart: a
// range inside another, or overlapping it, is merged into one. It reuses ranges.
func union(ranges []Range) []Range {
	slices.SortFunc(ranges, func(a, b Range) int {
		return cmp.Or(cmp.Compare(a.LSN, b.LSN), cmp.Compare(b.Len, a.Len))
	})
	out := ranges[:0]
	for _, r := range ranges {
		if n := len(out); n > 0 && r.LSN < out[n-1].End() {
			if r.End() > out[n-1].End() {
				out[n-1].Len = uint32(r.End() - out[n-1].LSN)
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func (h *holder) take(r Range) {
	h.live = append(h.live, r)
	h.bytes += uint64(r.Len)
}

// sparseHolder returns the history file with a range holding r, if any.
func (p *retirement) sparseHolder(sparse []*holder, r Range) *holder {
	for _, h := range sparse {
		i, _ := slices.BinarySearchFunc(h.ranges, r.LSN, func(pr placed, lsn uint64) int {
			return cmp.Compare(pr.End(), lsn+1)
		})
		if i < len(h.ranges) && h.ranges[i].contains(r.LSN, int(r.Len)) {
			return h
		}
	}
	return nil
}

// carry makes the changes: the new history file first, then the moves, then the deletions.
func (p *retirement) carry(fs vfs.FS) (Retired, error) {
	var done Retired
	var copies, moves, removals, kept []*holder
	for _, h := range p.holders {
		switch {
		case h.bytes == 0 && !h.pinned:
			removals = append(removals, h)
		case h.pinned || 2*h.bytes >= h.size:
			if h.inLog {
				moves = append(moves, h)
			} else if h.ranges != nil {
				kept = append(kept, h)
			}
		default:
			copies = append(copies, h)
			removals = append(removals, h)
		}
	}
	if len(copies) > 0 && p.fold { // a new history file is written anyway: fold the others in
		copies, removals = append(copies, kept...), append(removals, kept...)
	}
	if len(copies)+len(moves) > 0 {
		if err := fs.MkdirAll(p.histDir); err != nil {
			return done, err
		}
		if err := fs.SyncDir(p.dir); err != nil {
			return done, err
		}
	}
	n, err := p.copy(fs, copies)
	if err != nil {
		return done, err
	}
	done.Copied = n
	for _, h := range moves {
		if err := fs.Rename(h.path, filepath.Join(p.histDir, filepath.Base(h.path))); err != nil {
			return done, fmt.Errorf("commitlog: move %s into the history directory: %w", filepath.Base(h.path), err)
		}
		done.Moved++
	}
	if len(moves) > 0 {
		if err := p.syncDirs(fs, true, true); err != nil {
			return done, err
		}
	}
	var inLog, inHistory bool
	for _, h := range removals {
		if err := fs.Remove(h.path); err != nil {
			return done, fmt.Errorf("commitlog: retire %s: %w", filepath.Base(h.path), err)
		}
		done.Removed++
		inLog, inHistory = inLog || h.inLog, inHistory || !h.inLog
	}
	return done, p.syncDirs(fs, inLog, inHistory)
}

// copy writes the live ranges of the holders into one new history file, durably.
func (p *retirement) copy(fs vfs.FS, from []*holder) (int, error) {
	type source struct {
		r Range
		h *holder
	}
	var all []source
	for _, h := range from {
		for _, r := range h.live {
			all = append(all, source{r, h})
		}
	}
	if len(all) == 0 {
		return 0, nil
	}
	slices.SortFunc(all, func(a, b source) int { return cmp.Compare(a.r.LSN, b.r.LSN) })
	ranges := make([]Range, len(all))
	for i, s := range all {
		ranges[i] = s.r
	}
	files := map[string]vfs.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	i := 0
	read := func(r Range) ([]byte, error) {
		s := all[i]
		i++
		f, ok := files[s.h.path]
		if !ok {
			var err error
			if f, err = fs.Open(s.h.path); err != nil {
				return nil, err
			}
			files[s.h.path] = f
		}
		b := make([]byte, r.Len)
		return b, readFull(f, b, s.h.offset(r))
	}
	path := filepath.Join(p.histDir, historyName(p.nextSeq))
	if err := writeHistoryFile(fs, path, ranges, read); err != nil {
		return 0, fmt.Errorf("commitlog: write history file %s: %w", filepath.Base(path), err)
	}
	return len(ranges), fs.SyncDir(p.histDir)
}

// offset is where r, which h holds, starts in h's file.
func (h *holder) offset(r Range) int64 {
	if h.ranges == nil {
		return HeaderSize + int64(r.LSN-h.base)
	}
	i, _ := slices.BinarySearchFunc(h.ranges, r.LSN, func(pr placed, lsn uint64) int {
		return cmp.Compare(pr.End(), lsn+1)
	})
	return h.ranges[i].off + int64(r.LSN-h.ranges[i].LSN)
}

// syncDirs makes the changes to the log's directory and the history directory durable.
func (p *retirement) syncDirs(fs vfs.FS, log, history bool) error {
	if history {
		if err := fs.SyncDir(p.histDir); err != nil {
			return err
		}
	}
	if log {
		return fs.SyncDir(p.dir)
	}
	return nil
}
