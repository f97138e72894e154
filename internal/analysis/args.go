package analysis

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

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
	return maskSecrets(s, a.secrets)
}

// withSecrets returns a copy of a that also masks more, e.g. credentials a
// provider read from Secrets for one measurement.
func (a resolvedArgs) withSecrets(more []string) resolvedArgs {
	if len(more) == 0 {
		return a
	}
	out := a
	out.secrets = append(append([]string(nil), a.secrets...), more...)
	return out
}

// maskMetadata masks every value of a measurement's metadata, e.g. the
// resolved query a provider records, which holds any argument it used.
func (a resolvedArgs) maskMetadata(md map[string]string) map[string]string {
	if len(md) == 0 || len(a.secrets) == 0 {
		return md
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[a.mask(k)] = a.mask(v)
	}
	return out
}

// secretMask replaces a secret value wherever it shows.
const secretMask = "*****"

// maskSecrets replaces each secret in s, in every form a provider may have
// written it into a query, a URL, a request body or an error: as is,
// URL-escaped (query and path), JSON-escaped and base64-encoded. Longer
// forms go first, so a form that contains another is masked whole.
func maskSecrets(s string, secrets []string) string {
	if len(secrets) == 0 || s == "" {
		return s
	}
	var forms []string
	for _, v := range secrets {
		forms = append(forms, secretForms(v)...)
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, secretMask)
	}
	return s
}

// secretForms lists the encodings of a secret value that text may hold.
func secretForms(v string) []string {
	if v == "" {
		return nil
	}
	q, _ := json.Marshal(v)
	forms := []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		string(q[1 : len(q)-1]),
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		base64.RawStdEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
	}
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// recordingSecrets reads Secrets for a provider and remembers every value
// it handed out, so the measurement's text can be masked of them too.
type recordingSecrets struct {
	inner metricproviders.SecretReader
	mu    sync.Mutex
	seen  []string
}

// SecretValue reads a key and records its value.
func (r *recordingSecrets) SecretValue(ctx context.Context, namespace, name, key string) (string, error) {
	v, err := r.inner.SecretValue(ctx, namespace, name, key)
	if err == nil && v != "" {
		r.mu.Lock()
		r.seen = append(r.seen, v)
		r.mu.Unlock()
	}
	return v, err
}

// values returns what was read so far.
func (r *recordingSecrets) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}
