package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/cloudmonitoring"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/gcpfake"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// secretForms lists the encodings in which a secret value may show up in
// text: as is, URL-escaped for a query and for a path, escaped inside a
// JSON string, and base64 with and without padding, standard and URL-safe.
func secretForms(v string) map[string]string {
	q, _ := json.Marshal(v)
	return map[string]string{
		"plain":          v,
		"query-escaped":  url.QueryEscape(v),
		"path-escaped":   url.PathEscape(v),
		"json-escaped":   string(q[1 : len(q)-1]),
		"base64":         base64.StdEncoding.EncodeToString([]byte(v)),
		"base64-raw":     base64.RawStdEncoding.EncodeToString([]byte(v)),
		"base64-url":     base64.URLEncoding.EncodeToString([]byte(v)),
		"base64-url-raw": base64.RawURLEncoding.EncodeToString([]byte(v)),
	}
}

// findSecret returns which forms of any of values text holds.
func findSecret(text string, values ...string) []string {
	var found []string
	for _, v := range values {
		for form, s := range secretForms(v) {
			if strings.Contains(text, s) {
				found = append(found, form)
			}
		}
	}
	sort.Strings(found)
	return found
}

// echoBackend stands in for the web, Datadog, CloudWatch and Cloud
// Monitoring backends. It
// writes everything it received (method, URL, headers and body) back into
// its answer, as a careless or hostile backend may, so any text of the
// answer the controller keeps would carry the secret.
type echoBackend struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]string // path prefix: everything a request to it carried
}

func newEchoBackend(t *testing.T) *echoBackend {
	t.Helper()
	e := &echoBackend{seen: map[string]string{}}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *echoBackend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var dump strings.Builder
	fmt.Fprintf(&dump, "%s %s\n", r.Method, r.URL.RequestURI())
	for k, vs := range r.Header {
		fmt.Fprintf(&dump, "%s: %s\n", k, strings.Join(vs, ","))
	}
	dump.Write(body)
	echo := strings.ToValidUTF8(dump.String(), "?")
	prefix := "/" + strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	e.mu.Lock()
	e.seen[prefix] += echo
	e.mu.Unlock()

	quoted, _ := json.Marshal(echo)
	switch {
	case r.URL.Path == "/web/ok":
		fmt.Fprintf(w, `{"ok":true,"echo":%s}`, quoted)
	case r.URL.Path == "/dd/api/v2/query/scalar":
		fmt.Fprintf(w, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[0.5],"meta":{"unit":null}}]}},"echo":%s}`, quoted)
	case strings.HasPrefix(r.URL.Path, "/gcm/v1/"):
		// Cloud Monitoring's PromQL API, with the echo as a warning.
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[]},"warnings":[%s]}`, quoted)
	case strings.HasPrefix(r.URL.Path, "/service/"):
		// CloudWatch's Smithy RPC v2 CBOR error.
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("X-Amzn-Query-Error", "InvalidParameterValue;Sender")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(cbor.Encode(cbor.Map{
			"__type":  cbor.String("com.amazonaws.cloudwatch#InvalidParameterValueException"),
			"message": cbor.String("rejected: " + echo),
		}))
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[%s]}`, quoted)
	}
}

func (e *echoBackend) received(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[prefix]
}

// secretScanRun is an AnalysisRun whose token argument comes from the
// planted Secret, around one metric given as YAML lines.
const secretScanRun = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
spec:
  args:
  - name: token
    valueFrom:
      secretKeyRef: {name: planted, key: token}
  metrics:
  - name: m
    consecutiveErrorLimit: 0
%s`

