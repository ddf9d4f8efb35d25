package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/primitives/event"
	jsondoc "github.com/inmemdb/inmem/primitives/json"
	"github.com/inmemdb/inmem/primitives/kv"
	runs "github.com/inmemdb/inmem/primitives/run"
	"github.com/inmemdb/inmem/primitives/state"
	"github.com/inmemdb/inmem/primitives/trace"
	"github.com/inmemdb/inmem/snapshotter"
)

// The commands of this file read a database directory's files and never write them, so they
// are safe on a directory a live process holds (they may then see a log that grows under them).

// typeNames names the entry types of the built-in primitives, for wal dump.
var typeNames = map[uint8]string{
	0x00: "commit", 0x01: "abort", 0x02: "snapshot-marker",
	0x10: "kv.put", 0x11: "kv.delete",
	0x20: "json.create", 0x21: "json.set", 0x22: "json.delete", 0x23: "json.patch", 0x24: "json.delete-doc",
	0x30: "event.append",
	0x40: "state.init", 0x41: "state.set", 0x42: "state.transition", 0x43: "state.delete",
	0x50: "trace.record",
	0x61: "run.update", 0x62: "run.end", 0x63: "run.begin", 0x64: "run.step", 0x65: "run.delete",
	0x66: "run.base", 0x67: "run.compact",
}

// describers tell what an entry of a built-in primitive does ("put", and the key), from the
// entry alone: each is an empty store of its primitive, consulted by entry type.
var describers = func() map[uint8]extension.Describer {
	out := map[uint8]extension.Describer{}
	for _, p := range []extension.Primitive{kv.New(1), jsondoc.New(1), event.New(1), state.New(1), trace.New(1), runs.New(1)} {
		p.NewShard(0)
		lo, hi := p.EntryTypes()
		for t := int(lo); t <= int(hi); t++ {
			out[uint8(t)] = p.(extension.Describer)
		}
	}
	return out
}()

// summary is what an entry does, as its primitive describes it: "put k1", "append said".
func summary(e commitlog.Entry) string {
	d, ok := describers[e.Type]
	if !ok {
		return ""
	}
	var parts []string
	d.Describe(e.TxID, []commitlog.Entry{e}, func(x extension.Described) {
		parts = append(parts, strings.TrimSpace(x.Op.String()+" "+x.Key))
	})
	return strings.Join(parts, ", ")
}

func typeName(t uint8) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%#02x", t)
}

// dirArg parses the one-directory command line shared by inspect, verify and wal dump.
func dirArg(name, about string, args []string, stderr io.Writer, flags func(*flag.FlagSet)) (dir string, asJSON bool, code int, ok bool) {
	fs := newFlagSet("inmem "+name, stderr, "[-json] <dir>", about)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	if flags != nil {
		flags(fs)
	}
	if code, ok := parseFlags(fs, args); !ok {
		return "", false, code, false
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "inmem %s: want one database directory\n", name)
		fs.Usage()
		return "", false, exitUsage, false
	}
	return fs.Arg(0), asJSON, exitOK, true
}

// printResult prints v as JSON, or its text form.
func printResult(w io.Writer, asJSON bool, v any, text func()) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	text()
}

type segmentReport struct {
	Name    string `json:"name"`
	Base    uint64 `json:"base_lsn"`
	Bytes   int64  `json:"bytes"`
	Entries int    `json:"entries"`
}

type historyReport struct {
	Name    string `json:"name"`
	Bytes   int64  `json:"bytes"`
	Ranges  int    `json:"ranges"` // a history file's ranges, a segment's entries
	Problem string `json:"problem,omitempty"`
}

type snapshotReport struct {
	Name      string    `json:"name"`
	Time      time.Time `json:"time"`
	WALOffset uint64    `json:"wal_offset"`
	TxCount   uint64    `json:"tx_count"`
	Bytes     int64     `json:"bytes"`
	Problem   string    `json:"problem,omitempty"`
}

