package json

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/dberr"
)

// MaxPathSegments is the limit on a path's length, in segments.
const MaxPathSegments = 256

// Segment is one step of a path: an object member (.name) or an array element ([index]).
type Segment struct {
	Name    string
	Index   int
	IsIndex bool
}

// Path is a parsed path; the empty path is the root.
type Path []Segment

// String renders p in the syntax ParsePath reads: "$" then ".name" and "[index]" segments.
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range p {
		if s.IsIndex {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
			continue
		}
		b.WriteByte('.')
		b.WriteString(s.Name)
	}
	return b.String()
}

// maxIndexDigits bounds an index's decimal digits: larger indexes can never be in range.
const maxIndexDigits = 9

// ParsePath parses a path: "" or "$" is the root; after an optional leading "$" come segments,
// each ".name" (a non-empty UTF-8 name without '.', '[', ']' or '*') or "[index]" (decimal digits, at
// most 9). No wildcards, quoting or escapes. Errors wrap dberr.ErrInvalidPath.
func ParsePath(s string) (Path, error) {
	rest := strings.TrimPrefix(s, "$")
	if rest == "" {
		return nil, nil
	}
	if !utf8.ValidString(s) {
		return nil, invalidPath(s, "not valid UTF-8")
	}
	var p Path
	for rest != "" {
		if len(p) == MaxPathSegments {
			return nil, fmt.Errorf("%w: path %.64q has more than %d segments", dberr.ErrInvalidPath, s, MaxPathSegments)
		}
		switch rest[0] {
		case '.':
			rest = rest[1:]
			n := strings.IndexAny(rest, ".[]")
			if n < 0 {
				n = len(rest)
			}
			if n == 0 {
				return nil, invalidPath(s, "empty member name")
			}
			if strings.IndexByte(rest[:n], '*') >= 0 {
				return nil, invalidPath(s, "wildcards are not supported")
			}
			p = append(p, Segment{Name: rest[:n]})
			rest = rest[n:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, invalidPath(s, "unterminated index")
			}
			digits := rest[1:end]
			if digits == "" || len(digits) > maxIndexDigits || strings.Trim(digits, "0123456789") != "" {
				return nil, invalidPath(s, "index must be 1 to 9 decimal digits")
			}
			i, _ := strconv.Atoi(digits)
			p = append(p, Segment{Index: i, IsIndex: true})
			rest = rest[end+1:]
		default:
			return nil, invalidPath(s, fmt.Sprintf("unexpected %q: segments start with '.' or '['", rest[0]))
		}
	}
	return p, nil
}

func invalidPath(s, why string) error {
	return fmt.Errorf("%w: path %.64q: %s", dberr.ErrInvalidPath, s, why)
}
