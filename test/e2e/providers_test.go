package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// fakeNewRelicAndKayenta speaks NerdGraph's NRQL query and Kayenta's
// standalone canary REST calls, and records what it was asked.
type fakeNewRelicAndKayenta struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []string
	nrql   []string
	polls  int
	badKey int
}

func newFakeNewRelicAndKayenta(t *testing.T, apiKey string) *fakeNewRelicAndKayenta {
	f := &fakeNewRelicAndKayenta{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/graphql":
			if r.Header.Get("Api-Key") != apiKey {
				f.badKey++
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"message":"Invalid API key"}]}`)
				return
			}
			var req struct {
				Variables struct {
					AccountID int    `json:"accountId"`
					Query     string `json:"query"`
				} `json:"variables"`
			}
			_ = json.Unmarshal(body, &req)
			f.nrql = append(f.nrql, fmt.Sprintf("%d %s", req.Variables.AccountID, req.Variables.Query))
			fmt.Fprint(w, `{"data":{"actor":{"account":{"nrql":{"results":[{"successRate":99.2}]}}}}}`)
		case r.Method == http.MethodGet && r.URL.Path == "/canaryConfig":
			fmt.Fprint(w, `[{"id":"cfg-1","name":"checkout-canary","applications":["checkout"]}]`)
		case r.Method == http.MethodPost && r.URL.Path == "/canary/cfg-1":
			fmt.Fprint(w, `{"canaryExecutionId":"exec-1"}`)
		case r.Method == http.MethodGet && r.URL.Path == "/canary/exec-1":
			f.polls++
			if f.polls < 2 {
				fmt.Fprint(w, `{"complete":false,"status":"running"}`)
				return
			}
			fmt.Fprint(w, `{"complete":true,"status":"succeeded","result":{"judgeResult":{"score":{"score":82.4,"classification":"Marginal"}}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"not found"}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeNewRelicAndKayenta) snapshot() (calls, nrql []string, badKey int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), append([]string(nil), f.nrql...), f.badKey
}

// TestAnalysisNewRelicAndKayenta runs a New Relic metric with a profile
// Secret and a Kayenta judgement through local servers that speak their
// APIs: the NRQL result passes its condition, Kayenta's marginal score
// makes the run Inconclusive after the judgement is resumed, every
// measurement is one log line, and the API key appears in no log, status
// or Event.
func TestAnalysisNewRelicAndKayenta(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "providers")
	const apiKey = "NRAK-e2e-0123456789abcdef"
	srv := newFakeNewRelicAndKayenta(t, apiKey)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "team-b-newrelic", Namespace: ns},
		StringData: map[string]string{"personal-api-key": apiKey, "account-id": "4242", "base-url-nerdgraph": srv.URL + "/graphql"}}
	if err := c.ctrl.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	p := runController(t, ns, "--controller-namespace", ns)

	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: nrql
spec:
  args:
  - name: app
    value: checkout
  metrics:
  - name: success-rate
    successCondition: result.successRate >= 95
    provider:
      newRelic:
        profile: team-b-newrelic
        query: FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate WHERE appName = '{{args.app}}'
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: judge
spec:
  metrics:
  - name: mann-whitney
    provider:
      kayenta:
        address: `+srv.URL+`
        application: checkout
        canaryConfigName: checkout-canary
        metricsAccountName: prom
        configurationAccountName: configs
        storageAccountName: store
        threshold:
          pass: 90
          marginal: 75
        scopes:
        - name: default
          controlScope: {scope: "app=checkout,hash=a", region: "", step: 60, start: "2025-03-14T08:00:00Z", end: "2025-03-14T09:00:00Z"}
          experimentScope: {scope: "app=checkout,hash=b", region: "", step: 60, start: "2025-03-14T08:00:00Z", end: "2025-03-14T09:00:00Z"}
`)
	run := waitRun(t, c, ns, "nrql", time.Minute)
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.MetricResults[0].Measurements[0].Value != `{"successRate":99.2}` {
		t.Fatalf("nrql run: %s %+v", run.Status.Phase, run.Status.MetricResults)
	}
	// The judgement is looked at 15 s after it starts, and again 15 s later.
	run = waitRun(t, c, ns, "judge", 2*time.Minute)
	res := run.Status.MetricResults[0]
	if run.Status.Phase != v1alpha1.AnalysisPhaseInconclusive || len(res.Measurements) != 1 || res.Measurements[0].Value != "82" ||
		res.Measurements[0].Metadata["canaryExecutionId"] != "exec-1" || res.Measurements[0].Metadata["classification"] != "Marginal" {
		t.Fatalf("judge run: %s %+v", run.Status.Phase, res)
	}
	calls, nrql, badKey := srv.snapshot()
	if badKey != 0 || len(nrql) != 1 || nrql[0] != "4242 FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate WHERE appName = 'checkout'" {
		t.Errorf("NerdGraph saw %v (%d with a bad key)", nrql, badKey)
	}
	want := []string{
		"GET /canaryConfig?application=checkout&configurationAccountName=configs",
		"POST /canary/cfg-1?application=checkout&configurationAccountName=configs&metricsAccountName=prom&storageAccountName=store",
		"GET /canary/exec-1", "GET /canary/exec-1",
	}
	var kayenta []string
	for _, c := range calls {
		if !strings.HasPrefix(c, "POST /graphql") {
			kayenta = append(kayenta, c)
		}
	}
	if strings.Join(kayenta, "\n") != strings.Join(want, "\n") {
		t.Errorf("Kayenta saw\n%s\nwant\n%s", strings.Join(kayenta, "\n"), strings.Join(want, "\n"))
	}

	// One log line per measurement: one for New Relic, three for Kayenta
	// (started, still running, judged).
	logs := p.log.String()
	if n := strings.Count(logs, "\tmeasured\t"); n != 4 {
		t.Errorf("%d measured lines in the log, want 4", n)
	}
	evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(runs)
	texts := []string{string(b), logs}
	for _, e := range evs.Items {
		texts = append(texts, e.Message)
	}
	for _, text := range texts {
		if strings.Contains(text, apiKey) {
			t.Fatal("the New Relic key leaked into an Event, a run or the log")
		}
	}
}
