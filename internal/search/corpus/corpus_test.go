package corpus

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Documents are a function of the seed and their number: JSON of about 1 KiB.
func TestDocs(t *testing.T) {
	a, b := New(1, 1000), New(1, 1000)
	assert.Equal(t, a.Doc(7), b.Doc(7))
	assert.NotEqual(t, a.Doc(7), a.Doc(8))
	assert.NotEqual(t, a.Doc(7), New(2, 1000).Doc(7))
	for i := range 50 {
		d := a.Doc(i)
		assert.InDelta(t, 1024, len(d), 100, "doc %d", i)
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(d), &v), d)
		assert.Equal(t, "doc-"+strconv.Itoa(i), v["id"])
	}
}

func TestQueries(t *testing.T) {
	c := New(1, 1000)
	q := c.Queries(20)
	assert.Equal(t, q, New(1, 1000).Queries(20))
	for _, s := range q {
		w := strings.Fields(s)
		assert.Len(t, w, 3, s)
		assert.NotEqual(t, w[0], w[1])
	}
}
