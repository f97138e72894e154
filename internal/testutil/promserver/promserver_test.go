package promserver

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestTargetServesTextFormat(t *testing.T) {
	tg := NewTarget(t)
	tg.Add("requests_total", map[string]string{"code": "200", "path": `/a"b`}, 3)
	tg.Add("requests_total", map[string]string{"code": "200", "path": `/a"b`}, 2)
	tg.Add("errors_total", nil, 0)

	body := get(t, "http://"+tg.HostPort()+"/metrics")
	want := "# TYPE errors_total counter\nerrors_total 0\n" +
		"# TYPE requests_total counter\nrequests_total{code=\"200\",path=\"/a\\\"b\"} 5\n"
	if body != want {
		t.Errorf("metrics =\n%s\nwant\n%s", body, want)
	}
	if tg.Scrapes() != 1 {
		t.Errorf("scrapes = %d, want 1", tg.Scrapes())
	}
}

func TestTargetRate(t *testing.T) {
	tg := NewTarget(t)
	clock := time.Unix(1000, 0)
	tg.now = func() time.Time { return clock }
	labels := map[string]string{"code": "200"}
	tg.SetRate("r_total", labels, 4)
	clock = clock.Add(2500 * time.Millisecond)
	if v := tg.Value("r_total", labels); v != 10 {
		t.Errorf("value after 2.5s at 4/s = %v, want 10", v)
	}
	tg.SetRate("r_total", labels, 0)
	clock = clock.Add(time.Hour)
	tg.Add("r_total", labels, 1)
	if v := tg.Value("r_total", labels); v != 11 {
		t.Errorf("value after stopping = %v, want 11", v)
	}
}

func TestRealPrometheusScrapesTarget(t *testing.T) {
	tg := NewTarget(t)
	tg.Add("kanaria_test_total", map[string]string{"kind": "static"}, 42)
	tg.SetRate("kanaria_test_total", map[string]string{"kind": "rate"}, 10)
	srv := Start(t, []string{tg.HostPort()}, time.Second)

	srv.WaitForSeries(t, `up{job="kanaria-test"} == 1`, 30*time.Second)
	if got := instant(t, srv, `kanaria_test_total{kind="static"}`); got != 42 {
		t.Errorf("static counter = %v, want 42", got)
	}
	// irate needs two samples of the series.
	srv.WaitForSeries(t, `irate(kanaria_test_total{kind="rate"}[1m]) > 0`, 30*time.Second)
	if got := instant(t, srv, `irate(kanaria_test_total{kind="rate"}[1m])`); math.Abs(got-10) > 1 {
		t.Errorf("irate = %v, want about 10/s", got)
	}
}

// instant runs query and returns the single value it yields.
func instant(t *testing.T, s *Server, query string) float64 {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(get(t, s.URL+"/api/v1/query?"+url.Values{"query": {query}}.Encode())), &body); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if body.Status != "success" || len(body.Data.Result) != 1 {
		t.Fatalf("query %q: %+v, want one series", query, body)
	}
	f, err := strconv.ParseFloat(body.Data.Result[0].Value[1].(string), 64)
	if err != nil {
		t.Fatalf("value: %v", err)
	}
	return f
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return string(b)
}
