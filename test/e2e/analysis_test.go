package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
)

// applyYAML writes manifest to a file and applies it into ns.
func applyYAML(t *testing.T, ns, manifest string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", path)
}

// waitRun waits until an AnalysisRun completes and returns it.
func waitRun(t *testing.T, c clients, ns, name string, timeout time.Duration) *v1alpha1.AnalysisRun {
	t.Helper()
	var run v1alpha1.AnalysisRun
	eventually(t, timeout, "AnalysisRun "+name+" to complete", func() (bool, error) {
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &run); err != nil {
			return false, err
		}
		return run.Status.Phase.Completed(), fmt.Errorf("phase %q: %s", run.Status.Phase, run.Status.Message)
	})
	return &run
}

// webTarget is a local HTTP endpoint a web metric measures.
type webTarget struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newWebTarget(t *testing.T) *webTarget {
	w := &webTarget{hits: map[string]int{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.hits[r.URL.Path]++
		w.mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(rw, `{"ok": true, "errors": 0}`)
		case "/bad":
			fmt.Fprint(rw, `{"ok": false, "errors": 12}`)
		case "/maybe":
			fmt.Fprint(rw, `{"ok": "unknown", "errors": 3}`)
		case "/slow":
			time.Sleep(3 * time.Second)
			fmt.Fprint(rw, `{"ok": true}`)
		default:
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webTarget) count(path string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits[path]
}

const webRunTemplate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    failureCondition: result.ok == false
    consecutiveErrorLimit: 0
    provider:
      web:
        url: %s
        timeoutSeconds: 1
`

// TestAnalysisWebVerdicts runs web metrics against a local endpoint and checks
// each verdict: success, failure, inconclusive, an HTTP error and a timeout.
func TestAnalysisWebVerdicts(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "web")
	runController(t, ns)
	target := newWebTarget(t)

	cases := []struct {
		name, path string
		phase      v1alpha1.AnalysisPhase
		message    string
	}{
		{"success", "/ok", v1alpha1.AnalysisPhaseSuccessful, ""},
		{"failure", "/bad", v1alpha1.AnalysisPhaseFailed, "failureLimit"},
		{"inconclusive", "/maybe", v1alpha1.AnalysisPhaseInconclusive, "inconclusiveLimit"},
		{"error", "/down", v1alpha1.AnalysisPhaseError, "503"},
		{"timeout", "/slow", v1alpha1.AnalysisPhaseError, "time"},
	}
	for _, tc := range cases {
		applyYAML(t, ns, fmt.Sprintf(webRunTemplate, tc.name, target.URL+tc.path))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := waitRun(t, c, ns, tc.name, time.Minute)
			if run.Status.Phase != tc.phase {
				t.Fatalf("phase %s (%s), want %s", run.Status.Phase, run.Status.Message, tc.phase)
			}
			if !strings.Contains(run.Status.Message+" "+run.Status.MetricResults[0].Message, tc.message) {
				t.Errorf("messages %q / %q do not mention %q", run.Status.Message, run.Status.MetricResults[0].Message, tc.message)
			}
			if got := target.count(tc.path); got != 1 {
				t.Errorf("the endpoint was measured %d times, want once", got)
			}
			if len(run.Status.MetricResults[0].Measurements) != 1 || run.Status.CompletedAt == nil || run.Status.StartedAt == nil {
				t.Errorf("status %+v", run.Status)
			}
		})
	}
	assertEventsOf(t, c, ns, "failure", "MetricFailed", "AnalysisRunFailed")
}

// assertEventsOf checks that an object's Events include these reasons.
func assertEventsOf(t *testing.T, c clients, ns, name string, reasons ...string) {
	t.Helper()
	assertEvents(t, c, ns, name, reasons...)
}

// TestAnalysisErrorsCountToTheLimit: a provider that is down errors each
// measurement; the metric turns Error only after consecutiveErrorLimit is
// passed, and the run says why.
func TestAnalysisErrorsCountToTheLimit(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "errlimit")
	runController(t, ns)
	target := newWebTarget(t)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: down
spec:
  metrics:
  - name: check
    interval: 1s
    count: 10
    consecutiveErrorLimit: 2
    successCondition: result.ok == true
    provider:
      web:
        url: %s/down
`, target.URL))
	run := waitRun(t, c, ns, "down", time.Minute)
	r := run.Status.MetricResults[0]
	if run.Status.Phase != v1alpha1.AnalysisPhaseError || r.Error != 3 || r.ConsecutiveError != 3 || r.Count != 0 {
		t.Fatalf("phase %s, errors %d consecutive %d count %d; want Error after 3 errors", run.Status.Phase, r.Error, r.ConsecutiveError, r.Count)
	}
	if !strings.Contains(run.Status.Message, "consecutiveErrorLimit (2)") {
		t.Errorf("message %q", run.Status.Message)
	}
}