// TestNoSecretReachesTheAPIOrTheLog plants a unique secret, through an
// argument read from a Secret, into every string position of a metric of
// every provider (the URL, headers and bodies of web, the query and
// headers of Prometheus, Datadog's queries over both API versions,
// CloudWatch's expression and label, Cloud Monitoring's PromQL and filter,
// and a Job's command, args and env),
// with backends that write what they received back into their answers and
// errors. Once every run has ended it lists every object of every resource
// the API serves, in all namespaces and cluster-wide, Events included, and
// reads the controller's log: the secret, a Datadog key read from another
// Secret, and the Google access token and private key of a service-account
// key read from a third, appear in none of them in any encoding.
func TestNoSecretReachesTheAPIOrTheLog(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "secretscan")
	ctx := context.Background()
	// Characters that URL, JSON and base64 encodings each change. No
	// space: an HTTP client sends a URL's query as written, and a space
	// there breaks the request line before any backend reads it.
	secret := "pl4nted-" + rand.String(8) + "/+=&~x<y>"
	credential := "dd-key-" + rand.String(10)
	echo := newEchoBackend(t)
	gcp := gcpfake.New(t, cloudmonitoring.Scope)
	// The Google credentials: the access token and a line from the middle
	// of the private key, which stands for the key.
	googleCreds := []string{gcp.AccessToken, strings.Split(gcp.PrivateKeyPEM, "\n")[5]}

	for name, data := range map[string]map[string]string{
		"planted": {"token": secret},
		"dd-ok":   {"address": echo.URL + "/dd", "api-key": credential, "app-key": credential + "-app"},
		"dd-fail": {"address": echo.URL + "/ddfail", "api-key": credential, "app-key": credential + "-app"},
		"gcp-sa":  {"key.json": gcp.Key},
	} {
		if err := c.ctrl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}); err != nil {
			t.Fatal(err)
		}
	}

	// The CloudWatch client finds its endpoint, region and keys in the
	// controller's environment, as on a node without AWS metadata.
	t.Setenv("AWS_ENDPOINT_URL", echo.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv(cloudmonitoring.EnvEndpoint, echo.URL+"/gcm")
	p := runController(t, ns)

	metrics := map[string]string{
		"web-get": fmt.Sprintf(`    successCondition: result.ok == true
    provider:
      web:
        url: "%s/web/ok?token={{args.token}}"
        headers: [{key: X-Token, value: "Bearer {{args.token}}"}]
`, echo.URL),
		"web-post": fmt.Sprintf(`    successCondition: result.ok == true
    provider:
      web:
        method: POST
        url: "%s/web/ok/{{args.token}}"
        body: "token={{args.token}}"
`, echo.URL),
		"web-json": fmt.Sprintf(`    successCondition: result.ok == true
    provider:
      web:
        method: PUT
        url: "%s/web/ok"
        jsonBody: {token: "{{args.token}}", nested: {list: ["{{args.token}}"]}}
`, echo.URL),
		"web-error": fmt.Sprintf(`    successCondition: result.ok == true
    provider:
      web:
        url: "%s/weberr?token={{args.token}}"
        headers: [{key: X-Token, value: "{{args.token}}"}]
`, echo.URL),
		"web-oauth2": fmt.Sprintf(`    successCondition: result.ok == true
    provider:
      web:
        url: "%[1]s/web/ok"
        authentication:
          oauth2:
            tokenUrl: "%[1]s/oauth/token?x={{args.token}}"
            clientId: "{{args.token}}"
            clientSecret: "{{args.token}}"
            scopes: ["{{args.token}}"]
`, echo.URL),
		"web-conditions": fmt.Sprintf(`    successCondition: result.ok == true && "{{args.token}}" != ""
    failureCondition: result.echo == "{{args.token}}"
    provider:
      web:
        url: "%s/web/ok"
        jsonPath: "{$.ok}{{args.token}}"
`, echo.URL),
		"datadog-v2": `    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v2
        query: "avg:trace.errors{service:{{args.token}}}"
        secretRef: {name: dd-ok, namespaced: true}
`,
		"datadog-v2-formula": `    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v2
        queries: {a: "sum:errors{token:{{args.token}}}", b: "sum:hits{token:{{args.token}}}"}
        formula: "a / b"
        secretRef: {name: dd-ok, namespaced: true}
`,
		"datadog-v1": `    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v1
        query: "avg:trace.errors{service:{{args.token}}}"
        secretRef: {name: dd-ok, namespaced: true}
`,
		"datadog-error": `    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v2
        query: "avg:trace.errors{service:{{args.token}}}"
        secretRef: {name: dd-fail, namespaced: true}
`,
		"datadog-v2-bad-formula": `    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v2
        queries: {a: "sum:errors{*}"}
        formula: "a / {{args.token}}"
        secretRef: {name: dd-ok, namespaced: true}
`,
		"cloudwatch-stat": `    successCondition: "true"
    provider:
      cloudWatch:
        metricDataQueries:
        - id: q1
          metricStat:
            metric:
              namespace: "{{args.token}}"
              metricName: "{{args.token}}"
              dimensions: [{name: token, value: "{{args.token}}"}]
            period: 60
            stat: "{{args.token}}"
            unit: Count
`,
		"job-image": `    provider:
      job:
        metadata:
          labels: {token: "{{args.token}}"}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: check
                image: "registry.example/{{args.token}}"
`,
		"cloudwatch": `    successCondition: "true"
    provider:
      cloudWatch:
        interval: 5m
        metricDataQueries:
        - id: q1
          expression: "SEARCH('token={{args.token}}', 'Sum', 60)"
          label: "{{args.token}}"
`,
		"cloud-monitoring-promql": `    successCondition: len(result) == 0
    provider:
      plugin:
        kanaria.dev/cloud-monitoring:
          project: my-proj
          promql: 'sum(up{job="{{args.token}}"})'
          credentials: {secretRef: {name: gcp-sa, key: key.json}}
`,
		"cloud-monitoring-filter": `    successCondition: "true"
    provider:
      plugin:
        kanaria.dev/cloud-monitoring:
          project: my-proj
          filter: 'metric.type="x" AND resource.label."token"="{{args.token}}"'
          aggregation: {groupByFields: ["{{args.token}}"], alignmentPeriod: 60s, perSeriesAligner: ALIGN_RATE, crossSeriesReducer: REDUCE_SUM}
          credentials: {secretRef: {name: gcp-sa, key: key.json}}
`,
		"job": `    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: check
                image: registry.example/check:1
                command: [sh, -c, "curl -H 'X-Token: {{args.token}}' http://svc"]
                args: ["{{args.token}}"]
                env: [{name: TOKEN, value: "Bearer {{args.token}}"}]
`,
	}
	prom := startPrometheusIfPresent(t)
	if prom != "" {
		metrics["prometheus"] = fmt.Sprintf(`    successCondition: len(result) >= 0
    provider:
      prometheus:
        address: %s
        query: 'sum(up{job="{{args.token}}"}) or vector(0)'
        headers: [{key: X-Token, value: "{{args.token}}"}]
`, prom)
		metrics["prometheus-oauth2-range"] = fmt.Sprintf(`    successCondition: len(result) >= 0
    provider:
      prometheus:
        address: %[1]s
        query: 'vector(1)'
        rangeQuery: {start: "now() - {{args.token}}", end: "now()", step: "{{args.token}}"}
        authentication:
          oauth2:
            tokenUrl: "%[2]s/oauth/token"
            clientId: "{{args.token}}"
            clientSecret: "{{args.token}}"
            scopes: ["{{args.token}}"]
`, prom, echo.URL)
		metrics["prometheus-error"] = fmt.Sprintf(`    successCondition: len(result) >= 0
    provider:
      prometheus:
        address: %s
        query: 'up{job="{{args.token}}"} +'
`, prom)
	}
	var docs []string
	for name, m := range metrics {
		docs = append(docs, fmt.Sprintf(secretScanRun, name, m))
	}
	applyYAML(t, ns, strings.Join(docs, "---\n"))

	runs := map[string]*v1alpha1.AnalysisRun{}
	for name := range metrics {
		run := waitRun(t, c, ns, name, 2*time.Minute)
		runs[name] = run
		if len(run.Status.MetricResults) != 1 || len(run.Status.MetricResults[0].Measurements) == 0 {
			t.Errorf("run %s ended %s (%s) without a measurement", name, run.Status.Phase, run.Status.Message)
		}
	}

	// The secret reached every backend, so each position was exercised.
	for prefix, what := range map[string]string{"/web": "web", "/weberr": "web (error)", "/oauth": "OAuth2 token", "/dd": "Datadog", "/ddfail": "Datadog (error)", "/service": "CloudWatch", "/gcm": "Cloud Monitoring"} {
		if forms := findSecret(echo.received(prefix), secret); len(forms) == 0 {
			t.Errorf("the %s backend never received the secret; that position was not tested:\n%s", what, echo.received(prefix))
		}
	}
	if !strings.Contains(echo.received("/dd"), credential) {
		t.Errorf("the Datadog backend never received the key from the Secret")
	}
	if !strings.Contains(echo.received("/gcm"), "Bearer "+gcp.AccessToken) {
		t.Errorf("the Cloud Monitoring backend never received the Google access token")
	}
	if prom != "" {
		md := runs["prometheus"].Status.MetricResults[0].Measurements[0].Metadata
		if q := md["ResolvedPrometheusQuery"]; !strings.Contains(q, "*****") {
			t.Errorf("the resolved Prometheus query %q does not show the masked argument", q)
		}
	}
	var jobs batchv1.JobList
	if err := c.ctrl.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Fatalf("%d Jobs, want the job metric's one (the one with the secret in its image must not be created)", len(jobs.Items))
	}
	if m := runs["job-image"].Status.MetricResults[0]; m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "token") {
		t.Errorf("the Job metric with the secret in its image ended %s (%s), want Error naming the argument", m.Phase, m.Message)
	}
	env := jobs.Items[0].Spec.Template.Spec.Containers[0].Env
	if len(env) == 0 || env[0].ValueFrom == nil || env[0].ValueFrom.SecretKeyRef == nil || env[0].ValueFrom.SecretKeyRef.Name != "planted" {
		t.Errorf("the Job's environment %+v does not reference the Secret", env)
	}

	// Every object of every resource the API serves, in every namespace
	// and cluster-wide, but the Secrets that hold the values on purpose.
	resources, err := c.kube.Discovery().ServerPreferredResources()
	if err != nil && len(resources) == 0 {
		t.Fatalf("discovery: %v", err)
	}
	scanned, inNamespace := 0, 0
	for _, list := range resources {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || (gv.Group == "" && r.Name == "secrets") {
				continue
			}
			objs, err := c.dynamic.Resource(gv.WithResource(r.Name)).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Errorf("listing %s: %v", r.Name, err)
				continue
			}
			for _, o := range objs.Items {
				scanned++
				if o.GetNamespace() == ns {
					inNamespace++
				}
				b, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				if forms := findSecret(string(b), append([]string{secret, credential}, googleCreds...)...); len(forms) > 0 {
					t.Errorf("%s %s/%s holds the secret (%s):\n%s", r.Name, o.GetNamespace(), o.GetName(), strings.Join(forms, ", "), b)
				}
			}
		}
	}
	if inNamespace < len(metrics)*2 || scanned <= inNamespace {
		t.Errorf("scanned only %d objects, %d of them in the test's namespace", scanned, inNamespace)
	}
	if forms := findSecret(p.log.String(), append([]string{secret, credential}, googleCreds...)...); len(forms) > 0 {
		t.Errorf("the controller's log holds the secret (%s)", strings.Join(forms, ", "))
	}
}

// startPrometheusIfPresent starts a real Prometheus scraping an idle target
// and returns its URL, or "" where no prometheus binary is installed and
// the run does not require one.
func startPrometheusIfPresent(t *testing.T) string {
	t.Helper()
	if promserver.Binary() == "" && os.Getenv(promserver.EnvRequire) != "1" {
		t.Log("no prometheus binary: the Prometheus positions are not tested")
		return ""
	}
	target := promserver.NewTarget(t)
	target.Add("requests_total", map[string]string{"job": "x"}, 0)
	return promserver.Start(t, []string{target.HostPort()}, time.Second).URL
}