type dirReport struct {
	Dir         string           `json:"dir"`
	Segments    []segmentReport  `json:"segments"`
	History     []historyReport  `json:"history,omitempty"` // wal/history: run history kept out of the log
	Snapshots   []snapshotReport `json:"snapshots"`
	Quarantined []string         `json:"quarantined,omitempty"`
	Problems    []string         `json:"problems,omitempty"`
	Warnings    []string         `json:"warnings,omitempty"`
}

// examine reads every file of the database directory dir: each segment entry by entry (every
// checksum, the framing of segments), each snapshot whole. Damage goes to Problems, a torn
// tail (normal after a crash) and loose permissions to Warnings.
func examine(dir string, bar *progress) (dirReport, error) {
	fs := vfs.Default()
	rep := dirReport{Dir: dir}
	if st, err := os.Stat(dir); err != nil {
		return rep, err
	} else if st.Mode().Perm()&0o077 != 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is %v: others can read agent memory (want 0700)", dir, st.Mode().Perm()))
	}
	walDir, snapDir := filepath.Join(dir, "wal"), filepath.Join(dir, "snapshots")
	for _, q := range []string{filepath.Join(walDir, "quarantine"), filepath.Join(snapDir, "quarantine")} {
		names, _ := fs.List(q)
		for _, n := range names {
			rep.Quarantined = append(rep.Quarantined, filepath.Join(q, n))
		}
	}
	bar.add(0, "the log")
	if err := examineLog(fs, walDir, &rep); err != nil {
		return rep, err
	}
	if err := examineHistory(fs, walDir, &rep); err != nil {
		return rep, err
	}
	bar.add(1, "snapshots")
	snaps, err := snapshotter.List(fs, snapDir)
	if err != nil {
		return rep, err
	}
	for _, in := range snaps {
		bar.add(1, filepath.Base(in.Path))
		size, _ := fs.Stat(in.Path)
		s := snapshotReport{Name: filepath.Base(in.Path), Time: in.Time().UTC(), WALOffset: in.WALOffset,
			TxCount: in.TxCount, Bytes: size}
		if _, err := snapshotter.Verify(fs, in.Path); err != nil {
			s.Problem = err.Error()
			rep.Problems = append(rep.Problems, fmt.Sprintf("snapshot %s: %v", in.Path, err))
		}
		rep.Snapshots = append(rep.Snapshots, s)
	}
	return rep, nil
}

// examineHistory reads every file of the log's history directory whole.
func examineHistory(fs vfs.FS, walDir string, rep *dirReport) error {
	files, err := commitlog.CheckHistory(fs, walDir)
	for _, f := range files {
		h := historyReport{Name: f.Name, Bytes: f.Bytes, Ranges: f.Ranges}
		if f.Problem != nil {
			h.Problem = f.Problem.Error()
			rep.Problems = append(rep.Problems, fmt.Sprintf("history %s: %v", filepath.Join(walDir, commitlog.HistoryDir, f.Name), f.Problem))
		}
		rep.History = append(rep.History, h)
	}
	return err
}

// examineLog reads the log from its first segment to its end.
func examineLog(fs vfs.FS, walDir string, rep *dirReport) error {
	bases, err := commitlog.ListSegments(fs, walDir)
	if errors.Is(err, iofs.ErrNotExist) || err == nil && len(bases) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	for _, b := range bases {
		size, _ := fs.Stat(filepath.Join(walDir, commitlog.SegmentName(b)))
		rep.Segments = append(rep.Segments, segmentReport{Name: commitlog.SegmentName(b), Base: b, Bytes: size})
	}
	return walkLog(fs, walDir, bases[0], func(e commitlog.Entry, lsn uint64) {
		for i := len(rep.Segments) - 1; i >= 0; i-- {
			if rep.Segments[i].Base <= lsn {
				rep.Segments[i].Entries++
				break
			}
		}
	}, func(problem string, torn bool) {
		if torn {
			rep.Warnings = append(rep.Warnings, problem)
		} else {
			rep.Problems = append(rep.Problems, problem)
		}
	})
}

