package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// burstShop is one of several NGINX-routed canaries of 2 replicas that
// pause at 50%; %[1]s is its name.
const burstShop = `
apiVersion: v1
kind: Service
metadata: {name: %[1]s-stable}
spec: {selector: {app: %[1]s}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s-canary}
spec: {selector: {app: %[1]s}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %[1]s}
spec:
  ingressClassName: nginx
  rules:
  - host: %[1]s.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %[1]s-stable, port: {number: 80}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0, ports: [{containerPort: 8080}]}]
  strategy:
    canary:
      canaryService: %[1]s-canary
      stableService: %[1]s-stable
      trafficRouting:
        nginx: {stableIngress: %[1]s}
      steps:
      - setWeight: 50
      - pause: {}
`

// trafficFirstPasses reads how many reconciles ended after an abort's
// router writes from the controller's metrics.
func trafficFirstPasses(t *testing.T, p *controllerProcess) int {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("reading metrics: %d %v", code, err)
	}
	m := regexp.MustCompile(`(?m)^kanaria_rollout_reconcile_passes_total\{outcome="traffic_first"\} (\d+)`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestSimultaneousRoutedAbortsMoveTrafficFirst aborts several NGINX-routed
// canaries at once. Each abort's first pass writes only its canary
// Ingress's weight 0 and the rest follows in a pass of its own; the test
// checks, from watches ordered by resourceVersion, that every Ingress
// reached 0 before its Rollout's other abort writes, and that the abort
// then completed as one pass completes it: the canary Service back on
// stable, the status Degraded with the reference's condition and message,
// one RolloutAborted Event, the canary ReplicaSet's scale-down deadline,
// and the stable never scaled down.
func TestSimultaneousRoutedAbortsMoveTrafficFirst(t *testing.T) {
	ensureCRDs(t)
	const n = 6
	c := newClients(t)
	ns := newNamespace(t, c, "abort-burst")
	ctl := runController(t, ns)
	names := make([]string, n)
	var yaml []string
	for i := range names {
		names[i] = fmt.Sprintf("shop%d", i)
		yaml = append(yaml, fmt.Sprintf(burstShop, names[i]))
	}
	applyYAML(t, ns, strings.Join(yaml, "\n---\n"))
	stable := map[string]string{}
	for _, name := range names {
		stable[name] = waitRollout(t, c, ns, name, "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	}
	for _, name := range names {
		setImage(t, ns, name, "registry.example/shop:2.0")
	}
	canary := map[string]string{}
	from := int64(0)
	for _, name := range names {
		ro := waitRollout(t, c, ns, name, "paused at 50%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
		})
		canary[name] = ro.Status.CurrentPodHash
		if rv, _ := strconv.ParseInt(ro.ResourceVersion, 10, 64); rv > from {
			from = rv
		}
	}
	// The canary Ingresses at 50% may have been written after the last
	// Rollout's pause: wait for them, and start the watches after them.
	eventually(t, time.Minute, "every canary Ingress at weight 50", func() (bool, error) {
		list, err := c.dynamic.Resource(gvrIngress).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		at50 := 0
		for _, u := range list.Items {
			if u.GetAnnotations()["nginx.ingress.kubernetes.io/canary-weight"] == "50" {
				at50++
			}
			if rv, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64); rv > from {
				from = rv
			}
		}
		return at50 == n, fmt.Errorf("%d of %d at 50", at50, n)
	})
	before := trafficFirstPasses(t, ctl)

	start := strconv.FormatInt(from, 10)
	log := &changeLog{}
	owner := regexp.MustCompile(`^(shop\d+)-`)
	watchAll(t, c, ns, gvrIngress, start, func(u *unstructured.Unstructured) string {
		m := owner.FindStringSubmatch(u.GetName())
		if m == nil || !strings.HasSuffix(u.GetName(), "-canary") {
			return ""
		}
		return fmt.Sprintf("%s weight %s", m[1], u.GetAnnotations()["nginx.ingress.kubernetes.io/canary-weight"])
	}, log)
	watchAll(t, c, ns, corev1.SchemeGroupVersion.WithResource("services"), start, func(u *unstructured.Unstructured) string {
		m := owner.FindStringSubmatch(u.GetName())
		if m == nil {
			return ""
		}
		sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
		return fmt.Sprintf("%s service %s %s", m[1], u.GetName(), sel[v1alpha1.DefaultRolloutUniqueLabelKey])
	}, log)
	var mu sync.Mutex
	replicas := map[string]int64{}
	var rss appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		replicas[rs.Name] = int64(derefOr(rs.Spec.Replicas, 0))
	}
	watchAll(t, c, ns, appsv1.SchemeGroupVersion.WithResource("replicasets"), start, func(u *unstructured.Unstructured) string {
		m := owner.FindStringSubmatch(u.GetName())
		if m == nil {
			return ""
		}
		name, h := m[1], u.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]
		r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		mu.Lock()
		prev, seen := replicas[u.GetName()]
		replicas[u.GetName()] = r
		mu.Unlock()
		switch {
		case h == stable[name] && seen && r < prev:
			return fmt.Sprintf("%s scale down stable %d to %d", name, prev, r)
		case h == canary[name] && u.GetAnnotations()[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey] != "":
			return fmt.Sprintf("%s canary deadline", name)
		}
		return ""
	}, log)
	watchAll(t, c, ns, v1alpha1.GroupVersion.WithResource("rollouts"), start, func(u *unstructured.Unstructured) string {
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == string(v1alpha1.RolloutPhaseDegraded) {
			return u.GetName() + " status Degraded"
		}
		return ""
	}, log)

	// All at once, as `kubectl argo rollouts abort` sends each.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ro := &v1alpha1.Rollout{}
			ro.Namespace, ro.Name = ns, name
			errs <- c.ctrl.Status().Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("aborting: %v", err)
		}
	}

	for _, name := range names {
		ro := waitRollout(t, c, ns, name, "Degraded after the abort", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
		wantMsg := "RolloutAborted: Rollout aborted update to revision 2"
		if ro.Status.Message != wantMsg || !ro.Status.Abort || ro.Status.AbortedAt == nil {
			t.Fatalf("%s: message %q, abort %v, abortedAt %v; want %q", name, ro.Status.Message, ro.Status.Abort, ro.Status.AbortedAt, wantMsg)
		}
		var progressing *v1alpha1.RolloutCondition
		for i := range ro.Status.Conditions {
			if ro.Status.Conditions[i].Type == v1alpha1.RolloutProgressing {
				progressing = &ro.Status.Conditions[i]
			}
		}
		if progressing == nil || progressing.Status != corev1.ConditionFalse || progressing.Reason != "RolloutAborted" {
			t.Fatalf("%s: Progressing condition %+v, want False RolloutAborted", name, progressing)
		}
		if w := ro.Status.Canary.Weights; w == nil || w.Canary.Weight != 0 || w.Stable.Weight != 100 {
			t.Fatalf("%s: status weights %+v, want 0/100", name, w)
		}
	}
	eventually(t, time.Minute, "the watches to deliver every abort's writes", func() (bool, error) {
		for _, name := range names {
			for _, what := range []string{name + " weight 0", name + " service " + name + "-canary " + stable[name], name + " status Degraded", name + " canary deadline"} {
				if _, ok := log.first(what); !ok {
					return false, fmt.Errorf("no %q yet; changes %v", what, log.sorted())
				}
			}
		}
		return true, nil
	})
	changes := log.sorted()
	for _, name := range names {
		zero, _ := log.first(name + " weight 0")
		for _, c := range changes {
			if strings.HasPrefix(c.what, name+" ") && c.rv < zero.rv {
				t.Fatalf("%s: %q came before its Ingress at weight 0; changes %v", name, c.what, changes)
			}
		}
		if s, ok := log.first(name + " scale down stable"); ok {
			t.Fatalf("the stable was scaled down during the abort: %q; changes %v", s.what, changes)
		}
	}
	// One RolloutAborted Event per Rollout, as one pass records it.
	eventually(t, 30*time.Second, "one RolloutAborted Event per Rollout", func() (bool, error) {
		evs, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		count := map[string]int32{}
		for _, e := range evs.Items {
			if e.Reason == "RolloutAborted" && e.InvolvedObject.Kind == "Rollout" {
				count[e.InvolvedObject.Name] += max(e.Count, 1)
			}
		}
		for _, name := range names {
			if count[name] != 1 {
				return false, fmt.Errorf("RolloutAborted Events by Rollout: %v", count)
			}
		}
		return true, nil
	})
	if got := trafficFirstPasses(t, ctl) - before; got < n {
		t.Fatalf("%d passes ended after the traffic write, want one per abort (%d)", got, n)
	}
	// How the Rollouts' writes interleaved, for a person reading the log:
	// with several workers the passes run side by side, so no order
	// across Rollouts is asserted.
	lastZero := int64(0)
	for _, name := range names {
		if z, _ := log.first(name + " weight 0"); z.rv > lastZero {
			lastZero = z.rv
		}
	}
	rests := 0
	for _, c := range changes {
		if c.rv < lastZero && !strings.Contains(c.what, " weight ") {
			rests++
		}
	}
	t.Logf("%d other abort writes before the last Ingress reached 0; changes %v", rests, changes)
}
