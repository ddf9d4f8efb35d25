package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEntryGolden checks the exact byte layout of one entry against bytes worked out by hand
// (the CRC with an independent bit-by-bit CRC-32C, polynomial 0x82F63B78).
func TestEntryGolden(t *testing.T) {
	e := Entry{Type: 0x10, Version: 1, TxID: 0x0102030405060708, Payload: []byte("abc")}
	want := []byte{
		0x19, 0x00, 0x00, 0x00, // length = 22 + 3 = 25
		0x10,                                           // type
		0x01,                                           // version
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // tx_id bytes 0–7: TxID LE
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tx_id bytes 8–15: zero
		'a', 'b', 'c', // payload at offset 22
		0x0e, 0xd6, 0xbc, 0x4e, // CRC-32C of bytes [4, 25) = 0x4ebcd60e
	}
	got, err := AppendEntry([]byte("prefix"), e)
	noErr(t, err)
	eq(t, "prefix", string(got[:6]), "AppendEntry must append")
	eq(t, want, got[6:])
	eq(t, len(want), EncodedSize(3))

	d, n, err := DecodeEntry(want)
	noErr(t, err)
	eq(t, len(want), n)
	eq(t, e, d)
}

func TestEntryRoundTripSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 3, 15, 16, 17, 21, 22, 23, 63, 64, 255, 256, 1000, 4095, 4096, 4097, 65535, 65536, 1 << 20}
	var buf []byte
	var entries []Entry
	for i, size := range sizes {
		e := Entry{Type: uint8(0x10 + i), Version: uint8(i), TxID: rng.Uint64()}
		if size > 0 {
			e.Payload = make([]byte, size)
			for j := range e.Payload {
				e.Payload[j] = byte(rng.Uint32())
			}
		}
		var err error
		before := len(buf)
		buf, err = AppendEntry(buf, e)
		noErr(t, err)
		eq(t, EncodedSize(size), len(buf)-before)
		entries = append(entries, e)
	}
	for i, want := range entries {
		got, n, err := DecodeEntry(buf)
		noErr(t, err, "entry %d", i)
		eq(t, want, got, "entry %d", i)
		eq(t, EncodedSize(len(want.Payload)), n)
		buf = buf[n:]
	}
	eq(t, len(buf), 0)
}

func TestDecodePayloadIsACopy(t *testing.T) {
	b, err := AppendEntry(nil, Entry{Type: 0x30, Version: 1, TxID: 7, Payload: []byte("hello")})
	noErr(t, err)
	e, _, err := DecodeEntry(b)
	noErr(t, err)
	clear(b)
	eq(t, "hello", string(e.Payload))
}

func TestCommitMarker(t *testing.T) {
	m := CommitMarker(0xAABBCCDD)
	eq(t, TypeTransactionCommit, m.Type)
	eq(t, uint8(1), m.Version)
	eq(t, uint64(0xAABBCCDD), m.TxID)
	b, err := AppendEntry(nil, m)
	noErr(t, err)
	// The payload is exactly the 16 tx_id bytes of the envelope.
	eq(t, b[offTxID:offTxID+16], b[offPayload:offPayload+16])
	got, _, err := DecodeEntry(b)
	noErr(t, err)
	eq(t, m, got)

	// The writer refuses markers the reader would call corruption.
	for _, bad := range []Entry{
		CommitMarker(0),
		{Type: TypeTransactionCommit, Version: 1, TxID: 5, Payload: CommitMarker(6).Payload},
		{Type: TypeTransactionCommit, Version: 1, TxID: 5},
		{Type: TypeTransactionCommit, Version: 1, TxID: 5, Payload: append(CommitMarker(5).Payload, 0)},
	} {
		_, err := AppendEntry(nil, bad)
		isErr(t, err, ErrInvalidMarker)
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// reseal recomputes the CRC of the encoded entry b after a test edited its body.
func reseal(b []byte) []byte {
	n := len(b)
	binary.LittleEndian.PutUint32(b[n-crcSize:], crcOf(b[lengthSize:n-crcSize]))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good, err := AppendEntry(nil, Entry{Type: 0x10, Version: 1, TxID: 9, Payload: []byte("payload")})
	noErr(t, err)
	clone := func() []byte { return append([]byte(nil), good...) }

	// Every strict prefix is short (a torn write), never anything else.
	for i := 0; i < len(good); i++ {
		_, _, err := DecodeEntry(good[:i])
		isErr(t, err, ErrShortEntry, "prefix %d", i)
		isErr(t, err, ErrDamaged)
	}

	for _, l := range []uint32{0, 1, 21, maxLengthFld + 1, 0xFFFFFFFF} {
		b := clone()
		binary.LittleEndian.PutUint32(b, l)
		_, _, err := DecodeEntry(b)
		isErr(t, err, ErrBadLength, "length %d", l)
	}
	// The largest legal length on a short buffer is short, not bad.
	b := clone()
	binary.LittleEndian.PutUint32(b, maxLengthFld)
	_, _, err = DecodeEntry(b)
	isErr(t, err, ErrShortEntry)

	for i := lengthSize; i < len(good); i++ {
		b := clone()
		b[i] ^= 0x20
		_, _, err := DecodeEntry(b)
		isErr(t, err, ErrBadChecksum, "flip at %d", i)
	}

	b = clone()
	b[offTxID+12] = 1
	_, _, err = DecodeEntry(reseal(b))
	isErr(t, err, ErrBadTxID)

	marker, err := AppendEntry(nil, CommitMarker(3))
	noErr(t, err)
	marker[offPayload] = 4 // payload no longer equals tx_id
	_, _, err = DecodeEntry(reseal(marker))
	isErr(t, err, ErrBadMarker)
	truth(t, errors.Is(err, ErrDamaged))
}

// TestAbsurdLengthDoesNotAllocate: a length field of 0xFFFFFFFF is rejected before anything is
// allocated from it.
func TestAbsurdLengthDoesNotAllocate(t *testing.T) {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b, 0xFFFFFFFF)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := DecodeEntry(b); !errors.Is(err, ErrBadLength) {
			t.Fatal(err)
		}
	})
	eq(t, allocs, 0.0)
}

func TestEntryTooLarge(t *testing.T) {
	eq(t, MaxEntrySize, EncodedSize(MaxEntrySize-EntryOverhead))
	// The one-byte-too-large payload is rejected before anything is copied.
	p := make([]byte, MaxEntrySize-EntryOverhead+1)
	dst := []byte("x")
	out, err := AppendEntry(dst, Entry{Type: 0x10, Version: 1, Payload: p})
	isErr(t, err, ErrEntryTooLarge)
	eq(t, dst, out)
}

// The reader's slab hands out copies that are independent of the input and of each other:
// appending to one payload never reaches the next, and large payloads get their own memory.
func TestSlabClone(t *testing.T) {
	var s slab
	src := []byte("abc")
	a := s.clone(src)
	b := s.clone([]byte("def"))
	src[0] = 'X'
	assert.Equal(t, "abc", string(a), "a copy, not the input")
	_ = append(a, 'Z')
	assert.Equal(t, "def", string(b), "an append to one payload does not reach the next")
	big := bytes.Repeat([]byte("x"), slabLimit+1)
	used := len(s.block)
	c := s.clone(big)
	assert.Equal(t, big, c)
	assert.Equal(t, used, len(s.block), "a large payload has its own allocation")
	var many [][]byte
	for i := range 3 * slabBlock / 10 {
		many = append(many, s.clone(bytes.Repeat([]byte{byte(i)}, 10)))
	}
	for i, p := range many {
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, 10), p, "payload %d across blocks", i)
	}
}
