package snapshotter

import "hash/crc32"

// castagnoli is the CRC-32C table: hardware-accelerated, the WAL's checksum too.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcCombine returns the CRC-32C of A‖B from crcA, crcB and len(B), without B's bytes.
//
// The writer needs it because a section's length precedes its data in the file but is known
// only after the data is written: the data's CRC is computed as it streams, the length is
// patched in place, and the file's CRC is combined from the pieces. Appending n zero bits to a
// CRC's input is a linear map on its 32-bit state; the map for len(B) bytes is built from
// repeated squaring of the one-bit map (zlib's crc32_combine).
func crcCombine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd gf2Matrix
	odd[0] = 0x82F63B78 // the Castagnoli polynomial, reflected: the one-zero-bit map
	for n, row := 1, uint32(1); n < 32; n, row = n+1, row<<1 {
		odd[n] = row
	}
	even.square(&odd) // two zero bits
	odd.square(&even) // four zero bits
	for {
		even.square(&odd) // the first pass makes one zero byte
		if lenB&1 != 0 {
			crcA = even.times(crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		odd.square(&even)
		if lenB&1 != 0 {
			crcA = odd.times(crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

type gf2Matrix [32]uint32

func (m *gf2Matrix) times(vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// square sets m to mat×mat.
func (m *gf2Matrix) square(mat *gf2Matrix) {
	for n := range m {
		m[n] = mat.times(mat[n])
	}
}
