package nginx

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const (
	ns        = "shop"
	roName    = "guestbook"
	stableSvc = "guestbook-stable"
	canarySvc = "guestbook-canary"
)

func rollout(mod func(n *v1alpha1.NginxTrafficRouting)) *v1alpha1.Rollout {
	n := &v1alpha1.NginxTrafficRouting{StableIngress: "web"}
	if mod != nil {
		mod(n)
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: roName, Namespace: ns, UID: "3f1c2a52-0d4b-4c59-9e71-5a7b1d2c3e4f"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService:  stableSvc,
			CanaryService:  canarySvc,
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{Nginx: n},
		}}},
	}
}

func path(p, svc string, port int32) networkingv1.HTTPIngressPath {
	return routertest.IngressPath(p, networkingv1.PathTypePrefix, svc, networkingv1.ServiceBackendPort{Number: port})
}

// stableIngress routes / and /api of shop.example.com to the stable
// Service, /admin to another Service, and a second host only elsewhere.
func stableIngress(name string) *networkingv1.Ingress {
	class := "nginx"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{"app": "guestbook"},
			Annotations: map[string]string{
				"kubernetes.io/ingress.class":                       "nginx",
				"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'X-Frame-Options: DENY';",
			},
		},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}},
			Rules: []networkingv1.IngressRule{
				routertest.IngressRule("shop.example.com", path("/", stableSvc, 80), path("/admin", "admin", 8080), path("/api", stableSvc, 80)),
				routertest.IngressRule("other.example.com", path("/", "other", 80)),
			},
		},
	}
}

func newRouter(ro *v1alpha1.Rollout, c client.Client) *Router {
	return New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c})
}

func getIngress(t *testing.T, c client.Client, name string) *networkingv1.Ingress {
	t.Helper()
	return routertest.Read(t, c, ns, name, &networkingv1.Ingress{})
}

func exists(t *testing.T, c client.Client, name string) bool {
	t.Helper()
	_, ok := routertest.ReadIfExists(t, c, ns, name, &networkingv1.Ingress{})
	return ok
}

func desired(w int32) trafficrouting.Desired {
	return trafficrouting.Desired{CanaryWeight: w, MaxWeight: 100, CanaryHash: "7c9d", StableHash: "5f6b"}
}

func wantCanarySpec() networkingv1.IngressSpec {
	s := stableIngress("web").Spec
	s.Rules = []networkingv1.IngressRule{routertest.IngressRule("shop.example.com", path("/", canarySvc, 80), path("/api", canarySvc, 80))}
	return s
}

func TestCanaryIngressName(t *testing.T) {
	if got := CanaryIngressName("guestbook", "web"); got != "guestbook-web-canary" {
		t.Errorf("CanaryIngressName = %q", got)
	}
	long := CanaryIngressName(strings.Repeat("r", 200), strings.Repeat("s", 100))
	if len(long) != 253 || !strings.HasSuffix(long, "-canary") || !strings.HasPrefix(long, strings.Repeat("r", 200)+"-s") {
		t.Errorf("long name has length %d: %q", len(long), long)
	}
}

func TestStableIngressesAndAnnotationKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    v1alpha1.NginxTrafficRouting
		want []string
	}{
		{"one", v1alpha1.NginxTrafficRouting{StableIngress: "web"}, []string{"web"}},
		{"the list wins over the single name", v1alpha1.NginxTrafficRouting{StableIngress: "web", StableIngresses: []string{"a", "b"}}, []string{"a", "b"}},
		{"empty and repeated names dropped", v1alpha1.NginxTrafficRouting{StableIngresses: []string{"a", "", "b", "a"}}, []string{"a", "b"}},
		{"none", v1alpha1.NginxTrafficRouting{}, nil},
	} {
		if got := StableIngresses(&tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: StableIngresses = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := WeightAnnotation(AnnotationPrefix(&v1alpha1.NginxTrafficRouting{})); got != "nginx.ingress.kubernetes.io/canary-weight" {
		t.Errorf("default weight annotation = %q", got)
	}
	if got := WeightAnnotation(AnnotationPrefix(&v1alpha1.NginxTrafficRouting{AnnotationPrefix: "custom.io"})); got != "custom.io/canary-weight" {
		t.Errorf("custom weight annotation = %q", got)
	}
}

func TestSyncCreatesCanary(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, stableIngress("web"))
	stableBefore := getIngress(t, c, "web")
	ro := rollout(nil)

	if err := newRouter(ro, c).Sync(ctx, desired(10)); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "guestbook-web-canary")
	wantAnn := map[string]string{
		"kubernetes.io/ingress.class":               "nginx",
		"nginx.ingress.kubernetes.io/canary":        "true",
		"nginx.ingress.kubernetes.io/canary-weight": "10",
	}
	if !reflect.DeepEqual(got.Annotations, wantAnn) {
		t.Errorf("annotations = %v, want %v", got.Annotations, wantAnn)
	}
	if !equality.Semantic.DeepEqual(got.Spec, wantCanarySpec()) {
		t.Errorf("spec = %+v, want %+v", got.Spec, wantCanarySpec())
	}
	if len(got.Labels) != 0 {
		t.Errorf("labels copied: %v", got.Labels)
	}
	if !metav1.IsControlledBy(got, ro) {
		t.Errorf("owner references = %+v, want the Rollout as controller", got.OwnerReferences)
	}
	ref := got.OwnerReferences[0]
	if ref.APIVersion != "argoproj.io/v1alpha1" || ref.Kind != "Rollout" || ref.Name != roName {
		t.Errorf("owner reference = %+v", ref)
	}
	if after := getIngress(t, c, "web"); !equality.Semantic.DeepEqual(after, stableBefore) {
		t.Errorf("stable Ingress changed:\n%+v\n%+v", stableBefore, after)
	}
}

