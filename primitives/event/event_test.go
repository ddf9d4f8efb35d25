package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
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

func FuzzApply(f *testing.F) {
	f.Add(encode(run, 1, "t", []byte(`1`)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		sh := New(1).NewShard(0)
		_ = sh.Apply([]commitlog.Entry{{Type: TypeAppend, Version: 1, TxID: 1, Payload: payload}})
	})
}
