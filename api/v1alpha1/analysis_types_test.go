package v1alpha1

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// analysisTemplateJSON uses every provider and most fields, in the shape that
// Argo Rollouts users write them.
const analysisTemplateJSON = `{
  "apiVersion": "argoproj.io/v1alpha1",
  "kind": "AnalysisTemplate",
  "metadata": {"name": "everything", "namespace": "shop"},
  "spec": {
    "args": [
      {"name": "service-name"},
      {"name": "prometheus-port", "value": "9090"},
      {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "token-secret", "key": "apiToken"}}},
      {"name": "env", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['env']"}}}
    ],
    "dryRun": [{"metricName": "total-4xx-errors"}],
    "measurementRetention": [{"metricName": ".*", "limit": 20}],
    "templates": [
      {"templateName": "error-rate"},
      {"templateName": "shared-latency", "clusterScope": true}
    ],
    "metrics": [
      {
        "name": "success-rate",
        "interval": "5m",
        "initialDelay": "30s",
        "count": 5,
        "successCondition": "result[0] >= 0.95",
        "failureCondition": "result[0] < 0.5",
        "failureLimit": 3,
        "inconclusiveLimit": "{{args.inconclusive-limit}}",
        "consecutiveErrorLimit": 2,
        "consecutiveSuccessLimit": 3,
        "provider": {
          "prometheus": {
            "address": "http://prometheus.example.com:{{args.prometheus-port}}",
            "query": "sum(rate(http_requests_total{service=\"{{args.service-name}}\",code!~\"5..\"}[5m]))",
            "timeout": 40,
            "insecure": true,
            "headers": [{"key": "X-Scope-OrgID", "value": "tenant-a"}],
            "authentication": {
              "sigv4": {"region": "us-east-1", "profile": "default", "roleArn": "arn:aws:iam::123456789012:role/amp"},
              "oauth2": {"tokenUrl": "https://auth.example.com/token", "clientId": "rollouts", "clientSecret": "{{args.api-token}}", "scopes": ["metrics.read"]}
            },
            "rangeQuery": {"start": "now() - duration(\"1h\")", "end": "now()", "step": "1m"}
          }
        }
      },
      {
        "name": "webmetric",
        "count": "{{args.count}}",
        "successCondition": "result.ok == true",
        "provider": {
          "web": {
            "method": "POST",
            "url": "https://api.example.com/measure?service={{args.service-name}}",
            "headers": [{"key": "Authorization", "value": "Bearer {{args.api-token}}"}],
            "timeoutSeconds": 20,
            "jsonPath": "{$.results}",
            "insecure": false,
            "jsonBody": {"service": "{{args.service-name}}", "window": 300, "filters": ["a", "b"], "nested": {"deep": true}},
            "authentication": {"oauth2": {"tokenUrl": "https://auth.example.com/token", "clientId": "c", "clientSecret": "s"}}
          }
        }
      },
      {
        "name": "web-text-body",
        "provider": {"web": {"method": "PUT", "url": "https://api.example.com/check", "body": "plain text"}}
      },
      {
        "name": "smoke-test",
        "failureLimit": "-1",
        "provider": {
          "job": {
            "metadata": {"labels": {"team": "shop"}, "annotations": {"sidecar.istio.io/inject": "false"}},
            "spec": {
              "backoffLimit": 1,
              "ttlSecondsAfterFinished": 600,
              "template": {
                "metadata": {"labels": {"app": "smoke"}},
                "spec": {
                  "restartPolicy": "Never",
                  "containers": [{
                    "name": "test",
                    "image": "curlimages/curl:8.7.1",
                    "args": ["-fsS", "http://{{args.service-name}}/healthz"],
                    "env": [{"name": "TOKEN", "value": "{{args.api-token}}"}]
                  }]
                }
              }
            }
          }
        }
      },
      {
        "name": "error-rate-dd",
        "interval": "1m",
        "successCondition": "default(result, 0) < 0.05",
        "provider": {
          "datadog": {
            "apiVersion": "v2",
            "interval": "5m",
            "queries": {"a": "sum:requests.error.count{service:{{args.service-name}}}.as_count()", "b": "sum:requests.request.count{service:{{args.service-name}}}.as_count()"},
            "formula": "a / b",
            "aggregator": "sum",
            "secretRef": {"name": "datadog-shop", "namespaced": true}
          }
        }
      },
      {
        "name": "dd-v1",
        "provider": {"datadog": {"query": "avg:kubernetes.cpu.user.total{*}"}}
      },
      {
        "name": "latency-cw",
        "interval": "1m",
        "successCondition": "all(result[0].Values, {# <= 0.5})",
        "provider": {
          "cloudWatch": {
            "interval": "15m",
            "metricDataQueries": [
              {
                "id": "latency",
                "label": "p99 latency",
                "returnData": true,
                "period": 300,
                "metricStat": {
                  "metric": {
                    "namespace": "AWS/ApplicationELB",
                    "metricName": "TargetResponseTime",
                    "dimensions": [{"name": "LoadBalancer", "value": "app/shop/123"}]
                  },
                  "period": "{{args.period}}",
                  "stat": "p99",
                  "unit": "Seconds"
                }
              },
              {"id": "ratio", "expression": "latency * 1000", "period": 60, "returnData": false}
            ]
          }
        }
      },
      {"name": "nr", "provider": {"newRelic": {"profile": "newrelic-shop", "query": "FROM Transaction SELECT percentage(count(*), WHERE error is true)", "timeout": 10}}},
      {"name": "wf", "provider": {"wavefront": {"address": "example.wavefront.com", "query": "ts(requests.errors)"}}},
      {"name": "gr", "provider": {"graphite": {"address": "http://graphite:8080", "query": "target=summarize(errors,'5min','sum')"}}},
      {"name": "flux", "provider": {"influxdb": {"profile": "influx-shop", "query": "from(bucket: \"app\") |> range(start: -15m)"}}},
      {"name": "sw", "provider": {"skywalking": {"address": "http://skywalking:12800", "query": "query queryData($duration: Duration!) { x }", "interval": "3m"}}},
      {
        "name": "kayenta-judge",
        "provider": {
          "kayenta": {
            "address": "https://kayenta.example.com",
            "application": "shop",
            "canaryConfigName": "shop-config",
            "metricsAccountName": "prom",
            "configurationAccountName": "gcs",
            "storageAccountName": "gcs",
            "threshold": {"pass": 90, "marginal": 75},
            "scopes": [{
              "name": "default",
              "controlScope": {"scope": "app=shop,rev=stable", "region": "us-east-1", "step": 60, "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"},
              "experimentScope": {"scope": "app=shop,rev=canary", "region": "us-east-1", "step": 60, "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"}
            }]
          }
        }
      },
      {
        "name": "from-plugin",
        "provider": {"plugin": {"argoproj-labs/sample-prometheus": {"address": "http://prometheus:9090", "query": "up", "opts": {"n": 1, "list": [true, null]}}}}
      }
    ]
  }
}`

