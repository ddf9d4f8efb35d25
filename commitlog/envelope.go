package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Envelope layout (see the package doc for the table).
const (
	lengthSize   = 4                             // u32 length field
	txIDSize     = 16                            // tx_id field
	entryHeader  = lengthSize + 1 + 1 + txIDSize // bytes before the payload: 22
	crcSize      = 4                             // trailing CRC-32C
	minLength    = entryHeader - lengthSize + crcSize
	offType      = 4
	offVersion   = 5
	offTxID      = 6
	offPayload   = entryHeader
	maxLengthFld = MaxEntrySize - lengthSize // largest acceptable length field
)

// EntryOverhead is the number of envelope bytes around a payload: EncodedSize(0).
const EntryOverhead = entryHeader + crcSize

// MarkerSize is the encoded size of a commit marker, which ends every transaction in the log.
const MarkerSize = EntryOverhead + txIDSize

// MaxEntrySize is the largest encoded entry, envelope included (64 MiB).
const MaxEntrySize = 64 << 20

// castagnoli is the CRC-32C table used for entries and segment headers (hardware-accelerated on
// amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write-side errors of AppendEntry (not damage: nothing was written).
var (
	// ErrEntryTooLarge: the entry would encode to more than MaxEntrySize bytes.
	ErrEntryTooLarge = errors.New("commitlog: entry too large")
	// ErrInvalidMarker: a commit marker whose tx_id is zero or whose payload is not its 16 tx_id
	// bytes. The reader would report it as corruption, so the writer refuses it.
	ErrInvalidMarker = errors.New("commitlog: invalid commit marker")
)

// ErrDamaged is the sentinel every decode failure wraps: the bytes are not a valid entry (or
// segment header). Whether damage is a torn tail or corruption is the Reader's decision.
var ErrDamaged = errors.New("commitlog: damaged")

// Decode failures. Each wraps ErrDamaged. DecodeEntry returns them unwrapped (no allocation on
// the error path, which the reader's scan for the next valid entry relies on).
var (
	// ErrShortEntry: the bytes end before the entry does (fewer than 4 bytes, or fewer than the
	// length field announces). In the last segment this may be a torn write.
	ErrShortEntry = fmt.Errorf("%w: short entry", ErrDamaged)
	// ErrBadLength: the length field is below the minimum (22) or above the 64 MiB limit.
	ErrBadLength = fmt.Errorf("%w: bad length field", ErrDamaged)
	// ErrBadChecksum: the CRC-32C does not match the bytes it covers.
	ErrBadChecksum = fmt.Errorf("%w: checksum mismatch", ErrDamaged)
	// ErrBadTxID: the checksum is good but bytes 8–15 of tx_id are not zero.
	ErrBadTxID = fmt.Errorf("%w: tx_id high bytes not zero", ErrDamaged)
	// ErrBadMarker: the checksum is good but a commit marker's tx_id is zero or its payload is not
	// exactly its 16 tx_id bytes.
	ErrBadMarker = fmt.Errorf("%w: malformed commit marker", ErrDamaged)
)

// EncodedSize returns the encoded size of an entry with a payload of payloadLen bytes.
func EncodedSize(payloadLen int) int { return EntryOverhead + payloadLen }

// AppendEntry appends the encoding of e to dst and returns the extended slice. On error dst is
// returned unchanged. It refuses exactly what the decoder would reject: an entry over
// MaxEntrySize (ErrEntryTooLarge) and a malformed commit marker (ErrInvalidMarker). Other
// payloads are not interpreted.
func AppendEntry(dst []byte, e Entry) ([]byte, error) {
	// Compare before adding so that a huge payload length cannot overflow.
	if len(e.Payload) > MaxEntrySize-EntryOverhead {
		return dst, fmt.Errorf("%w: %d-byte payload encodes to %d bytes, limit %d",
			ErrEntryTooLarge, len(e.Payload), EncodedSize(len(e.Payload)), MaxEntrySize)
	}
	if e.Type == TypeTransactionCommit && !validMarker(e.TxID, e.Payload) {
		return dst, fmt.Errorf("%w: tx %d, %d-byte payload", ErrInvalidMarker, e.TxID, len(e.Payload))
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(minLength+len(e.Payload)))
	dst = append(dst, e.Type, e.Version)
	dst = binary.LittleEndian.AppendUint64(dst, e.TxID)
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	dst = append(dst, e.Payload...)
	crc := crc32.Checksum(dst[start+lengthSize:], castagnoli)
	return binary.LittleEndian.AppendUint32(dst, crc), nil
}

