package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

// The CloudWatch client in go.mod (service/cloudwatch v1.75.x) speaks
// Smithy RPC v2 CBOR (api_client.go: rpcv2.NewCBOR): every operation is a
// POST to /service/GraniteServiceVersion20100801/operation/<Name> with a
// CBOR body, timestamps as tag 1 (epoch seconds), and errors as a CBOR map
// with __type and message plus, because the service is awsQuery-compatible,
// an X-Amzn-Query-Error header carrying the legacy code. The fake below
// speaks exactly that.

const (
	accessKey = "AKIDEXAMPLE"
	secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	region    = "eu-west-1"
	opPath    = "/service/GraniteServiceVersion20100801/operation/GetMetricData"
)

// fixedNow is the clock every test uses: 2025-03-14T09:26:53Z.
var fixedNow = time.Unix(1741944413, 0).UTC()

// staticConfig loads configuration through the SDK's own loader, with
// static credentials so the test never reads the environment's.
func staticConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")),
	)
}

func newProvider(endpoint string, timeout time.Duration) *Provider {
	return New(Options{
		LoadConfig: staticConfig,
		Endpoint:   endpoint,
		// One attempt so a throttled call fails at once instead of backing
		// off through the SDK's retries.
		ClientOptions: []func(*cloudwatch.Options){func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 }},
		Now:           func() time.Time { return fixedNow },
		Timeout:       timeout,
	})
}

// plain turns a decoded CBOR value into ordinary Go values so requests can
// be compared with reflect.DeepEqual.
func plain(t *testing.T, v cbor.Value) any {
	t.Helper()
	switch v := v.(type) {
	case cbor.Map:
		m := map[string]any{}
		for k, e := range v {
			m[k] = plain(t, e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plain(t, e)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Uint:
		return int64(v)
	case cbor.Bool:
		return bool(v)
	case cbor.Float64:
		return float64(v)
	case *cbor.Tag:
		ts, err := cbor.AsTime(v)
		if err != nil {
			t.Fatalf("decoding tag: %v", err)
		}
		return ts.UTC()
	}
	t.Fatalf("unexpected CBOR value %T", v)
	return nil
}

// fakeCloudWatch checks each request is a signed rpcv2-cbor GetMetricData
// call, records its decoded body, and answers with respond.
type fakeCloudWatch struct {
	t       *testing.T
	calls   atomic.Int32
	body    atomic.Value
	respond func(w http.ResponseWriter, r *http.Request)
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/monitoring/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != opPath {
		f.t.Errorf("request = %s %s, want POST %s", r.Method, r.URL.Path, opPath)
	}
	for k, want := range map[string]string{
		"Smithy-Protocol": "rpc-v2-cbor",
		"Content-Type":    "application/cbor",
		"Accept":          "application/cbor",
	} {
		if got := r.Header.Get(k); got != want {
			f.t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := r.Header.Get("Authorization"); !authRE.MatchString(got) {
		f.t.Errorf("Authorization = %q, want a SigV4 signature for monitoring in %s", got, region)
	}
	raw, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(raw)
	if err != nil {
		f.t.Errorf("decoding CBOR body: %v", err)
	} else {
		f.body.Store(plain(f.t, v))
	}
	f.respond(w, r)
}

func serve(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) (*fakeCloudWatch, *httptest.Server) {
	t.Helper()
	f := &fakeCloudWatch{t: t, respond: respond}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeCBOR(w http.ResponseWriter, status int, v cbor.Value) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Requestid", "5b9e2a9c-7b1c-4f7e-9d0a-3c1f0e4b2a11")
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(v))
}

func epoch(t time.Time) *cbor.Tag {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.Unix()))}
}

// errorRate is upstream's documented example: a ratio of two Sum metrics.
func errorRate() v1alpha1.Metric {
	return v1alpha1.Metric{
		Name:             "success-rate",
		SuccessCondition: "all(result[0].Values, {# <= 0.01})",
		Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{
			Interval: "15m",
			MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{
				{
					Id:         "rate",
					Expression: aws.String("errors / requests"),
					Label:      aws.String("Error rate"),
					Period:     ptr(intstr.FromInt32(300)),
				},
				{
					Id: "errors",
					MetricStat: &v1alpha1.CloudWatchMetricStat{
						Metric: v1alpha1.CloudWatchMetricStatMetric{
							Namespace:  aws.String("app"),
							MetricName: "errors",
							Dimensions: []v1alpha1.CloudWatchMetricStatMetricDimension{{Name: "Service", Value: "checkout"}},
						},
						Period: intstr.FromString("300"),
						Stat:   "Sum",
						Unit:   "Count",
					},
					ReturnData: aws.Bool(false),
				},
				{
					Id: "requests",
					MetricStat: &v1alpha1.CloudWatchMetricStat{
						Metric: v1alpha1.CloudWatchMetricStatMetric{Namespace: aws.String("app"), MetricName: "requests"},
						Period: intstr.FromInt32(300),
						Stat:   "Sum",
					},
					ReturnData: aws.Bool(false),
				},
			},
		}},
	}
}

