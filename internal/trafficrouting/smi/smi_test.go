package smi

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const (
	ns         = "shop"
	rolloutUID = "8a1c2f3e-0000-4000-8000-000000000001"
)

func newRollout(smi *v1alpha1.SMITrafficRouting) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "guestbook", Namespace: ns, UID: rolloutUID},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			CanaryService:  "guestbook-canary",
			StableService:  "guestbook-stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{SMI: smi},
		}}},
	}
}

// newClient serves TrafficSplit only in the versions listed, so a test can
// stand for a cluster that lacks the kind or a version of it.
func newClient(t *testing.T, versions []string, objs ...client.Object) client.WithWatch {
	t.Helper()
	var served []schema.GroupVersionKind
	for _, v := range versions {
		served = append(served, schema.GroupVersionKind{Group: Group, Version: v, Kind: "TrafficSplit"})
	}
	return routertest.Cluster{Scheme: runtime.NewScheme(), Serves: routertest.Kinds(served...)}.Client(objs...)
}

var allVersions = []string{"v1alpha1", "v1alpha2", "v1alpha3"}

func split(version, name string, owner *metav1.OwnerReference, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: version, Kind: "TrafficSplit"})
	u.SetNamespace(ns)
	u.SetName(name)
	if owner != nil {
		u.SetOwnerReferences([]metav1.OwnerReference{*owner})
	}
	return u
}

func ownRef() *metav1.OwnerReference {
	return metav1.NewControllerRef(newRollout(nil), v1alpha1.GroupVersion.WithKind("Rollout"))
}

func read(t *testing.T, c client.Client, version, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.Get(t, c, schema.GroupVersionKind{Group: Group, Version: version, Kind: "TrafficSplit"}, ns, name)
}

func desired(canary int32) trafficrouting.Desired {
	return trafficrouting.Desired{CanaryWeight: canary, MaxWeight: trafficrouting.DefaultMaxWeight}
}

func TestSyncCreatesWhenMissing(t *testing.T) {
	tests := []struct {
		name        string
		version     string // as configured
		smi         *v1alpha1.SMITrafficRouting
		d           trafficrouting.Desired
		wantVersion string
		wantName    string
		wantSpec    map[string]any
	}{
		{
			name: "default version and names", version: "", smi: &v1alpha1.SMITrafficRouting{}, d: desired(10),
			wantVersion: "v1alpha1", wantName: "guestbook",
			wantSpec: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "10"},
				map[string]any{"service": "guestbook-stable", "weight": "90"},
			}},
		},
		{
			name: "v1alpha2 integer weights, configured names", version: "v1alpha2",
			smi: &v1alpha1.SMITrafficRouting{RootService: "guestbook", TrafficSplitName: "gb-split"}, d: desired(25),
			wantVersion: "v1alpha2", wantName: "gb-split",
			wantSpec: map[string]any{"service": "guestbook", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(25)},
				map[string]any{"service": "guestbook-stable", "weight": int64(75)},
			}},
		},
		{
			name: "v1alpha3 with maxTrafficWeight", version: "v1alpha3", smi: &v1alpha1.SMITrafficRouting{},
			d:           trafficrouting.Desired{CanaryWeight: 300, MaxWeight: 1000},
			wantVersion: "v1alpha3", wantName: "guestbook",
			wantSpec: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(300)},
				map[string]any{"service": "guestbook-stable", "weight": int64(700)},
			}},
		},
		{
			name: "v1alpha1 zero canary", version: "v1alpha1", smi: &v1alpha1.SMITrafficRouting{}, d: desired(0),
			wantVersion: "v1alpha1", wantName: "guestbook",
			wantSpec: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "0"},
				map[string]any{"service": "guestbook-stable", "weight": "100"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, allVersions)
			r := New(trafficrouting.Env{Rollout: newRollout(tt.smi), Reader: c, Writer: c}, tt.version)
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check with no TrafficSplit: %v", err)
			}
			if err := r.Sync(context.Background(), tt.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			got := read(t, c, tt.wantVersion, tt.wantName)
			if !equality.Semantic.DeepEqual(got.Object["spec"], tt.wantSpec) {
				t.Errorf("spec = %#v, want %#v", got.Object["spec"], tt.wantSpec)
			}
			refs := got.GetOwnerReferences()
			if len(refs) != 1 || refs[0].UID != rolloutUID || refs[0].Kind != "Rollout" ||
				refs[0].APIVersion != "argoproj.io/v1alpha1" || refs[0].Name != "guestbook" ||
				refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("ownerReferences = %+v, want the Rollout as controller", refs)
			}
			// The created split is ours: a second Check and Sync accept it.
			if err := r.Check(context.Background()); err != nil {
				t.Errorf("Check after create: %v", err)
			}
			rv := got.GetResourceVersion()
			if err := r.Sync(context.Background(), tt.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if again := read(t, c, tt.wantVersion, tt.wantName); again.GetResourceVersion() != rv {
				t.Errorf("second Sync with nothing changed wrote (resourceVersion %s -> %s)", rv, again.GetResourceVersion())
			}
		})
	}
}

