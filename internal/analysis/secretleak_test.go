package analysis

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// leakyQuerier writes every secret it sees, in every encoding, into every
// field of what it returns, as a careless provider could: the query it
// sent, a request URL, a body, an error.
type leakyQuerier struct {
	credential string // a key the provider reads from a Secret itself
	fail       bool
}

func leakForms(v string) string {
	q, _ := json.Marshal(v)
	return strings.Join([]string{v, url.QueryEscape(v), url.PathEscape(v), string(q[1 : len(q)-1]),
		base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))}, " | ")
}

func (l leakyQuerier) Query(ctx context.Context, req metricproviders.Request) (metricproviders.Value, error) {
	key, err := req.Secrets.SecretValue(ctx, req.Namespace, "provider-creds", "api-key")
	if err != nil {
		return metricproviders.Value{}, err
	}
	query := req.Metric.Provider.Prometheus.Query
	text := "query " + leakForms(query) + " key " + leakForms(key)
	if l.fail {
		return metricproviders.Value{}, errors.New("request failed: " + text)
	}
	return metricproviders.Value{
		Result:   1.0,
		Raw:      text,
		Metadata: map[string]string{"ResolvedPrometheusQuery": text, "url": "https://x.example/?q=" + url.QueryEscape(query) + "&k=" + url.QueryEscape(key)},
	}, nil
}

// TestNoSecretLeavesAMeasurement plants a secret argument in a query whose
// provider echoes it, and a credential the provider reads itself, in every
// encoding into every field of the measurement; none may reach the status.
func TestNoSecretLeavesAMeasurement(t *testing.T) {
	const argSecret = `pl@nted/arg "secret"+1&x=y`
	const credential = "pl@nted-credential/+=="
	secrets := &fakeSecrets{values: map[string]string{
		"ns/creds/token":            argSecret,
		"ns/provider-creds/api-key": credential,
	}}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run"},
		Spec: v1alpha1.AnalysisRunSpec{
			Args: []v1alpha1.Argument{{Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}}},
			Metrics: []v1alpha1.Metric{{
				Name:             "m",
				SuccessCondition: "result[0] >= 0",
				Provider:         v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: `up{token="{{args.token}}"}`}},
			}},
		},
	}
	args, err := resolveArgs(context.Background(), run, secrets)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, fail := range []bool{false, true} {
		r := &Reconciler{
			Secrets:    secrets,
			Queriers:   map[string]metricproviders.Querier{"prometheus": leakyQuerier{fail: fail}},
			Conditions: condition.NewEvaluator(),
			Now:        func() time.Time { return now },
		}
		meas := r.takeMeasurement(context.Background(), run, run.Spec.Metrics[0], args, 0, now)
		b, err := json.Marshal(meas)
		if err != nil {
			t.Fatal(err)
		}
		out := string(b)
		if !strings.Contains(out, secretMask) {
			t.Errorf("fail=%v: nothing was masked, so the provider's output did not reach the measurement: %s", fail, out)
		}
		for _, v := range []string{argSecret, credential} {
			for _, form := range strings.Split(leakForms(v), " | ") {
				// Look in the measurement's JSON and in its decoded strings.
				if strings.Contains(out, form) || strings.Contains(meas.Message+meas.Value+strings.Join(values(meas.Metadata), " "), form) {
					t.Errorf("fail=%v: the form %q of a secret reached the measurement: %s", fail, form, out)
				}
			}
		}
	}
}

func values(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

func TestMaskEncodedForms(t *testing.T) {
	a := resolvedArgs{secrets: []string{"a/b c"}}
	for in, want := range map[string]string{
		"q=a%2Fb+c":        "q=*****",
		"p=a%2Fb%20c":      "p=*****",
		"b64 YS9iIGM=":     "b64 *****",
		`{"v":"a/b c"}`:    `{"v":"*****"}`,
		"nothing to see":   "nothing to see",
		"raw a/b c in log": "raw ***** in log",
	} {
		if got := a.mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
	md := a.maskMetadata(map[string]string{"query": "x=a%2Fb+c"})
	if md["query"] != "x=*****" {
		t.Errorf("metadata %v", md)
	}
}
