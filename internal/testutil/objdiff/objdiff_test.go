package objdiff

import (
	"encoding/json"
	"reflect"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func TestNormalizeDropsEmptyParts(t *testing.T) {
	in := decode(t, `{"a":null,"b":{},"c":[],"d":{"e":null,"f":1},"g":[{"h":null}],"i":""}`)
	want := decode(t, `{"d":{"f":1},"g":[{}],"i":""}`)
	if got := Normalize(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("Normalize = %v, want %v", got, want)
	}
}

func TestMissing(t *testing.T) {
	cases := []struct {
		name, want, got string
		diff            []string
	}{
		{"equal", `{"a":1,"b":{"c":"x"}}`, `{"a":1,"b":{"c":"x"}}`, nil},
		{"extra fields in got are fine", `{"a":1}`, `{"a":1,"z":2}`, nil},
		{"missing nested field", `{"a":{"b":{"c":1}}}`, `{"a":{"b":{}}}`, []string{"a.b.c: missing"}},
		{"changed value", `{"a":"x"}`, `{"a":"y"}`, []string{"a: want x, got y"}},
		{"list length", `{"l":[1,2]}`, `{"l":[1]}`, []string{"l: want a list of 2, got a list of 1"}},
		{"list item", `{"l":[{"n":"a"},{"n":"b"}]}`, `{"l":[{"n":"a"},{"n":"c"}]}`, []string{"l[1].n: want b, got c"}},
		{"type change", `{"a":{"b":1}}`, `{"a":"s"}`, []string{"a: want an object, got s"}},
		{"numbers by value", `{"a":1}`, `{"a":1.0}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Missing(decode(t, c.want), decode(t, c.got))
			if !reflect.DeepEqual(got, c.diff) {
				t.Fatalf("Missing = %q, want %q", got, c.diff)
			}
		})
	}
}