func TestSyncAnnotations(t *testing.T) {
	cases := []struct {
		name string
		mod  func(n *v1alpha1.NginxTrafficRouting)
		max  int32
		want map[string]string
	}{
		{
			name: "max weight 1000 adds the total",
			max:  1000,
			want: map[string]string{
				"kubernetes.io/ingress.class":                     "nginx",
				"nginx.ingress.kubernetes.io/canary":              "true",
				"nginx.ingress.kubernetes.io/canary-weight":       "10",
				"nginx.ingress.kubernetes.io/canary-weight-total": "1000",
			},
		},
		{
			name: "unset max weight counts as 100",
			max:  0,
			want: map[string]string{
				"kubernetes.io/ingress.class":               "nginx",
				"nginx.ingress.kubernetes.io/canary":        "true",
				"nginx.ingress.kubernetes.io/canary-weight": "10",
			},
		},
		{
			name: "custom prefix with additional and canary annotations",
			mod: func(n *v1alpha1.NginxTrafficRouting) {
				n.AnnotationPrefix = "custom.nginx.io"
				n.AdditionalIngressAnnotations = map[string]string{
					"canary-by-header":                       "X-Canary",
					"custom.nginx.io/canary-by-header-value": "yes",
				}
				n.CanaryIngressAnnotations = map[string]string{"metrics.example.com/scrape": "true"}
			},
			max: 100,
			want: map[string]string{
				"kubernetes.io/ingress.class":            "nginx",
				"custom.nginx.io/canary":                 "true",
				"custom.nginx.io/canary-weight":          "10",
				"custom.nginx.io/canary-by-header":       "X-Canary",
				"custom.nginx.io/canary-by-header-value": "yes",
				"metrics.example.com/scrape":             "true",
			},
		},
		{
			name: "extra annotations cannot override the managed ones",
			mod: func(n *v1alpha1.NginxTrafficRouting) {
				n.AdditionalIngressAnnotations = map[string]string{"canary-weight": "100", "canary-weight-total": "10"}
				n.CanaryIngressAnnotations = map[string]string{"nginx.ingress.kubernetes.io/canary": "false"}
			},
			max: 100,
			want: map[string]string{
				"kubernetes.io/ingress.class":               "nginx",
				"nginx.ingress.kubernetes.io/canary":        "true",
				"nginx.ingress.kubernetes.io/canary-weight": "10",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := routertest.NewClient(nil, stableIngress("web"))
			d := desired(10)
			d.MaxWeight = tc.max
			if err := newRouter(rollout(tc.mod), c).Sync(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			if got := getIngress(t, c, "guestbook-web-canary").Annotations; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("annotations = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSyncMultipleIngresses(t *testing.T) {
	second := stableIngress("web-internal")
	second.Spec.IngressClassName = nil
	delete(second.Annotations, "kubernetes.io/ingress.class")
	c := routertest.NewClient(nil, stableIngress("web"), second)
	ro := rollout(func(n *v1alpha1.NginxTrafficRouting) {
		n.StableIngress = ""
		n.StableIngresses = []string{"web", "web-internal"}
	})
	r := newRouter(ro, c)
	if err := r.Sync(context.Background(), desired(30)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"guestbook-web-canary", "guestbook-web-internal-canary"} {
		got := getIngress(t, c, name)
		if w := got.Annotations["nginx.ingress.kubernetes.io/canary-weight"]; w != "30" {
			t.Errorf("%s: canary-weight = %q", name, w)
		}
	}
	internal := getIngress(t, c, "guestbook-web-internal-canary")
	if internal.Spec.IngressClassName != nil || internal.Annotations["kubernetes.io/ingress.class"] != "" {
		t.Errorf("class invented for %s: %v %v", internal.Name, internal.Spec.IngressClassName, internal.Annotations)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Errorf("Check after Sync: %v", err)
	}

	end := trafficrouting.Desired{MaxWeight: 100, CanaryHash: "7c9d", StableHash: "7c9d"}
	if err := r.Sync(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"guestbook-web-canary", "guestbook-web-internal-canary"} {
		if exists(t, c, name) {
			t.Errorf("%s still exists after the update", name)
		}
	}
}

func TestSyncUpdatesAndCorrects(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, stableIngress("web"))
	r := newRouter(rollout(nil), c)
	if err := r.Sync(ctx, desired(10)); err != nil {
		t.Fatal(err)
	}

	// Labels another tool sets on the canary survive; the weight moves.
	canary := getIngress(t, c, "guestbook-web-canary")
	canary.Labels = map[string]string{"team": "shop"}
	if err := c.Update(ctx, canary); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, desired(40)); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "guestbook-web-canary")
	if w := got.Annotations["nginx.ingress.kubernetes.io/canary-weight"]; w != "40" {
		t.Errorf("canary-weight = %q, want 40", w)
	}
	if !reflect.DeepEqual(got.Labels, map[string]string{"team": "shop"}) {
		t.Errorf("labels = %v", got.Labels)
	}

	// A hand edit of the weight, the backend and an extra annotation is undone.
	got.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = "100"
	got.Annotations["nginx.ingress.kubernetes.io/canary-by-header"] = "X-Me"
	got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = stableSvc
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, desired(40)); err != nil {
		t.Fatal(err)
	}
	fixed := getIngress(t, c, "guestbook-web-canary")
	if w := fixed.Annotations["nginx.ingress.kubernetes.io/canary-weight"]; w != "40" {
		t.Errorf("canary-weight = %q, want 40", w)
	}
	if _, ok := fixed.Annotations["nginx.ingress.kubernetes.io/canary-by-header"]; ok {
		t.Errorf("hand-added annotation kept: %v", fixed.Annotations)
	}
	if !equality.Semantic.DeepEqual(fixed.Spec, wantCanarySpec()) {
		t.Errorf("spec = %+v", fixed.Spec)
	}

	// Nothing differs now: no write.
	before := fixed.ResourceVersion
	if err := r.Sync(ctx, desired(40)); err != nil {
		t.Fatal(err)
	}
	if rv := getIngress(t, c, "guestbook-web-canary").ResourceVersion; rv != before {
		t.Errorf("resourceVersion %s -> %s without a change", before, rv)
	}
}

func TestSyncFollowsStableIngress(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, stableIngress("web"))
	r := newRouter(rollout(nil), c)
	if err := r.Sync(ctx, desired(10)); err != nil {
		t.Fatal(err)
	}
	stable := getIngress(t, c, "web")
	stable.Spec.Rules[0].HTTP.Paths[0].Path = "/shop"
	stable.Spec.TLS = nil
	if err := c.Update(ctx, stable); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, desired(10)); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "guestbook-web-canary")
	if p := got.Spec.Rules[0].HTTP.Paths[0].Path; p != "/shop" {
		t.Errorf("path = %q, want /shop", p)
	}
	if len(got.Spec.TLS) != 0 {
		t.Errorf("TLS = %v, want none", got.Spec.TLS)
	}
}

