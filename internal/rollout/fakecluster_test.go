package rollout

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// fakeCluster is a fake API server holding one Rollout (key) and the
// objects a test starts it with, and a cache in front of it that can be
// held behind the server, as an informer is while the API server is slow
// to send it a pass's writes: the Rollout and its ReplicaSets as they were
// at freeze, Ingresses as a test sets them in frozenIngresses.
type fakeCluster struct {
	t   *testing.T
	key types.NamespacedName
	// api is the server; writes go to it through cache.
	api client.WithWatch
	// cache is what a reconciler reads from and writes through.
	cache client.Client
	// writes are the writes made through cache since the last take, as
	// "verb kind name".
	writes []string
	// frozenRollout and frozenRS, when set, are the Rollout and the
	// ReplicaSets (by name) the cache shows instead of the server's.
	frozenRollout *v1alpha1.Rollout
	frozenRS      map[string]*appsv1.ReplicaSet
	// frozenIngresses, when set, are Ingresses the cache shows instead of
	// the server's.
	frozenIngresses map[types.NamespacedName]*networkingv1.Ingress
	// frozenRuns, when set, are the AnalysisRuns (by name) the cache shows
	// instead of the server's.
	frozenRuns map[string]*v1alpha1.AnalysisRun
	now        time.Time
}

func newFakeCluster(t *testing.T, ro *v1alpha1.Rollout, now time.Time, objs ...client.Object) *fakeCluster {
	t.Helper()
	owner := func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil {
			return []string{string(ref.UID)}
		}
		return []string{ownerNone}
	}
	api := fake.NewClientBuilder().WithScheme(rolloutScheme(t)).
		WithStatusSubresource(&v1alpha1.Rollout{}, &appsv1.ReplicaSet{}).
		WithIndex(&appsv1.ReplicaSet{}, indexOwner, owner).
		WithIndex(&v1alpha1.AnalysisRun{}, indexRunOwner, owner).
		WithIndex(&v1alpha1.Experiment{}, indexExperimentOwner, owner).
		WithIndex(&corev1.Pod{}, indexPodHash, func(o client.Object) []string {
			return []string{o.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]}
		}).
		WithObjects(append([]client.Object{ro}, objs...)...).Build()
	c := &fakeCluster{t: t, key: client.ObjectKeyFromObject(ro), api: api, now: now}
	record := func(verb string, obj client.Object) {
		kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
		kind = kind[strings.Index(kind, ".")+1:]
		c.writes = append(c.writes, fmt.Sprintf("%s %s %s", verb, kind, obj.GetName()))
	}
	c.cache = interceptor.NewClient(api, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			switch o := obj.(type) {
			case *v1alpha1.Rollout:
				if c.frozenRollout != nil && key == c.key {
					c.frozenRollout.DeepCopyInto(o)
					return nil
				}
			case *networkingv1.Ingress:
				if old, ok := c.frozenIngresses[key]; ok {
					old.DeepCopyInto(o)
					return nil
				}
			}
			return cl.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := cl.List(ctx, list, opts...); err != nil {
				return err
			}
			if rss, ok := list.(*appsv1.ReplicaSetList); ok && c.frozenRS != nil {
				var shown []appsv1.ReplicaSet
				for i := range rss.Items {
					if old, ok := c.frozenRS[rss.Items[i].Name]; ok {
						shown = append(shown, *old.DeepCopy())
					}
				}
				rss.Items = shown
			}
			if runs, ok := list.(*v1alpha1.AnalysisRunList); ok && c.frozenRuns != nil {
				var shown []v1alpha1.AnalysisRun
				for i := range runs.Items {
					if old, ok := c.frozenRuns[runs.Items[i].Name]; ok {
						shown = append(shown, *old.DeepCopy())
					}
				}
				runs.Items = shown
			}
			return nil
		},
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			record("create", obj)
			return cl.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			record("update", obj)
			return cl.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			record("patch", obj)
			return cl.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			record("delete", obj)
			return cl.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			record("patch "+sub, obj)
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return c
}

