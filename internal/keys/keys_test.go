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
