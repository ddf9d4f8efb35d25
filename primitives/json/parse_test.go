package json

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inmemdb/inmem/internal/dberr"
)

// referenceParse is the decoding parseValue must reproduce: encoding/json with UseNumber, then
// the nesting and array limits (measure's checks, which FuzzParseValue holds too).
func referenceParse(b []byte) (any, error) {
	if !stdjson.Valid(b) {
		return nil, dberr.Invalid("invalid JSON")
	}
	dec := stdjson.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, dberr.Invalid("invalid JSON: %v", err)
	}
	if _, err := measure(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

var parseSeeds = []string{
	`null`, `true`, `false`, `0`, `-0`, `-1.5e+10`, `12345678901234567890`, `""`, `"a"`,
	` {"a" : [1, 2 ,{"b":null}] } `, `{}`, `[]`, `[[]]`, `{"a":{}}`, `{"a":1,"a":2}`,
	`"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u2028\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`,
	"\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xe2\x80\xa8\"", `"<a href='x'>&</a>"`, "\"\x7f\"",
	`{"k\u0000":"v"}`, `{"a":1,"b":[2,3],"a":{"c":4}}`, `{"\ud800":1}`, "{\"\xff\":1}",
	``, ` `, `nul`, `tru`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12g4"`, "\"a\nb\"", `01`, `1.`, `.5`, `-`, `1e`, `+1`, `1-2`, `[1]x`, `{} {}`, `[`, `{`, `{"a":`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
	strings.Repeat("[", MaxDepth+1), // too deep and invalid
}

// checkAgainstReference fails unless parseValue agrees with referenceParse on b, and the
// size measure computes is the length of the encoding.
func checkAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	in := append([]byte(nil), b...)
	got, err := parseValue(in)
	want, wantErr := referenceParse(b)
	switch {
	case wantErr == nil && err == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parsed %#v, encoding/json %#v", b, got, want)
		}
		enc, err := encodeValue(got)
		if err != nil {
			t.Fatalf("%q: does not encode: %v", b, err)
		}
		if n, err := measure(got, 0); err != nil || n != len(enc) {
			t.Fatalf("%q: measured %d (%v), encoding %d bytes (%s)", b, n, err, len(enc), enc)
		}
		if _, n, _ := parseSized(in); n != len(enc) && n != -1 {
			t.Fatalf("%q: parse counted %d, encoding %d bytes (%s)", b, n, len(enc), enc)
		}
	case wantErr == nil:
		t.Fatalf("%q: rejected (%v), encoding/json accepts", b, err)
	case err == nil:
		t.Fatalf("%q: accepted, encoding/json rejects (%v)", b, wantErr)
	case errors.Is(wantErr, dberr.ErrTooLarge) && !errors.Is(err, dberr.ErrTooLarge):
		t.Fatalf("%q: error %v, want ErrTooLarge", b, err)
	case !errors.Is(err, dberr.ErrInvalidArgument) && !errors.Is(err, dberr.ErrTooLarge):
		// Input that is both too deep and invalid may report either.
		t.Fatalf("%q: error %v is neither ErrInvalidArgument nor ErrTooLarge", b, err)
	}
}

func TestParseValueMatchesEncodingJSON(t *testing.T) {
	for _, s := range parseSeeds {
		checkAgainstReference(t, []byte(s))
	}
	checkAgainstReference(t, json1KiBForTest())
}

func TestParseValueErrors(t *testing.T) {
	for _, s := range []string{``, `[1,]`, `{"a":1}x`, `"\q"`, "\"\x01\""} {
		_, err := parseValue([]byte(s))
		assert.ErrorIs(t, err, dberr.ErrInvalidArgument, s)
	}
	_, err := parseValue([]byte(strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)))
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	_, err = parseValue([]byte("[" + strings.Repeat("0,", MaxArrayLen) + "0]"))
	assert.ErrorIs(t, err, dberr.ErrTooLarge, "an array of MaxArrayLen+1 elements")
}

// Stored strings are valid UTF-8, but quotedSize must match whatever it is given.
func TestQuotedSizeMatchesEncoding(t *testing.T) {
	for _, s := range []string{"", "plain", "\xff", "a\xc3", "\xe2\x80\xa9", "<>&'", "\x00\x1f\b\f\n\r\t\x7f", `"\`, "é😀"} {
		enc, err := stdjson.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, len(enc), quotedSize(s), "%q", s)
	}
}

// Strings without escapes, names and numbers alias the input (no copy of them is made).
func TestParseValueAliasesItsInput(t *testing.T) {
	in := []byte(`{"name":"v","n":12}`)
	v, err := parseValue(in)
	require.NoError(t, err)
	inside := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		base := uintptr(unsafe.Pointer(&in[0]))
		return p >= base && p < base+uintptr(len(in))
	}
	for name, val := range v.(map[string]any) {
		assert.True(t, inside(name), "name %q", name)
		switch x := val.(type) {
		case string:
			assert.True(t, inside(x), "string %q", x)
		case stdjson.Number:
			assert.True(t, inside(string(x)), "number %s", x)
		}
	}
}

func json1KiBForTest() []byte {
	var b strings.Builder
	b.WriteString(`{"goal":"answer the ticket","steps":[`)
	for i := 0; b.Len() < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"n":1,"tool":"search","ok":true,"note":"a \"quoted\" \u00e9 <b>"}`)
	}
	b.WriteString(`],"owner":{"name":"planner"}}`)
	return []byte(b.String())
}

func FuzzParseValue(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAgainstReference(t, b) })
}

func BenchmarkParseValue1KiB(b *testing.B) {
	doc := json1KiBForTest()
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := parseValue(doc); err != nil {
			b.Fatal(err)
		}
	}
}
