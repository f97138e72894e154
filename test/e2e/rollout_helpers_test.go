package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// runController starts a controller that watches only ns, so tests running
// side by side never share Rollouts.
func runController(t *testing.T, ns string, args ...string) *controllerProcess {
	t.Helper()
	p := startController(t, "controller-"+ns, cluster.KubeconfigPath(),
		append([]string{"--namespace", ns, "--leader-elect=false", "--log-level", "debug"}, args...)...)
	p.waitServing(t)
	return p
}

func getRollout(t *testing.T, c clients, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	var ro v1alpha1.Rollout
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ro); err != nil {
		t.Fatalf("get rollout %s: %v", name, err)
	}
	return &ro
}

// waitRollout waits until cond holds for the Rollout's status as of its
// current generation.
func waitRollout(t *testing.T, c clients, ns, name, what string, timeout time.Duration, cond func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	var last *v1alpha1.Rollout
	eventually(t, timeout, "rollout "+name+": "+what, func() (bool, error) {
		var ro v1alpha1.Rollout
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ro); err != nil {
			return false, err
		}
		last = &ro
		if ro.Status.ObservedGeneration != fmt.Sprint(ro.Generation) {
			return false, fmt.Errorf("status describes generation %s of %d", ro.Status.ObservedGeneration, ro.Generation)
		}
		return cond(&ro), fmt.Errorf("phase %s (%s), step %v, stable %s, current %s", ro.Status.Phase, ro.Status.Message,
			derefOr(ro.Status.CurrentStepIndex, -1), ro.Status.StableRS, ro.Status.CurrentPodHash)
	})
	return last
}

// nextRollout is the Rollout of w's next event; the test fails when the
// watch ends or reports an error before until is seen.
func nextRollout(t *testing.T, w watch.Interface, until string) v1alpha1.Rollout {
	t.Helper()
	ev, ok := <-w.ResultChan()
	if !ok {
		t.Fatalf("the watch ended before %s", until)
	}
	if ev.Type == watch.Error {
		t.Fatalf("watch error: %v", ev.Object)
	}
	var seen v1alpha1.Rollout
	b, err := json.Marshal(ev.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &seen); err != nil {
		t.Fatal(err)
	}
	return seen
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func phaseIs(phase v1alpha1.RolloutPhase) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool { return ro.Status.Phase == phase }
}

// replicaSetsOf lists the ReplicaSets a Rollout controls, by hash.
func replicaSetsOf(t *testing.T, c clients, ns string, ro *v1alpha1.Rollout) map[string]*appsv1.ReplicaSet {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		rs := &list.Items[i]
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == ro.UID {
			out[rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] = rs
		}
	}
	return out
}

// specCounts returns "hash=replicas" for every ReplicaSet of the Rollout.
func specCounts(rss map[string]*appsv1.ReplicaSet) string {
	var parts []string
	for h, rs := range rss {
		parts = append(parts, fmt.Sprintf("%s=%d/%d", h, derefOr(rs.Spec.Replicas, 0), rs.Status.AvailableReplicas))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// waitCounts waits until the ReplicaSets of the given hashes have exactly
// these spec replicas, all available.
func waitCounts(t *testing.T, c clients, ns, name string, want map[string]int32) {
	t.Helper()
	eventually(t, 2*time.Minute, fmt.Sprintf("replica counts %v", want), func() (bool, error) {
		ro := getRollout(t, c, ns, name)
		rss := replicaSetsOf(t, c, ns, ro)
		for h, n := range want {
			rs := rss[h]
			if rs == nil && n == 0 {
				continue
			}
			if rs == nil || derefOr(rs.Spec.Replicas, 0) != n || rs.Status.AvailableReplicas != n || rs.Status.Replicas != n {
				return false, fmt.Errorf("have %s", specCounts(rss))
			}
		}
		return true, nil
	})
}

// serviceHash is the pod-template hash a Service selects, "" if none.
func serviceHash(t *testing.T, c clients, ns, name string) string {
	t.Helper()
	svc, err := c.kube.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
}

func setImage(t *testing.T, ns, rollout, image string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "rollout", rollout, "--type", "json",
		"-p", fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, image))
}

// promote does what `kubectl argo rollouts promote` sends: it clears the
// pause conditions through the status subresource.
func promote(t *testing.T, ns, rollout string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "rollout", rollout, "--subresource", "status", "--type", "merge", "-p", `{"status":{"pauseConditions":null}}`)
}

func abort(t *testing.T, ns, rollout string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "rollout", rollout, "--subresource", "status", "--type", "merge", "-p", `{"status":{"abort":true}}`)
}

