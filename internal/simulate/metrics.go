package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// scripted is the metric provider of a simulation: every provider kind
// (Prometheus, Datadog, web, ...) answers from the scenario's metrics, by
// metric name, at the virtual time of the measurement.
type scripted struct {
	sc    *Scenario
	start time.Time
	// now is the virtual clock, set by the simulation before it lets the
	// analysis controller measure.
	now time.Time
	mu  sync.Mutex
	// taken counts the measurements of a metric per segment, for tables.
	taken map[string]map[int]int
}

func newScripted(sc *Scenario, start time.Time) *scripted {
	return &scripted{sc: sc, start: start, now: start, taken: map[string]map[int]int{}}
}

// Query implements metricproviders.Querier.
func (s *scripted) Query(_ context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := req.Metric.Name
	segs := s.sc.Metrics[name]
	if len(segs) == 0 {
		return metricproviders.Value{}, fmt.Errorf("the scenario scripts no values for metric %q (add it under metrics:)", name)
	}
	at := s.now.Sub(s.start)
	i := -1
	for k, seg := range segs {
		if seg.From.D() <= at {
			i = k
		}
	}
	if i < 0 {
		return metricproviders.Value{}, fmt.Errorf("the scenario scripts no value for metric %q before %s", name, segs[0].From)
	}
	seg := segs[i]
	if s.taken[name] == nil {
		s.taken[name] = map[int]int{}
	}
	n := s.taken[name][i]
	s.taken[name][i]++
	switch {
	case seg.Error != "":
		return metricproviders.Value{}, errors.New(seg.Error)
	case seg.Ramp != nil:
		r := seg.Ramp
		frac := 1.0
		if r.Over > 0 {
			frac = min(1, float64(at-seg.From.D())/float64(r.Over.D()))
		}
		v := r.From + (r.To-r.From)*frac
		if r.Vector {
			return value([]any{v}), nil
		}
		return value(v), nil
	case seg.Table != nil:
		return value(seg.Table[min(n, len(seg.Table)-1)]), nil
	}
	return value(seg.Value), nil
}

// value turns a YAML value into what conditions see as result: numbers are
// float64, a list of numbers is a []float64 as a Prometheus vector gives.
func value(v any) metricproviders.Value {
	res := normalise(v)
	return metricproviders.Value{Result: res, Raw: raw(res)}
}

func normalise(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case []any:
		nums := make([]float64, 0, len(x))
		for _, e := range x {
			f, ok := normalise(e).(float64)
			if !ok {
				out := make([]any, len(x))
				for i, e := range x {
					out[i] = normalise(e)
				}
				return out
			}
			nums = append(nums, f)
		}
		return nums
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalise(e)
		}
		return out
	}
	return v
}

// raw renders a result as status shows a measurement's value.
func raw(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(f, 'f', -1, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case string:
		return x
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// recorder collects the analysis controller's Events into the timeline.
type recorder struct{ w *world }

// Event implements record.EventRecorder.
func (r *recorder) Event(obj runtime.Object, typ, reason, message string) {
	name := ""
	if o, ok := obj.(interface{ GetName() string }); ok {
		name = o.GetName()
	}
	r.w.events = append(r.w.events, recordedEvent{at: r.w.now, object: "AnalysisRun/" + name, typ: typ, reason: reason, message: message})
}

// Eventf implements record.EventRecorder.
func (r *recorder) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	r.Event(obj, typ, reason, fmt.Sprintf(format, args...))
}

// AnnotatedEventf implements record.EventRecorder.
func (r *recorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	r.Event(obj, typ, reason, fmt.Sprintf(format, args...))
}
