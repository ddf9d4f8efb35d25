package jsonvalid

import (
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var seeds = []string{
	`null`, `true`, `false`, `0`, `-0`, `-1.5e+10`, `1E5`, `""`, `"a"`, ` {"a" : [1, 2 ,{"b":null}] } `,
	`{}`, `[]`, `[[]]`, `{"a":1,"a":2}`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\ud800"`, "\"\xff\xfe\"",
	``, ` `, `nul`, `tru`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1 2]`, `"abc`, `"\x"`, `"\u12"`,
	`"\u12g4"`, "\"a\nb\"", `01`, `1.`, `.5`, `-`, `1e`, `+1`, `1-2`, `[1]x`, `{} {}`, `[`, `{`,
	`{"a":`, `{"a"`, `{"a":1 "b":2}`, `[1,,2]`, `--1`, `0x1`, `1.5.5`, "\x00", `{"tool":"search","ok":true}`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("%.40q: Valid %v, encoding/json %v", s, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("%q: Valid %v, encoding/json %v", b, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	p := []byte(`{"tool":"search","ok":true}`)
	for b.Loop() {
		if !Valid(p) {
			b.Fatal("invalid")
		}
	}
}
