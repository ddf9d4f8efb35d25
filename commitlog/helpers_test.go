package commitlog

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// Small assertion helpers. The package's tests use only the standard library (plus goleak) so
// that they build whatever the state of testify's transitive entries in go.sum.

func noErr(t testing.TB, err error, msg ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%sunexpected error: %v", prefix(msg), err)
	}
}

func isErr(t testing.TB, err, target error, msg ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%sgot error %v, want one wrapping %v", prefix(msg), err, target)
	}
}

func eq[T any](t testing.TB, got, want T, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%sgot  %#v\nwant %#v", prefix(msg), got, want)
	}
}

func truth(t testing.TB, cond bool, msg ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("%scondition failed", prefix(msg))
	}
}

func prefix(msg []any) string {
	if len(msg) == 0 {
		return ""
	}
	if f, ok := msg[0].(string); ok {
		return fmt.Sprintf(f, msg[1:]...) + ": "
	}
	return fmt.Sprint(msg...) + ": "
}
