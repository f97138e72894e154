package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// TestAnalysisPrometheusPostPromotion drives bluegreen-istio-prometheus.yaml
// with a real Prometheus scraping a local target that serves the Istio
// request metric: with healthy traffic the post-promotion analysis passes
// and the old version is scaled down after the delay; with 5xx traffic three
// failed measurements switch the active Service straight back to the
// previous version, which was kept running.
func TestAnalysisPrometheusPostPromotion(t *testing.T) {
	ensureCRDs(t)
	ensureIstioCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "prom")
	target := promserver.NewTarget(t)
	prom := promserver.Start(t, []string{target.HostPort()}, time.Second)
	ok := map[string]string{"reporter": "destination", "destination_service": "service.example.svc.cluster.local", "response_code": "200"}
	bad := map[string]string{"reporter": "destination", "destination_service": "service.example.svc.cluster.local", "response_code": "503"}
	target.SetRate("istio_requests_total", ok, 20)
	target.SetRate("istio_requests_total", bad, 0)
	prom.WaitForSeries(t, `istio_requests_total`, time.Minute)

	runController(t, ns)
	applySeed(t, ns, "bluegreen-istio-prometheus.yaml")
	vsBefore := virtualServiceSpec(t, c, ns)
	// The fixture points at http://127.0.0.1:9090; this test's Prometheus
	// listens on a free port. The 2m interval and 300s delay are shortened,
	// as the fixtures README allows.
	mustKubectl(t, "-n", ns, "patch", "analysistemplate", "success-rate", "--type", "json", "-p",
		fmt.Sprintf(`[{"op":"replace","path":"/spec/metrics/0/provider/prometheus/address","value":%q},{"op":"replace","path":"/spec/metrics/0/interval","value":"2s"}]`, prom.URL))
	mustKubectl(t, "-n", ns, "patch", "rollout", "rollout", "--type", "merge", "-p", `{"spec":{"strategy":{"blueGreen":{"scaleDownDelaySeconds":15}}}}`)
	v1 := waitRollout(t, c, ns, "rollout", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS

	// Healthy traffic: promoted, analysed, kept.
	mustKubectl(t, "-n", ns, "set", "image", "deployment/grpc-server", "grpc-server=registry.example/grpc-server:1.1.0")
	ro := waitRollout(t, c, ns, "rollout", "waiting for promotion", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
	v2 := ro.Status.CurrentPodHash
	if h := serviceHash(t, c, ns, "service-preview"); h != v2 {
		t.Fatalf("preview selects %q, want %q", h, v2)
	}
	if h := serviceHash(t, c, ns, "service"); h != v1 {
		t.Fatalf("active selects %q before promotion, want %q", h, v1)
	}
	promote(t, ns, "rollout")
	ro = waitRollout(t, c, ns, "rollout", "stable after a passing post-promotion analysis", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.StableRS == v2 && ro.Status.BlueGreen.ActiveSelector == v2
	})
	run := waitRun(t, c, ns, v2AnalysisName(t, c, ns, v2, "post"), time.Minute)
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.MetricResults[0].Count != 5 {
		t.Fatalf("post-promotion run %s with %d measurements, want Successful with 5", run.Status.Phase, run.Status.MetricResults[0].Count)
	}
	// The run keeps the template's placeholders; each measurement records
	// the query actually sent, with {{args.service-name}} filled in.
	ms := run.Status.MetricResults[0].Measurements
	if sent := ms[len(ms)-1].Metadata["ResolvedPrometheusQuery"]; !strings.Contains(sent, `destination_service="service.example.svc.cluster.local"`) {
		t.Errorf("the query sent did not fill in {{args.service-name}}: %q", sent)
	}
	waitCounts(t, c, ns, "rollout", map[string]int32{v2: 1, v1: 0})

	// 5xx traffic: the analysis fails and the active Service goes back.
	target.SetRate("istio_requests_total", ok, 10)
	target.SetRate("istio_requests_total", bad, 10)
	mustKubectl(t, "-n", ns, "set", "image", "deployment/grpc-server", "grpc-server=registry.example/grpc-server:1.2.0")
	ro = waitRollout(t, c, ns, "rollout", "waiting for promotion", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
	v3 := ro.Status.CurrentPodHash
	promote(t, ns, "rollout")
	eventually(t, time.Minute, "the active Service to switch to the new version", func() (bool, error) {
		return serviceHash(t, c, ns, "service") == v3, nil
	})
	ro = waitRollout(t, c, ns, "rollout", "aborted by the failing analysis", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})
	if h := serviceHash(t, c, ns, "service"); h != v2 {
		t.Fatalf("after the failed analysis the active Service selects %q, want the previous %q", h, v2)
	}
	if !strings.Contains(ro.Status.Message, "success-rate") {
		t.Errorf("abort message %q does not name the metric", ro.Status.Message)
	}
	waitCounts(t, c, ns, "rollout", map[string]int32{v2: 1})
	if vsAfter := virtualServiceSpec(t, c, ns); vsAfter != vsBefore {
		t.Errorf("the VirtualService changed:\nbefore %s\nafter  %s", vsBefore, vsAfter)
	}
}

// v2AnalysisName finds the AnalysisRun of a kind (pre, post) for a hash.
func v2AnalysisName(t *testing.T, c clients, ns, hash, suffix string) string {
	t.Helper()
	var runs v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &runs); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs.Items {
		if r.Namespace == ns && r.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == hash && strings.HasSuffix(r.Name, "-"+suffix) {
			return r.Name
		}
	}
	t.Fatalf("no %s AnalysisRun for %s", suffix, hash)
	return ""
}

func virtualServiceSpec(t *testing.T, c clients, ns string) string {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "virtualservices"}
	vs, err := c.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), "virtual-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(vs.Object, "spec")
	return fmt.Sprint(spec)
}
