package json

import (
	"bytes"
	"fmt"
	"github.com/inmemdb/inmem/internal/mvcc"
	"reflect"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/extension/extensiontest"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var run = extension.RunID{7}

type commit = extensiontest.Commit

func newStore() (*Store, *shard) {
	s := New(1)
	return s, s.NewShard(0).(*shard)
}

// apply validates and applies tx, as the engine does.
func apply(t *testing.T, sh *shard, tx *Tx, c *commit) {
	t.Helper()
	require.NoError(t, tx.Validate(c))
	es := tx.Entries(nil, c)
	for i := range es {
		es[i].TxID = c.Ver
	}
	require.NoError(t, sh.Apply(es))
}

// commitOne runs fn in a transaction at snapshot version-1 and applies it at version.
func commitOne(t *testing.T, s *Store, sh *shard, version uint64, fn func(tx *Tx)) {
	t.Helper()
	tx := s.NewTx(run, version-1)
	fn(tx)
	apply(t, sh, tx, &commit{Snap: version - 1, Ver: version})
}

// validateOne runs fn in a transaction at snapshot version-1 and returns its validation error.
func validateOne(s *Store, version uint64, fn func(tx *Tx)) (error, *commit) {
	tx := s.NewTx(run, version-1)
	fn(tx)
	c := &commit{Snap: version - 1, Ver: version}
	return tx.Validate(c), c
}

func get(t *testing.T, s *Store, key, path string, snapshot uint64) string {
	t.Helper()
	b, err := s.Get(run, key, path, snapshot)
	require.NoError(t, err)
	return string(b)
}

func TestParsePath(t *testing.T) {
	for in, want := range map[string]Path{
		"":               nil,
		"$":              nil,
		"$.a":            {{Name: "a"}},
		".a":             {{Name: "a"}},
		"[3]":            {{Index: 3, IsIndex: true}},
		"$.a.b[0].c":     {{Name: "a"}, {Name: "b"}, {Index: 0, IsIndex: true}, {Name: "c"}},
		"$[0][12]":       {{Index: 0, IsIndex: true}, {Index: 12, IsIndex: true}},
		"$.é x$":         {{Name: "é x$"}},
		"$.a[007]":       {{Name: "a"}, {Index: 7, IsIndex: true}},
		"$.a[999999999]": {{Name: "a"}, {Index: 999999999, IsIndex: true}},
	} {
		got, err := ParsePath(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	assert.Equal(t, "$.a.b[0].c", Path{{Name: "a"}, {Name: "b"}, {IsIndex: true}, {Name: "c"}}.String())
	for _, in := range []string{
		"a", "$a", "$.", "$..a", "$.a.", "$[", "$[]", "$[-1]", "$[1", "$[a]", "$[1]x", "$.a]", "$[1.5]",
		"$[1234567890]", "$.*", "$$", "$.\xff", " $.a",
	} {
		_, err := ParsePath(in)
		assert.ErrorIs(t, err, dberr.ErrInvalidPath, "%q", in)
	}
	_, err := ParsePath(strings.Repeat(".a", MaxPathSegments))
	assert.NoError(t, err)
	_, err = ParsePath(strings.Repeat(".a", MaxPathSegments+1))
	assert.ErrorIs(t, err, dberr.ErrInvalidPath)
	_, err = ParsePath("$" + strings.Repeat("[0]", MaxPathSegments+1))
	assert.ErrorIs(t, err, dberr.ErrInvalidPath)
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "$", "$.a.b[0].c", "[1][2]", "$..", "$[99", ".é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !strings.Contains(err.Error(), dberr.ErrInvalidPath.Error()) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidPath", s, err)
			}
			return
		}
		q, err := ParsePath(p.String())
		if err != nil {
			t.Fatalf("%q rendered as %q does not parse: %v", s, p.String(), err)
		}
		if !reflect.DeepEqual(p, q) || q.String() != p.String() {
			t.Fatalf("%q: %#v round-trips to %#v", s, p, q)
		}
	})
}

// mustSet and mustDel run the document operations directly on parsed values.
func mustParse(t *testing.T, s string) any {
	t.Helper()
	v, err := parseValue([]byte(s))
	require.NoError(t, err, s)
	return v
}