func TestSyncUpdatesInPlace(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		existing  map[string]any
		d         trafficrouting.Desired
		want      map[string]any
		wantWrite bool
	}{
		{
			name: "v1alpha1 weight change keeps other fields", version: "v1alpha1",
			existing: map[string]any{"service": "old-root", "extra": "kept", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "0"},
				map[string]any{"service": "guestbook-stable", "weight": "100"},
			}},
			d: desired(40),
			want: map[string]any{"service": "guestbook-stable", "extra": "kept", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "40"},
				map[string]any{"service": "guestbook-stable", "weight": "60"},
			}},
			wantWrite: true,
		},
		{
			name: "v1alpha1 integer-written weights equal to desired are left alone", version: "v1alpha1",
			existing: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(40)},
				map[string]any{"service": "guestbook-stable", "weight": int64(60)},
			}},
			d: desired(40),
			want: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(40)},
				map[string]any{"service": "guestbook-stable", "weight": int64(60)},
			}},
		},
		{
			name: "v1alpha3 extra backend is dropped", version: "v1alpha3",
			existing: map[string]any{"service": "guestbook-stable", "matches": []any{map[string]any{"kind": "HTTPRouteGroup", "name": "g"}}, "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(10)},
				map[string]any{"service": "guestbook-stable", "weight": int64(80)},
				map[string]any{"service": "guestbook-preview", "weight": int64(10)},
			}},
			d: desired(100),
			want: map[string]any{"service": "guestbook-stable", "matches": []any{map[string]any{"kind": "HTTPRouteGroup", "name": "g"}}, "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(100)},
				map[string]any{"service": "guestbook-stable", "weight": int64(0)},
			}},
			wantWrite: true,
		},
		{
			name: "experiment Services are backends with their weights, out of the stable's", version: "v1alpha2",
			existing: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(5)},
				map[string]any{"service": "guestbook-stable", "weight": int64(95)},
			}},
			d: trafficrouting.Desired{CanaryWeight: 5, MaxWeight: 100, Additional: []trafficrouting.Destination{
				{ServiceName: "exp-baseline", Weight: 10}, {ServiceName: "exp-canary", Weight: 10},
			}},
			want: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(5)},
				map[string]any{"service": "guestbook-stable", "weight": int64(75)},
				map[string]any{"service": "exp-baseline", "weight": int64(10)},
				map[string]any{"service": "exp-canary", "weight": int64(10)},
			}},
			wantWrite: true,
		},
		{
			name: "experiment backends go once the experiment ends", version: "v1alpha1",
			existing: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "5"},
				map[string]any{"service": "guestbook-stable", "weight": "85"},
				map[string]any{"service": "exp-canary", "weight": "10"},
			}},
			d: desired(5),
			want: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": "5"},
				map[string]any{"service": "guestbook-stable", "weight": "95"},
			}},
			wantWrite: true,
		},
		{
			name: "v1alpha2 unchanged", version: "v1alpha2",
			existing: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(5)},
				map[string]any{"service": "guestbook-stable", "weight": int64(95)},
			}},
			d: desired(5),
			want: map[string]any{"service": "guestbook-stable", "backends": []any{
				map[string]any{"service": "guestbook-canary", "weight": int64(5)},
				map[string]any{"service": "guestbook-stable", "weight": int64(95)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := split(tt.version, "guestbook", ownRef(), tt.existing)
			obj.SetLabels(map[string]string{"app": "guestbook"})
			obj.SetAnnotations(map[string]string{"note": "keep"})
			c := newClient(t, allVersions, obj)
			before := read(t, c, tt.version, "guestbook")
			r := New(trafficrouting.Env{Rollout: newRollout(&v1alpha1.SMITrafficRouting{}), Reader: c, Writer: c}, tt.version)
			if err := r.Sync(context.Background(), tt.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			got := read(t, c, tt.version, "guestbook")
			if !equality.Semantic.DeepEqual(got.Object["spec"], tt.want) {
				t.Errorf("spec = %#v, want %#v", got.Object["spec"], tt.want)
			}
			if wrote := got.GetResourceVersion() != before.GetResourceVersion(); wrote != tt.wantWrite {
				t.Errorf("wrote = %v, want %v", wrote, tt.wantWrite)
			}
			if !equality.Semantic.DeepEqual(got.GetLabels(), before.GetLabels()) ||
				!equality.Semantic.DeepEqual(got.GetAnnotations(), before.GetAnnotations()) ||
				!equality.Semantic.DeepEqual(got.GetOwnerReferences(), before.GetOwnerReferences()) {
				t.Errorf("metadata changed: %+v -> %+v", before.Object["metadata"], got.Object["metadata"])
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	otherOwner := &metav1.OwnerReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "other", UID: "other-uid", Controller: new(true)}
	notController := ownRef()
	notController.Controller = new(false)
	tests := []struct {
		name     string
		version  string
		served   []string
		existing *unstructured.Unstructured
		canary   string
		wantMsg  string
	}{
		{name: "unsupported version", version: "v1alpha4", served: allVersions, wantMsg: `"v1alpha4" is not supported`},
		{name: "kind not served", version: "v1alpha1", served: nil, wantMsg: "does not serve TrafficSplit"},
		{name: "version not served", version: "v1alpha3", served: []string{"v1alpha1"}, wantMsg: "does not serve TrafficSplit"},
		{name: "owned by another Rollout", version: "v1alpha2", served: allVersions,
			existing: split("v1alpha2", "guestbook", otherOwner, map[string]any{}), wantMsg: "not controlled by Rollout guestbook"},
		{name: "no owner", version: "v1alpha1", served: allVersions,
			existing: split("v1alpha1", "guestbook", nil, map[string]any{}), wantMsg: "not controlled by Rollout guestbook"},
		{name: "owner but not controller", version: "v1alpha1", served: allVersions,
			existing: split("v1alpha1", "guestbook", notController, map[string]any{}), wantMsg: "not controlled by Rollout guestbook"},
		{name: "no canary service", version: "v1alpha1", served: allVersions, canary: "-", wantMsg: "canaryService and stableService"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []client.Object
			if tt.existing != nil {
				objs = append(objs, tt.existing)
			}
			c := newClient(t, tt.served, objs...)
			ro := newRollout(&v1alpha1.SMITrafficRouting{})
			if tt.canary == "-" {
				ro.Spec.Strategy.Canary.CanaryService = ""
			}
			r := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c}, tt.version)
			routertest.CheckConfigErrors(t, r.Check(context.Background()), "smi", []string{tt.wantMsg})
			routertest.CheckConfigErrors(t, r.Sync(context.Background(), desired(10)), "smi", []string{tt.wantMsg})
			if tt.existing != nil {
				got := read(t, c, tt.version, "guestbook")
				if got.GetResourceVersion() != tt.existing.GetResourceVersion() {
					t.Errorf("Sync wrote a TrafficSplit it does not own")
				}
			}
		})
	}
}

func TestReadFailureIsNotConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	c := routertest.Cluster{Scheme: runtime.NewScheme(), Funcs: routertest.FailGets(boom)}.Client()
	r := New(trafficrouting.Env{Rollout: newRollout(nil), Reader: c, Writer: c}, "")
	routertest.CheckNotConfigError(t, "Check", r.Check(context.Background()), boom, "")
	routertest.CheckNotConfigError(t, "Sync", r.Sync(context.Background(), desired(1)), boom, "")
}

func TestType(t *testing.T) {
	if got := New(trafficrouting.Env{}, "").Type(); got != "smi" {
		t.Errorf("Type() = %q", got)
	}
}
