package traefik

import (
	"context"
	"errors"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const ns = "shop"

var (
	containous = GVKs[0]
	traefikIO  = GVKs[1]
)

func rollout(name string) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "uid-web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			CanaryService: "web-canary",
			StableService: "web-stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: name},
			},
		}}},
	}
}

// traefikService is a weighted TraefikService with fields the router must
// not touch: an unrelated entry, a nested TraefikService sharing the canary's
// name, sticky settings, labels and annotations.
func traefikService(gvk schema.GroupVersionKind, services ...any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{
			"name": "web-wrr", "namespace": ns,
			"labels":      map[string]any{"app": "web"},
			"annotations": map[string]any{"note": "keep"},
		},
		"spec": map[string]any{
			"weighted": map[string]any{
				"services": services,
				"sticky":   map[string]any{"cookie": map[string]any{"name": "lb"}},
			},
		},
	}}
	u.SetGroupVersionKind(gvk)
	return u
}

func entry(name string, extra ...any) map[string]any {
	m := map[string]any{"name": name, "port": int64(80)}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// fakeClient serves only the kinds in served and counts writes in n.
func fakeClient(served []schema.GroupVersionKind, n *routertest.Counts, objs ...client.Object) client.Client {
	return routertest.Cluster{Serves: routertest.Kinds(served...), Writes: n}.Client(objs...)
}

func get(t *testing.T, c client.Client, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	t.Helper()
	return routertest.Get(t, c, gvk, ns, "web-wrr")
}

func TestSync(t *testing.T) {
	both := []schema.GroupVersionKind{containous, traefikIO}
	for _, tc := range []struct {
		name          string
		gvk           schema.GroupVersionKind
		served        []schema.GroupVersionKind
		services      []any
		d             trafficrouting.Desired
		wantServices  []any
		wantWrites    int
		wantRVChanged bool
	}{
		{
			name:   "sets both weights in traefik.containo.us",
			gvk:    containous,
			served: both,
			services: []any{
				entry("web-stable"), entry("web-canary"),
				entry("web-canary", "kind", "TraefikService", "weight", int64(7)),
				entry("other", "weight", int64(3)),
			},
			d: trafficrouting.Desired{CanaryWeight: 20, MaxWeight: 100},
			wantServices: []any{
				entry("web-stable", "weight", int64(80)), entry("web-canary", "weight", int64(20)),
				entry("web-canary", "kind", "TraefikService", "weight", int64(7)),
				entry("other", "weight", int64(3)),
			},
			wantWrites: 1, wantRVChanged: true,
		},
		{
			name:         "finds the object in traefik.io when traefik.containo.us is not served",
			gvk:          traefikIO,
			served:       []schema.GroupVersionKind{traefikIO},
			services:     []any{entry("web-stable", "weight", int64(100)), entry("web-canary", "weight", int64(0))},
			d:            trafficrouting.Desired{CanaryWeight: 50, MaxWeight: 100},
			wantServices: []any{entry("web-stable", "weight", int64(50)), entry("web-canary", "weight", int64(50))},
			wantWrites:   1, wantRVChanged: true,
		},
		{
			name:         "finds the object in traefik.io when both groups are served",
			gvk:          traefikIO,
			served:       both,
			services:     []any{entry("web-stable"), entry("web-canary")},
			d:            trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100},
			wantServices: []any{entry("web-stable", "weight", int64(100)), entry("web-canary", "weight", int64(0))},
			wantWrites:   1, wantRVChanged: true,
		},
		{
			name:         "entry in the Rollout's namespace counts, maxTrafficWeight is honoured",
			gvk:          containous,
			served:       both,
			services:     []any{entry("web-stable", "namespace", ns), entry("web-canary", "kind", "Service")},
			d:            trafficrouting.Desired{CanaryWeight: 250, MaxWeight: 1000},
			wantServices: []any{entry("web-stable", "namespace", ns, "weight", int64(750)), entry("web-canary", "kind", "Service", "weight", int64(250))},
			wantWrites:   1, wantRVChanged: true,
		},
		{
			name:         "no write when the weights already hold",
			gvk:          containous,
			served:       both,
			services:     []any{entry("web-stable", "weight", int64(70)), entry("web-canary", "weight", int64(30))},
			d:            trafficrouting.Desired{CanaryWeight: 30, MaxWeight: 100},
			wantServices: []any{entry("web-stable", "weight", int64(70)), entry("web-canary", "weight", int64(30))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			obj := traefikService(tc.gvk, tc.services...)
			c := fakeClient(tc.served, &n, obj)
			before := get(t, c, tc.gvk)
			r := New(trafficrouting.Env{Rollout: rollout("web-wrr"), Reader: c, Writer: c})
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			after := get(t, c, tc.gvk)
			if n.Writes() != tc.wantWrites {
				t.Errorf("writes = %d, want %d", n.Writes(), tc.wantWrites)
			}
			if changed := after.GetResourceVersion() != before.GetResourceVersion(); changed != tc.wantRVChanged {
				t.Errorf("resourceVersion changed = %v, want %v", changed, tc.wantRVChanged)
			}
			want := before.DeepCopy()
			want.Object["spec"].(map[string]any)["weighted"].(map[string]any)["services"] = tc.wantServices
			want.SetResourceVersion(after.GetResourceVersion())
			if !reflect.DeepEqual(after.Object, want.Object) {
				t.Errorf("object after Sync:\n got %v\nwant %v", after.Object, want.Object)
			}
			// A second Sync with the same state must not write.
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if n.Writes() != tc.wantWrites {
				t.Errorf("second Sync wrote: writes = %d, want %d", n.Writes(), tc.wantWrites)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ro      *v1alpha1.Rollout
		served  []schema.GroupVersionKind
		objs    []client.Object
		wantMsg []string
	}{
		{
			name:    "no weightedTraefikServiceName",
			ro:      rollout(""),
			served:  GVKs,
			wantMsg: []string{"weightedTraefikServiceName is required"},
		},
		{
			name:    "missing TraefikService",
			ro:      rollout("web-wrr"),
			served:  GVKs,
			wantMsg: []string{"TraefikService shop/web-wrr does not exist"},
		},
		{
			name:    "kind not served",
			ro:      rollout("web-wrr"),
			served:  nil,
			wantMsg: []string{"the cluster serves no TraefikService kind (traefik.containo.us/v1alpha1, traefik.io/v1alpha1)"},
		},
		{
			name:    "not weighted",
			ro:      rollout("web-wrr"),
			served:  GVKs,
			objs:    []client.Object{mirroring()},
			wantMsg: []string{"has no spec.weighted.services list"},
		},
		{
			name:   "both entries missing",
			ro:     rollout("web-wrr"),
			served: GVKs,
			objs: []client.Object{traefikService(containous,
				entry("web-canary", "kind", "TraefikService"),
				entry("web-stable", "namespace", "elsewhere"),
			)},
			wantMsg: []string{
				`no spec.weighted.services entry for the canary Service "web-canary"`,
				`no spec.weighted.services entry for the stable Service "web-stable"`,
			},
		},
		{
			name: "services unset",
			ro: func() *v1alpha1.Rollout {
				ro := rollout("web-wrr")
				ro.Spec.Strategy.Canary.CanaryService = ""
				ro.Spec.Strategy.Canary.StableService = ""
				return ro
			}(),
			served:  GVKs,
			objs:    []client.Object{traefikService(containous, entry("web-stable"), entry("web-canary"))},
			wantMsg: []string{"canaryService is required", "stableService is required"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			c := fakeClient(tc.served, &n, tc.objs...)
			r := New(trafficrouting.Env{Rollout: tc.ro, Reader: c, Writer: c})
			routertest.CheckConfigErrors(t, r.Check(context.Background()), "traefik", tc.wantMsg)
			// Sync refuses the same configuration without writing.
			routertest.CheckConfigErrors(t, r.Sync(context.Background(), trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100}), "traefik", tc.wantMsg)
			if n.Writes() != 0 {
				t.Errorf("writes = %d, want 0", n.Writes())
			}
		})
	}
}

func TestSyncRefusesHeaderAndMirrorRoutes(t *testing.T) {
	var n routertest.Counts
	c := fakeClient(GVKs, &n, traefikService(containous, entry("web-stable"), entry("web-canary")))
	r := New(trafficrouting.Env{Rollout: rollout("web-wrr"), Reader: c, Writer: c})
	for _, d := range []trafficrouting.Desired{
		{MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "h"}}},
		{MaxWeight: 100, MirrorRoutes: []trafficrouting.MirrorRoute{{Name: "m"}}},
	} {
		routertest.CheckConfigErrors(t, r.Sync(context.Background(), d), "traefik", []string{"supports neither setHeaderRoute nor setMirrorRoute"})
	}
	if n.Writes() != 0 {
		t.Errorf("writes = %d, want 0", n.Writes())
	}
}

func TestReadErrorIsNotConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	c := routertest.NewClient(routertest.FailGets(boom))
	err := New(trafficrouting.Env{Rollout: rollout("web-wrr"), Reader: c, Writer: c}).Check(context.Background())
	routertest.CheckNotConfigError(t, "Check", err, boom, "")
}

func TestType(t *testing.T) {
	if got := New(trafficrouting.Env{}).Type(); got != "traefik" {
		t.Fatalf("Type = %q", got)
	}
}

func mirroring() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "web-wrr", "namespace": ns},
		"spec":     map[string]any{"mirroring": map[string]any{"name": "web-stable", "port": int64(80)}},
	}}
	u.SetGroupVersionKind(containous)
	return u
}