func enc(t *testing.T, v any) string {
	t.Helper()
	b, err := encodeValue(v)
	require.NoError(t, err)
	return string(b)
}

func setStr(t *testing.T, doc, path, val string) (string, error) {
	t.Helper()
	p, err := ParsePath(path)
	require.NoError(t, err)
	out, err := setValue(mustParse(t, doc), p, mustParse(t, val))
	if err != nil {
		return "", err
	}
	return enc(t, out), nil
}

func delStr(t *testing.T, doc, path string) string {
	t.Helper()
	p, err := ParsePath(path)
	require.NoError(t, err)
	return enc(t, deleteValue(mustParse(t, doc), p))
}

func TestSetSemantics(t *testing.T) {
	for _, c := range []struct{ doc, path, val, want string }{
		{`{"a":1}`, "$", `[true]`, `[true]`},                   // root replace
		{`{}`, "$.a.b.c", `1`, `{"a":{"b":{"c":1}}}`},          // nested objects
		{`{}`, "$.a[0].b", `1`, `{"a":[{"b":1}]}`},             // array created, appended
		{`{}`, "$.a[0][0]", `"x"`, `{"a":[["x"]]}`},            // arrays of arrays
		{`{"a":[1,2]}`, "$.a[2]", `3`, `{"a":[1,2,3]}`},        // append at len
		{`{"a":[1,2]}`, "$.a[0]", `9`, `{"a":[9,2]}`},          // replace
		{`{"a":null}`, "$.a.b", `1`, `{"a":{"b":1}}`},          // null counts as missing
		{`{"n":1.50}`, "$.m", `1e400`, `{"m":1e400,"n":1.50}`}, // numbers keep their text
	} {
		got, err := setStr(t, c.doc, c.path, c.val)
		require.NoError(t, err, "%s %s", c.doc, c.path)
		assert.Equal(t, c.want, got, "%s %s", c.doc, c.path)
	}
	_, err := setStr(t, `{"a":[1,2]}`, "$.a[3]", `3`)
	assert.ErrorIs(t, err, dberr.ErrIndexOutOfRange)
	_, err = setStr(t, `{}`, "$.a[1]", `3`)
	assert.ErrorIs(t, err, dberr.ErrIndexOutOfRange, "a new array is empty")
	for _, c := range []struct{ doc, path string }{
		{`{"a":1}`, "$.a.b"}, {`{"a":"s"}`, "$.a[0]"}, {`{"a":[1]}`, "$.a.b"}, {`{"a":{}}`, "$.a[0]"}, {`[]`, "$.x"}, {`3`, "$[0]"},
	} {
		_, err := setStr(t, c.doc, c.path, `1`)
		assert.ErrorIs(t, err, dberr.ErrTypeMismatch, "%s %s", c.doc, c.path)
	}

	for _, c := range []struct{ doc, path, want string }{
		{`{"a":{"b":1,"c":2}}`, "$.a.b", `{"a":{"c":2}}`},
		{`{"a":[1,2,3]}`, "$.a[1]", `{"a":[1,3]}`},
		{`{"a":1}`, "$.missing", `{"a":1}`},  // missing member
		{`{"a":1}`, "$.x.y.z", `{"a":1}`},    // missing intermediate
		{`{"a":[1]}`, "$.a[5]", `{"a":[1]}`}, // index past the end
		{`{"a":1}`, "$.a.b", `{"a":1}`},      // step into a scalar
		{`{"a":[1]}`, "$.a.b", `{"a":[1]}`},  // wrong container
		{`{"a":{"b":1}}`, "$", `null`},       // root
	} {
		assert.JSONEq(t, c.want, delStr(t, c.doc, c.path), "%s %s", c.doc, c.path)
	}
	// An unchanged delete returns the very same document.
	doc := mustParse(t, `{"a":{"b":[1]}}`)
	p, _ := ParsePath("$.a.b[4]")
	assert.Equal(t, reflect.ValueOf(doc).UnsafePointer(), reflect.ValueOf(deleteValue(doc, p)).UnsafePointer())
}

