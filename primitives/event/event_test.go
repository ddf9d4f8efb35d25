package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var run = extension.RunID{3}

func appendAll(t *testing.T, s *Store, sh extension.Shard, payloads ...string) {
	t.Helper()
	for i, p := range payloads {
		tx := s.NewTx(run, 0)
		require.NoError(t, tx.Append("t", []byte(p)))
		c := &extensiontest.Commit{RunID: run, Ver: uint64(i + 1), TS: int64(1000 + i)}
		require.NoError(t, tx.Validate(c))
		es := tx.Entries(nil, c)
		for j := range es {
			es[j].TxID = c.Ver
		}
		require.NoError(t, sh.Apply(es))
	}
}

func TestChainDerivedAtApply(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	appendAll(t, s, sh, `1`, `2`, `3`)
	es := s.Events(run, 3)
	require.Len(t, es, 3)
	for i, e := range es {
		assert.EqualValues(t, i, e.Seq)
		assert.EqualValues(t, 1000+i, e.Timestamp)
		assert.Equal(t, Hash(e), e.Hash)
	}
	assert.Equal(t, [32]byte{}, es[0].PrevHash)
	assert.Equal(t, es[0].Hash, es[1].PrevHash)
	assert.NoError(t, VerifyChain(slices.All(es)))
	assert.Len(t, s.Events(run, 2), 2, "a reader at version 2 sees a prefix")

	// The same entries applied again elsewhere give the same chain (recovery).
	s2 := New(1)
	appendAll(t, s2, s2.NewShard(0), `1`, `2`, `3`)
	assert.Equal(t, es, s2.Events(run, 3))

	tampered := append([]Event(nil), es...)
	tampered[1].Payload = []byte(`9`)
	assert.ErrorIs(t, VerifyChain(slices.All(tampered)), ErrBrokenChain)
}

// The hash encoding is frozen. The digest was computed independently from the encoding in the
// package doc (Python: hashlib.sha256(pack('<Q',1)+pack('<I',1)+b't'+pack('<q',2)+
// pack('<I',2)+b'{}'+bytes(32))).
func TestHashGolden(t *testing.T) {
	h := Hash(Event{Seq: 1, Type: "t", Timestamp: 2, Payload: []byte(`{}`)})
	assert.Equal(t, "64d51caf64a27e85668ac3462285c88611f1e9e0bda1a40b8aa5829784815634", hex.EncodeToString(h[:]))
}

// Hash takes a one-call path for events that fit its stack buffer and streams larger ones:
// both give the digest of the same encoding, on either side of the boundary.
func TestHashLargeEvents(t *testing.T) {
	for _, size := range []int{0, 400, 450, 451, 452, 453, 500, 4096, 1 << 20} {
		e := Event{Seq: 7, Type: "tool_call", Timestamp: -3, Payload: bytes.Repeat([]byte("x"), size), PrevHash: [32]byte{1, 2}}
		var enc []byte
		enc = binary.LittleEndian.AppendUint64(enc, e.Seq)
		enc = binary.LittleEndian.AppendUint32(enc, uint32(len(e.Type)))
		enc = append(enc, e.Type...)
		enc = binary.LittleEndian.AppendUint64(enc, uint64(e.Timestamp))
		enc = binary.LittleEndian.AppendUint32(enc, uint32(len(e.Payload)))
		enc = append(append(enc, e.Payload...), e.PrevHash[:]...)
		assert.Equal(t, sha256.Sum256(enc), Hash(e), "payload of %d bytes", size)
	}
}

// One batch with events of several runs, interleaved: each run's chain is its own.
func TestApplyInterleavedRuns(t *testing.T) {
	s := New(1)
	sh := s.NewShard(0)
	other := extension.RunID{4}
	var batch []commitlog.Entry
	for i := range 6 {
		r := run
		if i%2 == 1 {
			r = other
		}
		batch = append(batch, commitlog.Entry{Type: TypeAppend, Version: 1, TxID: uint64(i + 1),
			Payload: encode(r, int64(i), "t", []byte(`1`))})
	}
	require.NoError(t, sh.Apply(batch))
	for _, r := range []extension.RunID{run, other} {
		es := s.Events(r, 100)
		require.Len(t, es, 3)
		assert.EqualValues(t, 2, es[2].Seq)
		require.NoError(t, VerifyChain(slices.All(es)))
	}
}

