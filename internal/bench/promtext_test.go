package bench

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

const controllerScrape = `# HELP rest_client_requests_total Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 120
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PATCH"} 40
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 7
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PUT"} 2
# HELP rest_client_requests_total_bogus A longer name that must not match.
rest_client_requests_total_bogus{code="200"} 999
rest_client_request_duration_seconds_bucket{host="x",verb="GET",le="0.1"} 5
workqueue_adds_total{name="rollout"} 17
`

const apiserverScrape = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="argoproj.io",resource="rollouts",scope="namespace",subresource="",verb="LIST",version="v1alpha1"} 30
apiserver_request_total{code="200",component="apiserver",dry_run="",group="argoproj.io",resource="rollouts",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 12
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="replicasets",scope="resource",subresource="",verb="POST",version="v1"} 6
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 3
`

func TestParseMetric(t *testing.T) {
	for _, tc := range []struct {
		name, text, metric string
		want               []Sample
		wantErr            string
	}{
		{
			name: "controller counter, other metrics ignored", text: controllerScrape, metric: ControllerRequestsMetric,
			want: []Sample{
				{Labels: map[string]string{"code": "200", "host": "127.0.0.1:6443", "method": "GET"}, Value: 120},
				{Labels: map[string]string{"code": "200", "host": "127.0.0.1:6443", "method": "PATCH"}, Value: 40},
				{Labels: map[string]string{"code": "201", "host": "127.0.0.1:6443", "method": "POST"}, Value: 7},
				{Labels: map[string]string{"code": "409", "host": "127.0.0.1:6443", "method": "PUT"}, Value: 2},
			},
		},
		{
			name: "no labels, timestamp, exponent", metric: "up",
			text: "up 1\nup 2.5e3 1712345678000\n",
			want: []Sample{{Labels: map[string]string{}, Value: 1}, {Labels: map[string]string{}, Value: 2500}},
		},
		{
			name: "escapes and odd spacing", metric: "m",
			text: `m{ a="x\"y" , b="back\\slash",c="new\nline",} 3` + "\n",
			want: []Sample{{Labels: map[string]string{"a": `x"y`, "b": `back\slash`, "c": "new\nline"}, Value: 3}},
		},
		{
			name: "braces and commas inside a value", metric: "m",
			text: `m{path="/a{b},c"} 4`,
			want: []Sample{{Labels: map[string]string{"path": "/a{b},c"}, Value: 4}},
		},
		{name: "metric absent", text: controllerScrape, metric: "nope", want: nil},
		{name: "empty text", text: "", metric: "m", want: nil},
		{name: "value missing", text: `m{a="b"}`, metric: "m", wantErr: "want a value"},
		{name: "value not a number", text: `m{a="b"} many`, metric: "m", wantErr: "value"},
		{name: "unquoted label", text: `m{a=b} 1`, metric: "m", wantErr: "not quoted"},
		{name: "unterminated label", text: `m{a="b} 1`, metric: "m", wantErr: "unterminated"},
		{name: "missing comma", text: `m{a="b" c="d"} 1`, metric: "m", wantErr: "want ','"},
		{name: "broken line of another metric is not our problem", text: "other{a=b} x\nm 1", metric: "m",
			want: []Sample{{Labels: map[string]string{}, Value: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetric([]byte(tc.text), tc.metric)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseMetricSpecialValues(t *testing.T) {
	got, err := ParseMetric([]byte("m{a=\"1\"} NaN\nm{a=\"2\"} +Inf\nm{a=\"3\"} -Inf\n"), "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !math.IsNaN(got[0].Value) || !math.IsInf(got[1].Value, 1) || !math.IsInf(got[2].Value, -1) {
		t.Errorf("got %+v", got)
	}
}

func s(v float64, kv ...string) Sample {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return Sample{Labels: l, Value: v}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after []Sample
		want          []Sample
	}{
		{"growth", []Sample{s(10, "m", "GET")}, []Sample{s(15, "m", "GET")}, []Sample{s(5, "m", "GET")}},
		{"unchanged series are left out", []Sample{s(10, "m", "GET"), s(3, "m", "PUT")}, []Sample{s(10, "m", "GET"), s(4, "m", "PUT")},
			[]Sample{s(1, "m", "PUT")}},
		{"new series counts in full", nil, []Sample{s(7, "m", "POST")}, []Sample{s(7, "m", "POST")}},
		{"a reset counts the new value", []Sample{s(100, "m", "GET")}, []Sample{s(6, "m", "GET")}, []Sample{s(6, "m", "GET")}},
		{"vanished series are ignored", []Sample{s(100, "m", "GET")}, nil, nil},
		{"label order does not matter", []Sample{s(1, "a", "1", "b", "2")}, []Sample{s(3, "b", "2", "a", "1")}, []Sample{s(2, "a", "1", "b", "2")}},
		{"same method, different code are different series",
			[]Sample{s(1, "method", "GET", "code", "200")},
			[]Sample{s(2, "method", "GET", "code", "200"), s(5, "method", "GET", "code", "404")},
			[]Sample{s(1, "method", "GET", "code", "200"), s(5, "method", "GET", "code", "404")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.before, tc.after)
			if len(got) != len(tc.want) {
				t.Fatalf("Diff = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Value != tc.want[i].Value || seriesKey(got[i].Labels) != seriesKey(tc.want[i].Labels) {
					t.Errorf("sample %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestControllerRequests(t *testing.T) {
	before, err := ParseMetric([]byte(controllerScrape), ControllerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseMetric([]byte(strings.NewReplacer(
		`method="GET"} 120`, `method="GET"} 150`,
		`method="PATCH"} 40`, `method="PATCH"} 46`,
	).Replace(controllerScrape)+
		`rest_client_requests_total{code="200",host="127.0.0.1:6443",method="DELETE"} 4`+"\n"), ControllerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	got := ControllerRequests(before, after, 10)
	want := &RequestCounts{
		Total: 40, PerRevision: 4,
		ByVerb: map[string]float64{"GET": 30, "PATCH": 6, "DELETE": 4},
		ByCode: map[string]float64{"200": 40},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestAPIServerRequests(t *testing.T) {
	before, err := ParseMetric([]byte(apiserverScrape), APIServerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseMetric([]byte(strings.NewReplacer(`"LIST",version="v1alpha1"} 30`, `"LIST",version="v1alpha1"} 31`,
		`"PATCH",version="v1alpha1"} 12`, `"PATCH",version="v1alpha1"} 18`,
		`version="v1"} 6`, `version="v1"} 9`,
		`verb="GET",version=""} 3`, `verb="GET",version=""} 5`,
	).Replace(apiserverScrape)), APIServerRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	got := APIServerRequests(before, after, 0)
	want := &RequestCounts{
		Total: 12, PerRevision: 0,
		ByVerb:         map[string]float64{"LIST": 1, "PATCH": 6, "POST": 3, "GET": 2},
		ByVerbResource: map[string]float64{"LIST rollouts": 1, "PATCH rollouts/status": 6, "POST replicasets": 3, "GET -": 2},
		ByCode:         map[string]float64{"200": 9, "201": 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestControllerRequestsByKind(t *testing.T) {
	const text = `# TYPE controller_clientset_k8s_request_total counter
controller_clientset_k8s_request_total{kind="rollouts",name="a",namespace="bench",status_code="200",verb="Patch"} 3
controller_clientset_k8s_request_total{kind="rollouts",name="b",namespace="bench",status_code="200",verb="Patch"} 2
controller_clientset_k8s_request_total{kind="ingresses",name="",namespace="bench",status_code="200",verb="List"} 1
`
	before, err := ParseMetric([]byte(text), ControllerKindRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseMetric([]byte(strings.NewReplacer(`verb="Patch"} 3`, `verb="Patch"} 5`, `verb="List"} 1`, `verb="List"} 1`).Replace(text)+
		`controller_clientset_k8s_request_total{kind="replicasets",name="a-1",namespace="bench",status_code="201",verb="Create"} 1`+"\n"), ControllerKindRequestsMetric)
	if err != nil {
		t.Fatal(err)
	}
	got := ControllerRequestsByKind(before, after)
	want := map[string]float64{"Patch rollouts": 2, "Create replicasets": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
