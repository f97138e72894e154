package condition

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

// helperOptions registers the functions Argo Rollouts offers in conditions,
// on top of expr's builtins (len, all, any, filter, map, ...). Each one is
// declared with a signature so that a wrong number of arguments is a
// compile error, caught when the template is validated.
func helperOptions() []expr.Option {
	return []expr.Option{
		expr.Function("default", defaultFn, new(func(any, any) any)),
		expr.Function("isNil", isNilFn, new(func(any) bool)),
		expr.Function("isNaN", isNaNFn, new(func(any) bool)),
		expr.Function("isInf", isInfFn, new(func(any) bool)),
		expr.Function("asInt", asIntFn, new(func(any) int64)),
		expr.Function("asFloat", asFloatFn, new(func(any) float64)),
	}
}

// defaultFn is default(value, fallback): fallback when value is nil, else
// value. Upstream's version ignores its first argument and tests the whole
// result, which only differs from this for forms like
// default(result.missing, 0); testing the argument is what such conditions
// plainly mean. NaN is a value, not an absence, so it is returned as is.
func defaultFn(params ...any) (any, error) {
	if isNil(params[0]) {
		return params[1], nil
	}
	return normalize(params[0]), nil
}

// isNilFn is isNil(value): true when value is nil, including a nil slice or
// map.
func isNilFn(params ...any) (any, error) {
	return isNil(params[0]), nil
}

// isNaNFn is isNaN(x): true for a floating-point NaN. Integers are never
// NaN; anything that is not a number is an error rather than false so that
// a condition over the wrong result shape fails loudly.
func isNaNFn(params ...any) (any, error) {
	f, err := toFloat("isNaN", params[0])
	if err != nil {
		return nil, err
	}
	return math.IsNaN(f), nil
}

// isInfFn is isInf(x): true for positive or negative infinity.
func isInfFn(params ...any) (any, error) {
	f, err := toFloat("isInf", params[0])
	if err != nil {
		return nil, err
	}
	return math.IsInf(f, 0), nil
}

// asIntFn is asInt(x): integers as they are, floats truncated toward zero
// and strings parsed as base-10 integers, as upstream does. Junk, NaN,
// infinities and out-of-range values are errors, not zero, so that a bad
// measurement cannot silently pass a threshold.
func asIntFn(params ...any) (any, error) {
	switch v := params[0].(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("asInt: cannot convert %q to an integer", truncate(v))
		}
		return n, nil
	case float64:
		return floatToInt(v)
	case float32:
		return floatToInt(float64(v))
	}
	if n, ok := integer(params[0]); ok {
		return n, nil
	}
	if u, ok := params[0].(uint64); ok {
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("asInt: %d overflows int64", u)
		}
		return int64(u), nil
	}
	return nil, fmt.Errorf("asInt: cannot convert %s to an integer", describe(params[0]))
}

// asFloatFn is asFloat(x): numbers widened to float64 and strings parsed as
// floats (so "NaN" and "+Inf" parse, as Prometheus writes them).
func asFloatFn(params ...any) (any, error) {
	if s, ok := params[0].(string); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("asFloat: cannot convert %q to a number", truncate(s))
		}
		return f, nil
	}
	return toFloat("asFloat", params[0])
}

// toFloat widens any Go number to float64 for the float predicates.
func toFloat(fn string, v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case float32:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	}
	if i, ok := integer(v); ok {
		return float64(i), nil
	}
	return 0, fmt.Errorf("%s: expected a number, got %s", fn, describe(v))
}

// integer converts every integer type that fits in int64. expr produces int
// for literals, and providers may hand over other widths.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		if uint64(n) <= math.MaxInt64 {
			return int64(n), true
		}
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}

// floatToInt truncates f, refusing values that have no int64 counterpart.
func floatToInt(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f >= math.MaxInt64 || f < math.MinInt64 {
		return nil, fmt.Errorf("asInt: %v cannot be converted to an integer", f)
	}
	return int64(f), nil
}

// truncate keeps error messages short when a provider returned a large
// string, e.g. an HTML error page.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