func TestGetPaths(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`{"a":{"b":[10,{"c":"x"}]}}`))) })
	assert.Equal(t, `{"a":{"b":[10,{"c":"x"}]}}`, get(t, s, "d", "", 1))
	assert.Equal(t, `"x"`, get(t, s, "d", "$.a.b[1].c", 1))
	assert.Equal(t, `10`, get(t, s, "d", "$.a.b[0]", 1))
	_, err := s.Get(run, "d", "$.a.nope", 1)
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	_, err = s.Get(run, "d", "$.a.b[2]", 1)
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	_, err = s.Get(run, "d", "$.a.b.c", 1)
	assert.ErrorIs(t, err, dberr.ErrTypeMismatch)
	_, err = s.Get(run, "d", "$.a[", 1)
	assert.ErrorIs(t, err, dberr.ErrInvalidPath)
	_, err = s.Get(run, "d", "$", 0)
	assert.ErrorIs(t, err, dberr.ErrNotFound, "invisible below its commit")
	_, err = s.Get(run, "nope", "$", 1)
	assert.ErrorIs(t, err, dberr.ErrNotFound)
}

func TestMutationsThroughTransactions(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`{"list":[1]}`))) })
	commitOne(t, s, sh, 2, func(tx *Tx) {
		require.NoError(t, tx.Set("d", "$.list[1]", []byte(`2`)))
		require.NoError(t, tx.Set("d", "$.o.p", []byte(`{"q":true}`)))
		require.NoError(t, tx.Delete("d", "$.list[0]"))
		require.NoError(t, tx.Delete("d", "$.nothing.here"))
	})
	assert.Equal(t, `{"list":[2],"o":{"p":{"q":true}}}`, get(t, s, "d", "$", 2))
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Delete("d", "$")) })
	assert.Equal(t, `null`, get(t, s, "d", "$", 3), "deleting root leaves null")
	commitOne(t, s, sh, 4, func(tx *Tx) { require.NoError(t, tx.Set("d", "$.again", []byte(`1`))) })
	assert.Equal(t, `{"again":1}`, get(t, s, "d", "$", 4))

	err, _ := validateOne(s, 5, func(tx *Tx) { require.NoError(t, tx.Set("d", "$.again[0]", []byte(`1`))) })
	assert.ErrorIs(t, err, dberr.ErrTypeMismatch)
	err, _ = validateOne(s, 5, func(tx *Tx) { require.NoError(t, tx.Set("missing", "$.a", []byte(`1`))) })
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	err, _ = validateOne(s, 5, func(tx *Tx) { require.NoError(t, tx.Delete("missing", "$.a")) })
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	err, _ = validateOne(s, 5, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("missing")) })
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	err, _ = validateOne(s, 5, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`{}`))) })
	assert.ErrorIs(t, err, dberr.ErrAlreadyExists)

	// Call-time checks.
	tx := s.NewTx(run, 4)
	assert.ErrorIs(t, tx.Create("x", []byte(`{`)), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Create("x", []byte(`{} {}`)), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Set("x", "$.a", []byte(``)), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Set("x", "a", []byte(`1`)), dberr.ErrInvalidPath)
	assert.ErrorIs(t, tx.Delete("x", "$["), dberr.ErrInvalidPath)
	assert.ErrorIs(t, tx.Create("", []byte(`1`)), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.DeleteDoc("\xff"), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Patch("x", []PatchOp{{Op: "move", Path: "$"}}), dberr.ErrInvalidArgument)
	assert.ErrorIs(t, tx.Patch("x", nil), dberr.ErrInvalidArgument)
	assert.True(t, tx.Empty())

	// DeleteDoc, then the document is gone and can be created again at version 1.
	commitOne(t, s, sh, 5, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("d")) })
	_, err = s.Version(run, "d", 5)
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	commitOne(t, s, sh, 6, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`[]`))) })
	v, err := s.Version(run, "d", 6)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), v)
}

