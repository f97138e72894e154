package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/gcpfake"
)

// monitoringCall is one request the fake Cloud Monitoring API received.
type monitoringCall struct {
	path, auth string
	query      url.Values
}

// fakeMonitoring speaks the two Cloud Monitoring calls the provider makes:
// a PromQL instant query that answers only the ADC token, and a paged
// timeSeries.list that answers only the service-account key's token.
type fakeMonitoring struct {
	*httptest.Server
	mu    sync.Mutex
	calls []monitoringCall
}

func newFakeMonitoring(t *testing.T, promToken, listToken string) *fakeMonitoring {
	f := &fakeMonitoring{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, monitoringCall{path: r.Method + " " + r.URL.Path, auth: r.Header.Get("Authorization"), query: r.URL.Query()})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/projects/shop-prod/location/global/prometheus/api/v1/query" && r.Header.Get("Authorization") == "Bearer "+promToken:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1772366400,"0.002"]}]}}`)
		case r.URL.Path == "/v3/projects/shop-prod/timeSeries" && r.Header.Get("Authorization") == "Bearer "+listToken:
			if r.URL.Query().Get("pageToken") == "" {
				fmt.Fprint(w, `{"timeSeries":[{"valueType":"DOUBLE","points":[
					{"interval":{"endTime":"2026-03-01T12:00:00Z"},"value":{"doubleValue":250}},
					{"interval":{"endTime":"2026-03-01T11:59:00Z"},"value":{"doubleValue":40}}]}],"nextPageToken":"p2"}`)
				return
			}
			fmt.Fprint(w, `{"timeSeries":[]}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMonitoring) snapshot() []monitoringCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]monitoringCall(nil), f.calls...)
}

// TestAnalysisCloudMonitoring runs two AnalysisRuns against a local Cloud
// Monitoring API and local token endpoints: a PromQL metric authorised by
// Application Default Credentials (a key file named by
// GOOGLE_APPLICATION_CREDENTIALS in the controller's environment) passes,
// and a timeSeries.list filter authorised by a service-account key from a
// Secret reads 250 requests a second and fails. Arguments reach the
// queries, each credential mints one token for all its measurements, and
// no token or key reaches a log, a status or an Event.
func TestAnalysisCloudMonitoring(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cloudmon")
	adc := gcpfake.New(t, cloudmonitoring.Scope)
	keyed := gcpfake.New(t, cloudmonitoring.Scope)
	api := newFakeMonitoring(t, adc.AccessToken, keyed.AccessToken)

	keyFile := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(keyFile, []byte(adc.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	// The controller process inherits these: its ADC key and the
	// operator's endpoint override.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyFile)
	t.Setenv(cloudmonitoring.EnvEndpoint, api.URL)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gcp-sa", Namespace: ns}, StringData: map[string]string{"key.json": keyed.Key}}
	if err := c.ctrl.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	p := runController(t, ns)

	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: healthy
spec:
  args:
  - name: hash
    value: 6d4f8c
  metrics:
  - name: error-ratio
    interval: 1s
    count: 2
    successCondition: result[0] < 0.01
    provider:
      plugin:
        kanaria.dev/cloud-monitoring:
          project: shop-prod
          promql: sum(rate(http_requests_total{code=~"5..",pod_template_hash="{{args.hash}}"}[5m])) / sum(rate(http_requests_total{pod_template_hash="{{args.hash}}"}[5m]))
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: overloaded
spec:
  args:
  - name: urlmap
    value: shop-lb
  metrics:
  - name: lb-request-rate
    failureCondition: result[0] > 100
    provider:
      plugin:
        kanaria.dev/cloud-monitoring:
          project: shop-prod
          filter: metric.type="loadbalancing.googleapis.com/https/request_count" AND resource.label."url_map_name"="{{args.urlmap}}"
          lookback: 10m
          aggregation: {alignmentPeriod: 60s, perSeriesAligner: ALIGN_RATE, crossSeriesReducer: REDUCE_SUM}
          credentials: {secretRef: {name: gcp-sa, key: key.json}}
`)
	healthy := waitRun(t, c, ns, "healthy", 2*time.Minute)
	overloaded := waitRun(t, c, ns, "overloaded", 2*time.Minute)
	if m := healthy.Status.MetricResults; healthy.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || len(m) != 1 ||
		len(m[0].Measurements) != 2 || m[0].Measurements[1].Value != "[0.002]" {
		t.Errorf("healthy run ended %s (%s): %+v", healthy.Status.Phase, healthy.Status.Message, m)
	}
	if m := overloaded.Status.MetricResults; overloaded.Status.Phase != v1alpha1.AnalysisPhaseFailed || len(m) != 1 ||
		len(m[0].Measurements) != 1 || m[0].Measurements[0].Value != "[250]" {
		t.Errorf("overloaded run ended %s (%s): %+v", overloaded.Status.Phase, overloaded.Status.Message, m)
	}

	const promQL = `sum(rate(http_requests_total{code=~"5..",pod_template_hash="6d4f8c"}[5m])) / sum(rate(http_requests_total{pod_template_hash="6d4f8c"}[5m]))`
	const filter = `metric.type="loadbalancing.googleapis.com/https/request_count" AND resource.label."url_map_name"="shop-lb"`
	var prom, list int
	for _, call := range api.snapshot() {
		switch call.path {
		case "GET /v1/projects/shop-prod/location/global/prometheus/api/v1/query":
			prom++
			if call.auth != "Bearer "+adc.AccessToken || call.query.Get("query") != promQL || call.query.Get("time") == "" {
				t.Errorf("PromQL request: auth %q query %v", call.auth, call.query)
			}
		case "GET /v3/projects/shop-prod/timeSeries":
			list++
			q := call.query
			start, err1 := time.Parse(time.RFC3339Nano, q.Get("interval.startTime"))
			end, err2 := time.Parse(time.RFC3339Nano, q.Get("interval.endTime"))
			if call.auth != "Bearer "+keyed.AccessToken || q.Get("filter") != filter || q.Get("view") != "FULL" ||
				q.Get("aggregation.alignmentPeriod") != "60s" || q.Get("aggregation.perSeriesAligner") != "ALIGN_RATE" ||
				q.Get("aggregation.crossSeriesReducer") != "REDUCE_SUM" || err1 != nil || err2 != nil || end.Sub(start) != 10*time.Minute {
				t.Errorf("timeSeries.list request: auth %q query %v", call.auth, q)
			}
		default:
			t.Errorf("unexpected request %s", call.path)
		}
	}
	if prom != 2 || list != 2 {
		t.Errorf("%d PromQL and %d timeSeries.list requests, want 2 measurements and 2 pages", prom, list)
	}
	if a, k := adc.Calls(t), keyed.Calls(t); a != 1 || k != 1 {
		t.Errorf("token requests: %d with ADC, %d with the Secret's key; want one each (tokens are cached)", a, k)
	}

	logs := p.log.String()
	if n := strings.Count(logs, "\tmeasured\t"); n != 3 {
		t.Errorf("%d measured lines in the log, want 3", n)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(runs)
	texts := []string{string(b), logs}
	for _, e := range evs.Items {
		texts = append(texts, e.Message)
	}
	// A line from the middle of each private key stands for the key.
	credentials := []string{adc.AccessToken, keyed.AccessToken,
		strings.Split(adc.PrivateKeyPEM, "\n")[5], strings.Split(keyed.PrivateKeyPEM, "\n")[5]}
	for _, text := range texts {
		if found := findSecret(text, credentials...); len(found) > 0 {
			t.Fatalf("a Google credential leaked into an Event, a run or the log (as %v)", found)
		}
	}
}
