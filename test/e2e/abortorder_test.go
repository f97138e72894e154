package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// orderedChange is one change a watch delivered, placed by its
// resourceVersion. The local cluster keeps every resource in one etcd,
// whose revision is the resourceVersion, so the numbers order changes of
// different kinds the way the API server committed them, whichever watch
// happened to deliver first.
type orderedChange struct {
	rv   int64
	what string
}

// changeLog collects changes from several watches.
type changeLog struct {
	mu      sync.Mutex
	changes []orderedChange
}

func (l *changeLog) add(obj metav1.Object, what string) {
	rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.changes = append(l.changes, orderedChange{rv: rv, what: what})
	l.mu.Unlock()
}

// sorted returns the changes in commit order.
func (l *changeLog) sorted() []orderedChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]orderedChange(nil), l.changes...)
	sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
	return out
}

// first returns the earliest change whose description starts with prefix.
func (l *changeLog) first(prefix string) (orderedChange, bool) {
	for _, c := range l.sorted() {
		if strings.HasPrefix(c.what, prefix) {
			return c, true
		}
	}
	return orderedChange{}, false
}

// watchAll feeds every change of one resource in ns, from resourceVersion
// from on, to describe, until the test ends.
func watchAll(t *testing.T, c clients, ns string, gvr schema.GroupVersionResource, from string, describe func(u *unstructured.Unstructured) string, log *changeLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := c.dynamic.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: from})
	if err != nil {
		t.Fatalf("watching %s: %v", gvr.Resource, err)
	}
	go func() {
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			if d := describe(u); d != "" {
				log.add(u, d)
			}
		}
	}()
}

// TestRoutedAbortRestoresTrafficBeforeAnythingElse aborts a canary behind
// NGINX and reads, from watches, the order in which the API server took
// the controller's writes: the canary Ingress at weight 0 comes first,
// then the canary Service back on stable, then the status that shows the
// abort; the canary ReplicaSet shrinks only after all of them, and the
// stable ReplicaSet never does.
func TestRoutedAbortRestoresTrafficBeforeAnythingElse(t *testing.T) {
	ensureCRDs(t)
	var rc routerCase
	for _, r := range routerCases() {
		if r.name == "nginx" {
			rc = r
		}
	}
	c := newClients(t)
	ns := newNamespace(t, c, "abort-order")
	runController(t, ns)
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(rc.objects, "{{ns}}", ns))
	applyYAML(t, ns, fmt.Sprintf(shopRollout, rc.routing, walkSteps))
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	stable := ro.Status.StableRS
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	ro = waitRollout(t, c, ns, "shop", "paused at 5%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	canary := ro.Status.CurrentPodHash
	if got := serviceHash(t, c, ns, "shop-canary"); got != canary {
		t.Fatalf("shop-canary selects %s before the abort, want the canary %s", got, canary)
	}

	// Every watch starts at the Rollout's version as read at the pause,
	// so nothing committed after it is missed.
	from := ro.ResourceVersion
	log := &changeLog{}
	replicas := map[string]int64{}
	for h, rs := range replicaSetsOf(t, c, ns, ro) {
		replicas[h] = int64(derefOr(rs.Spec.Replicas, 0))
	}
	watchAll(t, c, ns, rc.gvr, from, func(u *unstructured.Unstructured) string {
		if u.GetName() != rc.object {
			return ""
		}
		w, _, ok := rc.weights(u)
		if !ok {
			return ""
		}
		return fmt.Sprintf("weight %d", w)
	}, log)
	watchAll(t, c, ns, corev1.SchemeGroupVersion.WithResource("services"), from, func(u *unstructured.Unstructured) string {
		sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
		return fmt.Sprintf("service %s %s", u.GetName(), sel[v1alpha1.DefaultRolloutUniqueLabelKey])
	}, log)
	var mu sync.Mutex
	watchAll(t, c, ns, appsv1.SchemeGroupVersion.WithResource("replicasets"), from, func(u *unstructured.Unstructured) string {
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		h := u.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]
		mu.Lock()
		defer mu.Unlock()
		prev := replicas[h]
		replicas[h] = n
		if n < prev {
			role := "other"
			switch h {
			case stable:
				role = "stable"
			case canary:
				role = "canary"
			}
			return fmt.Sprintf("scale down %s %d to %d", role, prev, n)
		}
		return ""
	}, log)
	watchAll(t, c, ns, v1alpha1.GroupVersion.WithResource("rollouts"), from, func(u *unstructured.Unstructured) string {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		if phase == string(v1alpha1.RolloutPhaseDegraded) {
			return "status Degraded"
		}
		return ""
	}, log)

	abort(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Degraded after the abort", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	// abortScaleDownDelaySeconds is 3: the canary goes, the stable stays.
	waitCounts(t, c, ns, "shop", map[string]int32{stable: 10, canary: 0})
	eventually(t, time.Minute, "the watches to deliver the canary's scale-down", func() (bool, error) {
		_, ok := log.first("scale down canary")
		return ok, fmt.Errorf("changes seen: %v", log.sorted())
	})

	changes := log.sorted()
	zero, ok := log.first("weight 0")
	if !ok {
		t.Fatalf("the canary Ingress never showed weight 0; changes %v", changes)
	}
	if first := changes[0]; first.rv != zero.rv {
		t.Fatalf("the first write after the abort was %q, not the canary Ingress at weight 0; changes %v", first.what, changes)
	}
	svc, ok := log.first("service shop-canary " + stable)
	if !ok || svc.rv < zero.rv {
		t.Fatalf("shop-canary back on stable (%v, %v) not after the weight 0 (%d); changes %v", svc, ok, zero.rv, changes)
	}
	degraded, ok := log.first("status Degraded")
	if !ok || degraded.rv < svc.rv {
		t.Fatalf("the status showed the abort (%v) before the traffic was back on stable (%d); changes %v", degraded, svc.rv, changes)
	}
	down, _ := log.first("scale down canary")
	if down.rv < degraded.rv {
		t.Fatalf("the canary was scaled down (%d) before the abort's traffic writes and status (%d); changes %v", down.rv, degraded.rv, changes)
	}
	if s, ok := log.first("scale down stable"); ok {
		t.Fatalf("the stable was scaled down during the abort: %q; changes %v", s.what, changes)
	}
	t.Logf("write order after the abort: %v", changes)
}