func TestImmutabilityAndSharing(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Create("d", []byte(`{"a":{"x":1},"b":[1,{"deep":[2]}],"c":"s"}`)))
	})
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Set("d", "$.a.y", []byte(`2`))) })
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Delete("d", "$.a.x")) })

	r := s.Chain(run, "d", mvcc.Latest)
	old, mid, cur := r.At(1).Value.Value.(map[string]any), r.At(2).Value.Value.(map[string]any), r.At(3).Value.Value.(map[string]any)
	assert.Equal(t, `{"a":{"x":1},"b":[1,{"deep":[2]}],"c":"s"}`, enc(t, old), "the old version is intact")
	assert.Equal(t, `{"a":{"x":1,"y":2},"b":[1,{"deep":[2]}],"c":"s"}`, enc(t, mid))
	assert.Equal(t, `{"a":{"y":2},"b":[1,{"deep":[2]}],"c":"s"}`, enc(t, cur))
	ptr := func(v any) uintptr { return uintptr(reflect.ValueOf(v).UnsafePointer()) }
	assert.Equal(t, ptr(old["b"]), ptr(mid["b"]), "an untouched subtree is shared")
	assert.Equal(t, ptr(old["b"]), ptr(cur["b"]))
	assert.NotEqual(t, ptr(old["a"]), ptr(mid["a"]), "the changed path is copied")
	assert.NotEqual(t, ptr(old), ptr(mid))

	// Values handed in are copied: changing the caller's buffer changes nothing.
	buf := []byte(`{"k":1}`)
	tx := s.NewTx(run, 3)
	require.NoError(t, tx.Set("d", "$.z", buf))
	buf[5] = '9'
	got, err := tx.Get("d", "$.z")
	require.NoError(t, err)
	assert.Equal(t, `{"k":1}`, string(got))
}

func TestVersions(t *testing.T) {
	s, sh := newStore()
	version := func(key string, at uint64) uint64 {
		v, err := s.Version(run, key, at)
		require.NoError(t, err)
		return v
	}
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("a", []byte(`{}`))) })
	assert.Equal(t, uint64(1), version("a", 1))
	commitOne(t, s, sh, 2, func(tx *Tx) {
		require.NoError(t, tx.Set("a", "$.x", []byte(`1`)))
		require.NoError(t, tx.Set("a", "$.y", []byte(`1`)))
		require.NoError(t, tx.Patch("a", []PatchOp{{Op: "set", Path: "$.z", Value: []byte(`1`)}, {Op: "delete", Path: "$.x"}}))
	})
	assert.Equal(t, uint64(2), version("a", 2), "one bump per transaction")
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Delete("a", "$.nope")) })
	assert.Equal(t, uint64(3), version("a", 3), "a mutating transaction bumps even when nothing changed")
	assert.Equal(t, uint64(1), version("a", 1))

	tx := s.NewTx(run, 3)
	require.NoError(t, tx.Create("b", []byte(`{}`)))
	require.NoError(t, tx.Set("b", "$.x", []byte(`1`)))
	c := &commit{Snap: 3, Ver: 4}
	apply(t, sh, tx, c)
	assert.Equal(t, uint64(1), version("b", 4), "create + set in one transaction")
	v, ok := tx.Version("b")
	assert.True(t, ok)
	assert.Equal(t, uint64(1), v)
	assert.Equal(t, extension.Staged{Version: 4, Aux: 1}, c.StagedAt[extension.Key{Section: SectionID, Run: run, Name: "b"}])

	tx = s.NewTx(run, 4)
	require.NoError(t, tx.DeleteDoc("a"))
	c = &commit{Snap: 4, Ver: 5}
	apply(t, sh, tx, c)
	assert.Equal(t, extension.Staged{Version: 5, Deleted: true}, c.StagedAt[extension.Key{Section: SectionID, Run: run, Name: "a"}])
}

