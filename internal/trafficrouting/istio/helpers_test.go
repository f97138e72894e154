package istio

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const ns = "shop"

// newRollout is a Rollout splitting by host through VirtualService "vs",
// weighting its http route "primary".
func newRollout(edits ...func(*v1alpha1.Rollout)) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "guestbook", Namespace: ns},
	}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		CanaryService: "guestbook-canary",
		StableService: "guestbook-stable",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{
			Istio: &v1alpha1.IstioTrafficRouting{
				VirtualService: &v1alpha1.IstioVirtualService{Name: "vs", Routes: []string{"primary"}},
			},
		},
	}
	for _, e := range edits {
		e(ro)
	}
	return ro
}

// istioOf returns the Rollout's trafficRouting.istio, for edits.
func istioOf(ro *v1alpha1.Rollout) *v1alpha1.IstioTrafficRouting {
	return ro.Spec.Strategy.Canary.TrafficRouting.Istio
}

func withManaged(names ...string) func(*v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		for _, n := range names {
			ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: n})
		}
	}
}

func withSubsets(ro *v1alpha1.Rollout) {
	istioOf(ro).DestinationRule = &v1alpha1.IstioDestinationRule{Name: "dr", CanarySubsetName: "canary", StableSubsetName: "stable"}
	ro.Spec.Strategy.Canary.CanaryService = ""
	ro.Spec.Strategy.Canary.StableService = ""
}

// obj decodes a YAML manifest the way the API machinery does (numbers as
// int64), so tests see the types the controller sees.
func obj(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	return u
}

// notServed makes the cluster lack the kinds gvks: reads of them fail the
// way the REST mapper fails them on a cluster without the CRDs.
func notServed(gvks ...schema.GroupVersionKind) func(*setup) {
	return func(s *setup) {
		s.mapper = routertest.Kinds(without(gvks, VirtualServiceGVK, DestinationRuleGVK)...)
	}
}

// without returns the kinds of all that are not in drop.
func without(drop []schema.GroupVersionKind, all ...schema.GroupVersionKind) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, g := range all {
		if !slices.Contains(drop, g) {
			out = append(out, g)
		}
	}
	return out
}

// recorder counts and orders the writes a router makes.
type recorder struct {
	mu      sync.Mutex
	updates []string
}

func (r *recorder) record(o client.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, o.GetObjectKind().GroupVersionKind().Kind+" "+o.GetNamespace()+"/"+o.GetName())
}

// fixture is a fake cluster holding objs and a router for ro on it.
type fixture struct {
	c      client.WithWatch
	router *Router
	writes *recorder
}

// setup is the cluster newFixture builds: mapper decides which kinds it
// serves, funcs intercept its calls.
type setup struct {
	mapper meta.RESTMapper
	funcs  interceptor.Funcs
}

func newFixture(t *testing.T, ro *v1alpha1.Rollout, objs []*unstructured.Unstructured, opts ...func(*setup)) *fixture {
	t.Helper()
	s := &setup{mapper: routertest.Kinds(VirtualServiceGVK, DestinationRuleGVK)}
	for _, o := range opts {
		o(s)
	}
	rec := &recorder{}
	update := s.funcs.Update
	s.funcs.Update = func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
		rec.record(o)
		if update != nil {
			return update(ctx, c, o, opts...)
		}
		return c.Update(ctx, o, opts...)
	}
	var copies []client.Object
	for _, o := range objs {
		copies = append(copies, o.DeepCopy())
	}
	c := routertest.Cluster{Serves: s.mapper, Funcs: &s.funcs}.Client(copies...)
	return &fixture{
		c:      c,
		router: New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c}),
		writes: rec,
	}
}

func (f *fixture) get(t *testing.T, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.Get(t, f.c, gvk, namespace, name)
}

// assertContent compares everything but the fields the API server sets
// (resourceVersion and the like), so a test proves that no field outside
// the managed ones changed.
func assertContent(t *testing.T, got, want *unstructured.Unstructured) {
	t.Helper()
	strip := func(u *unstructured.Unstructured) any {
		c := u.DeepCopy()
		c.SetResourceVersion("")
		c.SetGeneration(0)
		c.SetCreationTimestamp(metav1.Time{})
		var v any
		j, err := json.Marshal(c.Object)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if g, w := strip(got), strip(want); !reflect.DeepEqual(g, w) {
		gy, _ := yaml.Marshal(g)
		wy, _ := yaml.Marshal(w)
		t.Fatalf("%s %s differs\ngot:\n%s\nwant:\n%s", got.GetKind(), got.GetName(), gy, wy)
	}
}

func desired(canary int32) trafficrouting.Desired {
	return trafficrouting.Desired{CanaryWeight: canary, MaxWeight: 100, CanaryHash: "c4n4ry", StableHash: "st4bl3"}
}

func ptr[T any](v T) *T { return &v }
