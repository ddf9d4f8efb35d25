package dberr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allSentinels = []error{
	dberr.ErrConflict, dberr.ErrVersionMismatch, dberr.ErrNotFound, dberr.ErrAlreadyExists,
	dberr.ErrRunNotFound, dberr.ErrRunExists, dberr.ErrRunNotActive, dberr.ErrNotReplayable,
	dberr.ErrClosed, dberr.ErrLocked, dberr.ErrPoisoned, dberr.ErrInMemory, dberr.ErrCorruption,
	dberr.ErrTooManyCorruptEntries, dberr.ErrInvalidPath, dberr.ErrTypeMismatch,
	dberr.ErrIndexOutOfRange, dberr.ErrTooLarge, dberr.ErrInvalidArgument, dberr.ErrNotImplemented,
}

func TestDberrExtSentinelsAreDistinct(t *testing.T) {
	for i, a := range allSentinels {
		require.NotNil(t, a)
		for j, b := range allSentinels {
			if i != j {
				assert.False(t, errors.Is(a, b), "%v is %v", a, b)
				assert.NotEqual(t, a.Error(), b.Error())
			}
		}
	}
}

func TestDberrExtConflictError(t *testing.T) {
	ce := &dberr.ConflictError{Primitive: "kv", Run: "6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6f", Key: "a b"}
	err := fmt.Errorf("commit: %w", fmt.Errorf("validate: %w", ce))
	assert.ErrorIs(t, err, dberr.ErrConflict)
	assert.NotErrorIs(t, err, dberr.ErrVersionMismatch)
	assert.NotErrorIs(t, err, dberr.ErrNotFound)
	var got *dberr.ConflictError
	require.True(t, errors.As(err, &got))
	assert.Same(t, ce, got)
	assert.Equal(t, "a b", got.Key)
	assert.Equal(t, "kv", got.Primitive)
	msg := err.Error()
	assert.Contains(t, msg, `"a b"`, "the key is quoted")
	assert.Contains(t, msg, "kv")
	assert.Contains(t, msg, ce.Run)
	var vm *dberr.VersionMismatchError
	assert.False(t, errors.As(err, &vm))
}

func TestDberrExtVersionMismatchError(t *testing.T) {
	err := fmt.Errorf("cas: %w", &dberr.VersionMismatchError{Key: "cell", Expected: 3, Actual: 5})
	assert.ErrorIs(t, err, dberr.ErrVersionMismatch)
	assert.NotErrorIs(t, err, dberr.ErrConflict)
	var vm *dberr.VersionMismatchError
	require.True(t, errors.As(err, &vm))
	assert.Equal(t, "cell", vm.Key)
	assert.EqualValues(t, 3, vm.Expected)
	assert.EqualValues(t, 5, vm.Actual)
	var ce *dberr.ConflictError
	assert.False(t, errors.As(err, &ce))
}

func TestDberrExtRefinements(t *testing.T) {
	assert.ErrorIs(t, dberr.ErrTxDone, dberr.ErrClosed)
	assert.NotErrorIs(t, dberr.ErrTxDone, dberr.ErrInvalidArgument)
	assert.NotErrorIs(t, dberr.ErrClosed, dberr.ErrTxDone, "the parent is not the refinement")
	assert.ErrorIs(t, dberr.ErrTxReadOnly, dberr.ErrInvalidArgument)
	assert.NotErrorIs(t, dberr.ErrTxReadOnly, dberr.ErrClosed)
	assert.NotErrorIs(t, dberr.ErrInvalidArgument, dberr.ErrTxReadOnly)

	wrapped := fmt.Errorf("kv put: %w", dberr.ErrTxDone)
	assert.ErrorIs(t, wrapped, dberr.ErrTxDone)
	assert.ErrorIs(t, wrapped, dberr.ErrClosed)
	wrapped = fmt.Errorf("kv put: %w", dberr.ErrTxReadOnly)
	assert.ErrorIs(t, wrapped, dberr.ErrTxReadOnly)
	assert.ErrorIs(t, wrapped, dberr.ErrInvalidArgument)
}

func TestDberrExtHelpers(t *testing.T) {
	err := dberr.Invalid("key %q of %d bytes", "k", 3)
	assert.ErrorIs(t, err, dberr.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `key "k" of 3 bytes`)
	assert.ErrorIs(t, dberr.Invalid("no args"), dberr.ErrInvalidArgument)
	assert.Contains(t, dberr.Invalid("no args").Error(), "no args")

	err = dberr.TooLarge("value", 17, 16)
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	assert.NotErrorIs(t, err, dberr.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "value")
	assert.Contains(t, err.Error(), "17")
	assert.Contains(t, err.Error(), "16")
}
