package inmem_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/inmemdb/inmem"
)

// FuzzFacades: no public method panics on any input, and every error is one of the package's
// sentinels — the one the call's arguments and the database's state call for. The input is a
// program: a sequence of operations on the public API (run lifecycle, Update/View/Begin with
// transactions touching every primitive, every facade method, replay, diff, Close and what
// follows it), with arguments drawn from the input too (empty, nil, invalid UTF-8, oversized,
// malformed JSON and paths, unknown patch ops, spans that end before they start, missing
// parents, nil contexts and functions, negative and huge numbers).
//
// A model follows every call that succeeds: the runs' statuses, KV pairs, events, state cells
// (values and version counters), span ids and document existence. Reads are checked against
// it, in the facades, inside transactions (snapshot plus own writes) and in replayed views, and
// so are the outcomes of writes: a call with valid arguments on an active run must succeed, a
// call with a reason to fail must fail with that reason. The checks each call gets:
//
//   - a gate (closed database, nil or done context, a finished or read-only transaction)
//     makes the call fail with the gate's error: after Close every call with valid arguments
//     fails with ErrClosed, every call given a nil context with ErrInvalidArgument. A call whose
//     arguments are also invalid may report those instead (ErrInvalidArgument, ErrTooLarge,
//     ErrInvalidPath; ErrInMemory from the snapshot calls): several facades check arguments
//     before they look at the database or the context;
//   - otherwise a certain failure (unknown run, ended run, invalid argument, existing cell…)
//     makes it fail with one of the reasons that apply, and a possible one (a conflict after
//     a read, a JSON path that may not fit the document) may;
//   - otherwise it must succeed, and what it returns must agree with the model.
func FuzzFacades(f *testing.F) {
	for _, seed := range ffSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newFFHarness(t)
		defer h.finish()
		r := &ffReader{data: data}
		for n := 0; r.more() && n < ffMaxOps; n++ {
			h.op(r, 0)
		}
		h.audit()
		if ffShowLog {
			t.Log("ops:\n" + strings.Join(h.log, "\n"))
		}
	})
}

// ffShowLog logs every input's operations (FFLOG=1 go test -run FuzzFacades -v).
var ffShowLog = os.Getenv("FFLOG") != ""

const (
	ffMaxOps      = 64 // top-level operations per input
	ffMaxBody     = 64 // bytes of an Update/View function's body
	ffMaxBodyOps  = 16 // operations a function body runs
	ffMaxOpenTxs  = 8  // transactions left open at once
	ffMaxViews    = 4  // replayed views kept to check after later writes and Close
	ffMaxLogLines = 1000
)

// ---------------------------------------------------------------------------------------------
// Input decoding.

type ffReader struct {
	data []byte
	off  int
}

func (r *ffReader) more() bool { return r.off < len(r.data) }

func (r *ffReader) byte() byte {
	if r.off >= len(r.data) {
		return 0
	}
	b := r.data[r.off]
	r.off++
	return b
}

func (r *ffReader) n(k int) int { return int(r.byte()) % k }

func (r *ffReader) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// chunk returns the next length-prefixed bytes of the input (a copy, never nil).
func (r *ffReader) chunk() []byte {
	n := min(int(r.byte()), len(r.data)-r.off)
	c := bytes.Clone(r.data[r.off : r.off+n])
	r.off += n
	if c == nil {
		c = []byte{}
	}
	return c
}

func (r *ffReader) take(n int) []byte {
	n = min(n, len(r.data)-r.off)
	c := r.data[r.off : r.off+n]
	r.off += n
	return c
}

var (
	ffHugeOnce sync.Once
	ffHugeVal  []byte // one byte past every value limit (16 MiB): refused before it is copied
)

func ffHuge() []byte {
	ffHugeOnce.Do(func() { ffHugeVal = make([]byte, 16<<20+1) })
	return ffHugeVal
}

var ffKeys = [...]string{
	"k1", "k2", "a", "a/b", "k1", "é", "", "\xff", "k\x00z", strings.Repeat("x", 4096),
	strings.Repeat("y", 4097), "\xed\xa0\x80", "k2", "a", "<raw>", "k3",
}

// key returns a KV key, document key or cell name: mostly a few valid ones that collide,
// sometimes empty, invalid UTF-8, at and over the 4 KiB limit, or raw input bytes.
func (h *ffHarness) key(r *ffReader) string {
	i := r.n(len(ffKeys))
	if ffKeys[i] == "<raw>" {
		return string(r.chunk())
	}
	return ffKeys[i]
}

func ffValidKey(s string) bool { return s != "" && len(s) <= 4<<10 && utf8.ValidString(s) }

func (h *ffHarness) value(r *ffReader) []byte {
	switch r.n(12) {
	case 0:
		return nil
	case 1:
		return []byte(`{}`)
	case 2, 7:
		return []byte("v1")
	case 3:
		return []byte("v2")
	case 4:
		return []byte{0, 0xff, 0xfe}
	case 5:
		return bytes.Repeat([]byte("z"), 1<<10)
	case 6:
		return r.chunk()
	case 8:
		return []byte(`{"x":1}`)
	case 9:
		return ffHuge()
	case 10:
		return []byte("v3")
	}
	return []byte{}
}

// ffJSONVal is a JSON text and what is known of it: sure that the document primitive takes it
// (plain valid JSON), or not (valid JSON near a limit or with a corner case, or invalid).
type ffJSONVal struct {
	b    []byte
	sure bool
}

var ffDocs = func() []ffJSONVal {
	sure := func(s string) ffJSONVal { return ffJSONVal{[]byte(s), true} }
	odd := func(s string) ffJSONVal { return ffJSONVal{[]byte(s), false} }
	return []ffJSONVal{
		sure(`{}`), sure(`[]`), sure(`1`), sure(`"s"`), sure(`null`), sure(`true`),
		sure(`{"a":{"b":[1,2,3]},"c":"d"}`), sure(`[1,[2,[3]]]`), odd(`{"a":1,"a":2}`), odd(`1e999`),
		odd(`-0`), odd(`"\ud800"`), odd(`123456789012345678901234567890`), sure(` {"x" : [ ] } `),
		odd(`{`), odd(``), odd(`nul`), odd(`{"a":}`), odd(`[1,]`), odd(`'s'`), odd(`NaN`),
		odd(strings.Repeat("[", 101) + strings.Repeat("]", 101)), odd("\"\xff\""),
		odd(strings.Repeat("[", 10001) + strings.Repeat("]", 10001)),
	}
}()

func (h *ffHarness) jsonVal(r *ffReader) ffJSONVal {
	i := r.n(len(ffDocs) + 3)
	switch {
	case i < len(ffDocs):
		return ffDocs[i]
	case i == len(ffDocs):
		return ffJSONVal{nil, false}
	case i == len(ffDocs)+1:
		return ffJSONVal{ffHuge(), false}
	}
	return ffJSONVal{r.chunk(), false}
}

// ffPath is a JSON path and whether it is known to parse: yes, no, or unknown (raw input).
type ffPath struct {
	s     string
	known bool
	ok    bool
}

var ffPaths = func() []ffPath {
	good := func(s string) ffPath { return ffPath{s, true, true} }
	bad := func(s string) ffPath { return ffPath{s, true, false} }
	odd := func(s string) ffPath { return ffPath{s, false, false} }
	return []ffPath{
		good(""), good("$"), good("$.a"), good("$.a.b"), good("$.a.b[0]"), good("$.a.b[3]"),
		good("$.a.b[99]"), good("$[0]"), good("$[1]"), good("$.c"), good("$.x.y.z"), good("$.a[0].b"),
		good("$[999999999]"), good("$" + strings.Repeat(".a", 256)), odd("a"), bad("$."), bad("$..a"),
		bad("$["), bad("$[]"), bad("$[-1]"), bad("$[1000000000]"), bad("$.a*"), odd("$.a]"),
		bad("$.\xff"), odd("$$"), bad("$[0"), bad("$" + strings.Repeat(".a", 257)), good("$.a"),
	}
}()

func (h *ffHarness) path(r *ffReader) ffPath {
	i := r.n(len(ffPaths) + 1)
	if i == len(ffPaths) {
		return ffPath{s: string(r.chunk())}
	}
	return ffPaths[i]
}

func (p ffPath) root() bool { return p.s == "" || p.s == "$" }

var ffTypes = [...]string{"t", "tool", "é", "", "\xff", strings.Repeat("x", 256), strings.Repeat("x", 257), "<raw>"}

func (h *ffHarness) eventType(r *ffReader) string {
	s := ffTypes[r.n(len(ffTypes))]
	if s == "<raw>" {
		return string(r.chunk())
	}
	return s
}

func ffValidType(s string) bool { return s != "" && len(s) <= 256 && utf8.ValidString(s) }

var ffBase = time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)

var ffTimes = [...]time.Time{
	{}, ffBase, ffBase.Add(time.Hour), ffBase.Add(-time.Hour), ffBase.Add(time.Microsecond),
	ffBase.Add(500 * time.Nanosecond), time.Unix(0, 0), time.Unix(-1, 0), time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
	time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Unix(1<<62, 0), time.Unix(-(1 << 62), 0),
}

func (h *ffHarness) time(r *ffReader) time.Time { return ffTimes[r.n(len(ffTimes))] }

var ffKinds = [...]inmem.SpanKind{
	inmem.SpanToolCall, inmem.SpanDecision, inmem.SpanQuery, inmem.SpanThought, inmem.SpanError,
	inmem.SpanCustom, "", "bogus", "Thought", "<raw>",
}

func (h *ffHarness) spanKind(r *ffReader) inmem.SpanKind {
	k := ffKinds[r.n(len(ffKinds))]
	if k == "<raw>" {
		return inmem.SpanKind(r.chunk())
	}
	return k
}

func (h *ffHarness) tags(r *ffReader) []string {
	switch r.n(10) {
	case 0:
		return nil
	case 1:
		return []string{}
	case 2:
		return []string{"a"}
	case 3:
		return []string{"a", "b"}
	case 4:
		return []string{"a", "a"}
	case 5:
		return []string{""}
	case 6:
		return []string{"\xff"}
	case 7:
		return slices.Repeat([]string{"t"}, 257)
	case 8:
		return []string{strings.Repeat("t", 257)}
	}
	return []string{string(r.chunk())}
}

func (h *ffHarness) spanID(r *ffReader) string {
	switch r.n(10) {
	case 0, 1:
		return ""
	case 2:
		return "s1"
	case 3:
		return "s2"
	case 4, 5:
		return h.lastSpan
	case 6:
		return strings.Repeat("i", 256)
	case 7:
		return strings.Repeat("i", 257)
	case 8:
		return "\xff"
	}
	return string(r.chunk())
}

func (h *ffHarness) span(r *ffReader) inmem.Span {
	s := inmem.Span{ID: h.spanID(r), ParentID: h.spanID(r), Kind: h.spanKind(r)}
	switch r.n(6) {
	case 0:
		s.Name = ""
	case 1:
		s.Name = "\xff"
	case 2:
		s.Name = strings.Repeat("n", 4097)
	case 3:
		s.Name = string(r.chunk())
	default:
		s.Name = "step"
	}
	s.Start, s.End = h.time(r), h.time(r)
	s.Tags = h.tags(r)
	if r.n(2) == 0 {
		s.Attributes = h.jsonVal(r).b
	}
	return s
}

// ffMicros is how the trace primitive stores a time: 0 for the zero time.
func ffMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ffSpanInvalid is what trace.Check refuses, as the documentation of Span and Record says.
func ffSpanInvalid(s inmem.Span) bool {
	switch s.Kind {
	case inmem.SpanToolCall, inmem.SpanDecision, inmem.SpanQuery, inmem.SpanThought, inmem.SpanError, inmem.SpanCustom:
	default:
		return true
	}
	if s.Name == "" {
		return true
	}
	for _, c := range []struct {
		s     string
		limit int
	}{{s.ID, 256}, {s.ParentID, 256}, {s.Name, 4 << 10}} {
		if len(c.s) > c.limit || !utf8.ValidString(c.s) {
			return true
		}
	}
	if s.ID != "" && s.ParentID == s.ID {
		return true
	}
	if end := ffMicros(s.End); end != 0 && end < ffMicros(s.Start) {
		return true
	}
	if len(s.Tags) > 256 {
		return true
	}
	for _, tag := range s.Tags {
		if tag == "" || len(tag) > 256 || !utf8.ValidString(tag) {
			return true
		}
	}
	return len(s.Attributes) > 16<<20 || len(s.Attributes) != 0 && !json.Valid(s.Attributes)
}

var ffRuns = [...]inmem.RunID{{0xA1, 1}, {0xA2, 2}, {0xA3, 3}, {0xA4, 4}}

// runID returns GlobalRun, one of four fixed runs, the last fresh id, a fresh one, or 16 bytes
// of input (most likely a run that was never begun).
func (h *ffHarness) runID(r *ffReader) inmem.RunID {
	switch i := r.n(8); i {
	case 0:
		return inmem.GlobalRun
	case 1, 2, 3, 4:
		return ffRuns[i-1]
	case 5:
		return h.lastFresh
	case 6:
		h.fresh++
		h.lastFresh = inmem.RunID{0xEE, byte(h.fresh >> 8), byte(h.fresh)}
		return h.lastFresh
	}
	var id inmem.RunID
	for i := range id {
		id[i] = r.byte()
	}
	return id
}

type ffCtxKind int

const (
	ffCtxLive ffCtxKind = iota
	ffCtxNil
	ffCtxDone
)

func (h *ffHarness) ctx(r *ffReader) (context.Context, ffCtxKind) {
	switch r.n(8) {
	case 5:
		return nil, ffCtxNil
	case 6:
		return h.canceled, ffCtxDone
	case 7:
		return h.expired, ffCtxDone
	}
	return context.Background(), ffCtxLive
}

func (h *ffHarness) runInfo(r *ffReader) inmem.RunInfo {
	info := inmem.RunInfo{Name: h.key(r), Agent: h.key(r), Tags: h.tags(r)}
	if r.n(2) == 0 {
		info.Parent = h.runID(r)
	}
	if r.n(2) == 0 {
		info.Metadata = h.jsonVal(r).b
	}
	return info
}

// ---------------------------------------------------------------------------------------------
// The model.

type ffEvent struct {
	typ     string
	payload []byte
	hash    [32]byte
	hashed  bool // hash known (appended through the facade, which returns it)
}

type ffSpan struct {
	id, parent, kind, name string
	start, end             int64
	tags                   []string
	attrs                  []byte
}

type ffCell struct {
	live    bool
	value   []byte
	counter uint64
}

type ffRun struct {
	status inmem.RunStatus
	info   inmem.RunInfo
	reason string
	kv     map[string][]byte
	events []ffEvent
	spans  []ffSpan
	spanAt map[string]int
	cells  map[string]ffCell
	docs   map[string]uint64 // live documents' versions
}

func newFFRun(st inmem.RunStatus, info inmem.RunInfo) *ffRun {
	return &ffRun{status: st, info: info, kv: map[string][]byte{}, spanAt: map[string]int{},
		cells: map[string]ffCell{}, docs: map[string]uint64{}}
}

func (m *ffRun) clone() *ffRun {
	c := *m
	c.kv = maps2(m.kv)
	c.events = slices.Clone(m.events)
	c.spans = slices.Clone(m.spans)
	c.spanAt = maps2(m.spanAt)
	c.cells = maps2(m.cells)
	c.docs = maps2(m.docs)
	return &c
}