// walkLog calls entry for every intact entry from LSN from, and damage for what is not, going
// on past corruption.
func walkLog(fs vfs.FS, walDir string, from uint64, entry func(commitlog.Entry, uint64), damage func(string, bool)) error {
	r, err := commitlog.NewReader(fs, walDir, from)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		e, lsn, err := r.Next()
		var torn *commitlog.TornTailError
		var corrupt *commitlog.CorruptionError
		switch {
		case err == nil:
			entry(e, lsn)
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &torn):
			damage(fmt.Sprintf("torn tail in %s at offset %d: %d bytes after the last whole entry (normal after a crash; recovery cuts it off)",
				filepath.Join(walDir, torn.Segment), torn.ValidEnd, torn.Dropped), true)
		case errors.As(err, &corrupt):
			damage(fmt.Sprintf("corruption in %s at offset %d (LSN %d): %v",
				filepath.Join(walDir, corrupt.Segment), corrupt.Offset, corrupt.LSN, corrupt.Reason), false)
			if _, err := r.Resync(); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func inspectCommand(args []string, stdout, stderr io.Writer) int {
	dir, asJSON, code, ok := dirArg("inspect", "Lists the segments, snapshots and quarantined files of a database directory.", args, stderr, nil)
	if !ok {
		return code
	}
	rep, err := examine(dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "inmem inspect: %v\n", err)
		return exitFail
	}
	printResult(stdout, asJSON, rep, func() {
		fmt.Fprintf(stdout, "%s\n\nsegments\n", dir)
		for _, s := range rep.Segments {
			fmt.Fprintf(stdout, "  %s  base LSN %d  %d bytes  %d entries\n", s.Name, s.Base, s.Bytes, s.Entries)
		}
		if len(rep.History) > 0 {
			fmt.Fprintln(stdout, "\nrun history kept out of the log (wal/history)")
		}
		for _, h := range rep.History {
			state := "ok"
			if h.Problem != "" {
				state = "DAMAGED"
			}
			fmt.Fprintf(stdout, "  %s  %d bytes  %d ranges  %s\n", h.Name, h.Bytes, h.Ranges, state)
		}
		fmt.Fprintln(stdout, "\nsnapshots")
		for _, s := range rep.Snapshots {
			state := "valid"
			if s.Problem != "" {
				state = "INVALID"
			}
			fmt.Fprintf(stdout, "  %s  %s  cut: version %d, LSN %d  %d bytes  %s\n", s.Name,
				s.Time.Format(time.RFC3339), s.TxCount, s.WALOffset, s.Bytes, state)
		}
		for _, q := range rep.Quarantined {
			fmt.Fprintf(stdout, "quarantined: %s\n", q)
		}
	})
	return exitOK
}

func verifyCommand(args []string, stdout, stderr io.Writer) int {
	dir, asJSON, code, ok := dirArg("verify", "Checks every checksum of every segment, history file and snapshot and the framing of the log, recovers\nthe directory read-only and checks every run's event hash chain. Exit status 1 if anything is wrong.", args, stderr, nil)
	if !ok {
		return code
	}
	// The bar counts the log, each snapshot and the recovery; long work is in each.
	snaps, _ := snapshotter.List(vfs.Default(), filepath.Join(dir, "snapshots"))
	bar := newProgress(stderr, int64(2+len(snaps)))
	rep, err := examine(dir, bar)
	if err != nil {
		bar.finish()
		fmt.Fprintf(stderr, "inmem verify: %v\n", err)
		return exitFail
	}
	bar.add(0, "recovery, event chains")
	rep.Problems = append(rep.Problems, recoverAndCheck(dir)...)
	bar.add(1, "done")
	bar.finish()
	printResult(stdout, asJSON, rep, func() {
		for _, w := range rep.Warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "DAMAGE: %s\n", p)
		}
		entries := 0
		for _, s := range rep.Segments {
			entries += s.Entries
		}
		fmt.Fprintf(stdout, "%d segments (%d entries), %d history files, %d snapshots, %d damaged\n",
			len(rep.Segments), entries, len(rep.History), len(rep.Snapshots), len(rep.Problems))
	})
	if len(rep.Problems) > 0 {
		return exitFail
	}
	return exitOK
}