func retry(t *testing.T, ns, rollout string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "rollout", rollout, "--subresource", "status", "--type", "merge", "-p", `{"status":{"abort":false}}`)
}

// podWatch samples the Pods of a namespace in the background and records
// every moment a bound is broken.
type podWatch struct {
	stop       chan struct{}
	done       chan struct{}
	mu         sync.Mutex
	violations []string
	samples    int
}

// watchPods checks, until stopped, that the ReplicaSets with the selector's
// labels never want more than maxPods replicas in all and that at least
// minReady of their Pods are ready. maxSurge bounds the desired replicas, as
// for Deployments: a Pod that is already terminating does not count.
func watchPods(t *testing.T, c clients, ns string, selector map[string]string, maxPods, minReady int) *podWatch {
	t.Helper()
	return watchBounds(t, c, ns, selector, maxPods, minReady, false)
}

// watchExistingPods is watchPods for a Rollout under the strict surge count:
// at most maxPods Pods may exist, terminating ones included.
func watchExistingPods(t *testing.T, c clients, ns string, selector map[string]string, maxPods, minReady int) *podWatch {
	t.Helper()
	return watchBounds(t, c, ns, selector, maxPods, minReady, true)
}

func watchBounds(t *testing.T, c clients, ns string, selector map[string]string, maxPods, minReady int, existing bool) *podWatch {
	t.Helper()
	w := &podWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			var pods corev1.PodList
			if err := c.ctrl.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels(selector)); err != nil {
				continue
			}
			var rss appsv1.ReplicaSetList
			if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns), client.MatchingLabels(selector)); err != nil {
				continue
			}
			desired := 0
			for _, rs := range rss.Items {
				desired += int(derefOr(rs.Spec.Replicas, 1))
			}
			total, ready := 0, 0
			for _, p := range pods.Items {
				total++
				if p.DeletionTimestamp == nil && podReady(&p) {
					ready++
				}
			}
			w.mu.Lock()
			w.samples++
			if desired > maxPods {
				w.violations = append(w.violations, fmt.Sprintf("the ReplicaSets want %d Pods (max %d)", desired, maxPods))
			}
			if existing && total > maxPods {
				w.violations = append(w.violations, fmt.Sprintf("%d Pods exist (max %d)", total, maxPods))
			}
			if ready < minReady {
				w.violations = append(w.violations, fmt.Sprintf("%d Pods ready (min %d)", ready, minReady))
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *podWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check stops the watch and fails the test on any violation.
func (w *podWatch) check(t *testing.T) {
	t.Helper()
	w.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		n := min(len(w.violations), 10)
		t.Errorf("%d of %d samples broke the bounds, e.g.:\n  %s", len(w.violations), w.samples, strings.Join(w.violations[:n], "\n  "))
	}
	if w.samples == 0 {
		t.Errorf("the Pod watch took no sample")
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// applySeed applies a fixture from real users, unchanged, into ns.
func applySeed(t *testing.T, ns, file string) {
	t.Helper()
	mustKubectl(t, "apply", "-n", ns, "-f", filepath.Join(seedsDir(t), file))
}

// applyDocs applies the documents of a fixture whose kind is in kinds (a
// user applying part of their manifests first).
func applyDocs(t *testing.T, ns, file string, kinds ...string) {
	t.Helper()
	var b strings.Builder
	for _, doc := range readManifests(t, filepath.Join(seedsDir(t), file)) {
		for _, k := range kinds {
			if doc["kind"] == k {
				y, err := yamlMarshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				b.WriteString("---\n")
				b.Write(y)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "part.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", path)
}

// controlledNamespace makes a fresh namespace with its own controller, the
// start of most tests: the CRDs installed, clients, a namespace named from
// prefix, and a controller watching only it (args are added to its flags).
func controlledNamespace(t *testing.T, prefix string, args ...string) (clients, string, *controllerProcess) {
	t.Helper()
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, prefix)
	return c, ns, runController(t, ns, args...)
}

// servicesYAML is one Service manifest per name, each selecting app=app on
// port 80 (to targetPort when it is not 0), every document begun with
// "---" so that more can follow or precede it.
func servicesYAML(app string, targetPort int, names ...string) string {
	port := "{port: 80}"
	if targetPort != 0 {
		port = fmt.Sprintf("{port: 80, targetPort: %d}", targetPort)
	}
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {selector: {app: %s}, ports: [%s]}\n", name, app, port)
	}
	return b.String()
}
