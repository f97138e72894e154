package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The metrics the benchmark reads.
const (
	// ControllerRequestsMetric is client-go's count of the requests a
	// process made, as controller-runtime exposes it on /metrics, labelled
	// code, host and method.
	ControllerRequestsMetric = "rest_client_requests_total"
	// APIServerRequestsMetric is the API server's count of the requests it
	// served, labelled verb, group, resource, subresource, code and more,
	// but not by client.
	APIServerRequestsMetric = "apiserver_request_total"
	// ControllerKindRequestsMetric is the reference's count of a
	// controller's requests, labelled kind (the resource), namespace, name,
	// verb and status_code; Kanaria exposes it too.
	ControllerKindRequestsMetric = "controller_clientset_k8s_request_total"
	// ControllerCPUMetric is the Go client's process collector's CPU time.
	ControllerCPUMetric = "process_cpu_seconds_total"
	// QueueDepthMetric is controller-runtime's work queue depth, labelled
	// controller and name.
	QueueDepthMetric = "workqueue_depth"
)

// Sample is one series of a metric: its labels and its value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// ParseMetric returns the samples of the metric called name from a scrape in
// the Prometheus text exposition format, ignoring every other metric.
//
// It reads only what the two counters above need: one sample per line,
// optional labels with escaped values, an optional timestamp. A line of the
// wanted metric that does not parse is an error, so a format change shows up
// as a failure instead of as zero requests.
func ParseMetric(text []byte, name string) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(bytes.NewReader(text))
	// The API server's scrape has lines longer than bufio's 64 KiB default
	// is made for only in pathological cases; a roomier buffer costs nothing.
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ \t")
		if end < 0 || line[:end] != name {
			continue
		}
		s, err := parseSampleLine(line[end:])
		if err != nil {
			return nil, fmt.Errorf("line %d of the %s metric: %w", lineNo, name, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}

// parseSampleLine parses what follows a metric's name: `{labels} value [ts]`.
func parseSampleLine(rest string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	if strings.HasPrefix(rest, "{") {
		var err error
		rest, err = parseLabels(rest[1:], s.Labels)
		if err != nil {
			return Sample{}, err
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return Sample{}, fmt.Errorf("want a value and an optional timestamp, have %q", rest)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return Sample{}, fmt.Errorf("value %q: %w", fields[0], err)
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `name="value",...}` into labels and returns the text
// after the closing brace.
func parseLabels(in string, labels map[string]string) (string, error) {
	i := 0
	for {
		for i < len(in) && (in[i] == ' ' || in[i] == '\t') {
			i++
		}
		if i < len(in) && in[i] == '}' {
			return in[i+1:], nil
		}
		eq := strings.IndexByte(in[i:], '=')
		if eq < 0 {
			return "", fmt.Errorf("label without '=' in %q", in)
		}
		key := strings.TrimSpace(in[i : i+eq])
		if key == "" {
			return "", fmt.Errorf("empty label name in %q", in)
		}
		i += eq + 1
		if i >= len(in) || in[i] != '"' {
			return "", fmt.Errorf("label %s: value not quoted", key)
		}
		i++
		var b strings.Builder
		closed := false
		for i < len(in) {
			c := in[i]
			i++
			if c == '"' {
				closed = true
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if i >= len(in) {
				break
			}
			// The format escapes exactly these three.
			switch e := in[i]; e {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			i++
		}
		if !closed {
			return "", fmt.Errorf("label %s: unterminated value", key)
		}
		labels[key] = b.String()
		for i < len(in) && (in[i] == ' ' || in[i] == '\t') {
			i++
		}
		switch {
		case i < len(in) && in[i] == ',':
			i++
		case i < len(in) && in[i] == '}':
			// Handled at the top of the loop.
		default:
			return "", fmt.Errorf("label %s: want ',' or '}' after the value", key)
		}
	}
}

// seriesKey identifies a series by its whole label set.
func seriesKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

// Diff returns, per series, how much a counter grew from before to after.
// A series that appears only after counts in full, because client-go and
// the API server create a series at its first request. A series whose value
// dropped belongs to a process that restarted, so its whole new value is
// the growth, as Prometheus' increase() treats counter resets. Series that
// did not grow are left out.
func Diff(before, after []Sample) []Sample {
	prev := make(map[string]float64, len(before))
	for _, s := range before {
		prev[seriesKey(s.Labels)] += s.Value
	}
	// A series may appear more than once, once per controller replica
	// when their pages are scraped as one; its value is their sum.
	cur := make(map[string]float64, len(after))
	var order []Sample
	for _, s := range after {
		k := seriesKey(s.Labels)
		if _, seen := cur[k]; !seen {
			order = append(order, s)
		}
		cur[k] += s.Value
	}
	var out []Sample
	for _, s := range order {
		k := seriesKey(s.Labels)
		v := cur[k]
		d := v
		if p, ok := prev[k]; ok && v >= p {
			d = v - p
		}
		if d > 0 {
			out = append(out, Sample{Labels: s.Labels, Value: d})
		}
	}
	return out
}

// SumBy adds up the samples per key; key derives the group from a sample's
// labels.
func SumBy(samples []Sample, key func(labels map[string]string) string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		out[key(s.Labels)] += s.Value
	}
	return out
}

// Total adds up every sample.
func Total(samples []Sample) float64 {
	var t float64
	for _, s := range samples {
		t += s.Value
	}
	return t
}

// RequestCounts is how many API requests were made during a phase.
type RequestCounts struct {
	// Total is every request counted.
	Total float64 `json:"total"`
	// PerRevision is Total divided by the number of Rollout (or Deployment)
	// revisions the phase rolled out: one per object.
	PerRevision float64 `json:"perRevision"`
	// ByVerb splits Total by HTTP method (controller) or API verb (API server).
	ByVerb map[string]float64 `json:"byVerb"`
	// ByVerbResource splits Total by verb and resource[/subresource] (API
	// server) or by verb and kind (the controller's
	// controller_clientset_k8s_request_total, when it exposes it).
	ByVerbResource map[string]float64 `json:"byVerbResource,omitempty"`
	// ByCode splits Total by HTTP status code; 409 Conflicts and 429
	// throttling show here.
	ByCode map[string]float64 `json:"byCode,omitempty"`
}

// ControllerRequests summarizes the growth of rest_client_requests_total
// between two scrapes of the controller. revisions is the number of objects
// the phase changed.
func ControllerRequests(before, after []Sample, revisions int) *RequestCounts {
	d := Diff(before, after)
	return &RequestCounts{
		Total:       Total(d),
		PerRevision: perRevision(Total(d), revisions),
		ByVerb:      SumBy(d, func(l map[string]string) string { return orDash(l["method"]) }),
		ByCode:      SumBy(d, func(l map[string]string) string { return orDash(l["code"]) }),
	}
}

// ControllerRequestsByKind splits the growth of the controller's
// controller_clientset_k8s_request_total between two scrapes by verb and
// kind, e.g. "Patch rollouts", over every namespace and name.
func ControllerRequestsByKind(before, after []Sample) map[string]float64 {
	return SumBy(Diff(before, after), func(l map[string]string) string {
		return orDash(l["verb"]) + " " + orDash(l["kind"])
	})
}

// APIServerRequests summarizes the growth of apiserver_request_total
// between two scrapes of the API server. It counts every client's requests:
// the counter has no user or user-agent label to tell the controller's apart.
func APIServerRequests(before, after []Sample, revisions int) *RequestCounts {
	d := Diff(before, after)
	return &RequestCounts{
		Total:       Total(d),
		PerRevision: perRevision(Total(d), revisions),
		ByVerb:      SumBy(d, func(l map[string]string) string { return orDash(l["verb"]) }),
		ByVerbResource: SumBy(d, func(l map[string]string) string {
			return orDash(l["verb"]) + " " + resourceName(l)
		}),
		ByCode: SumBy(d, func(l map[string]string) string { return orDash(l["code"]) }),
	}
}

// resourceName is "resource[/subresource]", or "-" for requests that are
// not about a resource (/metrics, discovery).
func resourceName(l map[string]string) string {
	r := l["resource"]
	if r == "" {
		return "-"
	}
	if sub := l["subresource"]; sub != "" {
		r += "/" + sub
	}
	return r
}

func perRevision(total float64, revisions int) float64 {
	if revisions <= 0 {
		return 0
	}
	return total / float64(revisions)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