func TestConflicts(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Create("a", []byte(`{"n":1}`)))
		require.NoError(t, tx.Create("b", []byte(`{"n":1}`)))
	})

	reader := s.NewTx(run, 1)
	_, err := reader.Get("a", "$.n")
	require.NoError(t, err)
	require.NoError(t, reader.Set("b", "$.m", []byte(`1`)))
	writer := s.NewTx(run, 1)
	require.NoError(t, writer.Set("b", "$.other", []byte(`1`)))
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Set("a", "$.unrelated", []byte(`2`))) })

	var ce *dberr.ConflictError
	require.ErrorAs(t, reader.Validate(&commit{Snap: 1, Ver: 3}), &ce, "a read document changed")
	assert.Equal(t, dberr.ConflictError{Primitive: "json", Run: run.String(), Key: "a"}, *ce)
	// A mutation conflicts with a commit to the same document, even on another path.
	commitOne(t, s, sh, 3, func(tx *Tx) { require.NoError(t, tx.Set("b", "$.n", []byte(`2`))) })
	require.ErrorAs(t, writer.Validate(&commit{Snap: 1, Ver: 4}), &ce)
	assert.Equal(t, "b", ce.Key)

	// A change that is only staged (sequenced, not applied) conflicts too.
	staged := &commit{Snap: 3, Ver: 5}
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "a"}, extension.Staged{Version: 4, Aux: 3})
	staged.Stage(extension.Key{Section: SectionID, Run: run, Name: "new"}, extension.Staged{Version: 4, Aux: 1})
	r2 := s.NewTx(run, 3)
	_, err = r2.Get("a", "$")
	require.NoError(t, err)
	require.NoError(t, r2.Set("b", "$.x", []byte(`1`)))
	assert.ErrorIs(t, r2.Validate(staged), dberr.ErrConflict)
	w2 := s.NewTx(run, 3)
	require.NoError(t, w2.Set("a", "$.x", []byte(`1`)))
	assert.ErrorIs(t, w2.Validate(staged), dberr.ErrConflict)
	c2 := s.NewTx(run, 3)
	require.NoError(t, c2.Create("new", []byte(`1`)))
	assert.ErrorIs(t, c2.Validate(staged), dberr.ErrConflict, "a concurrent create")

	// Documents neither read nor written do not conflict.
	other := s.NewTx(run, 3)
	require.NoError(t, other.Set("b", "$.x", []byte(`1`)))
	assert.NoError(t, other.Validate(staged))
}

func TestPatchAtomicity(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Create("a", []byte(`{"list":[]}`)))
		require.NoError(t, tx.Create("b", []byte(`{}`)))
	})
	tx := s.NewTx(run, 1)
	require.NoError(t, tx.Set("b", "$.ok", []byte(`1`)))
	require.NoError(t, tx.Patch("a", []PatchOp{
		{Op: "set", Path: "$.x", Value: []byte(`1`)},
		{Op: "set", Path: "$.list[0]", Value: []byte(`1`)},
		{Op: "set", Path: "$.list[5]", Value: []byte(`1`)}, // fails
	}))
	c := &commit{Snap: 1, Ver: 2}
	assert.ErrorIs(t, tx.Validate(c), dberr.ErrIndexOutOfRange)
	assert.Empty(t, c.StagedAt, "nothing staged, not even the other document")
	_, ok := tx.Version("b")
	assert.False(t, ok)

	// A patch with an invalid op buffers nothing.
	tx = s.NewTx(run, 1)
	assert.ErrorIs(t, tx.Patch("a", []PatchOp{{Op: "set", Path: "$.x", Value: []byte(`1`)}, {Op: "set", Path: "$..", Value: []byte(`1`)}}), dberr.ErrInvalidPath)
	assert.True(t, tx.Empty())

	// A good patch applies in order, as one entry, one version.
	commitOne(t, s, sh, 2, func(tx *Tx) {
		require.NoError(t, tx.Patch("a", []PatchOp{
			{Op: "set", Path: "$.list[0]", Value: []byte(`"first"`)},
			{Op: "set", Path: "$.list[1]", Value: []byte(`"second"`)},
			{Op: "delete", Path: "$.list[0]"},
		}))
	})
	assert.Equal(t, `{"list":["second"]}`, get(t, s, "a", "$", 2))
	v, _ := s.Version(run, "a", 2)
	assert.Equal(t, uint64(2), v)
}