// TestAnalysisBadInput: every kind of bad input ends in a clear message on
// the run (or the Rollout), never a crash.
func TestAnalysisBadInput(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "badinput")
	p := runController(t, ns)
	target := newWebTarget(t)

	runs := map[string]struct{ manifest, want string }{
		"unparsable-condition": {fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: unparsable-condition}
spec:
  metrics:
  - name: check
    successCondition: result.ok ==
    provider: {web: {url: "%s/ok"}}
`, target.URL), "result.ok =="},
		"missing-arg": {fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: missing-arg}
spec:
  args:
  - name: service
  metrics:
  - name: check
    successCondition: result.ok == true
    provider: {web: {url: "%s/ok?svc={{args.service}}"}}
`, target.URL), `"service"`},
		"missing-secret": {fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: missing-secret}
spec:
  args:
  - name: token
    valueFrom:
      secretKeyRef: {name: no-such-secret, key: token}
  metrics:
  - name: check
    successCondition: result.ok == true
    provider:
      web:
        url: "%s/ok"
        headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
`, target.URL), "no-such-secret"},
		"wrong-type": {fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: wrong-type}
spec:
  metrics:
  - name: check
    successCondition: result.ok > 5
    consecutiveErrorLimit: 0
    provider: {web: {url: "%s/maybe"}}
`, target.URL), "result.ok > 5"},
		"undefined-arg": {fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: undefined-arg}
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    consecutiveErrorLimit: 0
    provider: {web: {url: "%s/ok?x={{args.nope}}"}}