// freeze holds the cache's Rollout and ReplicaSets at what the server
// holds now.
func (c *fakeCluster) freeze() {
	c.t.Helper()
	c.frozenRollout = c.rollout()
	var rss appsv1.ReplicaSetList
	if err := c.api.List(context.Background(), &rss, client.InNamespace(c.key.Namespace)); err != nil {
		c.t.Fatal(err)
	}
	c.frozenRS = map[string]*appsv1.ReplicaSet{}
	for i := range rss.Items {
		c.frozenRS[rss.Items[i].Name] = &rss.Items[i]
	}
}

// thaw lets the cache catch up with the server.
func (c *fakeCluster) thaw() { c.frozenRollout, c.frozenRS, c.frozenIngresses = nil, nil, nil }

// pass runs one reconcile, then plays the ReplicaSet controller on the
// server: every ReplicaSet has the Pods it asks for, all available.
func (c *fakeCluster) pass(r *Reconciler) ctrl.Result {
	c.t.Helper()
	ctx := context.Background()
	res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: c.key})
	if err != nil {
		c.t.Fatalf("reconcile: %v", err)
	}
	var rss appsv1.ReplicaSetList
	if err := c.api.List(ctx, &rss, client.InNamespace(c.key.Namespace)); err != nil {
		c.t.Fatal(err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		n := ptr.Deref(rs.Spec.Replicas, 0)
		if rs.Status.Replicas == n && rs.Status.AvailableReplicas == n && rs.Status.ObservedGeneration == rs.Generation {
			continue
		}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n, ObservedGeneration: rs.Generation}
		if err := c.api.Status().Update(ctx, rs); err != nil {
			c.t.Fatal(err)
		}
	}
	return res
}

// untilHealthy runs passes until the server's Rollout is Healthy, moving
// the clock on by advance after each, and fails after ten.
func (c *fakeCluster) untilHealthy(r *Reconciler, advance time.Duration) {
	c.t.Helper()
	for i := 0; c.rollout().Status.Phase != v1alpha1.RolloutPhaseHealthy; i++ {
		if i == 10 {
			c.t.Fatalf("not Healthy after 10 passes: %+v", c.rollout().Status)
		}
		c.pass(r)
		c.now = c.now.Add(advance)
	}
}

// release changes the Rollout's image on the server, as a user's apply
// does, raising its generation as the API server would.
func (c *fakeCluster) release(image string) {
	c.t.Helper()
	ro := c.rollout()
	ro.Spec.Template.Spec.Containers[0].Image = image
	ro.Generation++
	if err := c.api.Update(context.Background(), ro); err != nil {
		c.t.Fatal(err)
	}
}

// backgroundAnalysis creates the AnalysisTemplate "smoke" measuring metric
// beside the Rollout and gives the Rollout a background analysis from it.
func (c *fakeCluster) backgroundAnalysis(metric v1alpha1.Metric) *v1alpha1.AnalysisTemplate {
	c.t.Helper()
	ctx := context.Background()
	tmpl := &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.key.Namespace, Name: "smoke"},
		Spec:       v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{metric}},
	}
	if err := c.api.Create(ctx, tmpl); err != nil {
		c.t.Fatal(err)
	}
	ro := c.rollout()
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "smoke"}}},
	}
	if err := c.api.Update(ctx, ro); err != nil {
		c.t.Fatal(err)
	}
	return tmpl
}

// rollout is the Rollout as the server holds it.
func (c *fakeCluster) rollout() *v1alpha1.Rollout {
	c.t.Helper()
	var ro v1alpha1.Rollout
	if err := c.api.Get(context.Background(), c.key, &ro); err != nil {
		c.t.Fatal(err)
	}
	return &ro
}

// takeWrites returns the writes since the last call.
func (c *fakeCluster) takeWrites() []string {
	w := c.writes
	c.writes = nil
	return w
}
