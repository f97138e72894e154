// Package condition decides measurements: it evaluates a metric's
// successCondition and failureCondition, expr-lang expressions over the
// provider's `result`, the way Argo Rollouts does.
package condition

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// maxCachedPrograms bounds the cache. Conditions are cached after argument
// substitution, so every distinct argument value is a distinct key; without
// a bound a long-lived controller would keep every one it ever saw.
const maxCachedPrograms = 1024

// env is what expressions are checked and run against. A struct whose only
// field is of type any keeps `result` fully dynamic at compile time, so one
// compiled program serves every result type a provider may produce, while
// unknown identifiers (typos such as `reslt`) still fail to compile.
type env struct {
	Result any `expr:"result"`
}

// Evaluator compiles conditions once and caches them by expression text. It
// is safe for concurrent use: compiled programs are immutable and every run
// gets a VM of its own.
type Evaluator struct {
	mu       sync.RWMutex
	programs map[string]*vm.Program
	options  []expr.Option
}

// NewEvaluator returns an Evaluator with an empty cache.
func NewEvaluator() *Evaluator {
	opts := []expr.Option{expr.Env(env{})}
	opts = append(opts, helperOptions()...)
	return &Evaluator{
		programs: make(map[string]*vm.Program),
		options:  opts,
	}
}

// Compile checks that expression parses and type-checks, without running it.
// Validation calls it so that an unparsable condition is reported on the run
// before any measurement is taken.
func (e *Evaluator) Compile(expression string) error {
	_, err := e.program(expression)
	return err
}

// Evaluate decides a measurement from result with the rules Argo Rollouts
// documents:
//
//   - neither condition set: Successful;
//   - only successCondition: Successful when it holds, else Failed;
//   - only failureCondition: Failed when it holds, else Successful;
//   - both: Failed when failureCondition holds (it wins over success),
//     Successful when only successCondition holds, else Inconclusive.
//
// An expression that cannot be compiled or run, or that does not yield a
// bool, is an error; the engine records it as an Error measurement.
func (e *Evaluator) Evaluate(successCondition, failureCondition string, result any) (v1alpha1.AnalysisPhase, error) {
	result = normalize(result)
	var succeeded, failed bool
	var err error
	if successCondition != "" {
		if succeeded, err = e.eval(successCondition, result); err != nil {
			return v1alpha1.AnalysisPhaseError, fmt.Errorf("successCondition: %w", err)
		}
	}
	if failureCondition != "" {
		if failed, err = e.eval(failureCondition, result); err != nil {
			return v1alpha1.AnalysisPhaseError, fmt.Errorf("failureCondition: %w", err)
		}
	}

	switch {
	case successCondition == "" && failureCondition == "":
		return v1alpha1.AnalysisPhaseSuccessful, nil
	case failureCondition == "":
		failed = !succeeded
	case successCondition == "":
		succeeded = !failed
	}
	switch {
	case failed:
		return v1alpha1.AnalysisPhaseFailed, nil
	case succeeded:
		return v1alpha1.AnalysisPhaseSuccessful, nil
	default:
		return v1alpha1.AnalysisPhaseInconclusive, nil
	}
}

// eval runs one condition and insists on a bool, because a condition that
// yields e.g. a number is almost certainly a mistake (a missing comparison)
// rather than something to coerce.
func (e *Evaluator) eval(expression string, result any) (bool, error) {
	program, err := e.program(expression)
	if err != nil {
		return false, err
	}
	out, err := expr.Run(program, env{Result: result})
	if err != nil {
		// Naming the result's type turns expr's terse operator errors (e.g.
		// "invalid operation: string > float64") into something a template
		// author can act on.
		return false, fmt.Errorf("evaluating %q with result of type %s: %s", expression, describe(result), message(err))
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: expected a bool, got %s", expression, describe(out))
	}
	return b, nil
}

// program returns the cached program for expression, compiling it on a miss.
func (e *Evaluator) program(expression string) (*vm.Program, error) {
	e.mu.RLock()
	p, ok := e.programs[expression]
	e.mu.RUnlock()
	if ok {
		return p, nil
	}

	// Compiling outside the lock keeps slow compiles from blocking readers;
	// two goroutines racing on the same new expression both compile, which
	// is harmless because the programs are equivalent.
	p, err := expr.Compile(expression, e.options...)
	if err != nil {
		return nil, fmt.Errorf("compiling %q: %s", expression, message(err))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.programs) >= maxCachedPrograms {
		// Dropping everything is crude but cheap, and recompiling the few
		// conditions that are actually in use costs microseconds.
		e.programs = make(map[string]*vm.Program)
	}
	e.programs[expression] = p
	return p, nil
}

// message renders an expr error on one line. expr's own rendering appends a
// multi-line source snippet with a caret, which reads badly in a status
// message and an Event; the position is kept as line:column instead.
func message(err error) string {
	var fileErr *file.Error
	if errors.As(err, &fileErr) {
		if fileErr.Line > 0 {
			return fmt.Sprintf("%s (at %d:%d)", fileErr.Message, fileErr.Line, fileErr.Column+1)
		}
		return fileErr.Message
	}
	return err.Error()
}

// describe names a value's type for an error message without printing the
// value itself, which may be large.
func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// normalize turns typed nils (a nil []float64, a nil map, a nil pointer)
// into an untyped nil so that `result == nil` and isNil(result) agree, and
// dereferences pointers as Argo Rollouts does for providers that hand back
// pointers.
func normalize(v any) any {
	if isNil(v) {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		return rv.Elem().Interface()
	}
	return v
}

// isNil reports whether v is nil or a nil pointer, map, slice, channel,
// function or interface. An empty but non-nil slice is not nil: "a vector
// with no series" and "no data" are distinct results.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
