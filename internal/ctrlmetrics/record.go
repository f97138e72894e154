package ctrlmetrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Timed returns r with each reconcile timed in kind's reconcile histogram
// and each error counted in its error counter.
func (m *Metrics) Timed(kind Kind, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		start := time.Now()
		res, err := r.Reconcile(ctx, req)
		m.reconcile[kind].observe(req.NamespacedName, time.Since(start).Seconds())
		if err != nil {
			m.errors[kind].add(1, req.Namespace, req.Name)
		}
		m.series.reconciledAbsent(kind, req.NamespacedName)
		return res, err
	})
}

// Recorder returns rec counting every Event it records in
// rollout_events_total, by the object's namespace and name, as the
// reference counts the Events of all its controllers there.
func (m *Metrics) Recorder(rec record.EventRecorder) record.EventRecorder {
	return &countingRecorder{rec: rec, events: m}
}

type countingRecorder struct {
	rec    record.EventRecorder
	events *Metrics
}

func (c *countingRecorder) count(obj runtime.Object, eventtype, reason string) {
	if o, err := meta.Accessor(obj); err == nil {
		c.events.events.add(1, o.GetNamespace(), o.GetName(), eventtype, reason)
	}
}

func (c *countingRecorder) Event(obj runtime.Object, eventtype, reason, message string) {
	c.count(obj, eventtype, reason)
	c.rec.Event(obj, eventtype, reason, message)
}

func (c *countingRecorder) Eventf(obj runtime.Object, eventtype, reason, format string, args ...any) {
	c.count(obj, eventtype, reason)
	c.rec.Eventf(obj, eventtype, reason, format, args...)
}

func (c *countingRecorder) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventtype, reason, format string, args ...any) {
	c.count(obj, eventtype, reason)
	c.rec.AnnotatedEventf(obj, annotations, eventtype, reason, format, args...)
}

// WrapTransport returns rt counting each request to the API server in
// controller_clientset_k8s_request_total; use it as rest.Config's
// WrapTransport.
func (m *Metrics) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return &countingTransport{next: rt, requests: m}
}

type countingTransport struct {
	next     http.RoundTripper
	requests *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	info := describeRequest(req)
	resp, err := t.next.RoundTrip(req)
	code := "0"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.requests.requests.add(1, info.kind, info.namespace, info.name, info.verb, code)
	return resp, err
}

// requestInfo is what the request counter's labels say of one request.
type requestInfo struct {
	kind, namespace, name, verb string
}

// unnamedKinds are the resources whose requests are counted without the
// object's name: the reference's list, and Pods, of which a Rollout has
// one per replica, so no label ever grows with Pods or revisions.
var unnamedKinds = map[string]bool{
	"events": true, "replicasets": true, "analysisruns": true, "jobs": true, "experiments": true, "pods": true,
}

// describeRequest reads the resource, namespace, name and verb from an API
// path such as /apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web/status.
// A subresource counts as its object (the reference takes the subresource
// for the name there).
func describeRequest(req *http.Request) requestInfo {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return requestInfo{kind: "Unknown", namespace: "Unknown", name: "Unknown", verb: "Unknown"}
	}
	if len(parts) == 0 {
		// Discovery of a group version (/api/v1, /apis/g/v) names no
		// resource: it is not a List of anything, so it is counted with
		// the other paths that name no resource.
		return requestInfo{kind: "Unknown", namespace: "Unknown", name: "Unknown", verb: "Unknown"}
	}
	var info requestInfo
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		info.namespace, parts = parts[1], parts[2:]
	}
	if len(parts) > 0 {
		info.kind = parts[0]
	}
	if len(parts) > 1 {
		info.name = parts[1]
	}
	switch req.Method {
	case http.MethodPost:
		info.verb = "Create"
		if !unnamedKinds[info.kind] {
			info.name = createdName(req)
		}
	case http.MethodDelete:
		info.verb = "Delete"
	case http.MethodPatch:
		info.verb = "Patch"
	case http.MethodPut:
		info.verb = "Update"
	case http.MethodGet:
		switch {
		case info.name != "":
			info.verb = "Get"
		case req.URL.Query().Get("watch") == "true":
			info.verb = "Watch"
			if sel := req.URL.Query().Get("fieldSelector"); strings.HasPrefix(sel, "metadata.name=") {
				info.name = strings.TrimPrefix(sel, "metadata.name=")
			}
		default:
			info.verb = "List"
		}
	default:
		return requestInfo{kind: "Unknown", namespace: "Unknown", name: "Unknown", verb: "Unknown"}
	}
	if info.verb == "List" || unnamedKinds[info.kind] {
		info.name = "N/A"
	}
	return info
}

// createdName reads metadata.name from a create's body, which the client
// can replay; "" when it cannot be read or the name is generated.
func createdName(req *http.Request) string {
	if req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return ""
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(b, &obj) != nil {
		return ""
	}
	return obj.Metadata.Name
}