func TestReadYourWrites(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		require.NoError(t, tx.Create("a", []byte(`{"n":1}`)))
		require.NoError(t, tx.Create("gone", []byte(`1`)))
	})
	tx := s.NewTx(run, 1)
	require.NoError(t, tx.Set("a", "$.m", []byte(`[1]`)))
	require.NoError(t, tx.Create("new", []byte(`{"k":"v"}`)))
	require.NoError(t, tx.DeleteDoc("gone"))
	got, err := tx.Get("a", "$")
	require.NoError(t, err)
	assert.Equal(t, `{"m":[1],"n":1}`, string(got))
	got, err = tx.Get("new", "$.k")
	require.NoError(t, err)
	assert.Equal(t, `"v"`, string(got))
	_, err = tx.Get("gone", "$")
	assert.ErrorIs(t, err, dberr.ErrNotFound)
	assert.Equal(t, []string{"a", "new"}, tx.Keys())
	assert.Equal(t, `{"n":1}`, get(t, s, "a", "$", 1), "the store is untouched")

	// A pending op that cannot apply shows as its error.
	require.NoError(t, tx.Set("a", "$.n.deeper", []byte(`1`)))
	_, err = tx.Get("a", "$")
	assert.ErrorIs(t, err, dberr.ErrTypeMismatch)
}

func TestKeys(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) {
		for _, k := range []string{"z", "b", "m", "a"} {
			require.NoError(t, tx.Create(k, []byte(`{}`)))
		}
	})
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("m")) })
	assert.Equal(t, []string{"a", "b", "m", "z"}, s.Keys(run, 1))
	lister := s.NewTx(run, 1)
	assert.Equal(t, []string{"a", "b", "m", "z"}, lister.Keys())
	require.NoError(t, lister.Create("n", []byte(`1`)))
	assert.ErrorIs(t, lister.Validate(&commit{Snap: 1, Ver: 3}), dberr.ErrConflict, "listed keys are read")
	assert.Equal(t, []string{"a", "b", "z"}, s.Keys(run, 2))
	assert.Empty(t, s.Keys(extension.RunID{9}, 2))
}

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func TestLimits(t *testing.T) {
	s, sh := newStore()
	tx := s.NewTx(run, 0)
	assert.NoError(t, tx.Create("ok", []byte(nested(MaxDepth))))
	assert.ErrorIs(t, tx.Create("deep", []byte(nested(MaxDepth+1))), dberr.ErrTooLarge, "depth is ErrTooLarge")
	assert.ErrorIs(t, tx.Set("x", "$.a", []byte(`{"a":`+nested(MaxDepth)+`}`)), dberr.ErrTooLarge)
	assert.ErrorIs(t, tx.Set("x", "$.a", make([]byte, MaxDocSize+1)), dberr.ErrTooLarge)
	assert.ErrorIs(t, tx.Create("k", []byte(strings.Repeat("n", MaxKeySize+1))), dberr.ErrInvalidArgument, "invalid JSON")
	assert.ErrorIs(t, tx.Create(strings.Repeat("n", MaxKeySize+1), []byte(`1`)), dberr.ErrTooLarge)

	// Depth reached by a Set into a document: checked at validation.
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`{"a":`+nested(MaxDepth-1)+`}`))) })
	err, c := validateOne(s, 2, func(tx *Tx) { require.NoError(t, tx.Set("d", "$.b", []byte(nested(MaxDepth)))) })
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	assert.Empty(t, c.StagedAt)
	err, _ = validateOne(s, 2, func(tx *Tx) { require.NoError(t, tx.Set("d", "$.b", []byte(nested(MaxDepth-1)))) })
	assert.NoError(t, err)

	// Size: two values each under the limit make a document over it.
	half := []byte(`"` + strings.Repeat("x", MaxDocSize/2) + `"`)
	err, c = validateOne(s, 2, func(tx *Tx) {
		require.NoError(t, tx.Set("d", "$.x", half))
		require.NoError(t, tx.Set("d", "$.y", half))
	})
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	assert.Empty(t, c.StagedAt)

	// A document whose text fits but whose encoding does not: '<' encodes as \u003c. The size
	// counted while parsing a created (or wholly replaced) document decides.
	html := []byte(`"` + strings.Repeat("<", MaxDocSize/6+1) + `"`)
	for name, fn := range map[string]func(tx *Tx){
		"create":   func(tx *Tx) { require.NoError(t, tx.Create("h", html)) },
		"set root": func(tx *Tx) { require.NoError(t, tx.Set("d", "$", html)) },
	} {
		err, c = validateOne(s, 2, fn)
		assert.ErrorIs(t, err, dberr.ErrTooLarge, name)
		assert.Empty(t, c.StagedAt, name)
	}

	// Array length: appending the 1,000,001st element.
	var big bytes.Buffer
	big.WriteByte('[')
	for i := range MaxArrayLen {
		if i > 0 {
			big.WriteByte(',')
		}
		big.WriteByte('0')
	}
	big.WriteByte(']')
	commitOne(t, s, sh, 2, func(tx *Tx) { require.NoError(t, tx.Create("arr", big.Bytes())) })
	err, _ = validateOne(s, 3, func(tx *Tx) { require.NoError(t, tx.Set("arr", "$[1000000]", []byte(`0`))) })
	assert.ErrorIs(t, err, dberr.ErrTooLarge)
	err, _ = validateOne(s, 3, func(tx *Tx) { require.NoError(t, tx.Set("arr", "$[999999]", []byte(`1`))) })
	assert.NoError(t, err)
}

