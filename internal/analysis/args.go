package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// placeholder matches {{args.name}}, with optional spaces inside the braces.
var placeholder = regexp.MustCompile(`{{\s*args\.([A-Za-z0-9_.-]+)\s*}}`)

// resolvedArgs are an AnalysisRun's argument values, with the values that
// came from Secrets kept apart so they can be masked wherever text leaves
// the controller.
type resolvedArgs struct {
	values  map[string]string
	secrets []string
}

// resolveArgs reads every argument's value; Secret references are read now,
// at measurement time, and never written anywhere.
func resolveArgs(ctx context.Context, run *v1alpha1.AnalysisRun, secrets metricproviders.SecretReader) (resolvedArgs, error) {
	out := resolvedArgs{values: map[string]string{}}
	for _, a := range run.Spec.Args {
		switch {
		case a.Value != nil:
			out.values[a.Name] = *a.Value
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
			ref := a.ValueFrom.SecretKeyRef
			v, err := secrets.SecretValue(ctx, run.Namespace, ref.Name, ref.Key)
			if err != nil {
				return out, fmt.Errorf("argument %q: reading key %q of Secret %q: %w", a.Name, ref.Key, ref.Name, err)
			}
			out.values[a.Name] = v
			if v != "" {
				out.secrets = append(out.secrets, v)
			}
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			return out, fmt.Errorf("argument %q: fieldRef %q was not resolved by the object that created this run", a.Name, a.ValueFrom.FieldRef.FieldPath)
		default:
			return out, fmt.Errorf("argument %q has no value: the run's creator must supply it", a.Name)
		}
	}
	return out, nil
}

// substitute replaces {{args.name}} everywhere in the metric: queries, URLs,
// headers, Job specs and conditions. A placeholder naming no argument is an
// error that names it.
func substitute(m v1alpha1.Metric, args resolvedArgs) (v1alpha1.Metric, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return m, fmt.Errorf("encoding metric %q: %w", m.Name, err)
	}
	var missing []string
	replaced := placeholder.ReplaceAllFunc(b, func(match []byte) []byte {
		name := string(placeholder.FindSubmatch(match)[1])
		v, ok := args.values[name]
		if !ok {
			missing = append(missing, name)
			return match
		}
		// The value lands inside a JSON string: escape it as one.
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		return m, fmt.Errorf("metric %q uses argument(s) %s that the run does not define", m.Name, strings.Join(missing, ", "))
	}
	var out v1alpha1.Metric
	if err := json.Unmarshal(replaced, &out); err != nil {
		return m, fmt.Errorf("metric %q after argument substitution: %w", m.Name, err)
	}
	return out, nil
}

// mask hides secret values in text that goes to status, events or logs.
func (a resolvedArgs) mask(s string) string {
	for _, v := range a.secrets {
		s = strings.ReplaceAll(s, v, "*****")
	}
	return s
}
