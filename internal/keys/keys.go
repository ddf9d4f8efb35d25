// Package keys holds the one rule every primitive applies to the names users give things — KV
// keys, document keys, cell names: non-empty UTF-8 of at most MaxSize bytes.
package keys

import (
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/dberr"
)

// MaxSize is the longest name, in bytes.
const MaxSize = 4 << 10

// Check validates name; what says what it names ("key", "cell name") in the error.
func Check(what, name string) error {
	switch {
	case name == "":
		return dberr.Invalid("empty %s", what)
	case len(name) > MaxSize:
		return dberr.TooLarge(what, len(name), MaxSize)
	case !utf8.ValidString(name):
		return dberr.Invalid("%s %q is not valid UTF-8", what, name)
	}
	return nil
}