func maps2[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (m *ffRun) kvKeys(prefix string) []string {
	var ks []string
	for k := range m.kv {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (m *ffRun) liveCells() []string {
	var ns []string
	for n, c := range m.cells {
		if c.live {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

func (m *ffRun) docKeys() []string {
	var ks []string
	for k := range m.docs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *ffRun) addSpan(s ffSpan) {
	m.spanAt[s.id] = len(m.spans)
	m.spans = append(m.spans, s)
}

func ffModelSpan(id string, s inmem.Span) ffSpan {
	var tags []string
	for _, t := range s.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return ffSpan{id: id, parent: s.ParentID, kind: string(s.Kind), name: s.Name,
		start: ffMicros(s.Start), end: ffMicros(s.End), tags: tags, attrs: bytes.Clone(s.Attributes)}
}

const (
	ffCellInit = iota
	ffCellSet
	ffCellCAS
	ffCellDelete
)

type ffCellOp struct {
	name     string
	kind     int
	expected uint64
	value    []byte
}

// ffSimCells replays cell writes as state.Tx.Validate does, against cells as the commit finds
// them: the cells they leave, and the errors that refuse the commit (any of them may be the
// one reported).
func ffSimCells(cells map[string]ffCell, ops []ffCellOp) (map[string]ffCell, []error) {
	var order []string
	byName := map[string][]ffCellOp{}
	for _, o := range ops {
		if _, ok := byName[o.name]; !ok {
			order = append(order, o.name)
		}
		byName[o.name] = append(byName[o.name], o)
	}
	out := map[string]ffCell{}
	var errs []error
	for _, name := range order {
		cur := cells[name]
		live, version, next := cur.live, cur.counter, cur.counter+1
		var value []byte
		for _, o := range byName[name] {
			switch o.kind {
			case ffCellInit:
				if live {
					errs = append(errs, inmem.ErrAlreadyExists)
				}
			case ffCellCAS:
				if !live || o.expected != version {
					errs = append(errs, inmem.ErrVersionMismatch)
				}
			}
			live, version, value = o.kind != ffCellDelete, next, o.value
		}
		if !live && !cur.live {
			next = cur.counter
		}
		if !live {
			value = nil
		}
		out[name] = ffCell{live: live, value: value, counter: next}
	}
	return out, errs
}

const (
	ffDocCreate = iota
	ffDocSet
	ffDocDelete
	ffDocDeleteDoc
	ffDocPatch
)

type ffDocOp struct {
	key  string
	kind int
}

// ffSimDocs replays document writes as the JSON primitive's replay does, as far as existence
// and versions go: the versions they leave (0: deleted), and the errors that refuse the commit.
// A set or patch may also fail on the document's content, which the model does not know.
func ffSimDocs(docs map[string]uint64, ops []ffDocOp) (map[string]uint64, []error) {
	var order []string
	byKey := map[string][]int{}
	for _, o := range ops {
		if _, ok := byKey[o.key]; !ok {
			order = append(order, o.key)
		}
		byKey[o.key] = append(byKey[o.key], o.kind)
	}
	out := map[string]uint64{}
	var errs []error
	for _, key := range order {
		prev := docs[key]
		live := prev > 0
		for _, kind := range byKey[key] {
			switch {
			case kind == ffDocCreate && live:
				errs = append(errs, inmem.ErrAlreadyExists)
			case kind != ffDocCreate && !live:
				errs = append(errs, inmem.ErrNotFound)
			}
			live = kind != ffDocDeleteDoc
		}
		switch {
		case !live:
			out[key] = 0
		case prev > 0:
			out[key] = prev + 1
		default:
			out[key] = 1
		}
	}
	return out, errs
}

func ffApplyDocs(docs map[string]uint64, next map[string]uint64) {
	for k, v := range next {
		if v == 0 {
			delete(docs, k)
		} else {
			docs[k] = v
		}
	}
}

// ffTx follows one transaction: the run's state at its snapshot and its buffered writes.
type ffTx struct {
	tx       *inmem.Tx
	run      inmem.RunID
	writable bool
	done     bool
	base     *ffRun
	kv       map[string][]byte // buffered KV writes; a nil value with del set is a delete
	kvDel    map[string]bool
	events   []ffEvent
	cellOps  []ffCellOp
	spans    []ffSpan
	docOps   []ffDocOp
	reads    bool // read something: the commit may conflict
	json     bool // wrote a document: the commit's outcome is the document primitive's to say
	wrote    bool
}

func (h *ffHarness) newTx(tx *inmem.Tx, run inmem.RunID, writable bool) *ffTx {
	base := h.model(run)
	if base == nil {
		base = newFFRun(inmem.RunNotFound, inmem.RunInfo{})
	}
	return &ffTx{tx: tx, run: run, writable: writable, base: base.clone(), kv: map[string][]byte{},
		kvDel: map[string]bool{}}
}

func (ft *ffTx) kvGet(key string) ([]byte, bool) {
	if ft.kvDel[key] {
		return nil, false
	}
	if v, ok := ft.kv[key]; ok {
		return v, true
	}
	v, ok := ft.base.kv[key]
	return v, ok
}

func (ft *ffTx) kvKeys(prefix string) []string {
	var ks []string
	seen := map[string]bool{}
	for _, k := range ft.base.kvKeys(prefix) {
		seen[k] = true
	}
	for k := range ft.kv {
		seen[k] = true
	}
	for k := range seen {
		if _, ok := ft.kvGet(k); ok && strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// cell returns the cell the transaction sees, and whether it is its own pending write.
func (ft *ffTx) cell(name string) (ffCell, bool) {
	for i := len(ft.cellOps) - 1; i >= 0; i-- {
		if o := ft.cellOps[i]; o.name == name {
			base := ft.base.cells[name]
			return ffCell{live: o.kind != ffCellDelete, value: o.value, counter: base.counter + 1}, true
		}
	}
	return ft.base.cells[name], false
}

func (ft *ffTx) cellNames() []string {
	seen := map[string]bool{}
	for n, c := range ft.base.cells {
		seen[n] = c.live
	}
	for _, o := range ft.cellOps {
		seen[o.name] = o.kind != ffCellDelete
	}
	var ns []string
	for n, live := range seen {
		if live {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

func (ft *ffTx) pendingDoc(key string) bool {
	return slices.ContainsFunc(ft.docOps, func(o ffDocOp) bool { return o.key == key })
}

func (ft *ffTx) pendingSpan(id string) bool {
	return slices.ContainsFunc(ft.spans, func(s ffSpan) bool { return s.id == id })
}

// ---------------------------------------------------------------------------------------------
// Expected outcomes.

var (
	ffErrFn         = errors.New("facadefuzz: the function's own error")
	ffErrFnConflict = fmt.Errorf("facadefuzz: the function's own %w", inmem.ErrConflict)
	ffArgErrs       = []error{inmem.ErrInvalidArgument, inmem.ErrInvalidPath, inmem.ErrTooLarge}
	ffCtxErrs       = []error{context.Canceled, context.DeadlineExceeded}
	// ffSentinels are the errors a call may return at all (with the two context errors and the
	// error a fuzzed function returns).
	ffSentinels = []error{
		inmem.ErrConflict, inmem.ErrVersionMismatch, inmem.ErrNotFound, inmem.ErrAlreadyExists,
		inmem.ErrRunNotFound, inmem.ErrRunExists, inmem.ErrRunNotActive, inmem.ErrNotReplayable,
		inmem.ErrClosed, inmem.ErrInvalidArgument, inmem.ErrInvalidPath, inmem.ErrTypeMismatch,
		inmem.ErrIndexOutOfRange, inmem.ErrTooLarge, inmem.ErrTxDone, inmem.ErrTxReadOnly,
		inmem.ErrInMemory, context.Canceled, context.DeadlineExceeded, ffErrFn,
	}
	ffJSONErrs = []error{inmem.ErrNotFound, inmem.ErrAlreadyExists, inmem.ErrTypeMismatch,
		inmem.ErrIndexOutOfRange, inmem.ErrTooLarge, inmem.ErrInvalidArgument, inmem.ErrInvalidPath}
)

// ffWant is what a call may return.
type ffWant struct {
	gates    []error // reasons the call must fail with, whatever else holds
	argBad   bool    // an argument is certainly invalid: the call must fail
	argMaybe bool    // an argument may be invalid
	hard     []error // reasons the call must fail with, when no gate holds
	soft     []error // reasons it may fail with, when no gate holds
}

func (w *ffWant) gate(errs ...error) { w.gates = append(w.gates, errs...) }
func (w *ffWant) must(errs ...error) { w.hard = append(w.hard, errs...) }
func (w *ffWant) may(errs ...error)  { w.soft = append(w.soft, errs...) }

func ffIsAny(err error, errs []error) bool {
	return slices.ContainsFunc(errs, func(e error) bool { return errors.Is(err, e) })
}

// verify checks err against w and reports whether the call succeeded.
func (h *ffHarness) verify(call string, err error, w ffWant) bool {
	h.t.Helper()
	if ffShowLog {
		h.logf("    %s → %v", call, err)
	}
	if err != nil && !ffIsAny(err, ffSentinels) {
		h.fail("%s: error is no sentinel: %v (%T)", call, err, err)
	}
	var args []error
	if w.argBad || w.argMaybe {
		args = ffArgErrs
	}
	if len(w.gates) > 0 {
		if err == nil {
			h.fail("%s succeeded; want one of %v", call, w.gates)
		}
		if !ffIsAny(err, w.gates) && !ffIsAny(err, args) {
			h.fail("%s: error %q; want one of %v", call, err, append(w.gates, args...))
		}
		return false
	}
	if err == nil {
		if w.argBad || len(w.hard) > 0 {
			h.fail("%s succeeded; want one of %v (invalid argument: %v)", call, w.hard, w.argBad)
		}
		return true
	}
	acc := slices.Concat(w.hard, w.soft, args)
	if !ffIsAny(err, acc) {
		h.fail("%s: error %q; want success or one of %v", call, err, acc)
	}
	return false
}

// ctxGate adds the gates of a context and of a closed database to a call that takes a context.
func (h *ffHarness) ctxGate(w *ffWant, ck ffCtxKind) {
	switch ck {
	case ffCtxNil:
		w.gate(inmem.ErrInvalidArgument)
	case ffCtxDone:
		w.gate(ffCtxErrs...)
	}
	h.closedGate(w)
}

func (h *ffHarness) closedGate(w *ffWant) {
	if h.closed {
		w.gate(inmem.ErrClosed)
	}
}

func (h *ffHarness) status(id inmem.RunID) inmem.RunStatus {
	if id == inmem.GlobalRun {
		return inmem.RunActive
	}
	if m := h.runs[id]; m != nil {
		return m.status
	}
	return inmem.RunNotFound
}

// model returns the run's model, nil for a run that was never begun.
func (h *ffHarness) model(id inmem.RunID) *ffRun { return h.runs[id] }

func (h *ffHarness) readCauses(w *ffWant, id inmem.RunID) {
	if h.status(id) == inmem.RunNotFound {
		w.must(inmem.ErrRunNotFound)
	}
}

func (h *ffHarness) writeCauses(w *ffWant, id inmem.RunID) {
	switch st := h.status(id); {
	case st == inmem.RunNotFound:
		w.must(inmem.ErrRunNotFound)
	case st != inmem.RunActive:
		w.must(inmem.ErrRunNotActive)
	}
}

// ---------------------------------------------------------------------------------------------
// The harness.

type ffHarness struct {
	t        *testing.T
	db       *inmem.DB
	closed   bool
	runs     map[inmem.RunID]*ffRun
	txs      []*ffTx
	evicted  []*ffTx
	views    []ffView
	canceled context.Context
	expired  context.Context
	cancel   []context.CancelFunc

	fresh     int
	lastFresh inmem.RunID
	lastSpan  string
	stats     inmem.Stats
	log       []string
}

type ffView struct {
	v     *inmem.ReadOnlyView
	run   inmem.RunID
	model *ffRun
	steps int
}

func newFFHarness(t *testing.T) *ffHarness {
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	o.Shards = 2
	o.UpdateAttempts = 3
	db, err := inmem.Open("", o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h := &ffHarness{t: t, db: db, runs: map[inmem.RunID]*ffRun{inmem.GlobalRun: newFFRun(inmem.RunActive, inmem.RunInfo{})}}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	h.canceled, h.expired, h.cancel = canceled, expired, []context.CancelFunc{cancel, cancel2}
	return h
}

// finish rolls back what is open and closes the database, also after a failure or panic, so
// that no goroutine outlives the iteration.
func (h *ffHarness) finish() {
	p := recover()
	for _, ft := range slices.Concat(h.txs, h.evicted) {
		ft.tx.Rollback()
	}
	if !h.closed {
		h.closed = true
		if err := h.db.Close(); err != nil && p == nil {
			h.fail("Close: %v", err)
		}
	}
	for _, c := range h.cancel {
		c()
	}
	if p != nil {
		h.t.Fatalf("panic: %v\n%s\nops:\n%s", p, debug.Stack(), strings.Join(h.log, "\n"))
	}
}

func (h *ffHarness) fail(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format+"\nops:\n%s", append(args, strings.Join(h.log, "\n"))...)
}

func (h *ffHarness) logf(format string, args ...any) {
	if len(h.log) < ffMaxLogLines {
		h.log = append(h.log, fmt.Sprintf(format, args...))
	}
}

// ffq quotes a string for the log, shortened.
func ffq(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%q…(%d bytes)", s[:24], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func ffb(b []byte) string {
	if b == nil {
		return "nil"
	}
	return ffq(string(b))
}

func ffr(id inmem.RunID) string {
	switch {
	case id == inmem.GlobalRun:
		return "Global"
	case id[0] == 0xA1 || id[0] == 0xA2 || id[0] == 0xA3 || id[0] == 0xA4:
		return fmt.Sprintf("R%d", id[0]-0xA0)
	case id[0] == 0xEE:
		return fmt.Sprintf("F%d", int(id[1])<<8|int(id[2]))
	}
	return id.String()
}

func ffSpanString(s inmem.Span) string {
	tags := fmt.Sprint(s.Tags)
	if len(s.Tags) > 4 {
		tags = fmt.Sprintf("%d tags", len(s.Tags))
	}
	return fmt.Sprintf("{ID:%s Parent:%s Kind:%s Name:%s Start:%v End:%v Tags:%s Attributes:%s}", ffq(s.ID), ffq(s.ParentID),
		ffq(string(s.Kind)), ffq(s.Name), s.Start, s.End, tags, ffb(s.Attributes))
}

func ffOpsString(ops []inmem.PatchOp) string {
	if ops == nil {
		return "nil"
	}
	var b strings.Builder
	b.WriteString("[")
	for _, o := range ops {
		fmt.Fprintf(&b, "{%s %s %s}", ffq(o.Op), ffq(o.Path), ffb(o.Value))
	}
	return b.String() + "]"
}

func ffc(ck ffCtxKind) string { return [...]string{"ctx", "nilctx", "donectx"}[ck] }

// ---------------------------------------------------------------------------------------------
// Operations.

const (
	ffOpBeginRun = iota
	ffOpEndRun
	ffOpAbortRun
	ffOpResumeRun
	ffOpRunInfo
	ffOpListRuns
	ffOpMisc
	ffOpUpdate
	ffOpView
	ffOpBegin
	ffOpTxStep
	ffOpCommit
	ffOpRollback
	ffOpKVPut
	ffOpKVGet
	ffOpKVDelete
	ffOpKVGetMany
	ffOpKVList
	ffOpJSONCreate
	ffOpJSONSet
	ffOpJSONDelete
	ffOpJSONDeleteDoc
	ffOpJSONPatch
	ffOpJSONRead
	ffOpEventAppend
	ffOpEventRead
	ffOpStateWrite
	ffOpStateTransition
	ffOpStateRead
	ffOpTraceRecord
	ffOpTraceRead
	ffOpReplay
	ffOpDiff
	ffOpClose
	ffOpViewCheck
	ffOpPure
	ffOpAudit
	ffNumOps
)

func (h *ffHarness) op(r *ffReader, depth int) {
	switch r.n(ffNumOps) {
	case ffOpBeginRun:
		h.beginRun(r)
	case ffOpEndRun:
		h.endRun(r, false)
	case ffOpAbortRun:
		h.endRun(r, true)
	case ffOpResumeRun:
		h.resumeRun(r)
	case ffOpRunInfo:
		h.runInfoOp(r)
	case ffOpListRuns:
		h.listRuns(r)
	case ffOpMisc:
		h.misc(r)
	case ffOpUpdate:
		h.update(r, depth)
	case ffOpView:
		h.view(r, depth)
	case ffOpBegin:
		h.begin(r)
	case ffOpTxStep:
		if len(h.txs) > 0 {
			ft := h.txs[r.n(len(h.txs))]
			h.txStep(ft, r, depth)
		}
	case ffOpCommit:
		h.commit(r)
	case ffOpRollback:
		if len(h.txs) > 0 {
			i := r.n(len(h.txs))
			h.logf("Rollback tx%d", i)
			h.txs[i].tx.Rollback()
			h.txs[i].done = true
		}
	case ffOpKVPut:
		h.kvPut(r)
	case ffOpKVGet:
		h.kvGetOp(r)
	case ffOpKVDelete:
		h.kvDelete(r)
	case ffOpKVGetMany:
		h.kvGetMany(r)
	case ffOpKVList:
		h.kvList(r)
	case ffOpJSONCreate, ffOpJSONSet, ffOpJSONDelete, ffOpJSONDeleteDoc, ffOpJSONPatch:
		h.jsonWrite(r)
	case ffOpJSONRead:
		h.jsonRead(r)
	case ffOpEventAppend:
		h.eventAppend(r)
	case ffOpEventRead:
		h.eventRead(r)
	case ffOpStateWrite:
		h.stateWrite(r)
	case ffOpStateTransition:
		h.stateTransition(r)
	case ffOpStateRead:
		h.stateRead(r)
	case ffOpTraceRecord:
		h.traceRecord(r)
	case ffOpTraceRead:
		h.traceRead(r)
	case ffOpReplay:
		h.replay(r)
	case ffOpDiff:
		h.diff(r)
	case ffOpClose:
		h.logf("Close")
		if err := h.db.Close(); err != nil {
			h.fail("Close: %v", err)
		}
		h.closed = true
	case ffOpViewCheck:
		if len(h.views) > 0 {
			h.checkView("saved view", h.views[r.n(len(h.views))])
		}
	case ffOpPure:
		h.pure(r)
	case ffOpAudit:
		h.audit()
	}
}

// --- runs ---

func (h *ffHarness) beginRun(r *ffReader) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	info := h.runInfo(r)
	h.logf("BeginRun(%s, %s, name=%s agent=%s tags=%d parent=%s meta=%s)", ffc(ck), ffr(id), ffq(info.Name),
		ffq(info.Agent), len(info.Tags), ffr(info.Parent), ffb(info.Metadata))
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = id == inmem.GlobalRun || len(info.Metadata) > 0 && !json.Valid(info.Metadata)
	if h.status(id) != inmem.RunNotFound {
		w.must(inmem.ErrRunExists)
	}
	if info.Parent != inmem.GlobalRun && h.status(info.Parent) == inmem.RunNotFound {
		w.must(inmem.ErrRunNotFound) // a parent must exist (itself, being begun, does not)
	}
	if h.verify("BeginRun", h.db.BeginRun(ctx, id, info), w) {
		h.runs[id] = newFFRun(inmem.RunActive, info)
	}
	h.checkRun(id)
}

func (h *ffHarness) endRun(r *ffReader, abort bool) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = id == inmem.GlobalRun
	h.writeCauses(&w, id)
	var err error
	reason := ""
	if abort {
		reason = h.key(r)
		h.logf("AbortRun(%s, %s, %s)", ffc(ck), ffr(id), ffq(reason))
		err = h.db.AbortRun(ctx, id, reason)
	} else {
		h.logf("EndRun(%s, %s)", ffc(ck), ffr(id))
		err = h.db.EndRun(ctx, id)
	}
	if h.verify("EndRun/AbortRun", err, w) {
		m := h.model(id)
		m.status, m.reason = inmem.RunCompleted, reason
		if abort {
			m.status = inmem.RunFailed
		}
	}
	h.checkRun(id)
}

func (h *ffHarness) resumeRun(r *ffReader) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	h.logf("ResumeRun(%s, %s)", ffc(ck), ffr(id))
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = id == inmem.GlobalRun
	if h.status(id) == inmem.RunNotFound {
		w.must(inmem.ErrRunNotFound)
	} else {
		// No run is ever Orphaned in InMemory mode: there is no reopening.
		w.must(inmem.ErrInvalidArgument, inmem.ErrRunNotActive)
	}
	h.verify("ResumeRun", h.db.ResumeRun(ctx, id), w)
	h.checkRun(id)
}

func (h *ffHarness) runInfoOp(r *ffReader) {
	id := h.runID(r)
	h.logf("Run/RunStatus(%s)", ffr(id))
	h.checkRun(id)
}

// checkRun compares RunStatus and Run with the model.
func (h *ffHarness) checkRun(id inmem.RunID) {
	st := h.status(id)
	want := st
	if h.closed {
		want = inmem.RunNotFound
	}
	if got := h.db.RunStatus(id); got != want {
		h.fail("RunStatus(%s) = %v, model %v", ffr(id), got, want)
	}
	var w ffWant
	h.closedGate(&w)
	if id == inmem.GlobalRun {
		w.may(inmem.ErrRunNotFound) // GlobalRun is always active but has no record
	} else {
		h.readCauses(&w, id)
	}
	md, err := h.db.Run(id)
	if !h.verify("Run", err, w) || id == inmem.GlobalRun {
		return
	}
	m := h.model(id)
	if md.ID != id || md.Status != m.status || md.Reason != m.reason {
		h.fail("Run(%s) = id %s status %v reason %q; model %v %q", ffr(id), ffr(md.ID), md.Status, md.Reason, m.status, m.reason)
	}
	if md.StartedAt.IsZero() || md.EndedAt.IsZero() != (m.status == inmem.RunActive) {
		h.fail("Run(%s): started %v ended %v with status %v", ffr(id), md.StartedAt, md.EndedAt, md.Status)
	}
	info := m.info
	if ffValidInfo(info) && (md.Info.Name != info.Name || md.Info.Agent != info.Agent ||
		!slices.Equal(md.Info.Tags, info.Tags) && len(md.Info.Tags)+len(info.Tags) > 0 || md.Info.Parent != info.Parent) {
		h.fail("Run(%s).Info = %+v; began with %+v", ffr(id), md.Info, info)
	}
	if len(md.Info.Metadata) > 0 && !json.Valid(md.Info.Metadata) || len(md.Info.Metadata) == 0 && len(info.Metadata) > 0 {
		h.fail("Run(%s).Info.Metadata = %q; began with %q", ffr(id), md.Info.Metadata, info.Metadata)
	}
	if md.TxCount < 0 || md.OpCount < md.TxCount {
		h.fail("Run(%s): TxCount %d OpCount %d", ffr(id), md.TxCount, md.OpCount)
	}
}

// ffValidInfo: the info's strings survive the JSON round trip of the run record unchanged.
func ffValidInfo(info inmem.RunInfo) bool {
	return utf8.ValidString(info.Name) && utf8.ValidString(info.Agent) &&
		!slices.ContainsFunc(info.Tags, func(s string) bool { return !utf8.ValidString(s) })
}

func (h *ffHarness) listRuns(r *ffReader) {
	f := inmem.RunFilter{Status: inmem.RunStatus(r.n(7))}
	if r.n(2) == 0 {
		f.Agent = h.key(r)
	}
	if r.n(2) == 0 {
		f.Tag = ffKeys[r.n(4)]
	}
	if r.n(3) == 0 {
		f.Parent = h.runID(r)
	}
	h.logf("ListRuns(%+v)", f)
	var w ffWant
	h.closedGate(&w)
	got, err := h.db.ListRuns(f)
	if !h.verify("ListRuns", err, w) {
		return
	}
	ids := map[inmem.RunID]bool{}
	for i, md := range got {
		ids[md.ID] = true
		if i > 0 {
			p := got[i-1]
			if c := p.StartedAt.Compare(md.StartedAt); c > 0 || c == 0 && bytes.Compare(p.ID[:], md.ID[:]) >= 0 {
				h.fail("ListRuns: %s before %s", ffr(p.ID), ffr(md.ID))
			}
		}
		m := h.model(md.ID)
		if md.ID == inmem.GlobalRun || m == nil || md.Status != m.status {
			h.fail("ListRuns: %s with status %v; model %v", ffr(md.ID), md.Status, h.status(md.ID))
		}
	}
	for id, m := range h.runs {
		if id == inmem.GlobalRun || !ffValidInfo(m.info) || !utf8.ValidString(f.Agent) {
			continue
		}
		match := (f.Status == inmem.RunNotFound || m.status == f.Status) && (f.Agent == "" || m.info.Agent == f.Agent) &&
			(f.Tag == "" || slices.Contains(m.info.Tags, f.Tag)) && (f.Parent == inmem.GlobalRun || m.info.Parent == f.Parent)
		if match != ids[id] {
			h.fail("ListRuns(%+v): %s listed %v, model says %v", f, ffr(id), ids[id], match)
		}
	}
}

func (h *ffHarness) misc(r *ffReader) {
	switch r.n(6) {
	case 0:
		h.logf("Stats")
		s := h.db.Stats()
		p := h.stats
		if s.Commits < p.Commits || s.Conflicts < p.Conflicts || s.Batches < p.Batches || s.WALBytes < p.WALBytes {
			h.fail("Stats went back: %+v after %+v", s, p)
		}
		h.stats = s
	case 1:
		h.logf("Sync")
		var w ffWant
		h.closedGate(&w)
		h.verify("Sync", h.db.Sync(), w)
	case 2:
		h.logf("Snapshot")
		var w ffWant
		h.closedGate(&w)
		w.must(inmem.ErrInMemory)
		_, err := h.db.Snapshot()
		if h.closed && errors.Is(err, inmem.ErrInMemory) {
			return // a permanent property of the database, like an invalid argument
		}
		h.verify("Snapshot", err, w)
	case 3:
		h.logf("ListSnapshots/DeleteSnapshot")
		for _, call := range []func() error{
			func() error { _, err := h.db.ListSnapshots(); return err },
			func() error { return h.db.DeleteSnapshot(inmem.SnapshotInfo{Path: string(r.chunk())}) },
		} {
			err := call()
			if errors.Is(err, inmem.ErrInMemory) {
				continue
			}
			var w ffWant
			h.closedGate(&w)
			w.must(inmem.ErrInMemory)
			h.verify("ListSnapshots/DeleteSnapshot", err, w)
		}
	case 4:
		h.logf("LastRecovery/OrphanedRuns")
		if rec := h.db.LastRecovery(); rec != nil {
			h.fail("LastRecovery in InMemory mode: %+v", rec)
		}
		if o := h.db.OrphanedRuns(); len(o) != 0 {
			h.fail("OrphanedRuns in InMemory mode: %v", o)
		}
	case 5:
		h.logf("Close twice")
		if !h.closed {
			return
		}
		if err := h.db.Close(); err != nil {
			h.fail("second Close: %v", err)
		}
	}
}

// --- transactions ---

// fnReturn picks what a function given to Update or View returns.
func fnReturn(r *ffReader) int { return r.n(10) }

func ffFnResult(ret int, last error) error {
	switch ret {
	case 7:
		return last
	case 8:
		return ffErrFn
	case 9:
		return ffErrFnConflict // Update retries it, then gives up
	}
	return nil
}

func (h *ffHarness) update(r *ffReader, depth int) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	body := r.take(r.n(ffMaxBody + 1))
	ret := fnReturn(r)
	nilFn := r.n(16) == 15
	if depth >= 2 {
		return
	}
	h.logf("Update(%s, %s, body %d bytes, ret %d, nilFn %v) {", ffc(ck), ffr(id), len(body), ret, nilFn)
	// What keeps the function from running, as things stand at the call.
	var pre ffWant
	pre.argBad = nilFn
	h.ctxGate(&pre, ck)
	h.writeCauses(&pre, id)
	var ft *ffTx
	var last error
	fn := func(tx *inmem.Tx) error {
		if ft != nil {
			ft.done = true // the attempt before: rolled back
		}
		ft = h.newTx(tx, id, true)
		last = h.runBody(ft, body, depth)
		return ffFnResult(ret, last)
	}
	if nilFn {
		fn = nil
	}
	err := h.db.Update(ctx, id, fn)
	h.logf("} Update → %v", err)
	if ft == nil {
		if h.verify("Update", err, pre) {
			h.fail("Update succeeded without running its function")
		}
		return
	}
	endedEarly := ft.done // committed or rolled back by a call inside the function
	ft.done = true
	var w ffWant
	switch res := ffFnResult(ret, last); {
	case res == ffErrFnConflict:
		w.must(inmem.ErrConflict)
		h.writeCauses(&w, id) // a retry's Begin may find the run ended by the function
	case res != nil:
		if err != res {
			h.fail("Update returned %v; the function returned %v", err, res)
		}
		return
	case endedEarly:
		w.gate(inmem.ErrTxDone)
	default:
		h.commitWant(&w, ft)
		if ft.wrote && ft.reads {
			h.writeCauses(&w, id) // a retry's Begin may find the run ended by the function
		}
	}
	if h.verify("Update", err, w) {
		h.applyTx(ft)
	}
	h.checkAfterCommit(ft)
}

func (h *ffHarness) view(r *ffReader, depth int) {
	id := h.runID(r)
	body := r.take(r.n(ffMaxBody + 1))
	ret := fnReturn(r)
	nilFn := r.n(16) == 15
	if depth >= 2 {
		return
	}
	h.logf("View(%s, body %d bytes, ret %d, nilFn %v) {", ffr(id), len(body), ret, nilFn)
	var pre ffWant
	pre.argBad = nilFn
	h.closedGate(&pre)
	h.readCauses(&pre, id)
	var ft *ffTx
	var last error
	fn := func(tx *inmem.Tx) error {
		ft = h.newTx(tx, id, false)
		last = h.runBody(ft, body, depth)
		return ffFnResult(ret, last)
	}
	if nilFn {
		fn = nil
	}
	err := h.db.View(id, fn)
	h.logf("} View → %v", err)
	if ft == nil {
		if h.verify("View", err, pre) {
			h.fail("View succeeded without running its function")
		}
		return
	}
	ft.done = true
	if res := ffFnResult(ret, last); err != res {
		h.fail("View returned %v; the function returned %v", err, res)
	}
}

// runBody runs a function body's steps in ft and returns the last error a step returned.
func (h *ffHarness) runBody(ft *ffTx, body []byte, depth int) error {
	br := &ffReader{data: body}
	var last error
	for n := 0; br.more() && n < ffMaxBodyOps; n++ {
		last = h.txStep(ft, br, depth+1)
	}
	return last
}

func (h *ffHarness) begin(r *ffReader) {
	id := h.runID(r)
	writable := r.n(2) == 0
	h.logf("Begin(%s, writable %v) = tx%d", ffr(id), writable, len(h.txs))
	var w ffWant
	h.closedGate(&w)
	if writable {
		h.writeCauses(&w, id)
	} else {
		h.readCauses(&w, id)
	}
	tx, err := h.db.Begin(id, writable)
	if !h.verify("Begin", err, w) {
		return
	}
	h.keep(h.newTx(tx, id, writable))
}

func (h *ffHarness) commit(r *ffReader) {
	if len(h.txs) == 0 {
		return
	}
	i := r.n(len(h.txs))
	ft := h.txs[i]
	ctx, ck := h.ctx(r)
	sync := r.n(2) == 0
	h.logf("Commit tx%d(%s, sync %v) done %v wrote %v", i, ffc(ck), sync, ft.done, ft.wrote)
	var err error
	if sync || ck == ffCtxDone {
		err = ft.tx.CommitWith(ctx, inmem.CommitOptions{Sync: sync})
	} else {
		err = ft.tx.Commit(ctx)
	}
	var w ffWant
	switch {
	case ck == ffCtxNil:
		// "A nil ctx is ErrInvalidArgument", first: the transaction stays as it was.
		w.gate(inmem.ErrInvalidArgument)
		h.verify("Commit", err, w)
		return
	case ft.done:
		w.gate(inmem.ErrTxDone)
	case h.closed:
		w.gate(inmem.ErrClosed)
	case !ft.wrote:
		// Nothing to commit: a done context has nothing to refuse.
		if ck == ffCtxDone && err != nil {
			w.gate(ffCtxErrs...)
		}
	case ck == ffCtxDone:
		w.gate(ffCtxErrs...)
	default:
		h.commitWant(&w, ft)
	}
	wasDone := ft.done
	ft.done = true
	if h.verify("Commit", err, w) && !wasDone {
		h.applyTx(ft)
	}
	if !wasDone {
		h.checkAfterCommit(ft)
	}
}

// keep adds a transaction to those later operations pick from. The oldest makes room: it is
// left open (a function may still be running it) and rolled back at the end.
func (h *ffHarness) keep(ft *ffTx) {
	if len(h.txs) == ffMaxOpenTxs {
		h.evicted = append(h.evicted, h.txs[0])
		h.txs = h.txs[1:]
	}
	h.txs = append(h.txs, ft)
}

// commitWant adds what the commit of ft's writes may fail with, checked against the model as
// the commit finds it.
func (h *ffHarness) commitWant(w *ffWant, ft *ffTx) {
	if h.closed {
		w.gate(inmem.ErrClosed)
		return
	}
	if !ft.wrote {
		return
	}
	h.writeCauses(w, ft.run)
	m := h.model(ft.run)
	if m == nil {
		return
	}
	_, errs := ffSimCells(m.cells, ft.cellOps)
	w.must(errs...)
	_, errs = ffSimDocs(m.docs, ft.docOps)
	w.must(errs...)
	for i, s := range ft.spans {
		if _, taken := m.spanAt[s.id]; taken {
			w.must(inmem.ErrAlreadyExists)
		}
		if s.parent == "" {
			continue
		}
		earlier := slices.ContainsFunc(ft.spans[:i], func(p ffSpan) bool { return p.id == s.parent })
		_, stored := m.spanAt[s.parent]
		switch {
		case stored || earlier:
		case slices.ContainsFunc(ft.spans[i:], func(p ffSpan) bool { return p.id == s.parent }):
			w.may(inmem.ErrNotFound) // a parent recorded later in the same transaction
		default:
			w.must(inmem.ErrNotFound)
		}
	}
	if ft.reads || ft.json {
		w.may(inmem.ErrConflict)
	}
	if ft.json {
		w.may(ffJSONErrs...)
	}
}

// applyTx applies a committed transaction's writes to the model.
func (h *ffHarness) applyTx(ft *ffTx) {
	if !ft.wrote {
		return
	}
	m := h.model(ft.run)
	if m == nil {
		h.fail("a transaction of %s, a run never begun, committed writes", ffr(ft.run))
	}
	for k, v := range ft.kv {
		m.kv[k] = v
	}
	for k := range ft.kvDel {
		delete(m.kv, k)
	}
	m.events = append(m.events, ft.events...)
	cells, _ := ffSimCells(m.cells, ft.cellOps)
	for n, c := range cells {
		m.cells[n] = c
	}
	for _, s := range ft.spans {
		m.addSpan(s)
	}
	docs, _ := ffSimDocs(m.docs, ft.docOps)
	ffApplyDocs(m.docs, docs)
}

// checkAfterCommit reads back what a transaction wrote, committed or not.
func (h *ffHarness) checkAfterCommit(ft *ffTx) {
	for k := range ft.kv {
		h.checkKV(ft.run, k)
	}
	for k := range ft.kvDel {
		h.checkKV(ft.run, k)
	}
	for _, o := range ft.docOps {
		h.checkJSON(ft.run, o.key)
	}
	if ft.wrote {
		h.auditRun(ft.run)
	}
}

// txStep runs one operation of a transaction and returns its error.
func (h *ffHarness) txStep(ft *ffTx, r *ffReader, depth int) error {
	want := func(write bool) ffWant {
		var w ffWant
		switch {
		case ft.done:
			w.gate(inmem.ErrTxDone)
		case write && !ft.writable:
			w.gate(inmem.ErrTxReadOnly)
		case h.closed:
			w.gate(inmem.ErrClosed)
		}
		return w
	}
	live := func() bool { return !ft.done && !h.closed }
	tx := ft.tx
	switch op := r.n(25); op {
	case 0, 1: // KV Get, Exists
		key := h.key(r)
		h.logf("  tx.KV().Get/Exists(%s)", ffq(key))
		w := want(false)
		w.argBad = !ffValidKey(key)
		v, inTx := ft.kvGet(key)
		if !inTx {
			w.must(inmem.ErrNotFound)
		}
		if live() {
			ft.reads = true
		}
		if op == 1 {
			ok, err := tx.KV().Exists(key)
			w.hard = nil
			if h.verify("tx.KV().Exists", err, w) && ok != inTx {
				h.fail("tx.KV().Exists(%s) = %v; model %v", ffq(key), ok, inTx)
			}
			return err
		}
		got, err := tx.KV().Get(key)
		if h.verify("tx.KV().Get", err, w) && !bytes.Equal(got, v) {
			h.fail("tx.KV().Get(%s) = %q; model %q", ffq(key), got, v)
		}
		return err
	case 2: // KV List
		prefix := h.key(r)
		h.logf("  tx.KV().List(%s)", ffq(prefix))
		got, err := tx.KV().List(prefix)
		if h.verify("tx.KV().List", err, want(false)) {
			if want := ft.kvKeys(prefix); !slices.Equal(got, want) {
				h.fail("tx.KV().List(%s) = %q; model %q", ffq(prefix), got, want)
			}
		}
		if live() {
			ft.reads = true
		}
		return err
	case 3: // KV Put
		key, v := h.key(r), h.value(r)
		h.logf("  tx.KV().Put(%s, %s)", ffq(key), ffb(v))
		w := want(true)
		w.argBad = !ffValidKey(key) || len(v) > 16<<20
		err := tx.KV().Put(key, v)
		if h.verify("tx.KV().Put", err, w) {
			ft.kv[key] = bytes.Clone(v)
			delete(ft.kvDel, key)
			ft.wrote = true
		}
		return err
	case 4: // KV Delete
		key := h.key(r)
		h.logf("  tx.KV().Delete(%s)", ffq(key))
		w := want(true)
		w.argBad = !ffValidKey(key)
		err := tx.KV().Delete(key)
		if h.verify("tx.KV().Delete", err, w) {
			delete(ft.kv, key)
			ft.kvDel[key] = true
			ft.wrote = true
		}
		return err
	case 5: // JSON Get
		key, p := h.key(r), h.path(r)
		h.logf("  tx.JSON().Get(%s, %s)", ffq(key), ffq(p.s))
		w := want(false)
		w.argBad = !ffValidKey(key) || p.known && !p.ok
		w.argMaybe = !p.known
		switch {
		case ft.pendingDoc(key):
			w.may(ffJSONErrs...) // the error a pending operation will fail with
		case ft.base.docs[key] == 0:
			w.must(inmem.ErrNotFound)
		case !p.root():
			w.may(inmem.ErrNotFound, inmem.ErrTypeMismatch, inmem.ErrIndexOutOfRange)
		}
		if live() {
			ft.reads = true
		}
		got, err := tx.JSON().Get(key, p.s)
		if h.verify("tx.JSON().Get", err, w) && !json.Valid(got) {
			h.fail("tx.JSON().Get(%s, %s) = %q: not JSON", ffq(key), ffq(p.s), got)
		}
		return err
	case 6: // JSON List
		h.logf("  tx.JSON().List()")
		got, err := tx.JSON().List()
		if h.verify("tx.JSON().List", err, want(false)) {
			base := ft.base.docKeys()
			if len(ft.docOps) == 0 && !slices.Equal(got, base) {
				h.fail("tx.JSON().List() = %q; model %q", got, base)
			}
			for _, k := range got {
				if !ft.pendingDoc(k) && ft.base.docs[k] == 0 {
					h.fail("tx.JSON().List() lists %s, which the transaction never saw", ffq(k))
				}
			}
			if !slices.IsSorted(got) {
				h.fail("tx.JSON().List() unsorted: %q", got)
			}
		}
		if live() {
			ft.reads = true
		}
		return err
	case 7, 8, 9, 10, 11: // JSON writes
		kind := op - 7
		key := h.key(r)
		w := want(true)
		w.argBad = !ffValidKey(key)
		var err error
		switch kind {
		case 0:
			doc := h.jsonVal(r)
			h.logf("  tx.JSON().Create(%s, %s)", ffq(key), ffb(doc.b))
			w.argBad = w.argBad || !json.Valid(doc.b)
			w.argMaybe = !doc.sure
			err = tx.JSON().Create(key, doc.b)
		case 1:
			p, v := h.path(r), h.jsonVal(r)
			h.logf("  tx.JSON().Set(%s, %s, %s)", ffq(key), ffq(p.s), ffb(v.b))
			w.argBad = w.argBad || p.known && !p.ok || !json.Valid(v.b)
			w.argMaybe = !p.known || !v.sure
			err = tx.JSON().Set(key, p.s, v.b)
		case 2:
			p := h.path(r)
			h.logf("  tx.JSON().Delete(%s, %s)", ffq(key), ffq(p.s))
			w.argBad = w.argBad || p.known && !p.ok
			w.argMaybe = !p.known
			err = tx.JSON().Delete(key, p.s)
		case 3:
			h.logf("  tx.JSON().DeleteDoc(%s)", ffq(key))
			err = tx.JSON().DeleteDoc(key)
		case 4:
			ops, bad, maybe := h.patchOps(r)
			h.logf("  tx.JSON().Patch(%s, %s)", ffq(key), ffOpsString(ops))
			w.argBad, w.argMaybe = w.argBad || bad, maybe
			err = tx.JSON().Patch(key, ops)
		}
		if h.verify("tx.JSON() write", err, w) {
			ft.docOps = append(ft.docOps, ffDocOp{key: key, kind: kind})
			ft.json, ft.wrote = true, true
		}
		return err
	case 12: // Events Append
		typ, payload := h.eventType(r), h.jsonVal(r).b
		h.logf("  tx.Events().Append(%s, %s)", ffq(typ), ffb(payload))
		w := want(true)
		w.argBad = !ffValidType(typ) || len(payload) > 16<<20 || !json.Valid(payload)
		err := tx.Events().Append(typ, payload)
		if h.verify("tx.Events().Append", err, w) {
			ft.events = append(ft.events, ffEvent{typ: typ, payload: bytes.Clone(payload)})
			ft.wrote = true
		}
		return err
	case 13: // Events Len
		h.logf("  tx.Events().Len()")
		n, err := tx.Events().Len()
		if h.verify("tx.Events().Len", err, want(false)) {
			if want := uint64(len(ft.base.events) + len(ft.events)); n != want {
				h.fail("tx.Events().Len() = %d; model %d", n, want)
			}
		}
		return err
	case 14: // State Get
		name := h.key(r)
		h.logf("  tx.State().Get(%s)", ffq(name))
		w := want(false)
		w.argBad = !ffValidKey(name)
		c, pending := ft.cell(name)
		if !c.live {
			w.must(inmem.ErrNotFound)
		}
		if live() {
			ft.reads = true
		}
		got, err := tx.State().Get(name)
		if h.verify("tx.State().Get", err, w) && (!bytes.Equal(got.Value, c.value) || got.Version != c.counter) {
			h.fail("tx.State().Get(%s) = %q v%d; model %q v%d (pending %v)", ffq(name), got.Value, got.Version, c.value, c.counter, pending)
		}
		return err
	case 15: // State List
		h.logf("  tx.State().List()")
		got, err := tx.State().List()
		if h.verify("tx.State().List", err, want(false)) {
			if want := ft.cellNames(); !slices.Equal(got, want) {
				h.fail("tx.State().List() = %q; model %q", got, want)
			}
		}
		if live() {
			ft.reads = true
		}
		return err
	case 16, 17, 18, 19: // State Init, Set, CAS, Delete
		o := ffCellOp{name: h.key(r), kind: op - 16}
		w := want(true)
		w.argBad = !ffValidKey(o.name)
		var err error
		switch o.kind {
		case ffCellInit:
			o.value = h.value(r)
			h.logf("  tx.State().Init(%s, %s)", ffq(o.name), ffb(o.value))
			err = tx.State().Init(o.name, o.value)
		case ffCellSet:
			o.value = h.value(r)
			h.logf("  tx.State().Set(%s, %s)", ffq(o.name), ffb(o.value))
			err = tx.State().Set(o.name, o.value)
		case ffCellCAS:
			c, _ := ft.cell(o.name)
			o.expected, o.value = h.expected(r, c.counter), h.value(r)
			h.logf("  tx.State().CAS(%s, %d, %s)", ffq(o.name), o.expected, ffb(o.value))
			err = tx.State().CAS(o.name, o.expected, o.value)
		case ffCellDelete:
			h.logf("  tx.State().Delete(%s)", ffq(o.name))
			err = tx.State().Delete(o.name)
		}
		w.argBad = w.argBad || len(o.value) > 16<<20
		if h.verify("tx.State() write", err, w) {
			o.value = bytes.Clone(o.value)
			if o.kind != ffCellDelete && o.value == nil {
				o.value = []byte{}
			}
			ft.cellOps = append(ft.cellOps, o)
			ft.wrote = true
		}
		return err
	case 20: // Traces Record
		s := h.span(r)
		h.logf("  tx.Traces().Record(%s)", ffSpanString(s))
		w := want(true)
		w.argBad = ffSpanInvalid(s)
		if s.ID != "" && ft.pendingSpan(s.ID) {
			w.must(inmem.ErrAlreadyExists)
		}
		id, err := tx.Traces().Record(s)
		if h.verify("tx.Traces().Record", err, w) {
			if s.ID != "" && id != s.ID || s.ID == "" && len(id) != 32 {
				h.fail("tx.Traces().Record(id %s) = %s", ffq(s.ID), ffq(id))
			}
			ft.spans = append(ft.spans, ffModelSpan(id, s))
			ft.wrote = true
			h.lastSpan = id
		}
		return err
	case 21: // Run
		h.logf("  tx.Run()")
		if tx.Run() != ft.run {
			h.fail("tx.Run() = %s; began on %s", ffr(tx.Run()), ffr(ft.run))
		}
		return nil
	case 22: // Part with a primitive that is not registered, or none
		var p inmem.Primitive
		switch r.n(3) {
		case 1:
			p = ffPrim{name: "kv"}
		case 2:
			p = ffPrim{name: string(r.chunk())}
		}
		var newPart func(inmem.RunID, uint64) inmem.TxPart
		if r.n(2) == 0 {
			newPart = func(inmem.RunID, uint64) inmem.TxPart {
				h.fail("Part called newPart for an unregistered primitive")
				return nil
			}
		}
		h.logf("  tx.Part(%v, newPart %v)", p, newPart != nil)
		w := want(false)
		w.must(inmem.ErrInvalidArgument)
		_, err := tx.Part(p, newPart)
		h.verify("tx.Part", err, w)
		return err
	case 23: // a facade call inside the function: its own transaction
		if depth == 0 || depth >= 2 {
			return nil
		}
		h.logf("  nested:")
		h.op(r, depth)
		return nil
	case 24: // keep the transaction, to use it after the function returns
		if depth > 0 && !slices.Contains(h.txs, ft) {
			h.logf("  keep tx as tx%d", len(h.txs))
			h.keep(ft)
		}
		return nil
	}
	return nil
}

// ffPrim is a primitive that was never registered: Part must refuse it by its name alone.
type ffPrim struct {
	inmem.Primitive
	name string
}

func (p ffPrim) Name() string { return p.name }

func (p ffPrim) String() string { return "prim " + ffq(p.name) }

// expected returns a CAS's expected version: mostly the right one, or next to it, or extreme.
func (h *ffHarness) expected(r *ffReader, counter uint64) uint64 {
	switch r.n(8) {
	case 0, 1, 2:
		return counter
	case 3:
		return counter + 1
	case 4:
		return counter - 1
	case 5:
		return 0
	case 6:
		return math.MaxUint64
	}
	return r.u64()
}

// patchOps returns a patch, and whether it is certainly invalid or may be.
func (h *ffHarness) patchOps(r *ffReader) (ops []inmem.PatchOp, bad, maybe bool) {
	n := r.n(6)
	switch n {
	case 0:
		return nil, true, false
	case 1:
		return []inmem.PatchOp{}, true, false
	}
	for range n - 1 {
		var o inmem.PatchOp
		p := h.path(r)
		o.Path = p.s
		switch r.n(8) {
		case 0, 1, 2:
			o.Op = "set"
		case 3, 4:
			o.Op = "delete"
		case 5:
			o.Op = ""
		case 6:
			o.Op = "SET"
		default:
			o.Op = string(r.chunk())
		}
		if o.Op == "set" {
			v := h.jsonVal(r)
			o.Value = v.b
			bad = bad || !json.Valid(v.b)
			maybe = maybe || !v.sure
		}
		bad = bad || o.Op != "set" && o.Op != "delete" || p.known && !p.ok
		maybe = maybe || !p.known
		ops = append(ops, o)
	}
	return ops, bad, maybe
}

// --- KV ---

func (h *ffHarness) kvPut(r *ffReader) {
	ctx, ck := h.ctx(r)
	id, key, v := h.runID(r), h.key(r), h.value(r)
	h.logf("KV.Put(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(key), ffb(v))
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = !ffValidKey(key) || len(v) > 16<<20
	h.writeCauses(&w, id)
	if h.verify("KV.Put", h.db.KV().Put(ctx, id, key, v), w) {
		h.model(id).kv[key] = bytes.Clone(v)
	}
	h.checkKV(id, key)
}

// checkKV compares KV.Get and KV.Exists of key with the model.
func (h *ffHarness) checkKV(id inmem.RunID, key string) {
	var w ffWant
	h.closedGate(&w)
	w.argBad = !ffValidKey(key)
	h.readCauses(&w, id)
	var want []byte
	var ok bool
	if m := h.model(id); m != nil {
		want, ok = m.kv[key]
	}
	if !ok {
		w.must(inmem.ErrNotFound)
	}
	got, err := h.db.KV().Get(id, key)
	if h.verify(fmt.Sprintf("KV.Get(%s, %s)", ffr(id), ffq(key)), err, w) && (!bytes.Equal(got, want) || got == nil) {
		h.fail("KV.Get(%s, %s) = %q; model %q", ffr(id), ffq(key), got, want)
	}
	w.hard = slices.DeleteFunc(w.hard, func(e error) bool { return e == inmem.ErrNotFound })
	exists, err := h.db.KV().Exists(id, key)
	if h.verify("KV.Exists", err, w) && exists != ok {
		h.fail("KV.Exists(%s, %s) = %v; model %v", ffr(id), ffq(key), exists, ok)
	}
}

func (h *ffHarness) kvGetOp(r *ffReader) {
	id, key := h.runID(r), h.key(r)
	h.logf("KV.Get/Exists(%s, %s)", ffr(id), ffq(key))
	h.checkKV(id, key)
}

func (h *ffHarness) kvDelete(r *ffReader) {
	ctx, ck := h.ctx(r)
	id, key := h.runID(r), h.key(r)
	h.logf("KV.Delete(%s, %s, %s)", ffc(ck), ffr(id), ffq(key))
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = !ffValidKey(key)
	h.writeCauses(&w, id)
	existed, err := h.db.KV().Delete(ctx, id, key)
	if h.verify("KV.Delete", err, w) {
		m := h.model(id)
		if _, ok := m.kv[key]; ok != existed {
			h.fail("KV.Delete(%s, %s) existed = %v; model %v", ffr(id), ffq(key), existed, ok)
		}
		delete(m.kv, key)
	}
	h.checkKV(id, key)
}

func (h *ffHarness) kvGetMany(r *ffReader) {
	id := h.runID(r)
	var keys []string
	if n := r.n(6); n > 0 {
		keys = make([]string, n-1)
		for i := range keys {
			keys[i] = h.key(r)
		}
	}
	h.logf("KV.GetMany(%s, %q)", ffr(id), keys)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	w.argBad = slices.ContainsFunc(keys, func(k string) bool { return !ffValidKey(k) })
	got, err := h.db.KV().GetMany(id, keys)
	if !h.verify("KV.GetMany", err, w) {
		return
	}
	if len(got) != len(keys) {
		h.fail("KV.GetMany: %d values for %d keys", len(got), len(keys))
	}
	m := h.model(id)
	for i, k := range keys {
		want, ok := m.kv[k]
		if ok != (got[i] != nil) || !bytes.Equal(got[i], want) {
			h.fail("KV.GetMany(%s)[%d] (%s) = %q; model %q (present %v)", ffr(id), i, ffq(k), got[i], want, ok)
		}
	}
}

func (h *ffHarness) kvList(r *ffReader) {
	id, prefix := h.runID(r), h.key(r)
	scan := r.n(2) == 0
	h.logf("KV.List/Scan(%s, %s) scan %v", ffr(id), ffq(prefix), scan)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	var keys []string
	var pairs []inmem.Pair
	var err error
	if scan {
		pairs, err = h.db.KV().Scan(id, prefix, "", 0)
		for _, p := range pairs {
			keys = append(keys, p.Key)
		}
	} else {
		keys, err = h.db.KV().List(id, prefix)
	}
	if !h.verify("KV.List/Scan", err, w) {
		return
	}
	m := h.model(id)
	if want := m.kvKeys(prefix); !slices.Equal(keys, want) {
		h.fail("KV.List/Scan(%s, %s) = %q; model %q", ffr(id), ffq(prefix), keys, want)
	}
	for _, p := range pairs {
		if !bytes.Equal(p.Value, m.kv[p.Key]) {
			h.fail("KV.Scan(%s): %s = %q; model %q", ffr(id), ffq(p.Key), p.Value, m.kv[p.Key])
		}
	}
}

// --- JSON ---

func (h *ffHarness) jsonWrite(r *ffReader) {
	kind := r.n(5)
	ctx, ck := h.ctx(r)
	id, key := h.runID(r), h.key(r)
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = !ffValidKey(key)
	h.writeCauses(&w, id)
	docs := map[string]uint64{}
	if m := h.model(id); m != nil {
		docs = m.docs
	}
	next, errs := ffSimDocs(docs, []ffDocOp{{key: key, kind: kind}})
	w.must(errs...)
	j := h.db.JSON()
	var err error
	var check func()
	switch kind {
	case ffDocCreate:
		doc := h.jsonVal(r)
		h.logf("JSON.Create(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(key), ffb(doc.b))
		w.argBad = w.argBad || !json.Valid(doc.b)
		w.argMaybe = !doc.sure
		err = j.Create(ctx, id, key, doc.b)
		check = func() { h.checkJSONValue(id, key, ffPaths[1], doc) }
	case ffDocSet:
		p, v := h.path(r), h.jsonVal(r)
		h.logf("JSON.Set(%s, %s, %s, %s, %s)", ffc(ck), ffr(id), ffq(key), ffq(p.s), ffb(v.b))
		w.argBad = w.argBad || p.known && !p.ok || !json.Valid(v.b)
		w.argMaybe = !p.known || !v.sure
		w.may(inmem.ErrTypeMismatch, inmem.ErrIndexOutOfRange, inmem.ErrTooLarge)
		err = j.Set(ctx, id, key, p.s, v.b)
		if p.known && p.ok {
			check = func() { h.checkJSONValue(id, key, p, v) }
		}
	case ffDocDelete:
		p := h.path(r)
		h.logf("JSON.Delete(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(key), ffq(p.s))
		w.argBad = w.argBad || p.known && !p.ok
		w.argMaybe = !p.known
		err = j.Delete(ctx, id, key, p.s) // a missing path is not an error
		if p.known && p.root() {
			check = func() { h.checkJSONValue(id, key, p, ffJSONVal{[]byte("null"), true}) }
		}
	case ffDocDeleteDoc:
		h.logf("JSON.DeleteDoc(%s, %s, %s)", ffc(ck), ffr(id), ffq(key))
		err = j.DeleteDoc(ctx, id, key)
	case ffDocPatch:
		ops, bad, maybe := h.patchOps(r)
		h.logf("JSON.Patch(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(key), ffOpsString(ops))
		w.argBad, w.argMaybe = w.argBad || bad, maybe
		w.may(inmem.ErrTypeMismatch, inmem.ErrIndexOutOfRange, inmem.ErrTooLarge)
		err = j.Patch(ctx, id, key, ops)
	}
	if h.verify("JSON write", err, w) {
		ffApplyDocs(h.model(id).docs, next)
		if check != nil {
			check()
		}
	}
	h.checkJSON(id, key)
}

// checkJSONValue: what was just written at p reads back as v.
func (h *ffHarness) checkJSONValue(id inmem.RunID, key string, p ffPath, v ffJSONVal) {
	got, err := h.db.JSON().Get(id, key, p.s)
	if err != nil {
		if v.sure {
			h.fail("JSON.Get(%s, %s, %s) after writing %q there: %v", ffr(id), ffq(key), ffq(p.s), v.b, err)
		}
		return
	}
	if eq, comparable := ffJSONEqual(got, v.b); comparable && !eq {
		h.fail("JSON.Get(%s, %s, %s) = %q; wrote %q", ffr(id), ffq(key), ffq(p.s), got, v.b)
	}
}

// checkJSON compares JSON.Exists, Version and Get at the root with the model.
func (h *ffHarness) checkJSON(id inmem.RunID, key string) {
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	w.argMaybe = !ffValidKey(key)
	var version uint64
	if m := h.model(id); m != nil {
		version = m.docs[key]
	}
	ok, err := h.db.JSON().Exists(id, key)
	if h.verify("JSON.Exists", err, w) && ok != (version > 0) {
		h.fail("JSON.Exists(%s, %s) = %v; model version %d", ffr(id), ffq(key), ok, version)
	}
	if version == 0 {
		w.must(inmem.ErrNotFound)
	}
	v, err := h.db.JSON().Version(id, key)
	if h.verify("JSON.Version", err, w) && v != version {
		h.fail("JSON.Version(%s, %s) = %d; model %d", ffr(id), ffq(key), v, version)
	}
	got, err := h.db.JSON().Get(id, key, "$")
	if h.verify("JSON.Get $", err, w) && !json.Valid(got) {
		h.fail("JSON.Get(%s, %s, $) = %q: not JSON", ffr(id), ffq(key), got)
	}
}

func (h *ffHarness) jsonRead(r *ffReader) {
	id, key, p := h.runID(r), h.key(r), h.path(r)
	h.logf("JSON reads(%s, %s, %s)", ffr(id), ffq(key), ffq(p.s))
	h.checkJSON(id, key)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	w.argBad = !ffValidKey(key) || p.known && !p.ok
	w.argMaybe = !p.known
	exists := false
	if m := h.model(id); m != nil {
		exists = m.docs[key] > 0
	}
	if !exists {
		w.must(inmem.ErrNotFound)
	} else if !p.root() {
		w.may(inmem.ErrNotFound, inmem.ErrTypeMismatch, inmem.ErrIndexOutOfRange)
	}
	got, err := h.db.JSON().Get(id, key, p.s)
	if h.verify("JSON.Get", err, w) && !json.Valid(got) {
		h.fail("JSON.Get(%s, %s, %s) = %q: not JSON", ffr(id), ffq(key), ffq(p.s), got)
	}
	var lw ffWant
	h.closedGate(&lw)
	h.readCauses(&lw, id)
	keys, err := h.db.JSON().List(id)
	if h.verify("JSON.List", err, lw) {
		if want := h.model(id).docKeys(); !slices.Equal(keys, want) {
			h.fail("JSON.List(%s) = %q; model %q", ffr(id), keys, want)
		}
	}
}

// ffJSONEqual compares two JSON texts as values; comparable is false when either does not
// decode or has a duplicate member name (which one wins is not specified).
func ffJSONEqual(a, b []byte) (eq, comparable bool) {
	if ffDupKeys(a) || ffDupKeys(b) {
		return false, false
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false, false
	}
	return reflect.DeepEqual(va, vb), true
}

func ffDupKeys(b []byte) bool {
	type frame struct {
		obj       bool
		keys      map[string]bool
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var st []*frame
	valueDone := func() {
		if len(st) > 0 && st[len(st)-1].obj {
			st[len(st)-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				st = append(st, &frame{obj: true, keys: map[string]bool{}, expectKey: true})
			case '[':
				st = append(st, &frame{})
			default:
				st = st[:len(st)-1]
				valueDone()
			}
		case string:
			if top := len(st) - 1; top >= 0 && st[top].obj && st[top].expectKey {
				if st[top].keys[v] {
					return true
				}
				st[top].keys[v], st[top].expectKey = true, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// --- events ---

func (h *ffHarness) eventAppend(r *ffReader) {
	ctx, ck := h.ctx(r)
	id, typ, payload := h.runID(r), h.eventType(r), h.jsonVal(r).b
	h.logf("Events.Append(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(typ), ffb(payload))
	var w ffWant
	h.ctxGate(&w, ck)
	// The event log checks JSON with its own validator, documented to agree with encoding/json.
	w.argBad = !ffValidType(typ) || len(payload) > 16<<20 || !json.Valid(payload)
	h.writeCauses(&w, id)
	ev, err := h.db.Events().Append(ctx, id, typ, payload)
	if h.verify("Events.Append", err, w) {
		m := h.model(id)
		var prev [32]byte
		if n := len(m.events); n > 0 {
			prev = m.events[n-1].hash
			if !m.events[n-1].hashed {
				prev = ev.PrevHash
			}
		}
		if ev.Seq != uint64(len(m.events)) || ev.Type != typ || !bytes.Equal(ev.Payload, payload) || ev.PrevHash != prev {
			h.fail("Events.Append(%s) = seq %d type %q payload %q; model seq %d", ffr(id), ev.Seq, ev.Type, ev.Payload, len(m.events))
		}
		m.events = append(m.events, ffEvent{typ: typ, payload: bytes.Clone(payload), hash: ev.Hash, hashed: true})
	}
	h.checkEvents(id)
}

// checkEvents compares Len, Head and VerifyChain with the model.
func (h *ffHarness) checkEvents(id inmem.RunID) {
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	var evs []ffEvent
	if m := h.model(id); m != nil {
		evs = m.events
	}
	n, err := h.db.Events().Len(id)
	if h.verify("Events.Len", err, w) && n != uint64(len(evs)) {
		h.fail("Events.Len(%s) = %d; model %d", ffr(id), n, len(evs))
	}
	h.verify("Events.VerifyChain", h.db.Events().VerifyChain(id), w)
	if len(evs) == 0 {
		w.must(inmem.ErrNotFound)
	}
	head, err := h.db.Events().Head(id)
	if h.verify("Events.Head", err, w) {
		h.checkEvent("Events.Head", head, uint64(len(evs)-1), evs)
	}
}

func (h *ffHarness) checkEvent(call string, ev inmem.Event, seq uint64, evs []ffEvent) {
	m := evs[seq]
	if ev.Seq != seq || ev.Type != m.typ || !bytes.Equal(ev.Payload, m.payload) || m.hashed && ev.Hash != m.hash {
		h.fail("%s = seq %d type %q payload %q; model seq %d type %q payload %q", call, ev.Seq, ev.Type, ev.Payload, seq, m.typ, m.payload)
	}
}

func (h *ffHarness) seq(r *ffReader, n int) uint64 {
	switch r.n(6) {
	case 0:
		return 0
	case 1:
		return uint64(n)
	case 2:
		return uint64(n) - 1
	case 3:
		return math.MaxUint64
	case 4:
		return 1 << 63
	}
	return r.u64()
}

func (h *ffHarness) eventRead(r *ffReader) {
	id := h.runID(r)
	var evs []ffEvent
	if m := h.model(id); m != nil {
		evs = m.events
	}
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	e := h.db.Events()
	switch r.n(4) {
	case 0:
		seq := h.seq(r, len(evs))
		h.logf("Events.Get(%s, %d)", ffr(id), seq)
		if seq >= uint64(len(evs)) {
			w.must(inmem.ErrNotFound)
		}
		ev, err := e.Get(id, seq)
		if h.verify("Events.Get", err, w) {
			h.checkEvent("Events.Get", ev, seq, evs)
		}
	case 1:
		from, to := h.seq(r, len(evs)), h.seq(r, len(evs))
		h.logf("Events.Range(%s, %d, %d)", ffr(id), from, to)
		w.argBad = from > to
		got, err := e.Range(id, from, to)
		if h.verify("Events.Range", err, w) {
			end := min(to, uint64(len(evs)))
			want := 0
			if from < end {
				want = int(end - from)
			}
			if len(got) != want {
				h.fail("Events.Range(%s, %d, %d): %d events; model %d", ffr(id), from, to, len(got), want)
			}
			for i, ev := range got {
				h.checkEvent("Events.Range", ev, from+uint64(i), evs)
			}
		}
	case 2:
		typ := h.eventType(r)
		h.logf("Events.ByType(%s, %s)", ffr(id), ffq(typ))
		got, err := e.ByType(id, typ)
		if h.verify("Events.ByType", err, w) {
			var want []uint64
			for i, m := range evs {
				if m.typ == typ {
					want = append(want, uint64(i))
				}
			}
			if len(got) != len(want) {
				h.fail("Events.ByType(%s, %s): %d events; model %d", ffr(id), ffq(typ), len(got), len(want))
			}
			for i, ev := range got {
				h.checkEvent("Events.ByType", ev, want[i], evs)
			}
		}
	case 3:
		h.logf("Events.Len/Head/VerifyChain(%s)", ffr(id))
		h.checkEvents(id)
	}
}

// --- state ---

func (h *ffHarness) stateWrite(r *ffReader) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	o := ffCellOp{name: h.key(r), kind: r.n(4)}
	var cells map[string]ffCell
	if m := h.model(id); m != nil {
		cells = m.cells
	}
	s := h.db.State()
	var version uint64
	var err error
	switch o.kind {
	case ffCellInit:
		o.value = h.value(r)
		h.logf("State.Init(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(o.name), ffb(o.value))
		version, err = s.Init(ctx, id, o.name, o.value)
	case ffCellSet:
		o.value = h.value(r)
		h.logf("State.Set(%s, %s, %s, %s)", ffc(ck), ffr(id), ffq(o.name), ffb(o.value))
		version, err = s.Set(ctx, id, o.name, o.value)
	case ffCellCAS:
		o.expected, o.value = h.expected(r, cells[o.name].counter), h.value(r)
		h.logf("State.CAS(%s, %s, %s, %d, %s)", ffc(ck), ffr(id), ffq(o.name), o.expected, ffb(o.value))
		version, err = s.CAS(ctx, id, o.name, o.expected, o.value)
	case ffCellDelete:
		h.logf("State.Delete(%s, %s, %s)", ffc(ck), ffr(id), ffq(o.name))
		err = s.Delete(ctx, id, o.name)
	}
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = !ffValidKey(o.name) || len(o.value) > 16<<20
	h.writeCauses(&w, id)
	if o.kind != ffCellDelete && o.value == nil {
		o.value = []byte{}
	}
	next, errs := ffSimCells(cells, []ffCellOp{o})
	w.must(errs...)
	if h.verify("State write", err, w) {
		c := next[o.name]
		if o.kind != ffCellDelete && version != c.counter {
			h.fail("State write of %s returned version %d; model %d", ffq(o.name), version, c.counter)
		}
		c.value = bytes.Clone(c.value)
		h.model(id).cells[o.name] = c
	}
	h.checkCell(id, o.name)
}

func (h *ffHarness) stateTransition(r *ffReader) {
	ctx, ck := h.ctx(r)
	id, name := h.runID(r), h.key(r)
	mode := r.n(6)
	next := h.value(r)
	var cur ffCell
	if m := h.model(id); m != nil {
		cur = m.cells[name]
	}
	h.logf("State.Transition(%s, %s, %s, mode %d → %s)", ffc(ck), ffr(id), ffq(name), mode, ffb(next))
	var fn func(inmem.Cell) ([]byte, error)
	switch mode {
	case 0:
	case 1:
		fn = func(inmem.Cell) ([]byte, error) { return nil, ffErrFn }
	default:
		fn = func(c inmem.Cell) ([]byte, error) {
			if !bytes.Equal(c.Value, cur.value) || c.Version != cur.counter {
				h.fail("Transition's fn got %q v%d; model %q v%d", c.Value, c.Version, cur.value, cur.counter)
			}
			return next, nil
		}
	}
	version, err := h.db.State().Transition(ctx, id, name, fn)
	var w ffWant
	w.argBad = fn == nil || !ffValidKey(name) || len(next) > 16<<20
	h.ctxGate(&w, ck)
	h.writeCauses(&w, id)
	if !cur.live {
		w.must(inmem.ErrNotFound)
	} else if mode == 1 {
		w.must(ffErrFn)
	}
	if h.verify("State.Transition", err, w) {
		c := ffCell{live: true, value: bytes.Clone(next), counter: cur.counter + 1}
		if c.value == nil {
			c.value = []byte{}
		}
		if version != c.counter {
			h.fail("State.Transition returned version %d; model %d", version, c.counter)
		}
		h.model(id).cells[name] = c
	}
	h.checkCell(id, name)
}

// checkCell compares State.Get of name with the model.
func (h *ffHarness) checkCell(id inmem.RunID, name string) {
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	w.argBad = !ffValidKey(name)
	var c ffCell
	if m := h.model(id); m != nil {
		c = m.cells[name]
	}
	if !c.live {
		w.must(inmem.ErrNotFound)
	}
	got, err := h.db.State().Get(id, name)
	if h.verify("State.Get", err, w) && (!bytes.Equal(got.Value, c.value) || got.Version != c.counter || got.UpdatedAt.IsZero()) {
		h.fail("State.Get(%s, %s) = %q v%d at %v; model %q v%d", ffr(id), ffq(name), got.Value, got.Version, got.UpdatedAt, c.value, c.counter)
	}
}

func (h *ffHarness) stateRead(r *ffReader) {
	id, name := h.runID(r), h.key(r)
	h.logf("State.Get/List(%s, %s)", ffr(id), ffq(name))
	h.checkCell(id, name)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	names, err := h.db.State().List(id)
	if h.verify("State.List", err, w) {
		if want := h.model(id).liveCells(); !slices.Equal(names, want) {
			h.fail("State.List(%s) = %q; model %q", ffr(id), names, want)
		}
	}
}

// --- traces ---

func (h *ffHarness) traceRecord(r *ffReader) {
	ctx, ck := h.ctx(r)
	id := h.runID(r)
	s := h.span(r)
	h.logf("Traces.Record(%s, %s, %s)", ffc(ck), ffr(id), ffSpanString(s))
	var w ffWant
	h.ctxGate(&w, ck)
	w.argBad = ffSpanInvalid(s)
	h.writeCauses(&w, id)
	if m := h.model(id); m != nil {
		if _, taken := m.spanAt[s.ID]; s.ID != "" && taken {
			w.must(inmem.ErrAlreadyExists)
		}
		if _, ok := m.spanAt[s.ParentID]; s.ParentID != "" && !ok {
			w.must(inmem.ErrNotFound)
		}
	}
	got, err := h.db.Traces().Record(ctx, id, s)
	if h.verify("Traces.Record", err, w) {
		if s.ID != "" && got != s.ID || s.ID == "" && len(got) != 32 {
			h.fail("Traces.Record(id %s) = %s", ffq(s.ID), ffq(got))
		}
		h.model(id).addSpan(ffModelSpan(got, s))
		h.lastSpan = got
		h.checkSpan(id, got)
	}
}

// checkSpan compares Traces.Get of a recorded span with the model.
func (h *ffHarness) checkSpan(id inmem.RunID, spanID string) {
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	m := h.model(id)
	i, ok := -1, false
	if m != nil {
		i, ok = m.spanAt[spanID]
	}
	if !ok {
		w.must(inmem.ErrNotFound)
	}
	got, err := h.db.Traces().Get(id, spanID)
	if h.verify("Traces.Get", err, w) {
		h.checkSpanValue("Traces.Get", got, m.spans[i])
	}
}

func (h *ffHarness) checkSpanValue(call string, got inmem.Span, s ffSpan) {
	if got.ID != s.id || got.ParentID != s.parent || string(got.Kind) != s.kind || got.Name != s.name ||
		ffMicros(got.Start) != s.start || ffMicros(got.End) != s.end || !slices.Equal(got.Tags, s.tags) ||
		!bytes.Equal(got.Attributes, s.attrs) {
		h.fail("%s = %+v; model %+v", call, got, s)
	}
}

func (h *ffHarness) traceRead(r *ffReader) {
	id := h.runID(r)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	var spans []ffSpan
	m := h.model(id)
	if m != nil {
		spans = m.spans
	}
	count := func(pred func(ffSpan) bool) int {
		n := 0
		for _, s := range spans {
			if pred(s) {
				n++
			}
		}
		return n
	}
	tr := h.db.Traces()
	check := func(call string, got []inmem.Span, err error, w ffWant, want int, pred func(inmem.Span) bool) {
		if !h.verify(call, err, w) {
			return
		}
		if len(got) != want {
			h.fail("%s(%s): %d spans; model %d", call, ffr(id), len(got), want)
		}
		for i, s := range got {
			j, ok := m.spanAt[s.ID]
			if !ok || pred != nil && !pred(s) {
				h.fail("%s(%s) returned %+v", call, ffr(id), s)
			}
			h.checkSpanValue(call, s, m.spans[j])
			if i > 0 && ffMicros(got[i-1].Start) > ffMicros(s.Start) && call != "Traces.Tree" {
				h.fail("%s(%s): not ordered by start time", call, ffr(id))
			}
		}
	}
	switch r.n(9) {
	case 0:
		sid := h.spanID(r)
		h.logf("Traces.Get(%s, %s)", ffr(id), ffq(sid))
		h.checkSpan(id, sid)
	case 1, 2:
		sid := h.spanID(r)
		cw := w
		known := false
		if m != nil {
			_, known = m.spanAt[sid]
		}
		if !known {
			cw.must(inmem.ErrNotFound)
		}
		if r.n(2) == 0 {
			h.logf("Traces.Children(%s, %s)", ffr(id), ffq(sid))
			got, err := tr.Children(id, sid)
			check("Traces.Children", got, err, cw, count(func(s ffSpan) bool { return s.parent == sid }),
				func(s inmem.Span) bool { return s.ParentID == sid })
			return
		}
		h.logf("Traces.Tree(%s, %s)", ffr(id), ffq(sid))
		got, err := tr.Tree(id, sid)
		want := 0
		if known {
			in := map[string]bool{sid: true}
			for grew := true; grew; {
				grew = false
				for _, s := range spans {
					if !in[s.id] && in[s.parent] {
						in[s.id], grew = true, true
					}
				}
			}
			want = len(in)
		}
		check("Traces.Tree", got, err, cw, want, nil)
		if err == nil && len(got) > 0 && got[0].ID != sid {
			h.fail("Traces.Tree(%s, %s) starts at %s", ffr(id), ffq(sid), ffq(got[0].ID))
		}
	case 3:
		h.logf("Traces.Roots(%s)", ffr(id))
		got, err := tr.Roots(id)
		check("Traces.Roots", got, err, w, count(func(s ffSpan) bool { return s.parent == "" }),
			func(s inmem.Span) bool { return s.ParentID == "" })
	case 4:
		k := h.spanKind(r)
		h.logf("Traces.ByKind(%s, %s)", ffr(id), ffq(string(k)))
		got, err := tr.ByKind(id, k)
		check("Traces.ByKind", got, err, w, count(func(s ffSpan) bool { return s.kind == string(k) }),
			func(s inmem.Span) bool { return s.Kind == k })
	case 5:
		tag := h.tags(r)
		t := ""
		if len(tag) > 0 {
			t = tag[0]
		}
		h.logf("Traces.ByTag(%s, %s)", ffr(id), ffq(t))
		got, err := tr.ByTag(id, t)
		check("Traces.ByTag", got, err, w, count(func(s ffSpan) bool { return slices.Contains(s.tags, t) }),
			func(s inmem.Span) bool { return slices.Contains(s.Tags, t) })
	case 6:
		from, to := h.time(r), h.time(r)
		h.logf("Traces.InTime(%s, %v, %v)", ffr(id), from, to)
		f, t := from.UnixMicro(), to.UnixMicro()
		got, err := tr.InTime(id, from, to)
		check("Traces.InTime", got, err, w, count(func(s ffSpan) bool { return f <= s.start && s.start < t }), nil)
	case 7:
		h.logf("Traces.List(%s)", ffr(id))
		got, err := tr.List(id)
		check("Traces.List", got, err, w, len(spans), nil)
	case 8:
		h.logf("Traces.Count(%s)", ffr(id))
		n, err := tr.Count(id)
		if h.verify("Traces.Count", err, w) && n != len(spans) {
			h.fail("Traces.Count(%s) = %d; model %d", ffr(id), n, len(spans))
		}
	}
}

// --- replay and diff ---

func (h *ffHarness) replay(r *ffReader) {
	id := h.runID(r)
	var w ffWant
	h.closedGate(&w)
	switch {
	case id == inmem.GlobalRun:
		w.must(inmem.ErrNotReplayable)
	case h.status(id) == inmem.RunNotFound:
		w.must(inmem.ErrRunNotFound)
	}
	var v *inmem.ReadOnlyView
	var err error
	step := -1
	if r.n(2) == 0 {
		h.logf("ReplayRun(%s)", ffr(id))
		v, err = h.db.ReplayRun(id)
	} else {
		switch r.n(8) {
		case 0:
			step = -1
		case 1:
			step = math.MinInt
		case 2:
			step = 0
		case 3:
			step = 1
		case 4:
			step = 2
		case 5:
			step = math.MaxInt
		default:
			step = int(int64(r.u64()))
		}
		h.logf("ReplayRunUntil(%s, %d)", ffr(id), step)
		w.argBad = step < 0
		v, err = h.db.ReplayRunUntil(id, step)
	}
	if !h.verify("ReplayRun/ReplayRunUntil", err, w) {
		return
	}
	md, err := h.db.Run(id)
	if err != nil {
		h.fail("Run(%s) after a replay: %v", ffr(id), err)
	}
	want := md.TxCount
	if step >= 0 {
		want = min(step, md.TxCount)
	}
	if v.Run() != id || v.Steps() != want {
		h.fail("replay of %s until %d: run %s, %d steps; Run says %d transactions", ffr(id), step, ffr(v.Run()), v.Steps(), md.TxCount)
	}
	if v.Steps() < md.TxCount {
		return // a prefix: the model does not keep history
	}
	saved := ffView{v: v, run: id, model: h.model(id).clone(), steps: v.Steps()}
	h.checkView("replay", saved)
	if len(h.views) == ffMaxViews {
		h.views = h.views[1:]
	}
	h.views = append(h.views, saved)
}

// checkView compares a replayed view with the run as the model had it when it was replayed:
// a view stays valid, and unchanged, after later writes and after Close.
func (h *ffHarness) checkView(call string, s ffView) {
	v, m := s.v, s.model
	if v.Steps() != s.steps {
		h.fail("%s: Steps %d, was %d", call, v.Steps(), s.steps)
	}
	if keys := v.KVKeys(); !slices.Equal(keys, m.kvKeys("")) {
		h.fail("%s of %s: KV keys %q; model %q", call, ffr(s.run), keys, m.kvKeys(""))
	}
	for k, want := range m.kv {
		if got, ok := v.KV(k); !ok || !bytes.Equal(got, want) {
			h.fail("%s of %s: KV %s = %q; model %q", call, ffr(s.run), ffq(k), got, want)
		}
	}
	if _, ok := v.KV(""); ok {
		h.fail("%s: KV has the empty key", call)
	}
	evs := v.Events()
	if len(evs) != len(m.events) {
		h.fail("%s of %s: %d events; model %d", call, ffr(s.run), len(evs), len(m.events))
	}
	for i, ev := range evs {
		h.checkEvent(call+" event", ev, uint64(i), m.events)
	}
	spans := v.Spans()
	if len(spans) != len(m.spans) {
		h.fail("%s of %s: %d spans; model %d", call, ffr(s.run), len(spans), len(m.spans))
	}
	for _, sp := range spans {
		i, ok := m.spanAt[sp.ID]
		if !ok {
			h.fail("%s of %s: span %s not in the model", call, ffr(s.run), ffq(sp.ID))
		}
		h.checkSpanValue(call+" span", sp, m.spans[i])
	}
	if names := v.StateNames(); !slices.Equal(names, m.liveCells()) {
		h.fail("%s of %s: cells %q; model %q", call, ffr(s.run), names, m.liveCells())
	}
	for n, c := range m.cells {
		got, ok := v.State(n)
		if ok != c.live || ok && (!bytes.Equal(got.Value, c.value) || got.Version != c.counter) {
			h.fail("%s of %s: cell %s = %q v%d (%v); model %q v%d (%v)", call, ffr(s.run), ffq(n), got.Value, got.Version, ok, c.value, c.counter, c.live)
		}
	}
	if keys := v.JSONKeys(); !slices.Equal(keys, m.docKeys()) {
		h.fail("%s of %s: documents %q; model %q", call, ffr(s.run), keys, m.docKeys())
	}
	for _, k := range m.docKeys() {
		if doc, ok := v.JSON(k); !ok || !json.Valid(doc) {
			h.fail("%s of %s: document %s = %q (%v)", call, ffr(s.run), ffq(k), doc, ok)
		}
	}
}

func (h *ffHarness) diff(r *ffReader) {
	a, b := h.runID(r), h.runID(r)
	h.logf("DiffRuns(%s, %s)", ffr(a), ffr(b))
	var w ffWant
	h.closedGate(&w)
	for _, id := range []inmem.RunID{a, b} {
		switch {
		case id == inmem.GlobalRun:
			w.must(inmem.ErrNotReplayable)
		case h.status(id) == inmem.RunNotFound:
			w.must(inmem.ErrRunNotFound)
		}
	}
	d, err := h.db.DiffRuns(a, b)
	if !h.verify("DiffRuns", err, w) {
		return
	}
	if d.A != a || d.B != b {
		h.fail("DiffRuns(%s, %s) names %s, %s", ffr(a), ffr(b), ffr(d.A), ffr(d.B))
	}
	if a == b && len(d.Added)+len(d.Removed)+len(d.Modified) > 0 {
		h.fail("DiffRuns(%s, itself) = %+v", ffr(a), d)
	}
	// KV and state cells are compared by key and value: the model knows the answer.
	ma, mb := h.model(a), h.model(b)
	type kv struct {
		keys map[string][]byte
		kind inmem.PrimitiveKind
	}
	cellsOf := func(m *ffRun) map[string][]byte {
		out := map[string][]byte{}
		for n, c := range m.cells {
			if c.live {
				out[n] = c.value
			}
		}
		return out
	}
	for _, p := range [][2]kv{{{ma.kv, inmem.KindKV}, {mb.kv, inmem.KindKV}}, {{cellsOf(ma), inmem.KindState}, {cellsOf(mb), inmem.KindState}}} {
		kind := p[0].kind
		var added, removed, modified []string
		for k, va := range p[0].keys {
			vb, ok := p[1].keys[k]
			switch {
			case !ok:
				removed = append(removed, k)
			case !bytes.Equal(va, vb):
				modified = append(modified, k)
			}
		}
		for k := range p[1].keys {
			if _, ok := p[0].keys[k]; !ok {
				added = append(added, k)
			}
		}
		for _, c := range []struct {
			what    string
			entries []inmem.DiffEntry
			want    []string
		}{{"Added", d.Added, added}, {"Removed", d.Removed, removed}, {"Modified", d.Modified, modified}} {
			var got []string
			for _, e := range c.entries {
				if e.Kind == kind {
					got = append(got, e.Key)
				}
			}
			sort.Strings(got)
			sort.Strings(c.want)
			if !slices.Equal(got, c.want) {
				h.fail("DiffRuns(%s, %s).%s %v = %q; model %q", ffr(a), ffr(b), c.what, kind, got, c.want)
			}
		}
	}
	// Documents: which exist in one run only (the model does not know their content).
	for _, c := range []struct {
		what       string
		entries    []inmem.DiffEntry
		from, into *ffRun
	}{{"Added", d.Added, mb, ma}, {"Removed", d.Removed, ma, mb}} {
		var got, want []string
		for _, e := range c.entries {
			if e.Kind == inmem.KindJSON {
				got = append(got, e.Key)
			}
		}
		for k := range c.from.docs {
			if c.into.docs[k] == 0 {
				want = append(want, k)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			h.fail("DiffRuns(%s, %s).%s documents = %q; model %q", ffr(a), ffr(b), c.what, got, want)
		}
	}
	back, err := h.db.DiffRuns(b, a)
	if err != nil {
		h.fail("DiffRuns(%s, %s): %v, but the other way round succeeded", ffr(b), ffr(a), err)
	}
	if len(back.Added) != len(d.Removed) || len(back.Removed) != len(d.Added) || len(back.Modified) != len(d.Modified) {
		h.fail("DiffRuns(%s, %s) = +%d -%d ~%d; the other way round +%d -%d ~%d", ffr(a), ffr(b),
			len(d.Added), len(d.Removed), len(d.Modified), len(back.Added), len(back.Removed), len(back.Modified))
	}
}

// --- the rest ---

func (h *ffHarness) pure(r *ffReader) {
	s := string(r.chunk())
	h.logf("pure functions(%s)", ffq(s))
	id, err := inmem.ParseRunID(s)
	if err != nil && !errors.Is(err, inmem.ErrInvalidArgument) {
		h.fail("ParseRunID(%q): %v", s, err)
	}
	if err == nil {
		if !strings.EqualFold(id.String(), s) {
			h.fail("ParseRunID(%q) = %s", s, id)
		}
		if back, err := inmem.ParseRunID(id.String()); err != nil || back != id {
			h.fail("ParseRunID(%s) = %v, %v", id, back, err)
		}
	}
	n := r.byte()
	_ = inmem.Durability(int8(n)).String()
	_ = inmem.PrimitiveKind(n).String()
	_ = inmem.RunStatus(n).String()
	_ = fmt.Sprint(inmem.NewRunID(), inmem.GlobalRun)
}

// audit compares everything the facades say of every run with the model.
func (h *ffHarness) audit() {
	ids := []inmem.RunID{inmem.GlobalRun, ffRuns[0]}
	for id := range h.runs {
		ids = append(ids, id)
	}
	for _, id := range ids {
		h.auditRun(id)
	}
}

func (h *ffHarness) auditRun(id inmem.RunID) {
	h.checkRun(id)
	var w ffWant
	h.closedGate(&w)
	h.readCauses(&w, id)
	pairs, err := h.db.KV().Scan(id, "", "", 0)
	if h.verify("KV.Scan", err, w) {
		m := h.model(id)
		if len(pairs) != len(m.kv) {
			h.fail("KV.Scan(%s): %d pairs; model %d", ffr(id), len(pairs), len(m.kv))
		}
		for _, p := range pairs {
			if want, ok := m.kv[p.Key]; !ok || !bytes.Equal(p.Value, want) {
				h.fail("KV.Scan(%s): %s = %q; model %q", ffr(id), ffq(p.Key), p.Value, want)
			}
		}
	}
	h.checkEvents(id)
	n, err := h.db.Traces().Count(id)
	if h.verify("Traces.Count", err, w) && n != len(h.model(id).spans) {
		h.fail("Traces.Count(%s) = %d; model %d", ffr(id), n, len(h.model(id).spans))
	}
	names, err := h.db.State().List(id)
	if h.verify("State.List", err, w) && !slices.Equal(names, h.model(id).liveCells()) {
		h.fail("State.List(%s) = %q; model %q", ffr(id), names, h.model(id).liveCells())
	}
	for _, n := range names {
		h.checkCell(id, n)
	}
	keys, err := h.db.JSON().List(id)
	if h.verify("JSON.List", err, w) && !slices.Equal(keys, h.model(id).docKeys()) {
		h.fail("JSON.List(%s) = %q; model %q", ffr(id), keys, h.model(id).docKeys())
	}
}

// ---------------------------------------------------------------------------------------------
// Seeds: one program per area, written with the operation numbers above and, after each, one
// byte per argument choice (the index into the generator's pool; see key, value, jsonVal, path…).

// ffB flattens bytes, strings and small ints into a program.
func ffB(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			out = append(out, byte(v))
		case []byte:
			out = append(out, v...)
		case string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("ffB: %T", p))
		}
	}
	return out
}

func ffSeeds() [][]byte {
	const (
		bg, nilc, cnl                          = 0, 5, 6
		glob, r1, r2, last, fresh, raw         = 0, 1, 2, 5, 6, 7
		k1, k2, ka, kEmpty, kBad, kHuge, kRaw  = 0, 1, 2, 6, 7, 10, 14
		vNil, vObj, v1, v2, vHuge              = 0, 1, 2, 3, 9
		dObj, dArr, dOne, dNested, dBad, dDeep = 0, 1, 2, 6, 14, 21
		pRoot, pA, pAB0, pAB3, pAB99, pXYZ     = 1, 2, 4, 5, 6, 10
		pIdx0, pBad, pMinus, pDeep             = 7, 17, 19, 26
		ret0, retLast, retFn, retConflict      = 0, 7, 8, 9
	)
	begin := func(run int) []byte { return ffB(ffOpBeginRun, bg, run, k1, ka, 3, 1, 1) }
	body := func(steps ...[]byte) []byte { b := slices.Concat(steps...); return ffB(len(b), b) }
	update := func(ctx, run, ret int, steps ...[]byte) []byte {
		return ffB(ffOpUpdate, ctx, run, body(steps...), ret, 0)
	}
	view := func(run, ret int, steps ...[]byte) []byte { return ffB(ffOpView, run, body(steps...), ret, 0) }
	step := func(i int, s []byte) []byte { return ffB(ffOpTxStep, i, s) }
	// Transaction steps.
	txGet := func(k int) []byte { return ffB(0, k) }
	txExists := func(k int) []byte { return ffB(1, k) }
	txList := func(k int) []byte { return ffB(2, k) }
	txPut := func(k, v int) []byte { return ffB(3, k, v) }
	txDel := func(k int) []byte { return ffB(4, k) }
	txJGet := func(k, p int) []byte { return ffB(5, k, p) }
	txJCreate := func(k, d int) []byte { return ffB(7, k, d) }
	txJSet := func(k, p, d int) []byte { return ffB(8, k, p, d) }
	txAppend := func(t, d int) []byte { return ffB(12, t, d) }
	txCellGet := func(k int) []byte { return ffB(14, k) }
	txInit := func(k, v int) []byte { return ffB(16, k, v) }
	txCAS := func(k, e, v int) []byte { return ffB(18, k, e, v) }
	// A span: id, parent, kind, name, start, end, tags, attributes (0: then a document).
	span := func(id, parent, kind, start, end, tags int) []byte {
		return ffB(id, parent, kind, 5, start, end, tags, 1)
	}
	return [][]byte{
		// Run lifecycle: begin (again, GlobalRun, bad metadata, with a parent), end, abort an
		// ended run, resume, nil and done contexts, Run, RunStatus, ListRuns with filters, Stats,
		// Sync, Snapshot in InMemory mode.
		ffB(begin(r1), begin(r1), begin(glob),
			ffOpBeginRun, bg, r2, k1, ka, 0, 1, 0, dBad,
			ffOpBeginRun, bg, fresh, k2, kBad, 4, 0, r1, 0, dNested,
			ffOpEndRun, bg, r1, ffOpAbortRun, bg, r1, k1, ffOpAbortRun, bg, last, kBad,
			ffOpResumeRun, bg, r1, ffOpResumeRun, bg, raw, "0123456789abcdef", ffOpResumeRun, bg, glob,
			ffOpEndRun, nilc, r2, ffOpEndRun, cnl, r1, ffOpBeginRun, nilc, r2, k1, ka, 3, 1, 1,
			ffOpRunInfo, r1, ffOpRunInfo, glob, ffOpRunInfo, last,
			ffOpListRuns, 0, 1, 1, 1, ffOpListRuns, 2, 0, ka, 1, 1, ffOpListRuns, 3, 1, 0, 2, 0, r1,
			ffOpMisc, 0, ffOpMisc, 1, ffOpMisc, 2, ffOpMisc, 3, 3, "abc", ffOpMisc, 4, ffOpMisc, 5),
		// KV: put, get, delete, get-many, list, scan; empty, invalid and oversized keys and values;
		// nil and done contexts; GlobalRun and a run never begun.
		ffB(begin(r1),
			ffOpKVPut, bg, r1, k1, v1, ffOpKVPut, bg, r1, k2, vNil, ffOpKVGet, r1, k1, ffOpKVGet, r1, k2,
			ffOpKVPut, bg, r1, kEmpty, v1, ffOpKVPut, bg, r1, kBad, v1, ffOpKVPut, bg, r1, kHuge, v1,
			ffOpKVPut, bg, r1, kRaw, 2, 0xc3, 0x28, v1, ffOpKVPut, bg, r1, k1, vHuge,
			ffOpKVPut, nilc, r1, k1, v2, ffOpKVPut, cnl, r1, k1, v2, ffOpKVPut, bg, glob, k1, v2,
			ffOpKVPut, bg, r2, k1, v2, ffOpKVGet, r2, k1, ffOpKVGet, r1, kEmpty,
			ffOpKVDelete, bg, r1, k2, ffOpKVDelete, bg, r1, k2, ffOpKVDelete, nilc, r1, kEmpty,
			ffOpKVDelete, bg, r1, kBad, ffOpKVDelete, bg, r2, k1,
			ffOpKVGetMany, r1, 4, k1, k2, kEmpty, ffOpKVGetMany, r1, 3, k1, k2, ffOpKVGetMany, r2, 1,
			ffOpKVGetMany, r1, 0, ffOpKVList, r1, ka, 0, ffOpKVList, r1, kEmpty, 1, ffOpKVList, glob, k1, 0,
			ffOpKVList, r2, k1, 1),
		// A transaction by hand touching every primitive, committed with Sync; used after its
		// commit and committed again; a read-only one written to and rolled back; a commit
		// with a done context; a conflict (read, then changed by a facade call).
		ffB(begin(r1),
			ffOpBegin, r1, 0,
			step(0, txPut(k1, v1)), step(0, txGet(k1)), step(0, txExists(k2)), step(0, txJCreate(k1, dNested)),
			step(0, txJSet(k1, pA, dOne)), step(0, txJGet(k1, pA)), step(0, txAppend(0, dObj)), step(0, ffB(13)),
			step(0, txInit(k1, v1)), step(0, txCellGet(k1)), step(0, ffB(20, span(2, 0, 3, 1, 2, 2))),
			step(0, ffB(21)), step(0, ffB(22, 1, 1)), step(0, ffB(22, 2, 3, "abc", 0)),
			step(0, txList(kEmpty)), step(0, ffB(6)), step(0, ffB(15)), step(0, ffB(19, k2)),
			step(0, ffB(9, k1, pAB0)), step(0, ffB(11, k1, 3, pA, 3, pA, 0, dOne)),
			ffOpCommit, 0, bg, 0, step(0, txPut(k2, v2)), ffOpCommit, 0, bg, 1, ffOpRollback, 0,
			ffOpBegin, r1, 1, step(1, txPut(k2, v2)), step(1, txCellGet(k1)), step(1, txGet(k1)),
			ffOpCommit, 1, bg, 1,
			ffOpBegin, r1, 0, step(2, txDel(k1)), ffOpCommit, 2, cnl, 0,
			ffOpBegin, r1, 0, step(3, txGet(k1)), step(3, txPut(k2, v1)), ffOpKVPut, bg, r1, k1, v2,
			ffOpCommit, 3, bg, 1,
			ffOpBegin, r1, 0, step(4, txCAS(k1, 0, v2)), step(4, txCAS(k1, 3, v2)), ffOpCommit, 4, bg, 1,
			ffOpBegin, r2, 0, ffOpBegin, glob, 0, step(5, txAppend(1, dArr)), step(5, ffB(10, k2)), ffOpCommit, 5, bg, 1,
			ffOpAudit),
		// Update and View: bodies on every primitive, the function's own error, a conflict it
		// returns, a call inside the function, the transaction kept and used after, writes in a
		// View, nil functions, nil and done contexts, runs never begun.
		ffB(begin(r1),
			update(bg, r1, ret0, txPut(k1, v1), txGet(k1), ffB(17, k2, v2), txAppend(1, dObj),
				txJCreate(k2, dArr), ffB(20, span(0, 0, 0, 1, 0, 0)), ffB(13)),
			update(bg, r1, ret0, txGet(k1), ffB(23, ffOpKVPut, bg, r1, k1, v2), txPut(k2, v1)),
			update(bg, r1, retFn, txPut(k1, v1), ffB(24)),
			step(0, txPut(k1, v1)), ffOpCommit, 0, bg, 1,
			update(bg, r1, retLast, txGet(kEmpty)),
			update(bg, r1, retConflict, txPut(k1, v1)),
			update(bg, r1, ret0, ffB(23, ffOpEndRun, bg, glob), ffB(23, ffOpBegin, r1, 1)),
			view(r1, ret0, txGet(k1), txPut(k1, v1), txCellGet(k1), ffB(13), txJGet(k2, pRoot), ffB(24)),
			step(1, txGet(k1)),
			view(r1, retFn), view(glob, retLast, txGet(k1)),
			ffOpView, r1, 0, 0, 15, ffOpUpdate, bg, r1, 0, 0, 15,
			update(nilc, r1, ret0, txPut(k1, v1)), update(cnl, r1, ret0), update(bg, r2, ret0), view(raw, ret0)),
		// JSON: create (again, malformed, too deep), set (append, out of range, bad path, type
		// mismatch, too deep), delete (root, a path, a bad path), patch (unknown ops, empty,
		// nil), reads, delete the document twice, write a missing one.
		ffB(begin(r1),
			ffOpJSONCreate, 0, bg, r1, k1, dNested, ffOpJSONCreate, 0, bg, r1, k1, dNested,
			ffOpJSONCreate, 0, bg, r1, k2, dBad, ffOpJSONCreate, 0, bg, r1, k2, dDeep,
			ffOpJSONCreate, 0, bg, r1, kEmpty, dObj, ffOpJSONCreate, 0, nilc, r1, k2, dObj,
			ffOpJSONSet, 1, bg, r1, k1, pAB3, dOne, ffOpJSONSet, 1, bg, r1, k1, pAB99, dObj,
			ffOpJSONSet, 1, bg, r1, k1, pBad, dOne, ffOpJSONSet, 1, bg, r1, k1, pXYZ, dNested,
			ffOpJSONSet, 1, bg, r1, k1, pIdx0, dOne, ffOpJSONSet, 1, bg, r1, k1, pDeep, dOne,
			ffOpJSONSet, 1, bg, r1, k1, pRoot, dArr, ffOpJSONSet, 1, bg, r1, k1, pIdx0, dOne,
			ffOpJSONDelete, 2, bg, r1, k1, pIdx0, ffOpJSONDelete, 2, bg, r1, k1, pMinus,
			ffOpJSONPatch, 4, bg, r1, k1, 4, pA, 0, dArr, pAB0, 3, 24, 5,
			ffOpJSONPatch, 4, bg, r1, k1, 0, ffOpJSONPatch, 4, bg, r1, k1, 1, ffOpJSONPatch, 4, bg, r1, k1, 2, pA, 6,
			ffOpJSONPatch, 4, bg, r1, k1, 3, pRoot, 0, dObj, pA, 1, dOne,
			ffOpJSONRead, r1, k1, pA, ffOpJSONRead, r1, k1, 18, ffOpJSONRead, r1, k2, pRoot, ffOpJSONRead, r2, k1, pRoot,
			ffOpJSONDelete, 2, bg, r1, k1, pRoot,
			ffOpJSONDeleteDoc, 3, bg, r1, k1, ffOpJSONDeleteDoc, 3, bg, r1, k1,
			ffOpJSONDelete, 2, bg, r1, k2, pRoot, ffOpJSONSet, 1, bg, r1, k2, pRoot, dObj),
		// Events: appends (bad types, invalid and oversized payloads, a run never begun), Get,
		// Range with huge and inverted bounds, ByType, Len, Head, VerifyChain.
		ffB(begin(r1),
			ffOpEventAppend, bg, r1, 0, dObj, ffOpEventAppend, bg, r1, 1, dNested, ffOpEventAppend, bg, r1, 3, dObj,
			ffOpEventAppend, bg, r1, 4, dObj, ffOpEventAppend, bg, r1, 6, dObj, ffOpEventAppend, bg, r1, 5, dObj,
			ffOpEventAppend, bg, r1, 0, dBad, ffOpEventAppend, bg, r1, 0, 25, ffOpEventAppend, bg, r1, 0, 24,
			ffOpEventAppend, bg, r1, 0, 23, ffOpEventAppend, bg, r1, 0, 22, ffOpEventAppend, bg, r2, 0, dObj,
			ffOpEventAppend, bg, glob, 0, dObj,
			ffOpEventRead, r1, 0, 0, ffOpEventRead, r1, 0, 3, ffOpEventRead, r1, 0, 1, ffOpEventRead, r1, 0, 2,
			ffOpEventRead, r1, 1, 0, 3, ffOpEventRead, r1, 1, 3, 0, ffOpEventRead, r1, 1, 4, 3, ffOpEventRead, r1, 1, 2, 1,
			ffOpEventRead, r1, 2, 0, ffOpEventRead, r1, 2, 3, ffOpEventRead, r1, 3, ffOpEventRead, glob, 3,
			ffOpEventRead, r2, 0, 0),
		// State cells: init (twice), CAS with the right, a wrong and the largest version, set
		// oversized, bad names, delete (twice), init again, transitions (a value, the
		// function's error, a nil function, a missing cell), reads.
		ffB(begin(r1),
			ffOpStateWrite, bg, r1, k1, 0, v1, ffOpStateWrite, bg, r1, k1, 0, v1,
			ffOpStateWrite, bg, r1, k1, 2, 0, v2, ffOpStateWrite, bg, r1, k1, 2, 3, v2,
			ffOpStateWrite, bg, r1, k1, 2, 6, v2, ffOpStateWrite, bg, r1, k1, 1, vHuge,
			ffOpStateWrite, bg, r1, kEmpty, 1, v1, ffOpStateWrite, bg, r1, kBad, 1, v1,
			ffOpStateWrite, bg, r1, k1, 3, ffOpStateWrite, bg, r1, k1, 3, ffOpStateWrite, bg, r1, k2, 3,
			ffOpStateWrite, bg, r1, k1, 0, vNil, ffOpStateWrite, nilc, r1, k1, 1, v1,
			ffOpStateTransition, bg, r1, k1, 2, v2, ffOpStateTransition, bg, r1, k1, 1, v2,
			ffOpStateTransition, bg, r1, k1, 0, v2, ffOpStateTransition, bg, r1, k2, 2, v2,
			ffOpStateTransition, cnl, r1, k1, 2, v2,
			ffOpStateRead, r1, k1, ffOpStateRead, r1, kBad, ffOpStateRead, glob, k1, ffOpStateRead, r2, k1),
		// Traces: spans with ids and parents, one that ends before it starts, an unknown kind,
		// a missing parent, a taken id, 257 tags, duplicate tags and times out of range; queries.
		ffB(begin(r1),
			ffOpTraceRecord, bg, r1, span(2, 0, 3, 1, 2, 2),
			ffOpTraceRecord, bg, r1, span(3, 2, 0, 1, 2, 3),
			ffOpTraceRecord, bg, r1, span(0, 0, 3, 2, 1, 0),
			ffOpTraceRecord, bg, r1, span(0, 0, 7, 1, 2, 0),
			ffOpTraceRecord, bg, r1, span(0, 8, 3, 1, 2, 0),
			ffOpTraceRecord, bg, r1, span(2, 0, 3, 1, 2, 0),
			ffOpTraceRecord, bg, r1, span(0, 0, 3, 1, 2, 7),
			ffOpTraceRecord, bg, r1, span(0, 2, 1, 10, 11, 4),
			ffOpTraceRecord, bg, r1, span(0, 4, 1, 0, 7, 0),
			ffOpTraceRecord, bg, r1, span(6, 3, 4, 8, 9, 1),
			ffOpTraceRead, r1, 0, 2, ffOpTraceRead, r1, 1, 2, 0, ffOpTraceRead, r1, 2, 2, 1, ffOpTraceRead, r1, 1, 3, 1,
			ffOpTraceRead, r1, 1, 8, 1, ffOpTraceRead, r1, 3, ffOpTraceRead, r1, 4, 3, ffOpTraceRead, r1, 5, 2,
			ffOpTraceRead, r1, 6, 8, 9, ffOpTraceRead, r1, 6, 11, 10, ffOpTraceRead, r1, 6, 0, 2,
			ffOpTraceRead, r1, 7, ffOpTraceRead, r1, 8, ffOpTraceRead, r2, 7, ffOpTraceRead, glob, 8),
		// Replay and diff: the whole run, until negative, zero, small and huge steps; GlobalRun,
		// a run never begun; views checked again after later writes.
		ffB(begin(r1), begin(r2),
			ffOpKVPut, bg, r1, k1, v1, ffOpKVPut, bg, r2, k1, v2, ffOpKVPut, bg, r2, k2, v2,
			ffOpStateWrite, bg, r1, k1, 1, v1, ffOpEventAppend, bg, r2, 0, dObj,
			ffOpJSONCreate, 0, bg, r1, k1, dObj, ffOpTraceRecord, bg, r2, span(2, 0, 3, 1, 2, 2),
			ffOpReplay, r1, 0, ffOpReplay, r1, 1, 0, ffOpReplay, r1, 1, 1, ffOpReplay, r1, 1, 2,
			ffOpReplay, r1, 1, 3, ffOpReplay, r1, 1, 5, ffOpReplay, glob, 0, ffOpReplay, r2, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0x80,
			ffOpReplay, r2, 0, ffOpReplay, 3, 0,
			ffOpDiff, r1, r2, ffOpDiff, r1, r1, ffOpDiff, glob, r1, ffOpDiff, r1, raw, "0123456789abcdef",
			ffOpKVPut, bg, r1, k2, v2, ffOpViewCheck, 0, ffOpViewCheck, 1),
		// Close with transactions open and views kept, then every kind of call again.
		ffB(begin(r1),
			ffOpKVPut, bg, r1, k1, v1, ffOpReplay, r1, 0, ffOpBegin, r1, 0, step(0, txPut(k1, v2)),
			ffOpBegin, r1, 1, ffOpClose, ffOpClose, ffOpMisc, 5, ffOpViewCheck, 0,
			step(0, txPut(k1, v2)), step(0, txGet(k1)), step(1, txGet(k1)), ffOpCommit, 0, bg, 0,
			ffOpCommit, 1, nilc, 0, ffOpRollback, 0,
			ffOpKVPut, bg, r1, k1, v1, ffOpKVPut, bg, r1, kEmpty, v1, ffOpKVPut, nilc, r1, k1, v1,
			ffOpKVGet, r1, k1, ffOpKVDelete, bg, r1, k1, ffOpKVGetMany, r1, 2, k1, ffOpKVList, r1, k1, 0,
			update(bg, r1, ret0), view(r1, ret0), ffOpBegin, r1, 0, begin(r2), ffOpEndRun, bg, r1,
			ffOpResumeRun, bg, r1, ffOpAbortRun, bg, r1, k1,
			ffOpJSONCreate, 0, bg, r1, k1, dObj, ffOpJSONRead, r1, k1, pRoot, ffOpEventAppend, bg, r1, 0, dObj,
			ffOpEventRead, r1, 1, 0, 3, ffOpStateWrite, bg, r1, k1, 1, v1, ffOpStateTransition, bg, r1, k1, 2, v1,
			ffOpStateRead, r1, k1, ffOpTraceRecord, bg, r1, span(2, 0, 3, 1, 2, 0), ffOpTraceRead, r1, 4, 3,
			ffOpReplay, r1, 0, ffOpReplay, r1, 1, 0, ffOpDiff, r1, r1, ffOpMisc, 0, ffOpMisc, 1, ffOpMisc, 2,
			ffOpMisc, 3, 0, ffOpMisc, 4, ffOpListRuns, 0, 1, 1, 1, ffOpRunInfo, r1, ffOpAudit,
			ffOpPure, 36, "12345678-abcd-4ef0-8123-0123456789ab", 3, ffOpPure, 3, "xyz", 200),
	}
}
