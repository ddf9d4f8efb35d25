package keys

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheck(t *testing.T) {
	assert.NoError(t, Check("key", "k"))
	assert.NoError(t, Check("key", strings.Repeat("k", MaxSize)))
	assert.ErrorIs(t, Check("key", ""), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, Check("key", strings.Repeat("k", MaxSize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, Check("cell name", "\xff"), dberr.ErrInvalidArgument)
	assert.Contains(t, Check("cell name", "").Error(), "cell name")
}

type entry string

func (e entry) Key() string { return string(e) }

func TestIndexScanThenMap(t *testing.T) {
	var x Index[entry]
	var items []entry
	for i := range 20 {
		name := entry(string(rune('a' + i)))
		assert.Equal(t, -1, x.Find(items, string(name)), "absent before it is added")
		items = append(items, name)
		x.Added(items)
		for j, e := range items {
			assert.Equal(t, j, x.Find(items, string(e)), "with %d entries", len(items))
		}
	}
	assert.NotNil(t, x.pos, "past the threshold the map is used")
}