// analysisRunJSON is an AnalysisRun as the controller leaves it when done.
const analysisRunJSON = `{
  "apiVersion": "argoproj.io/v1alpha1",
  "kind": "AnalysisRun",
  "metadata": {"name": "shop-6d4f8-2", "namespace": "shop", "labels": {"rollout-type": "Step", "step-index": "2"}},
  "spec": {
    "args": [{"name": "service-name", "value": "shop-canary"}],
    "terminate": true,
    "dryRun": [{"metricName": "dry"}],
    "measurementRetention": [{"metricName": "success-rate", "limit": 3}],
    "ttlStrategy": {"secondsAfterCompletion": 3600, "secondsAfterFailure": 86400, "secondsAfterSuccess": 600},
    "metrics": [
      {"name": "success-rate", "interval": "1m", "count": 2, "successCondition": "result[0] >= 0.95",
       "provider": {"prometheus": {"address": "http://prometheus:9090", "query": "vector(1)"}}},
      {"name": "dry", "provider": {"job": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    ]
  },
  "status": {
    "phase": "Successful",
    "message": "Run Terminated",
    "startedAt": "2024-05-01T10:00:00Z",
    "completedAt": "2024-05-01T10:02:05Z",
    "runSummary": {"count": 1, "successful": 1},
    "dryRunSummary": {"count": 1, "failed": 1},
    "metricResults": [
      {
        "name": "success-rate",
        "phase": "Successful",
        "count": 2,
        "successful": 2,
        "consecutiveSuccess": 2,
        "metadata": {"ResolvedPrometheusQuery": "vector(1)"},
        "measurements": [
          {"phase": "Successful", "startedAt": "2024-05-01T10:00:00Z", "finishedAt": "2024-05-01T10:00:01Z", "value": "[1]"},
          {"phase": "Successful", "startedAt": "2024-05-01T10:01:00Z", "finishedAt": "2024-05-01T10:01:01Z", "value": "[1]"}
        ]
      },
      {
        "name": "dry",
        "phase": "Failed",
        "message": "job failed",
        "count": 1,
        "failed": 1,
        "error": 1,
        "consecutiveError": 0,
        "dryRun": true,
        "measurements": [
          {"phase": "Error", "message": "timeout", "startedAt": "2024-05-01T10:00:00Z", "finishedAt": "2024-05-01T10:00:30Z"},
          {"phase": "Failed", "startedAt": "2024-05-01T10:00:31Z", "finishedAt": "2024-05-01T10:02:00Z",
           "metadata": {"job-name": "shop-6d4f8-2.dry.1"}, "resumeAt": "2024-05-01T10:02:05Z"}
        ]
      }
    ]
  }
}`