func TestTrim(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`1`))) })
	for v := uint64(2); v <= 3; v++ {
		commitOne(t, s, sh, v, func(tx *Tx) { require.NoError(t, tx.Set("d", "$", []byte{'0' + byte(v)})) })
	}
	commitOne(t, s, sh, 4, func(tx *Tx) { require.NoError(t, tx.DeleteDoc("d")) })
	sh.Trim(2)
	assert.Equal(t, `2`, get(t, s, "d", "$", 2))
	assert.Equal(t, `3`, get(t, s, "d", "$", 3))
	sh.Trim(3)
	assert.NotNil(t, s.Chain(run, "d", mvcc.Latest), "the tombstone is still needed by a reader at 3")
	sh.Trim(4)
	assert.Nil(t, s.Chain(run, "d", mvcc.Latest), "a tombstone no reader needs is dropped")
	assert.Zero(t, sh.Listed())
	commitOne(t, s, sh, 5, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`5`))) })
	assert.Equal(t, `5`, get(t, s, "d", "$", 5))
}

func entry(typ uint8, p []byte) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: 1, TxID: 1, Payload: p}
}

func setOp(path, value string) op {
	p, _ := ParsePath(path)
	return op{kind: opSet, path: p, pathText: path, raw: []byte(value)}
}