func TestApplyRejectsMalformed(t *testing.T) {
	sh := New(1).NewShard(0)
	good := encode(run, 1, "t", []byte(`1`))
	for name, e := range map[string]commitlog.Entry{
		"short":         {Type: TypeAppend, Version: 1, Payload: good[:20]},
		"type too long": {Type: TypeAppend, Version: 1, Payload: append(append(append([]byte{}, good[:24]...), 0xff, 0x7f), 't')},
		"empty type":    {Type: TypeAppend, Version: 1, Payload: append(append([]byte{}, good[:24]...), 0)},
		"wrong type":    {Type: 0x31, Version: 1, Payload: good},
		"version 2":     {Type: TypeAppend, Version: 2, Payload: good},
	} {
		assert.ErrorIs(t, sh.Apply([]commitlog.Entry{e}), ErrMalformed, name)
	}
}

// FuzzApply checks Apply against a reference model. The script argument is a sequence of
// appends, commits and applies (see evScript) played through transactions, which encode
// well-formed entries as the engine does, and through a plain slice of events per run whose
// sequence numbers count from 0 and whose hashes the model computes itself from the encoding in
// the package doc; after every applied batch the shard must read exactly as the model, at the
// newest version and at an older one, and at the end at every version. Then payload is applied
// as one more entry, whatever it holds, because Apply reads data from disk: it must not panic,
// must reject with ErrMalformed what the documented layout does not allow (leaving the logs
// unchanged), and must append exactly what the layout encodes otherwise.
func FuzzApply(f *testing.F) {
	f.Add([]byte{}, encode(run, 1, "t", []byte(`1`)))
	f.Add([]byte{}, []byte{})
	// Appends to one run, one commit at a time and several to a commit, then to both runs in
	// one batch (each run's chain is its own), with a payload long enough that Hash streams it.
	f.Add(evOps(
		evAppend(0, 0, 0), evCommit(1), evApply(0),
		evAppend(0, 1, 1), evAppend(0, 2, 2), evCommit(0x80), evApply(1),
		evAppend(1, 0, 3), evAppend(0, 3, 0xfe), evAppend(1, 1, 5), evCommit(7),
		evAppend(0, 0, 9), evCommit(2), evApply(2),
	), encode(extension.RunID{4}, -1, "raw", []byte(`{"x":1}`)))
	f.Fuzz(func(t *testing.T, script []byte, payload []byte) {
		m := newEvScript(t)
		m.play(script)
		m.applyRaw(payload)
		for v := range m.published + 1 {
			m.check(v)
		}
	})
}

// The runs a FuzzApply script appends to (two, so that an event landing in the wrong run's log
// or chain shows), and its event types: one short, one not ASCII, one of the largest size.
var (
	fuzzRuns  = []extension.RunID{run, {4}}
	fuzzTypes = []string{"t", "tool_call", "é", strings.Repeat("y", MaxTypeSize)}
)

// Script op kinds (the op byte's low 2 bits); see evScript.
const (
	evOpAppend = 0 // 1 appends as well
	evOpCommit = 2
	evOpApply  = 3
)

// Seed script builders: run and typ index fuzzRuns and fuzzTypes.
func evAppend(run, typ int, arg byte) []byte { return []byte{byte(evOpAppend | run<<2 | typ<<3), arg} }
func evCommit(arg byte) []byte               { return []byte{evOpCommit, arg} }
func evApply(arg byte) []byte                { return []byte{evOpApply, arg} }
func evOps(ops ...[]byte) []byte             { return bytes.Join(ops, nil) }