func TestSyncEndAndAbort(t *testing.T) {
	cases := []struct {
		name       string
		d          trafficrouting.Desired
		wantExists bool
		wantWeight string
	}{
		{"update over", trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "7c9d", StableHash: "7c9d"}, false, ""},
		{"aborted", trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, CanaryHash: "7c9d", StableHash: "5f6b"}, true, "0"},
		{"full weight before promotion", trafficrouting.Desired{CanaryWeight: 100, MaxWeight: 100, CanaryHash: "7c9d", StableHash: "5f6b"}, true, "100"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := routertest.NewClient(nil, stableIngress("web"))
			stableBefore := getIngress(t, c, "web")
			r := newRouter(rollout(nil), c)
			if err := r.Sync(ctx, desired(20)); err != nil {
				t.Fatal(err)
			}
			if err := r.Sync(ctx, tc.d); err != nil {
				t.Fatal(err)
			}
			if got := exists(t, c, "guestbook-web-canary"); got != tc.wantExists {
				t.Fatalf("canary exists = %v, want %v", got, tc.wantExists)
			}
			if tc.wantExists {
				if w := getIngress(t, c, "guestbook-web-canary").Annotations["nginx.ingress.kubernetes.io/canary-weight"]; w != tc.wantWeight {
					t.Errorf("canary-weight = %q, want %q", w, tc.wantWeight)
				}
			}
			if after := getIngress(t, c, "web"); !equality.Semantic.DeepEqual(after, stableBefore) {
				t.Errorf("stable Ingress changed")
			}
			// Ending again with nothing to delete is fine.
			if err := r.Sync(ctx, tc.d); err != nil {
				t.Errorf("second Sync: %v", err)
			}
		})
	}
}

func TestSyncIgnoresHeaderAndMirrorRoutes(t *testing.T) {
	ctx := context.Background()
	plain := routertest.NewClient(nil, stableIngress("web"))
	routed := routertest.NewClient(nil, stableIngress("web"))
	ro := rollout(nil)
	d := desired(10)
	if err := newRouter(ro, plain).Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.HeaderRoutes = []trafficrouting.HeaderRoute{{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}}
	d.MirrorRoutes = []trafficrouting.MirrorRoute{{Name: "mirror"}}
	if err := newRouter(ro, routed).Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	a, b := getIngress(t, plain, "guestbook-web-canary"), getIngress(t, routed, "guestbook-web-canary")
	if !equality.Semantic.DeepEqual(a.Annotations, b.Annotations) || !equality.Semantic.DeepEqual(a.Spec, b.Spec) {
		t.Errorf("routes changed the canary Ingress:\n%+v\n%+v", a, b)
	}
}

func foreignCanary() *networkingv1.Ingress {
	ing := stableIngress("guestbook-web-canary")
	ing.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(
		&metav1.ObjectMeta{Name: "other", UID: "9a9a9a9a-0000-0000-0000-000000000000"},
		schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})}
	return ing
}

func TestSyncLeavesForeignCanaryAlone(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, stableIngress("web"), foreignCanary())
	before := getIngress(t, c, "guestbook-web-canary")
	r := newRouter(rollout(nil), c)

	err := r.Sync(ctx, desired(10))
	routertest.CheckConfigErrors(t, err, "nginx", []string{"not controlled by Rollout guestbook"})
	if err := r.Sync(ctx, trafficrouting.Desired{MaxWeight: 100, CanaryHash: "a", StableHash: "a"}); err != nil {
		t.Errorf("ending Sync = %v", err)
	}
	if after := getIngress(t, c, "guestbook-web-canary"); !equality.Semantic.DeepEqual(after, before) {
		t.Errorf("foreign Ingress changed")
	}
}

