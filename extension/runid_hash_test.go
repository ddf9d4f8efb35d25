package extension

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// RunID.Hash spreads ids that differ in any one byte, and depends on the seed.
func TestRunIDHash(t *testing.T) {
	seen := map[uint64]RunID{}
	for pos := range len(RunID{}) {
		for v := range 256 {
			var id RunID
			id[pos] = byte(v)
			h := id.Hash(42)
			if prev, ok := seen[h]; ok && prev != id {
				t.Fatalf("%v and %v both hash to %#x", prev, id, h)
			}
			seen[h] = id
		}
	}
	id := NewRunID()
	assert.Equal(t, id.Hash(1), id.Hash(1))
	assert.NotEqual(t, id.Hash(1), id.Hash(2), "the seed matters")
}