func ptr[T any](v T) *T { return &v }

func TestSuccess(t *testing.T) {
	t1, t2, t3 := fixedNow.Add(-5*time.Minute).Truncate(5*time.Minute), fixedNow.Add(-10*time.Minute).Truncate(5*time.Minute), fixedNow.Add(-15*time.Minute).Truncate(5*time.Minute)
	f, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeCBOR(w, 200, cbor.Map{
			"MetricDataResults": cbor.List{cbor.Map{
				"Id":         cbor.String("rate"),
				"Label":      cbor.String("Error rate"),
				"StatusCode": cbor.String("Complete"),
				"Timestamps": cbor.List{epoch(t1), epoch(t2), epoch(t3)},
				"Values":     cbor.List{cbor.Float64(0.004), cbor.Float64(0.0125), cbor.Float64(0.002)},
				"Messages":   cbor.List{},
			}},
			"Messages": cbor.List{},
		})
	})

	v, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Namespace: "shop", RunName: "checkout-1", Metric: errorRate()})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}

	wantBody := map[string]any{
		"StartTime": fixedNow.Add(-15 * time.Minute),
		"EndTime":   fixedNow,
		"MetricDataQueries": []any{
			map[string]any{"Id": "rate", "Expression": "errors / requests", "Label": "Error rate", "Period": int64(300)},
			map[string]any{
				"Id": "errors",
				"MetricStat": map[string]any{
					"Metric": map[string]any{
						"Namespace":  "app",
						"MetricName": "errors",
						"Dimensions": []any{map[string]any{"Name": "Service", "Value": "checkout"}},
					},
					"Period": int64(300),
					"Stat":   "Sum",
					"Unit":   "Count",
				},
				"ReturnData": false,
			},
			map[string]any{
				"Id": "requests",
				"MetricStat": map[string]any{
					"Metric": map[string]any{"Namespace": "app", "MetricName": "requests"},
					"Period": int64(300),
					"Stat":   "Sum",
				},
				"ReturnData": false,
			},
		},
	}
	if got := f.body.Load(); !reflect.DeepEqual(got, wantBody) {
		t.Errorf("request body =\n%#v\nwant\n%#v", got, wantBody)
	}

	wantResult := []any{map[string]any{
		"Id":         "rate",
		"Label":      "Error rate",
		"StatusCode": "Complete",
		"Timestamps": []any{t1, t2, t3},
		"Values":     []any{0.004, 0.0125, 0.002},
		"Messages":   []any{},
	}}
	if !reflect.DeepEqual(v.Result, wantResult) {
		t.Errorf("result =\n%#v\nwant\n%#v", v.Result, wantResult)
	}
	if v.Raw != "[[0.004 0.0125 0.002]]" {
		t.Errorf("raw = %q", v.Raw)
	}
	if v.Metadata["from"] != "2025-03-14T09:11:53Z" || v.Metadata["to"] != "2025-03-14T09:26:53Z" {
		t.Errorf("metadata = %v", v.Metadata)
	}
}

func TestNoData(t *testing.T) {
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeCBOR(w, 200, cbor.Map{
			"MetricDataResults": cbor.List{cbor.Map{
				"Id":         cbor.String("rate"),
				"Label":      cbor.String("Error rate"),
				"StatusCode": cbor.String("Complete"),
				"Timestamps": cbor.List{},
				"Values":     cbor.List{},
			}},
			"Messages": cbor.List{cbor.Map{"Code": cbor.String("MaxQueryTimeRangeExceed"), "Value": cbor.String("The query time range exceeds the maximum allowed.")}},
		})
	})
	v, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Metric: errorRate()})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	want := []any{map[string]any{
		"Id": "rate", "Label": "Error rate", "StatusCode": "Complete",
		"Timestamps": []any{}, "Values": []any{}, "Messages": []any{},
	}}
	if !reflect.DeepEqual(v.Result, want) {
		t.Errorf("result = %#v, want %#v", v.Result, want)
	}
	if v.Raw != "[[]]" {
		t.Errorf("raw = %q, want [[]]", v.Raw)
	}
	if v.Metadata["messages"] != "[MaxQueryTimeRangeExceed: The query time range exceeds the maximum allowed.]" {
		t.Errorf("messages = %q", v.Metadata["messages"])
	}
}