func TestSyncStableIngressErrors(t *testing.T) {
	noBackend := stableIngress("web")
	noBackend.Spec.Rules = []networkingv1.IngressRule{routertest.IngressRule("shop.example.com", path("/", "admin", 80))}
	cases := []struct {
		name string
		objs []client.Object
		want string
	}{
		{"missing", nil, "stable Ingress shop/web does not exist"},
		{"no stable backend", []client.Object{noBackend}, `no rule path whose backend is the stable Service "guestbook-stable"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := routertest.NewClient(nil, tc.objs...)
			err := newRouter(rollout(nil), c).Sync(context.Background(), desired(10))
			routertest.CheckConfigErrors(t, err, "nginx", []string{tc.want})
			if exists(t, c, "guestbook-web-canary") {
				t.Errorf("canary created")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	noBackend := stableIngress("web")
	noBackend.Spec.Rules = []networkingv1.IngressRule{routertest.IngressRule("shop.example.com", path("/", "admin", 80)), {Host: "bare.example.com"}}
	ours := stableIngress("guestbook-web-canary")
	ours.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rollout(nil), v1alpha1.GroupVersion.WithKind("Rollout"))}

	cases := []struct {
		name string
		mod  func(n *v1alpha1.NginxTrafficRouting)
		objs []client.Object
		want []string
	}{
		{name: "ok", objs: []client.Object{stableIngress("web")}},
		{name: "ok with own canary", objs: []client.Object{stableIngress("web"), ours}},
		{name: "missing stable", want: []string{"stable Ingress shop/web does not exist"}},
		{name: "no stable backend", objs: []client.Object{noBackend}, want: []string{`stable Ingress shop/web has no rule path whose backend is the stable Service "guestbook-stable"`}},
		{name: "foreign canary", objs: []client.Object{stableIngress("web"), foreignCanary()}, want: []string{"Ingress shop/guestbook-web-canary exists but is not controlled by Rollout guestbook"}},
		{
			name: "no ingress configured",
			mod:  func(n *v1alpha1.NginxTrafficRouting) { n.StableIngress = "" },
			want: []string{"set trafficRouting.nginx.stableIngress or stableIngresses"},
		},
		{
			name: "every problem of several ingresses",
			mod:  func(n *v1alpha1.NginxTrafficRouting) { n.StableIngresses = []string{"web", "gone"} },
			objs: []client.Object{stableIngress("web"), foreignCanary()},
			want: []string{"not controlled by Rollout", "stable Ingress shop/gone does not exist"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := routertest.NewClient(nil, tc.objs...)
			err := newRouter(rollout(tc.mod), c).Check(context.Background())
			routertest.CheckConfigErrors(t, err, "nginx", tc.want)
		})
	}
}

func TestCheckMissingServices(t *testing.T) {
	ro := rollout(nil)
	ro.Spec.Strategy.Canary.CanaryService = ""
	err := newRouter(ro, routertest.NewClient(nil, stableIngress("web"))).Check(context.Background())
	routertest.CheckConfigErrors(t, err, "nginx", []string{"canaryService"})
}

func TestReadFailureIsNotAConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	c := routertest.NewClient(routertest.FailGets(boom), stableIngress("web"))
	r := newRouter(rollout(nil), c)
	for name, err := range map[string]error{
		"Check": r.Check(context.Background()),
		"Sync":  r.Sync(context.Background(), desired(10)),
	} {
		routertest.CheckNotConfigError(t, name, err, boom, "shop/web")
	}
}

func TestSyncCreateRace(t *testing.T) {
	// Another worker creates the canary between our read and our create;
	// ours then fails with AlreadyExists and must carry on with theirs.
	ro := rollout(nil)
	c := routertest.NewClient(&interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		theirs := obj.DeepCopyObject().(*networkingv1.Ingress)
		theirs.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = "1"
		if err := c.Create(ctx, theirs); err != nil {
			return err
		}
		return apierrors.NewAlreadyExists(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, obj.GetName())
	}}, stableIngress("web"))
	r := newRouter(ro, c)
	if r.Type() != "nginx" {
		t.Errorf("Type = %q", r.Type())
	}
	if err := r.Sync(context.Background(), desired(10)); err != nil {
		t.Fatal(err)
	}
	if w := getIngress(t, c, "guestbook-web-canary").Annotations["nginx.ingress.kubernetes.io/canary-weight"]; w != "10" {
		t.Errorf("canary-weight = %q, want 10", w)
	}
}
