package ambassador

import (
	"context"
	"reflect"
	"strings"
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
	v3      = GVKs[0]
	v2      = GVKs[1]
	xv3     = GVKs[2]
	allGVKs = GVKs
)

func rollout(mappings ...string) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "uid-web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			CanaryService: "web-canary",
			StableService: "web-stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: mappings},
			},
		}}},
	}
}

func mapping(gvk schema.GroupVersionKind, name, service string, extra ...any) *unstructured.Unstructured {
	spec := map[string]any{"prefix": "/" + name + "/", "rewrite": "/", "service": service, "timeout_ms": int64(3000)}
	for i := 0; i+1 < len(extra); i += 2 {
		spec[extra[i].(string)] = extra[i+1]
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels":      map[string]any{"app": "web"},
			"annotations": map[string]any{"note": "keep"},
		},
		"spec": spec,
	}}
	u.SetGroupVersionKind(gvk)
	return u
}

// canaryOf is the canary Mapping the router must make of base.
func canaryOf(base *unstructured.Unstructured, service string, weight int64) *unstructured.Unstructured {
	spec := base.DeepCopy().Object["spec"].(map[string]any)
	spec["service"] = service
	spec["weight"] = weight
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(base.GroupVersionKind())
	u.SetNamespace(ns)
	u.SetName(base.GetName() + "-canary")
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(rollout(), v1alpha1.GroupVersion.WithKind("Rollout"))})
	return u
}

// fakeClient serves only the kinds in served and counts writes in n.
func fakeClient(served []schema.GroupVersionKind, n *routertest.Counts, objs ...client.Object) client.Client {
	return routertest.Cluster{Serves: routertest.Kinds(served...), Writes: n}.Client(objs...)
}

func get(t *testing.T, c client.Client, gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.GetIfExists(t, c, gvk, ns, name)
}