// analysisRoundTrip decodes data strictly into obj, encodes obj again and checks that
// the result means the same as data.
func analysisRoundTrip(t *testing.T, data string, obj any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(data), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want, got = analysisPrune(want), analysisPrune(got)
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", "  ")
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("round trip changed the object\nwant: %s\ngot:  %s", w, g)
	}
}

// analysisPrune drops nulls, empty objects and zero-valued leaves that Go writes for
// fields without omitempty (for example an empty Authentication struct or
// creationTimestamp: null), so that only meaningful differences remain.
func analysisPrune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			p := analysisPrune(e)
			switch pv := p.(type) {
			case nil:
				continue
			case map[string]any:
				if len(pv) == 0 {
					continue
				}
			case string:
				if pv == "" {
					continue
				}
			case bool:
				if !pv {
					continue
				}
			case float64:
				if pv == 0 {
					continue
				}
			}
			out[k] = p
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = analysisPrune(e)
		}
		return out
	default:
		return v
	}
}

func TestAnalysisTemplateRoundTrip(t *testing.T) {
	var at AnalysisTemplate
	analysisRoundTrip(t, analysisTemplateJSON, &at)

	m := at.Spec.Metrics
	if got := m[0].Count; got == nil || got.Type != intstr.Int || got.IntVal != 5 {
		t.Errorf("count = %v, want int 5", got)
	}
	if got := m[1].Count; got == nil || got.Type != intstr.String || got.StrVal != "{{args.count}}" {
		t.Errorf("count = %v, want string placeholder", got)
	}
	if got := m[0].ConsecutiveSuccessLimit; got == nil || got.IntValue() != 3 {
		t.Errorf("consecutiveSuccessLimit = %v, want 3", got)
	}
	if p := m[0].Provider.Prometheus; p.Timeout == nil || *p.Timeout != 40 || p.RangeQuery == nil || p.RangeQuery.Step != "1m" {
		t.Errorf("prometheus = %+v", p)
	}
	if p := m[0].Provider.Prometheus.Authentication; p.Sigv4.RoleARN == "" || p.OAuth2.TokenURL == "" || len(p.OAuth2.Scopes) != 1 {
		t.Errorf("prometheus authentication = %+v", p)
	}
	var body map[string]any
	if err := json.Unmarshal(m[1].Provider.Web.JSONBody, &body); err != nil || body["window"] != float64(300) {
		t.Errorf("jsonBody = %s (%v)", m[1].Provider.Web.JSONBody, err)
	}
	if m[1].Provider.Web.Method != WebMetricMethodPost {
		t.Errorf("method = %q", m[1].Provider.Web.Method)
	}
	job := m[3].Provider.Job
	if job.Metadata.Labels["team"] != "shop" || len(job.Spec.Template.Spec.Containers) != 1 || *job.Spec.BackoffLimit != 1 {
		t.Errorf("job = %+v", job)
	}
	if dd := m[4].Provider.Datadog; dd.ApiVersion != "v2" || dd.Aggregator != "sum" || !dd.SecretRef.Namespaced || len(dd.Queries) != 2 {
		t.Errorf("datadog = %+v", dd)
	}
	cw := m[6].Provider.CloudWatch.MetricDataQueries
	if cw[0].MetricStat.Period.Type != intstr.String || *cw[0].MetricStat.Metric.Namespace != "AWS/ApplicationELB" || *cw[1].Expression != "latency * 1000" {
		t.Errorf("cloudWatch = %+v", cw)
	}
	if nr := m[7].Provider.NewRelic; nr.Timeout == nil || *nr.Timeout != 10 {
		t.Errorf("newRelic = %+v", nr)
	}
	if _, ok := m[13].Provider.Plugin["argoproj-labs/sample-prometheus"]; !ok {
		t.Errorf("plugin = %v", m[13].Provider.Plugin)
	}
	if a := at.Spec.Args; a[0].Value != nil || *a[1].Value != "9090" || a[2].ValueFrom.SecretKeyRef.Key != "apiToken" || a[3].ValueFrom.FieldRef == nil {
		t.Errorf("args = %+v", a)
	}
	if tr := at.Spec.Templates; len(tr) != 2 || !tr[1].ClusterScope {
		t.Errorf("templates = %+v", tr)
	}
}

