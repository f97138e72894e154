// Package objdiff compares decoded JSON documents field by field, so tests can
// prove that an object survives a trip through the API server and the Go
// types without losing or changing a field.
package objdiff

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// Normalize returns a copy of a decoded JSON value without the parts that
// carry no information: null values, empty objects and empty arrays. Go's
// encoder writes some of these for zero structs (e.g. "creationTimestamp":
// null) where a manifest simply leaves the field out.
func Normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			n := Normalize(val)
			if isEmpty(n) {
				continue
			}
			out[k] = n
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, val := range t {
			n := Normalize(val)
			if n == nil {
				n = map[string]any{}
			}
			out = append(out, n)
		}
		return out
	default:
		return v
	}
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// Missing lists, as dotted paths, every field of want that got lacks or holds
// with another value. Fields only in got are not reported, so want may be a
// manifest and got the object the server returned with its defaults added.
// Numbers compare by value whatever their Go type.
func Missing(want, got any) []string {
	var out []string
	walk("", want, got, &out)
	sort.Strings(out)
	return out
}

func walk(path string, want, got any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want an object, got %s", orRoot(path), describe(got)))
			return
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				*out = append(*out, fmt.Sprintf("%s: missing", join(path, k)))
				continue
			}
			walk(join(path, k), wv, gv, out)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			*out = append(*out, fmt.Sprintf("%s: want a list of %d, got %s", orRoot(path), len(w), describe(got)))
			return
		}
		for i := range w {
			walk(path+"["+strconv.Itoa(i)+"]", w[i], g[i], out)
		}
	default:
		if !scalarEqual(want, got) {
			*out = append(*out, fmt.Sprintf("%s: want %v, got %s", orRoot(path), want, describe(got)))
		}
	}
}

func scalarEqual(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("a list of %d", len(t))
	default:
		return fmt.Sprintf("%v", t)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}
