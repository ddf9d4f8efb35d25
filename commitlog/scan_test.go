package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// Every valid entry may start where it starts, whatever its payload.
func TestValidEntriesMayStart(t *testing.T) {
	for _, s := range entrySeeds(t) {
		if _, err := checkEntry(s); err != nil {
			continue // a seed of damage
		}
		truth(t, mayStartEntry(s), "valid entry %x rejected", s)
	}
	for _, size := range []int{0, 1, 100, 4096} {
		b, err := AppendEntry(nil, Entry{Type: 200, Version: 3, TxID: 1<<64 - 1, Payload: randBytes(rand.New(rand.NewPCG(7, 8)), size)})
		noErr(t, err)
		truth(t, mayStartEntry(b), "valid entry of %d payload bytes rejected", size)
		truth(t, !mayStartEntry(b[:len(b)-1]), "an entry cut short may not start")
	}
}

// In random bytes, no offset may start an entry: the scan for the next valid entry then
// checksums nothing. A length check alone would let through one offset in a few thousand of a
// megabyte (its length field below the bytes left), each costing a checksum of up to that many
// bytes.
func TestGarbageMayStartNoEntry(t *testing.T) {
	data := randBytes(rand.New(rand.NewPCG(1, 2)), 1<<20)
	lengthOnly := 0
	for o := range data {
		truth(t, !mayStartEntry(data[o:]), "random bytes at offset %d may start an entry", o)
		if o+lengthSize <= len(data) {
			if l := int(binary.LittleEndian.Uint32(data[o:])); l >= minLength && l <= maxLengthFld && o+lengthSize+l <= len(data) {
				lengthOnly++
			}
		}
	}
	truth(t, lengthOnly > 0, "the data does not exercise the filter: no length field fits")
}

// BenchmarkScanGarbage reads a last segment holding nothing but random bytes: the first Next
// scans all of it for a valid entry before it can call the damage a torn tail.
func BenchmarkScanGarbage(b *testing.B) {
	for _, size := range []int{1 << 20, 4 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("MiB=%d", size>>20), func(b *testing.B) {
			fs := newMemFS()
			fs.set(segPath(0), append(AppendSegmentHeader(nil, 0), randBytes(rand.New(rand.NewPCG(2, 3)), size)...))
			b.SetBytes(int64(size))
			for b.Loop() {
				r, err := NewReader(fs, walDir, 0)
				noErr(b, err)
				if _, _, err := r.Next(); err == nil || err == io.EOF {
					b.Fatalf("garbage read as %v", err)
				}
				r.Close()
			}
		})
	}
}

// crafted returns n bytes that offer a plausible entry start every 32 bytes, each announcing
// an entry of length bytes whose checksum fails: what a user's payload could hold on purpose.
func crafted(n int, length uint32) []byte {
	b := make([]byte, n)
	for o := 0; o+32 <= n; o += 32 {
		binary.LittleEndian.PutUint32(b[o:], length)
		b[o+offType], b[o+offVersion], b[o+offTxID] = 0x10, 1, byte(o) // tx_id high bytes stay zero
	}
	return b
}

// Damage followed by bytes crafted to offer many plausible entry starts: the scan gives up
// after checksumming a few times the segment's size and reports corruption, the safe side
// (kept, never truncated away), instead of checksumming each candidate's length — 2 KiB
// candidates of 32 KiB each here, ~64 MiB, far past the budget.
func TestCraftedBytesBoundTheScan(t *testing.T) {
	fs := newMemFS()
	seg := AppendSegmentHeader(nil, 0)
	seg = append(seg, crafted(64<<10, 32<<10)...)
	fs.set(segPath(0), seg)
	truth(t, mayStartEntry(seg[HeaderSize:]), "the crafted bytes must offer candidates")

	r, err := NewReader(fs, walDir, 0)
	noErr(t, err)
	_, _, err = r.Next()
	var ce *CorruptionError
	truth(t, errors.As(err, &ce), "got %v, want corruption (the scan gave up)", err)
	eq(t, ce.Offset, int64(HeaderSize))
	skipped, err := r.Resync()
	noErr(t, err)
	eq(t, skipped, int64(len(seg)-HeaderSize), "resync after giving up skips the rest of the segment")
	_, _, err = r.Next()
	eq(t, err, io.EOF)
}