func TestClusterAnalysisTemplateRoundTrip(t *testing.T) {
	var cat ClusterAnalysisTemplate
	data := bytes.Replace([]byte(analysisTemplateJSON), []byte(`"kind": "AnalysisTemplate"`), []byte(`"kind": "ClusterAnalysisTemplate"`), 1)
	analysisRoundTrip(t, string(data), &cat)
}

func TestAnalysisRunRoundTrip(t *testing.T) {
	var run AnalysisRun
	analysisRoundTrip(t, analysisRunJSON, &run)

	if !run.Status.Phase.Completed() || run.Status.CompletedAt == nil || run.Spec.TTLStrategy == nil || *run.Spec.TTLStrategy.SecondsAfterSuccess != 600 {
		t.Errorf("run = %+v", run)
	}
	if r := run.Status.MetricResults[0]; r.ConsecutiveSuccess != 2 || len(r.Measurements) != 2 {
		t.Errorf("metric result = %+v", r)
	}
	if r := run.Status.MetricResults[1]; !r.DryRun || r.Measurements[1].ResumeAt == nil {
		t.Errorf("metric result = %+v", r)
	}
	if run.Status.DryRunSummary == nil || run.Status.DryRunSummary.Failed != 1 {
		t.Errorf("dryRunSummary = %+v", run.Status.DryRunSummary)
	}
}

func TestDurationString(t *testing.T) {
	for in, want := range map[DurationString]time.Duration{"30s": 30 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute} {
		got, err := in.Duration()
		if err != nil || got != want {
			t.Errorf("%q.Duration() = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []DurationString{"", "30", "{{args.interval}}"} {
		if _, err := in.Duration(); err == nil {
			t.Errorf("%q.Duration() gave no error", in)
		}
	}
}

func TestAnalysisPhaseCompleted(t *testing.T) {
	want := map[AnalysisPhase]bool{
		AnalysisPhasePending: false, AnalysisPhaseRunning: false, "": false,
		AnalysisPhaseSuccessful: true, AnalysisPhaseFailed: true, AnalysisPhaseError: true, AnalysisPhaseInconclusive: true,
	}
	for p, w := range want {
		if got := p.Completed(); got != w {
			t.Errorf("%q.Completed() = %v, want %v", p, got, w)
		}
	}
}

func TestEffectiveCount(t *testing.T) {
	five := intstr.FromInt32(5)
	zero := intstr.FromInt32(0)
	cases := []struct {
		name string
		m    Metric
		want *int
	}{
		{"neither", Metric{}, analysisIntPtr(1)},
		{"zero count, no interval", Metric{Count: &zero}, analysisIntPtr(1)},
		{"interval only", Metric{Interval: "1m"}, nil},
		{"count", Metric{Interval: "1m", Count: &five}, analysisIntPtr(5)},
	}
	for _, c := range cases {
		got := c.m.EffectiveCount()
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: got %v, want nil", c.name, got)
		case c.want != nil && (got == nil || got.IntValue() != *c.want):
			t.Errorf("%s: got %v, want %d", c.name, got, *c.want)
		}
	}
}

func analysisIntPtr(i int) *int { return &i }
