package dberr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDetailErrorsUnwrapToSentinels(t *testing.T) {
	var err error = fmt.Errorf("commit: %w", &ConflictError{Primitive: "kv", Run: "r", Key: "k"})
	assert.ErrorIs(t, err, ErrConflict)
	var ce *ConflictError
	assert.True(t, errors.As(err, &ce))
	assert.Equal(t, "k", ce.Key)

	err = &VersionMismatchError{Key: "cell", Expected: 3, Actual: 4}
	assert.ErrorIs(t, err, ErrVersionMismatch)
	assert.Contains(t, err.Error(), "expected 3, actual 4")

	assert.ErrorIs(t, ErrTxDone, ErrClosed)
	assert.ErrorIs(t, ErrTxReadOnly, ErrInvalidArgument)
	assert.ErrorIs(t, Invalid("bad %d", 1), ErrInvalidArgument)
	assert.ErrorIs(t, TooLarge("key", 5, 4), ErrTooLarge)
	assert.NotErrorIs(t, ErrTxDone, ErrInvalidArgument)
}
