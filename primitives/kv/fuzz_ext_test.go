package kv_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/primitives/kv"
)

// FuzzApplyPayload: Apply never panics on any entry; it either rejects it with ErrMalformed or
// applies exactly what the payload encodes.
func FuzzApplyPayload(f *testing.F) {
	run := extension.RunID{0xA1, 2, 3}
	f.Add(kv.TypePut, uint8(1), kvPayload(run, 1, "k", "value"))
	f.Add(kv.TypeDelete, uint8(1), kvPayload(run, 1, "k", ""))
	f.Add(kv.TypePut, uint8(1), kvPayload(run, 0, "", "v"))
	f.Add(kv.TypePut, uint8(1), kvPayload(run, 9, "short", ""))
	f.Add(kv.TypePut, uint8(1), append(run[:16:16], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Add(kv.TypeDelete, uint8(1), kvPayload(run, 1, "k", "junk"))
	f.Add(kv.TypePut, uint8(2), kvPayload(run, 1, "k", "v"))
	f.Add(uint8(0x1F), uint8(1), kvPayload(run, 1, "k", "v"))
	f.Add(kv.TypePut, uint8(1), []byte{})
	f.Add(kv.TypePut, uint8(1), []byte("0123456789abcdef"))
	f.Fuzz(func(t *testing.T, typ, version uint8, payload []byte) {
		s := kv.New(1)
		sh := s.NewShard(0)
		orig := bytes.Clone(payload)
		err := sh.Apply([]commitlog.Entry{{Type: typ, Version: version, TxID: 7, Payload: payload}})
		if !bytes.Equal(orig, payload) {
			t.Fatalf("Apply modified the payload")
		}
		if err != nil {
			if !errors.Is(err, kv.ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		// Accepted: it must be a well-formed v1 put or delete, and be readable at 7.
		if version != 1 || (typ != kv.TypePut && typ != kv.TypeDelete) || len(payload) <= commitlog.RunIDSize {
			t.Fatalf("accepted type %#x version %d with %d bytes", typ, version, len(payload))
		}
		var id extension.RunID
		copy(id[:], payload)
		rest := payload[commitlog.RunIDSize:]
		n, w := binary.Uvarint(rest)
		if w <= 0 || n == 0 || n > kv.MaxKeySize || n > uint64(len(rest)-w) {
			t.Fatalf("accepted a bad key length %d (%d bytes)", n, w)
		}
		key, value := string(rest[w:w+int(n)]), rest[w+int(n):]
		got, ok := s.Get(id, key, 7)
		if typ == kv.TypeDelete {
			if len(value) != 0 || ok {
				t.Fatalf("delete: value %d bytes, key found %v", len(value), ok)
			}
			return
		}
		if !ok || !bytes.Equal(got, value) {
			t.Fatalf("put of %q: got %q %v, want %q", key, got, ok, value)
		}
		if _, ok := s.Get(id, key, 6); ok {
			t.Fatalf("visible below its version")
		}
	})
}