// evPayload is the JSON payload an append's argument picks: an empty object, a number, a
// string of up to 765 bytes (past the stack buffer of Hash), or an array.
func evPayload(arg byte) []byte {
	switch arg & 3 {
	case 0:
		return []byte(`{}`)
	case 1:
		return []byte(strconv.Itoa(int(arg)))
	case 2:
		return []byte(`"` + strings.Repeat("z", 3*int(arg)) + `"`)
	}
	return []byte(`[true,null,` + strconv.Itoa(int(arg)) + `]`)
}

// evScript plays a FuzzApply script on a shard and on the model side by side. A script is a
// sequence of two-byte ops, an op byte and an argument:
//
//	op&3 0-1  append to fuzzRuns[op>>2&1] an event of type fuzzTypes[op>>3&3] with the payload
//	          evPayload(arg) picks (a transaction is of one run: an append to the other run
//	          commits it first)
//	op&3 2    commit the open transaction, its timestamp made of the argument and the version
//	          (negative for arguments of 0x80 and up)
//	op&3 3    apply the batch of committed transactions, then compare the newest version and
//	          an older one the argument picks
//
// The script's end commits and applies what is pending.
type evScript struct {
	t         *testing.T
	s         *Store
	sh        extension.Shard
	ver       uint64 // the newest commit version
	published uint64 // versions up to here are applied
	logs      map[extension.RunID][]Event
	runs      []extension.RunID // every run appended to, for the comparisons
	tx        *Tx
	txRun     extension.RunID
	pending   []Event // the open transaction's appends: type and payload
	batch     []commitlog.Entry
}

// evMaxOps bounds a script so that one input runs fast.
const evMaxOps = 256

func newEvScript(t *testing.T) *evScript {
	s := New(1)
	return &evScript{t: t, s: s, sh: s.NewShard(0), logs: map[extension.RunID][]Event{},
		runs: slices.Clone(fuzzRuns)}
}

func (m *evScript) play(script []byte) {
	for i := 0; i+1 < len(script) && i < 2*evMaxOps; i += 2 {
		op, arg := script[i], script[i+1]
		switch op & 3 {
		case evOpCommit:
			m.commit(arg)
		case evOpApply:
			m.apply()
			m.check(m.published)
			m.check(uint64(arg) % (m.published + 1))
		default:
			r := fuzzRuns[op>>2&1]
			if m.tx != nil && m.txRun != r {
				m.commit(0)
			}
			if m.tx == nil {
				m.tx, m.txRun = m.s.NewTx(r, m.published), r
			}
			e := Event{Type: fuzzTypes[op>>3&3], Payload: evPayload(arg)}
			require.NoError(m.t, m.tx.Append(e.Type, e.Payload))
			m.pending = append(m.pending, e)
		}
	}
	m.commit(0)
	m.apply()
	m.check(m.published)
}

// commit turns the open transaction into entries at the next version, and appends its events
// to the model's log of the run, numbered and chained.
func (m *evScript) commit(arg byte) {
	if m.tx == nil {
		return
	}
	m.ver++
	c := &extensiontest.Commit{RunID: m.txRun, Snap: m.published, Ver: m.ver,
		TS: int64(int8(arg))<<32 | int64(m.ver)}
	require.NoError(m.t, m.tx.Validate(c))
	for _, e := range m.tx.Entries(nil, c) {
		e.TxID = c.Ver
		m.batch = append(m.batch, e)
	}
	for _, e := range m.pending {
		e.Timestamp, e.Commit = c.TS, c.Ver
		m.model(m.txRun, e)
	}
	m.tx, m.pending = nil, nil
}

// model appends e to the model's log of r: its sequence number is the log's length, its
// PrevHash the previous event's Hash (zero for the first), its Hash refHash's.
func (m *evScript) model(r extension.RunID, e Event) {
	l := m.logs[r]
	e.Seq = uint64(len(l))
	if len(l) > 0 {
		e.PrevHash = l[len(l)-1].Hash
	}
	e.Hash = refHash(e)
	m.logs[r] = append(l, e)
}