`, target.URL), "nope"},
	}
	for name, tc := range runs {
		applyYAML(t, ns, tc.manifest)
		_ = name
	}
	for name, tc := range runs {
		t.Run(name, func(t *testing.T) {
			run := waitRun(t, c, ns, name, time.Minute)
			all := run.Status.Message
			for _, r := range run.Status.MetricResults {
				all += " | " + r.Message
				for _, m := range r.Measurements {
					all += " | " + m.Message
				}
			}
			if run.Status.Phase != v1alpha1.AnalysisPhaseError {
				t.Errorf("phase %s, want Error (%s)", run.Status.Phase, all)
			}
			if !strings.Contains(all, tc.want) {
				t.Errorf("messages %q do not mention %q", all, tc.want)
			}
		})
	}

	// A Rollout that names a template that does not exist is an InvalidSpec
	// naming it, and creating the template clears it.
	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.example/web:1}]}
  strategy:
    canary:
      analysis:
        templates: [{templateName: not-there-yet}]
      steps: [{setWeight: 50}, {pause: {}}]
`)
	ro := waitRollout(t, c, ns, "web", "InvalidSpec for the missing template", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return conditionStatus(ro, v1alpha1.InvalidSpec) == corev1.ConditionTrue
	})
	if msg := condition(ro, v1alpha1.InvalidSpec).Message; !strings.Contains(msg, `"not-there-yet"`) {
		t.Errorf("InvalidSpec message %q does not name the template", msg)
	}
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: not-there-yet}
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    provider: {web: {url: "%s/ok"}}
`, target.URL))
	waitRollout(t, c, ns, "web", "Healthy once the template exists", time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if strings.Contains(p.log.String(), "panic") {
		t.Errorf("the controller panicked:\n%s", p.log.String())
	}
}

// fakeDatadog speaks Datadog's v2 scalar query API, checks the keys, and
// answers with the error rate the test sets.
type fakeDatadog struct {
	*httptest.Server
	mu       sync.Mutex
	rate     float64
	requests []string
	badAuth  int
}

func newFakeDatadog(t *testing.T, apiKey, appKey string) *fakeDatadog {
	f := &fakeDatadog{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/query/scalar" {
			http.Error(w, `{"errors":["not found"]}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("DD-API-KEY") != apiKey || r.Header.Get("DD-APPLICATION-KEY") != appKey {
			f.badAuth++
			http.Error(w, `{"errors":["Forbidden"]}`, http.StatusForbidden)
			return
		}
		f.requests = append(f.requests, string(body))
		fmt.Fprintf(w, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[%g],"meta":{"unit":null}}]}}}`, f.rate)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDatadog) setRate(r float64) {
	f.mu.Lock()
	f.rate = r
	f.mu.Unlock()
}

func (f *fakeDatadog) snapshot() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...), f.badAuth
}

// TestAnalysisDatadogCanary runs canary-workloadref-hpa-datadog.yaml with its
// background Datadog analysis against a local server that speaks Datadog's
// API: a good error rate completes the canary, a bad one aborts it back to
// the stable version; the keys come from the datadog Secret and appear in no
// log, status or Event.
func TestAnalysisDatadogCanary(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "datadog")
	const apiKey, appKey = "e2e-api-key-7d1f", "e2e-app-key-93ac"
	dd := newFakeDatadog(t, apiKey, appKey)
	dd.setRate(0.01)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns},
		StringData: map[string]string{"address": dd.URL, "api-key": apiKey, "app-key": appKey}}
	if err := c.ctrl.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	p := runController(t, ns, "--controller-namespace", ns)

	applyDocs(t, ns, "canary-workloadref-hpa-datadog.yaml", "Deployment")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/measure-api", "--timeout=120s")
	applySeed(t, ns, "canary-workloadref-hpa-datadog.yaml")
	v1 := waitRollout(t, c, ns, "measure-api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	// Shorten the 30s pauses and measurement interval (the fixtures README
	// allows patching durations); the steps themselves stay.
	for i := 1; i <= 5; i += 2 {
		mustKubectl(t, "-n", ns, "patch", "rollout", "measure-api", "--type", "json",
			"-p", fmt.Sprintf(`[{"op":"replace","path":"/spec/strategy/canary/steps/%d/pause/duration","value":"3s"}]`, i))
	}
	mustKubectl(t, "-n", ns, "patch", "analysistemplate", "error-rate", "--type", "json",
		"-p", `[{"op":"replace","path":"/spec/metrics/0/interval","value":"2s"}]`)

	// A good release completes.
	mustKubectl(t, "-n", ns, "set", "image", "deployment/measure-api", "api=registry.example/measure-api:1.1.0")
	ro := waitRollout(t, c, ns, "measure-api", "Healthy on 1.1.0", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != v1
	})
	v2 := ro.Status.StableRS
	reqs, bad := dd.snapshot()
	if len(reqs) == 0 || bad != 0 {
		t.Fatalf("Datadog saw %d good and %d unauthorised requests", len(reqs), bad)
	}
	var body struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				From, To int64
				Queries  []map[string]string `json:"queries"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(reqs[0]), &body); err != nil {
		t.Fatal(err)
	}
	q := body.Data.Attributes.Queries
	if body.Data.Type != "scalar_request" || len(q) != 1 || !strings.Contains(q[0]["query"], "service:measure-api") ||
		strings.Contains(q[0]["query"], "{{") || body.Data.Attributes.To-body.Data.Attributes.From != 5*60*1000 {
		t.Errorf("unexpected Datadog request %s", reqs[0])
	}

	// A bad error rate aborts the update back to the stable version.
	dd.setRate(0.2)
	mustKubectl(t, "-n", ns, "set", "image", "deployment/measure-api", "api=registry.example/measure-api:1.2.0")
	ro = waitRollout(t, c, ns, "measure-api", "aborted by the analysis", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})
	if !strings.Contains(ro.Status.Message, "error-rate") {
		t.Errorf("abort message %q does not name the metric", ro.Status.Message)
	}
	waitCounts(t, c, ns, "measure-api", map[string]int32{ro.Status.CurrentPodHash: 0, v2: 4})
	if h := serviceHash(t, c, ns, "measure-api-stable"); h != v2 {
		t.Errorf("stable Service selects %q, want %q", h, v2)
	}

	// The keys are nowhere to be seen.
	evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range evs.Items {
		texts = append(texts, e.Message)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(runs)
	texts = append(texts, string(b), p.log.String())
	for _, text := range texts {
		if strings.Contains(text, apiKey) || strings.Contains(text, appKey) {
			t.Fatalf("a Datadog key leaked into an Event, a run or the log")
		}
	}
}