// DecodeEntry decodes the entry at the start of b and returns it with its encoded size n. The
// returned Payload is a copy (nil when empty): b may be reused afterwards. On failure err is one
// of ErrShortEntry, ErrBadLength, ErrBadChecksum, ErrBadTxID or ErrBadMarker (all wrap
// ErrDamaged), returned without wrapping; nothing is allocated from an unchecked length.
func DecodeEntry(b []byte) (e Entry, n int, err error) {
	n, err = checkEntry(b)
	if err != nil {
		return Entry{}, 0, err
	}
	return entryAt(b, n, bytes.Clone), n, nil
}

// entryAt builds the entry of the n checked bytes at the start of b, its payload copied by
// clone.
func entryAt(b []byte, n int, clone func([]byte) []byte) Entry {
	e := Entry{
		Type:    b[offType],
		Version: b[offVersion],
		TxID:    binary.LittleEndian.Uint64(b[offTxID:]),
	}
	if p := b[offPayload : n-crcSize]; len(p) > 0 {
		e.Payload = clone(p)
	}
	return e
}

// slab copies small payloads into shared blocks: one allocation for many entries instead of
// one each. A block stays allocated while any payload in it is referenced; payloads are mostly
// kept for good (state, run journals), and blocks are small, so little is held for nothing.
type slab struct{ block []byte }

const (
	slabBlock = 4 << 10       // bytes of a block
	slabLimit = slabBlock / 8 // larger payloads get their own allocation
)

func (s *slab) clone(p []byte) []byte {
	if len(p) > slabLimit {
		return bytes.Clone(p)
	}
	if cap(s.block)-len(s.block) < len(p) {
		s.block = make([]byte, 0, slabBlock)
	}
	start := len(s.block)
	s.block = append(s.block, p...)
	return s.block[start:len(s.block):len(s.block)] // capped: an append cannot reach the next
}

// checkEntry validates the entry at the start of b without allocating and returns its encoded
// size. The checks run in the order that keeps them safe: the length field is validated before
// it is used, the checksum before the content is trusted.
func checkEntry(b []byte) (int, error) {
	if len(b) < lengthSize {
		return 0, ErrShortEntry
	}
	length := binary.LittleEndian.Uint32(b)
	if length < minLength || length > maxLengthFld {
		return 0, ErrBadLength
	}
	n := lengthSize + int(length)
	if len(b) < n {
		return 0, ErrShortEntry
	}
	body := b[lengthSize : n-crcSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[n-crcSize:]) {
		return 0, ErrBadChecksum
	}
	if binary.LittleEndian.Uint64(b[offTxID+8:]) != 0 {
		return 0, ErrBadTxID
	}
	if b[offType] == TypeTransactionCommit &&
		!validMarker(binary.LittleEndian.Uint64(b[offTxID:]), b[offPayload:n-crcSize]) {
		return 0, ErrBadMarker
	}
	return n, nil
}

// mayStartEntry reports whether an entry could start at b: its length field is in range, the
// whole entry lies inside b, and the high bytes of its tx_id are zero. Every valid entry passes
// (checkEntry checks the same, the zero bytes after the checksum); random bytes pass with odds
// of 2^-64. The reader's scan for the next valid entry asks it first, so that it computes a
// checksum almost only where one can match: the length check alone lets random bytes through
// with odds that grow with the bytes left (a length field below them), each costing a checksum
// of up to that many bytes, which made a scan over n bytes of garbage cost O(n²) or worse
// (BenchmarkScanGarbage: 16 MiB took 15 s).
func mayStartEntry(b []byte) bool {
	if len(b) < lengthSize {
		return false
	}
	length := binary.LittleEndian.Uint32(b)
	return length >= minLength && length <= maxLengthFld && lengthSize+int(length) <= len(b) &&
		binary.LittleEndian.Uint64(b[offTxID+8:]) == 0
}

// validMarker reports whether payload is the commit-marker payload of a non-zero txID: exactly
// the 16 tx_id bytes (txID little-endian, then 8 zero bytes).
func validMarker(txID uint64, payload []byte) bool {
	return txID != 0 && len(payload) == txIDSize &&
		binary.LittleEndian.Uint64(payload) == txID && binary.LittleEndian.Uint64(payload[8:]) == 0
}

// contentDamage reports whether err is damage found after the checksum matched: the entry was
// written that way, so no crash can explain it and it is corruption wherever it is.
func contentDamage(err error) bool {
	return err == ErrBadTxID || err == ErrBadMarker
}

// CommitMarker returns the commit marker of transaction txID: type TransactionCommit, version 1,
// payload the 16 tx_id bytes. txID must not be 0 (AppendEntry refuses such a marker).
func CommitMarker(txID uint64) Entry {
	p := make([]byte, txIDSize)
	binary.LittleEndian.PutUint64(p, txID)
	return Entry{Type: TypeTransactionCommit, Version: 1, TxID: txID, Payload: p}
}