func TestApplyRejectsMalformedPayloads(t *testing.T) {
	createOp := op{kind: opCreate, pathText: "$", raw: []byte(`{}`)}
	good := payloadFor(1, []op{createOp})
	require.NoError(t, func() error { _, sh := newStore(); return sh.Apply([]commitlog.Entry{entry(TypeCreate, good)}) }())
	for name, e := range map[string]commitlog.Entry{
		"short":              entry(TypeCreate, good[:10]),
		"no key length":      entry(TypeCreate, good[:16]),
		"key past the end":   entry(TypeCreate, append(append(run[:], 0x7f), 'd')),
		"empty key":          entry(TypeCreate, append(run[:], 0)),
		"no version":         entry(TypeCreate, append(run[:], 1, 'd')),
		"no op count":        entry(TypeCreate, append(run[:], 1, 'd', 1)),
		"zero ops":           entry(TypePatch, append(run[:], 1, 'd', 1, 0)),
		"truncated op":       entry(TypeCreate, good[:len(good)-1]),
		"trailing bytes":     entry(TypeCreate, append(append([]byte{}, good...), 0)),
		"unknown op kind":    entry(TypePatch, payloadFor(1, []op{{kind: 9, pathText: "$"}})),
		"bad path":           entry(TypePatch, payloadFor(1, []op{createOp, setOp("$..", "1")})),
		"bad value":          entry(TypeCreate, payloadFor(1, []op{{kind: opCreate, pathText: "$", raw: []byte(`{`)}})),
		"value on delete":    entry(TypeDelete, payloadFor(1, []op{{kind: opDelete, pathText: "$.a", raw: []byte(`1`)}})),
		"create with a path": entry(TypeCreate, payloadFor(1, []op{{kind: opCreate, pathText: "$.a", raw: []byte(`1`)}})),
		"type mismatch":      entry(TypeSet, good),
		"unknown type":       entry(0x2F, good),
		"version 2":          {Type: TypeCreate, Version: 2, TxID: 1, Payload: good},
		"set on missing doc": entry(TypeSet, payloadFor(1, []op{setOp("$.a", "1")})),
		"wrong version":      entry(TypePatch, payloadFor(2, []op{createOp, setOp("$.a", "1")})),
		"restore at 0":       entry(TypeCreate, payloadFor(0, []op{createOp})),
		"replay fails":       entry(TypePatch, payloadFor(1, []op{createOp, setOp("$[3]", "1")})),
		"too deep":           entry(TypeCreate, payloadFor(1, []op{{kind: opCreate, pathText: "$", raw: []byte(nested(MaxDepth + 1))}})),
	} {
		s, sh := newStore()
		assert.ErrorIs(t, sh.Apply([]commitlog.Entry{e}), ErrMalformed, name)
		assert.Nil(t, s.Chain(run, "d", mvcc.Latest), name)
	}
	// A batch with a malformed entry applies nothing, even if the bad one is only a bad replay.
	s, sh := newStore()
	bad := []commitlog.Entry{entry(TypeCreate, good), entry(TypeCreate, good)}
	assert.ErrorIs(t, sh.Apply(bad), ErrMalformed, "create of an existing document")
	assert.Nil(t, s.Chain(run, "d", mvcc.Latest))
	// Entries of one batch replay on each other.
	ok := []commitlog.Entry{entry(TypeCreate, good), entry(TypeSet, payloadFor(2, []op{setOp("$.a", "1")}))}
	ok[1].TxID = 2
	require.NoError(t, sh.Apply(ok))
	assert.Equal(t, `{"a":1}`, get(t, s, "d", "$", 2))
	assert.Equal(t, `{}`, get(t, s, "d", "$", 1))
}

func FuzzApply(f *testing.F) {
	f.Add(TypeCreate, payloadFor(1, []op{{kind: opCreate, pathText: "$", raw: []byte(`{"a":[1]}`)}}))
	f.Add(TypePatch, payloadFor(1, []op{{kind: opCreate, pathText: "$", raw: []byte(`[]`)}, setOp("$[0].x", `"v"`), {kind: opDelete, pathText: "$[0]"}}))
	f.Add(TypeDeleteDoc, payloadFor(0, []op{{kind: opDeleteDoc, pathText: "$"}}))
	f.Add(TypeSet, []byte{})
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		s, sh := newStore()
		err := sh.Apply([]commitlog.Entry{{Type: typ, Version: 1, TxID: 1, Payload: payload}})
		if err == nil {
			for _, k := range s.Keys(run, 1) {
				if _, err := s.Get(run, k, "$", 1); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// Readers walk the chains while the actor applies: run under -race.
func TestConcurrentReadsDuringApply(t *testing.T) {
	s, sh := newStore()
	commitOne(t, s, sh, 1, func(tx *Tx) { require.NoError(t, tx.Create("d", []byte(`{"n":0,"list":[]}`))) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			b, err := s.Get(run, "d", "$.list", 1)
			if err != nil || string(b) != `[]` {
				t.Errorf("snapshot 1 changed: %s %v", b, err)
				return
			}
			_ = s.Keys(run, 1000)
			_, _ = s.Get(run, "d", "$", 1000)
		}
	}()
	for v := uint64(2); v <= 100; v++ {
		commitOne(t, s, sh, v, func(tx *Tx) {
			require.NoError(t, tx.Set("d", fmt.Sprintf("$.list[%d]", v-2), []byte(`1`)))
		})
		if v%10 == 0 {
			sh.Trim(1)
		}
	}
	<-done
	ver, err := s.Version(run, "d", 100)
	require.NoError(t, err)
	assert.Equal(t, uint64(100), ver)
}

// payloadFor is the WAL payload of ops on document "d" of run, resulting in version.
func payloadFor(version uint64, ops []op) []byte {
	return encode(&decoded{run: run, key: "d", version: version, ops: ops})
}
