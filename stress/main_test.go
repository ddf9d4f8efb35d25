package stress_test

import (
	"os"
	"testing"

	"github.com/inmemdb/inmem/stress"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(stress.ChildEnv); dir != "" { // this test binary plays the crash loop's child
		os.Exit(stress.Child(dir, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}