func TestThrottled(t *testing.T) {
	f, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Query-Error", "Throttling;Sender")
		writeCBOR(w, 400, cbor.Map{
			"__type":  cbor.String("com.amazonaws.cloudwatch#ThrottlingException"),
			"message": cbor.String("Rate exceeded"),
		})
	})
	_, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Metric: errorRate()})
	if err == nil {
		t.Fatal("Query succeeded, want an error")
	}
	for _, want := range []string{"throttled by AWS (Throttling)", "Rate exceeded", "GetMetricData"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), secretKey) {
		t.Errorf("error leaks the secret key: %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestInvalidParameter(t *testing.T) {
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Query-Error", "InvalidParameterValue;Sender")
		writeCBOR(w, 400, cbor.Map{
			"__type":  cbor.String("com.amazonaws.cloudwatch#InvalidParameterValueException"),
			"message": cbor.String("The value errors / requestz for parameter MetricDataQueries.member.1.Expression is not valid."),
		})
	})
	_, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Metric: errorRate()})
	if err == nil || !strings.Contains(err.Error(), "failed with InvalidParameterValue") || !strings.Contains(err.Error(), "is not valid") {
		t.Fatalf("error = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	_, err := newProvider(srv.URL, 100*time.Millisecond).Query(context.Background(), metricproviders.Request{Metric: errorRate()})
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a timeout", err)
	}
}

func TestDefaultInterval(t *testing.T) {
	f, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeCBOR(w, 200, cbor.Map{"MetricDataResults": cbor.List{}, "Messages": cbor.List{}})
	})
	m := errorRate()
	m.Provider.CloudWatch.Interval = ""
	v, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Metric: m})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	body := f.body.Load().(map[string]any)
	if body["StartTime"] != fixedNow.Add(-5*time.Minute) || body["EndTime"] != fixedNow {
		t.Errorf("window = %v .. %v, want the last 5m", body["StartTime"], body["EndTime"])
	}
	if !reflect.DeepEqual(v.Result, []any{}) || v.Raw != "[]" {
		t.Errorf("value = %#v / %q", v.Result, v.Raw)
	}
}

func TestConfiguration(t *testing.T) {
	noRegion := func(context.Context) (aws.Config, error) { return aws.Config{}, nil }
	broken := func(context.Context) (aws.Config, error) {
		return aws.Config{}, fmt.Errorf("profile %q not found", "canary")
	}
	for _, tc := range []struct {
		name string
		load func(context.Context) (aws.Config, error)
		want string
	}{
		{"no region", noRegion, "no AWS region configured"},
		{"loader fails", broken, `loading AWS configuration: profile "canary" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{LoadConfig: tc.load})
			_, err := p.Query(context.Background(), metricproviders.Request{Metric: errorRate()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestInvalidQueries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.CloudWatchMetric)
		want   string
	}{
		{"none", func(c *v1alpha1.CloudWatchMetric) { c.MetricDataQueries = nil }, "metricDataQueries is empty"},
		{"no id", func(c *v1alpha1.CloudWatchMetric) { c.MetricDataQueries[0].Id = "" }, "metricDataQueries[0]: id is required"},
		{"both", func(c *v1alpha1.CloudWatchMetric) { c.MetricDataQueries[1].Expression = aws.String("x") }, "set exactly one of expression and metricStat"},
		{"bad period", func(c *v1alpha1.CloudWatchMetric) { c.MetricDataQueries[1].MetricStat.Period = intstr.FromString("5m") }, `metricStat.period: "5m" is not a number of seconds`},
		{"bad interval", func(c *v1alpha1.CloudWatchMetric) { c.Interval = "15" }, `invalid interval "15"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {})
			m := errorRate()
			tc.mutate(m.Provider.CloudWatch)
			_, err := newProvider(srv.URL, 0).Query(context.Background(), metricproviders.Request{Metric: m})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if f.calls.Load() != 0 {
				t.Error("an invalid metric reached CloudWatch")
			}
		})
	}
}
