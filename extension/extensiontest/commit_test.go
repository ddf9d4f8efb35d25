package extensiontest

import (
	"testing"

	"github.com/inmemdb/inmem/extension"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStagedIsSharedThroughTheTable(t *testing.T) {
	k := extension.Key{Section: 1, Name: "k"}
	first := &Commit{Ver: 1}
	first.Stage(k, extension.Staged{Version: 1, Aux: 7})
	second := &Commit{Ver: 2, StagedAt: first.StagedAt}
	st, ok := second.Staged(k)
	if !ok || st.Version != 1 || st.Aux != 7 {
		t.Fatalf("second commit sees %+v, %v", st, ok)
	}
	if _, ok := (&Commit{}).Staged(k); ok {
		t.Fatal("a fresh commit sees nothing staged")
	}
}
