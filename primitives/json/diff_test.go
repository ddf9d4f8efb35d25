package json

import (
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/require"
)

func TestChangedPaths(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          []string
	}{
		{"equal", `{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}`, `{"c":{"d":1.5},"b":[true,null,"x"],"a":1}`, nil},
		{"equal scalar root", `"x"`, `"x"`, nil},
		{"equal empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, nil},
		{"scalar root changed", `1`, `2`, []string{"$"}},
		{"root kind changed", `null`, `false`, []string{"$"}},
		{"string vs number", `{"a":"1"}`, `{"a":1}`, []string{"$.a"}},
		{"member changed", `{"a":1,"b":2}`, `{"a":1,"b":3}`, []string{"$.b"}},
		{"member added", `{"a":1}`, `{"a":1,"b":{"c":[1,2]}}`, []string{"$.b"}},
		{"member removed", `{"a":1,"b":2}`, `{"a":1}`, []string{"$.b"}},
		{"member set to null", `{"a":1}`, `{"a":null}`, []string{"$.a"}},
		{"nested change is deepest path", `{"a":{"b":1,"c":2}}`, `{"a":{"b":5,"c":2}}`, []string{"$.a.b"}},
		{"array element changed", `{"list":[1,2,3]}`, `{"list":[1,9,3]}`, []string{"$.list[1]"}},
		{"array appended", `{"list":[1,2]}`, `{"list":[1,2,3,4]}`, []string{"$.list[2]", "$.list[3]"}},
		{"array removed", `{"list":[1,2,3,4]}`, `{"list":[1,2]}`, []string{"$.list[2]", "$.list[3]"}},
		{"array nested", `[{"a":1},{"a":2}]`, `[{"a":1},{"a":3,"b":0}]`, []string{"$[1].a", "$[1].b"}},
		{"object to array once", `{"x":{"a":1,"b":{"c":2}}}`, `{"x":[1,2]}`, []string{"$.x"}},
		{"array to scalar once", `{"x":[1,2,3]}`, `{"x":"s"}`, []string{"$.x"}},
		{"root object to array", `{"a":1}`, `[1]`, []string{"$"}},
		{"number as written", `{"n":1.0}`, `{"n":1}`, []string{"$.n"}},
		{"number exponent as written", `[1e2]`, `[100]`, []string{"$[0]"}},
		{"identical numbers", `{"n":1.0,"m":-0.5e3}`, `{"n":1.0,"m":-0.5e3}`, nil},
		{"indexes numeric order", `[0,1,2,3,4,5,6,7,8,9,10,11]`, `[0,1,20,3,4,5,6,7,8,9,100,11]`, []string{"$[2]", "$[10]"}},
		{"unaddressable name rendered as is", `{"a.b":1}`, `{"a.b":2}`, []string{"$.a.b"}},
		{"colliding renderings listed once", `{"a.b":1,"a":{"b":1}}`, `{"a.b":2,"a":{"b":2}}`, []string{"$.a.b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChangedPaths([]byte(tc.before), []byte(tc.after))
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestChangedPathsManyMembersSorted(t *testing.T) {
	before := `{"z":1,"b":1,"m":{"y":1,"a":1},"a":[1,2],"k":1,"c":1}`
	after := `{"z":2,"b":2,"m":{"y":2,"a":2},"a":[1,3,4],"k":2,"d":1}`
	want := []string{"$.a[1]", "$.a[2]", "$.b", "$.c", "$.d", "$.k", "$.m.a", "$.m.y", "$.z"}
	for range 20 { // map iteration order varies; the output must not
		got, err := ChangedPaths([]byte(before), []byte(after))
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestChangedPathsInvalidJSON(t *testing.T) {
	valid := []byte(`{"a":1}`)
	for _, bad := range []string{``, `{`, `{"a":}`, `[1,]`, `{"a":1} x`, `nul`} {
		_, err := ChangedPaths([]byte(bad), valid)
		require.ErrorIs(t, err, dberr.ErrInvalidArgument, "before %q", bad)
		require.ErrorContains(t, err, "before")
		_, err = ChangedPaths(valid, []byte(bad))
		require.ErrorIs(t, err, dberr.ErrInvalidArgument, "after %q", bad)
		require.ErrorContains(t, err, "after")
	}
}

func TestChangedPathsProperties(t *testing.T) {
	docs := []string{
		`null`, `true`, `0`, `1.0`, `"s"`, `[]`, `{}`,
		`{"a":1,"b":[1,2,{"c":null}],"d":{"e":"f"}}`,
		`{"a":2,"b":[1,{"c":true}],"g":[]}`,
		`[1,[2,[3,[4]]],{"x":{"y":{"z":1}}}]`,
		`[1,[2,[3]],{"x":{"y":{"z":2}}},5]`,
	}
	for _, x := range docs {
		got, err := ChangedPaths([]byte(x), []byte(x))
		require.NoError(t, err)
		require.Empty(t, got, "ChangedPaths(x, x) for %s", x)
	}
	for _, a := range docs {
		for _, b := range docs {
			ab, err := ChangedPaths([]byte(a), []byte(b))
			require.NoError(t, err)
			ba, err := ChangedPaths([]byte(b), []byte(a))
			require.NoError(t, err)
			require.Equal(t, ab, ba, "%s vs %s", a, b)
			require.Equal(t, a == b, len(ab) == 0, "%s vs %s", a, b)
		}
	}
}