func TestSync(t *testing.T) {
	base := mapping(v3, "api", "web-stable:8080")
	baseV2 := mapping(v2, "api", "web-stable.shop:80")
	baseX := mapping(xv3, "api", "web-stable")
	for _, tc := range []struct {
		name       string
		served     []schema.GroupVersionKind
		base       *unstructured.Unstructured
		existing   *unstructured.Unstructured
		d          trafficrouting.Desired
		want       *unstructured.Unstructured // nil: no canary Mapping
		wantCounts routertest.Counts
	}{
		{
			name:       "creates the canary Mapping",
			served:     allGVKs,
			base:       base,
			d:          trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(base, "web-canary:8080", 10),
			wantCounts: routertest.Counts{Create: 1},
		},
		{
			name:       "getambassador.io/v2 when v3alpha1 is not served, namespace form kept",
			served:     []schema.GroupVersionKind{v2},
			base:       baseV2,
			d:          trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(baseV2, "web-canary.shop:80", 10),
			wantCounts: routertest.Counts{Create: 1},
		},
		{
			name:       "x.getambassador.io AmbassadorMapping",
			served:     []schema.GroupVersionKind{xv3},
			base:       baseX,
			d:          trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(baseX, "web-canary", 10),
			wantCounts: routertest.Counts{Create: 1},
		},
		{
			name:       "updates the weight",
			served:     allGVKs,
			base:       base,
			existing:   canaryOf(base, "web-canary:8080", 10),
			d:          trafficrouting.Desired{CanaryWeight: 60, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(base, "web-canary:8080", 60),
			wantCounts: routertest.Counts{Update: 1},
		},
		{
			name:     "no write when the canary Mapping already holds",
			served:   allGVKs,
			base:     base,
			existing: canaryOf(base, "web-canary:8080", 60),
			d:        trafficrouting.Desired{CanaryWeight: 60, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:     canaryOf(base, "web-canary:8080", 60),
		},
		{
			name:       "follows a changed base spec",
			served:     allGVKs,
			base:       mapping(v3, "api", "web-stable:8080", "prefix", "/v2/api/"),
			existing:   canaryOf(base, "web-canary:8080", 60),
			d:          trafficrouting.Desired{CanaryWeight: 60, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(mapping(v3, "api", "web-stable:8080", "prefix", "/v2/api/"), "web-canary:8080", 60),
			wantCounts: routertest.Counts{Update: 1},
		},
		{
			name:       "kept at weight 0 while the update is not over",
			served:     allGVKs,
			base:       base,
			existing:   canaryOf(base, "web-canary:8080", 60),
			d:          trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
			want:       canaryOf(base, "web-canary:8080", 0),
			wantCounts: routertest.Counts{Update: 1},
		},
		{
			name:   "not created at weight 0",
			served: allGVKs,
			base:   base,
			d:      trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
		},
		{
			name:       "deleted when the update is over",
			served:     allGVKs,
			base:       base,
			existing:   canaryOf(base, "web-canary:8080", 100),
			d:          trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "b", StableHash: "b"},
			wantCounts: routertest.Counts{Delete: 1},
		},
		{
			name:   "nothing to delete when the update is over",
			served: allGVKs,
			base:   base,
			d:      trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "b", StableHash: "b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			objs := []client.Object{tc.base.DeepCopy()}
			if tc.existing != nil {
				objs = append(objs, tc.existing.DeepCopy())
			}
			c := fakeClient(tc.served, &n, objs...)
			gvk := tc.base.GroupVersionKind()
			baseBefore := get(t, c, gvk, "api")
			canaryBefore := get(t, c, gvk, "api-canary")
			r := New(trafficrouting.Env{Rollout: rollout("api"), Reader: c, Writer: c})
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if n != tc.wantCounts {
				t.Errorf("writes = %+v, want %+v", n, tc.wantCounts)
			}
			if got := get(t, c, gvk, "api"); !reflect.DeepEqual(got, baseBefore) {
				t.Errorf("base Mapping changed:\n got %v\nwant %v", got, baseBefore)
			}
			got := get(t, c, gvk, "api-canary")
			if !routertest.SameExceptVersion(got, tc.want) {
				t.Errorf("canary Mapping:\n got %v\nwant %v", got, tc.want)
			}
			if tc.wantCounts.Writes() == 0 && canaryBefore != nil && got.GetResourceVersion() != canaryBefore.GetResourceVersion() {
				t.Errorf("canary resourceVersion changed without a write")
			}
			// The same state again writes nothing.
			before := n
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if n != before {
				t.Errorf("second Sync wrote: %+v -> %+v", before, n)
			}
		})
	}
}

func TestSyncSeveralMappings(t *testing.T) {
	var n routertest.Counts
	a, b := mapping(v3, "a", "web-stable:80"), mapping(v3, "b", "https://web-stable:443")
	c := fakeClient(allGVKs, &n, a, b)
	r := New(trafficrouting.Env{Rollout: rollout("a", "b"), Reader: c, Writer: c})
	if err := r.Sync(context.Background(), trafficrouting.Desired{CanaryWeight: 5, MaxWeight: 100, CanaryHash: "y", StableHash: "x"}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := get(t, c, v3, "a-canary"); !routertest.SameExceptVersion(got, canaryOf(a, "web-canary:80", 5)) {
		t.Errorf("a-canary = %v", got)
	}
	if got := get(t, c, v3, "b-canary"); !routertest.SameExceptVersion(got, canaryOf(b, "https://web-canary:443", 5)) {
		t.Errorf("b-canary = %v", got)
	}
}

func TestForeignCanaryMapping(t *testing.T) {
	base := mapping(v3, "api", "web-stable:80")
	foreign := mapping(v3, "api-canary", "someone-else:80", "weight", int64(50))
	for _, d := range []trafficrouting.Desired{
		{CanaryWeight: 20, MaxWeight: 100, CanaryHash: "b", StableHash: "a"},
		{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "b", StableHash: "b"},
	} {
		var n routertest.Counts
		c := fakeClient(allGVKs, &n, base.DeepCopy(), foreign.DeepCopy())
		r := New(trafficrouting.Env{Rollout: rollout("api"), Reader: c, Writer: c})
		want := []string{"Mapping shop/api-canary exists and is not controlled by this Rollout"}
		routertest.CheckConfigErrors(t, r.Check(context.Background()), "ambassador", want)
		routertest.CheckConfigErrors(t, r.Sync(context.Background(), d), "ambassador", want)
		if n.Writes() != 0 {
			t.Errorf("Sync(%+v) wrote %+v", d, n)
		}
		if got := get(t, c, v3, "api-canary"); !routertest.SameExceptVersion(got, foreign) {
			t.Errorf("foreign Mapping changed: %v", got)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	noCanary := rollout("api")
	noCanary.Spec.Strategy.Canary.CanaryService = ""
	for _, tc := range []struct {
		name    string
		ro      *v1alpha1.Rollout
		served  []schema.GroupVersionKind
		objs    []client.Object
		wantMsg []string
	}{
		{name: "no mappings", ro: rollout(), served: allGVKs, wantMsg: []string{"mappings needs at least one Mapping"}},
		{name: "no canary Service", ro: noCanary, served: allGVKs, objs: []client.Object{mapping(v3, "api", "web-stable")}, wantMsg: []string{"canaryService is required"}},
		{
			name:    "base Mappings missing",
			ro:      rollout("api", "other"),
			served:  allGVKs,
			wantMsg: []string{"Mapping shop/api does not exist", "Mapping shop/other does not exist"},
		},
		{
			name:    "kind not served",
			ro:      rollout("api"),
			served:  nil,
			wantMsg: []string{"the cluster serves no Mapping kind (getambassador.io/v3alpha1, getambassador.io/v2, x.getambassador.io/v3alpha1)"},
		},
		{
			name:    "base Mapping with a weight",
			ro:      rollout("api"),
			served:  allGVKs,
			objs:    []client.Object{mapping(v3, "api", "web-stable", "weight", int64(100))},
			wantMsg: []string{"Mapping shop/api sets spec.weight"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			c := fakeClient(tc.served, &n, tc.objs...)
			r := New(trafficrouting.Env{Rollout: tc.ro, Reader: c, Writer: c})
			routertest.CheckConfigErrors(t, r.Check(context.Background()), "ambassador", tc.wantMsg)
			routertest.CheckConfigErrors(t, r.Sync(context.Background(), trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100, CanaryHash: "b", StableHash: "a"}), "ambassador", tc.wantMsg)
			if n.Writes() != 0 {
				t.Errorf("writes = %+v", n)
			}
		})
	}
}

func TestBaseWeightZeroIsAccepted(t *testing.T) {
	var n routertest.Counts
	c := fakeClient(allGVKs, &n, mapping(v3, "api", "web-stable", "weight", int64(0)))
	if err := New(trafficrouting.Env{Rollout: rollout("api"), Reader: c, Writer: c}).Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestSyncRefusesHeaderAndMirrorRoutes(t *testing.T) {
	var n routertest.Counts
	c := fakeClient(allGVKs, &n, mapping(v3, "api", "web-stable"))
	r := New(trafficrouting.Env{Rollout: rollout("api"), Reader: c, Writer: c})
	for _, d := range []trafficrouting.Desired{
		{CanaryWeight: 10, MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "h"}}},
		{CanaryWeight: 10, MaxWeight: 100, MirrorRoutes: []trafficrouting.MirrorRoute{{Name: "m"}}},
	} {
		routertest.CheckConfigErrors(t, r.Sync(context.Background(), d), "ambassador", []string{"supports neither setHeaderRoute nor setMirrorRoute"})
	}
	if n.Writes() != 0 {
		t.Errorf("writes = %+v", n)
	}
}

func TestCanaryService(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"web-stable", "web-canary"},
		{"web-stable:80", "web-canary:80"},
		{"web-stable:http", "web-canary"},
		{"web-stable.shop", "web-canary.shop"},
		{"web-stable.other:8080", "web-canary.shop:8080"},
		{"web-stable.shop.svc.cluster.local:80", "web-canary.shop.svc.cluster.local:80"},
		{"https://web-stable:443", "https://web-canary:443"},
		{"http://web-stable.shop", "http://web-canary.shop"},
		{"", "web-canary"},
	} {
		if got := canaryService(tc.base, "web-canary", "shop"); got != tc.want {
			t.Errorf("canaryService(%q) = %q, want %q", tc.base, got, tc.want)
		}
	}
}

func TestCanaryMappingName(t *testing.T) {
	if got := CanaryMappingName("api"); got != "api-canary" {
		t.Errorf("CanaryMappingName(api) = %q", got)
	}
	long := strings.Repeat("a", 300)
	got := CanaryMappingName(long)
	if len(got) != 253 || !strings.HasSuffix(got, "-canary") {
		t.Errorf("CanaryMappingName of 300 characters = %d characters %q", len(got), got)
	}
}

func TestType(t *testing.T) {
	if got := New(trafficrouting.Env{}).Type(); got != "ambassador" {
		t.Fatalf("Type = %q", got)
	}
}
