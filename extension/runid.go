package extension

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
	"github.com/inmemdb/inmem/internal/dberr"
)

// RunID names a run: 16 bytes, printed and parsed in the UUID text form.
type RunID [16]byte

// GlobalRun is the zero RunID: the built-in scope for state shared across runs.
var GlobalRun RunID

// NewRunID returns a random (version 4) RunID.
func NewRunID() RunID {
	var id RunID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (it crashes the program instead)
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// ParseRunID parses the 36-character UUID text form. Any other input is ErrInvalidArgument.
func ParseRunID(s string) (RunID, error) {
	var id RunID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, dberr.Invalid("run id %q is not in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	src := s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(id[:], []byte(src)); err != nil {
		return RunID{}, dberr.Invalid("run id %q: %v", s, err)
	}
	return id, nil
}

// String returns the UUID text form.
func (id RunID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// Format lets %v and %s print the text form.
func (id RunID) Format(f fmt.State, verb rune) { fmt.Fprint(f, id.String()) }

// Hash is a seeded hash of id for hash maps keyed by run (xsync.NewMapOfWithHasher): the
// generic hash of a [16]byte walks it a byte at a time, a tenth of a state cell's read.
func (id RunID) Hash(seed uint64) uint64 {
	lo, hi := binary.LittleEndian.Uint64(id[:8]), binary.LittleEndian.Uint64(id[8:])
	return mix(mix(lo^seed^0xa0761d6478bd642f, hi^0xe7037ed1a0b428db), 0x8ebc6af09c88c6e3^uint64(len(id)))
}

// mix is wyhash's: the two halves of the 128-bit product, folded.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Shard returns the shard that holds this run's data among n shards: xxhash(id) % n.
func (id RunID) Shard(n int) int {
	return int(xxhash.Sum64(id[:]) % uint64(n))
}