func walDumpCommand(args []string, stdout, stderr io.Writer) int {
	var from uint64
	var typ, runID string
	dir, asJSON, code, ok := dirArg("wal dump", "Prints the log's entries, one a line: LSN, type, transaction version, run, payload size, what it does.", args, stderr,
		func(fs *flag.FlagSet) {
			fs.Func("from", "start at this LSN (an entry boundary)", func(s string) (err error) {
				from, err = strconv.ParseUint(s, 10, 64)
				return err
			})
			fs.StringVar(&typ, "type", "", "only entries of this type (kv.put, run.begin, …)")
			fs.StringVar(&runID, "run", "", "only entries of this run")
		})
	if !ok {
		return code
	}
	fs := vfs.Default()
	walDir := filepath.Join(dir, "wal")
	if from == 0 {
		if bases, err := commitlog.ListSegments(fs, walDir); err == nil && len(bases) > 0 {
			from = bases[0]
		}
	}
	type line struct {
		LSN     uint64 `json:"lsn"`
		Type    string `json:"type"`
		Version uint64 `json:"tx"`
		Run     string `json:"run,omitempty"`
		Bytes   int    `json:"payload_bytes"`
		Does    string `json:"does,omitempty"`
	}
	enc := json.NewEncoder(stdout)
	damaged := false
	err := walkLog(fs, walDir, from, func(e commitlog.Entry, lsn uint64) {
		l := line{LSN: lsn, Type: typeName(e.Type), Version: e.TxID, Bytes: len(e.Payload)}
		if typ != "" && l.Type != typ {
			return
		}
		if e.Type > commitlog.CoreTypesHigh && len(e.Payload) >= commitlog.RunIDSize {
			l.Run = runIDString(e.Payload[:commitlog.RunIDSize])
		}
		if runID != "" && l.Run != runID {
			return
		}
		l.Does = summary(e)
		if asJSON {
			_ = enc.Encode(l)
			return
		}
		fmt.Fprintf(stdout, "%12d  %-16s tx %-8d %s  %d bytes  %s\n", l.LSN, l.Type, l.Version, l.Run, l.Bytes, l.Does)
	}, func(problem string, torn bool) {
		damaged = damaged || !torn
		fmt.Fprintf(stderr, "%s\n", problem)
	})
	if err != nil {
		fmt.Fprintf(stderr, "inmem wal dump: %v\n", err)
		return exitFail
	}
	if damaged {
		return exitFail
	}
	return exitOK
}

// runIDString prints 16 bytes as a UUID.
func runIDString(b []byte) string {
	h := fmt.Sprintf("%x", b)
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]}, "-")
}

// recoverAndCheck recovers the directory into memory without writing to it (beside a live
// writer too: a consistent prefix) and checks every run's event hash chain.
func recoverAndCheck(dir string) []string {
	o := inmem.DefaultOptions()
	o.Recovery.IgnoreLock = true
	o.Recovery.Mode = inmem.FailOnCorruption
	db, err := inmem.OpenReadOnly(dir, o)
	if err != nil {
		return []string{fmt.Sprintf("recovery: %v", err)}
	}
	defer db.Close()
	var problems []string
	if rec := db.LastRecovery(); rec.SnapshotsRejected > 0 {
		problems = append(problems, fmt.Sprintf("recovery: %d snapshots rejected", rec.SnapshotsRejected))
	}
	runs, err := db.ListRuns(inmem.RunFilter{})
	if err != nil {
		return append(problems, fmt.Sprintf("recovery: list runs: %v", err))
	}
	for _, r := range runs {
		if err := db.Events().VerifyChain(r.ID); err != nil {
			problems = append(problems, fmt.Sprintf("run %s: event chain: %v", r.ID, err))
		}
	}
	return problems
}