// refHash is the chain hash by the encoding in the package doc, written out here so that a
// change to Hash or to what Apply feeds it shows:
// SHA-256(u64 seq LE | u32 len(type) LE | type | i64 timestamp LE | u32 len(payload) LE |
// payload | PrevHash).
func refHash(e Event) [32]byte {
	h := sha256.New()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], e.Seq)
	h.Write(n[:])
	binary.LittleEndian.PutUint32(n[:4], uint32(len(e.Type)))
	h.Write(n[:4])
	h.Write([]byte(e.Type))
	binary.LittleEndian.PutUint64(n[:], uint64(e.Timestamp))
	h.Write(n[:])
	binary.LittleEndian.PutUint32(n[:4], uint32(len(e.Payload)))
	h.Write(n[:4])
	h.Write(e.Payload)
	h.Write(e.PrevHash[:])
	return [32]byte(h.Sum(nil))
}

// apply applies the batch as the engine does, then reuses the batch slice as the engine may.
func (m *evScript) apply() {
	require.NoError(m.t, m.sh.Apply(m.batch))
	clear(m.batch)
	m.batch = m.batch[:0]
	m.published = m.ver
}

// applyRaw applies an arbitrary entry at the next version: the shard must agree with the
// model's own reading of the documented payload layout, rejecting exactly what it rejects.
func (m *evScript) applyRaw(payload []byte) {
	orig := bytes.Clone(payload)
	m.ver++
	err := m.sh.Apply([]commitlog.Entry{{Type: TypeAppend, Version: 1, TxID: m.ver, Payload: payload}})
	require.Equal(m.t, orig, payload, "Apply must not modify the payload")
	m.published = m.ver
	r, e, ok := refDecodeEvent(payload)
	if !ok {
		require.ErrorIs(m.t, err, ErrMalformed, "payload %x", payload)
	} else {
		require.NoError(m.t, err, "payload %x", payload)
		e.Commit = m.ver
		m.model(r, e)
		if !slices.Contains(m.runs, r) {
			m.runs = append(m.runs, r)
		}
	}
	m.check(m.published)
}

// refDecodeEvent reads an append payload by the layout in the package doc: the 16-byte run
// id, the i64 timestamp LE, the uvarint type length (1 to MaxTypeSize), the type, and the
// event's payload. ok is false for anything else.
func refDecodeEvent(p []byte) (r extension.RunID, e Event, ok bool) {
	if len(p) < commitlog.RunIDSize+8 {
		return r, e, false
	}
	copy(r[:], p)
	e.Timestamp = int64(binary.LittleEndian.Uint64(p[commitlog.RunIDSize:]))
	p = p[commitlog.RunIDSize+8:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n < 1 || n > MaxTypeSize || n > uint64(len(p)-w) {
		return r, e, false
	}
	e.Type, e.Payload = string(p[w:w+int(n)]), bytes.Clone(p[w+int(n):])
	return r, e, true
}

// check compares each run's log read at version v with the model's events committed by then,
// field by field, through Events and Log.
func (m *evScript) check(v uint64) {
	m.t.Helper()
	for _, r := range m.runs {
		var want []Event
		for _, e := range m.logs[r] {
			if e.Commit <= v {
				want = append(want, e)
			}
		}
		got := m.s.Events(r, v)
		if len(got) != len(want) || m.s.Log(r, v).Len() != len(want) {
			m.t.Fatalf("at %d run %v: %d events (log %d), model %d", v, r[0], len(got), m.s.Log(r, v).Len(), len(want))
		}
		for i, g := range got {
			w := want[i]
			if g.Seq != w.Seq || g.Type != w.Type || !bytes.Equal(g.Payload, w.Payload) || g.Timestamp != w.Timestamp ||
				g.Commit != w.Commit || g.PrevHash != w.PrevHash || g.Hash != w.Hash {
				m.t.Fatalf("at %d run %v event %d:\n got   %+v\n model %+v", v, r[0], i, g, w)
			}
		}
	}
}
