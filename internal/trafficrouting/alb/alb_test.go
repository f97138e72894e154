package alb

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	actionKey  = "alb.ingress.kubernetes.io/actions.guestbook-stable"
	betaAction = "alb.ingress.kubernetes.io/actions.beta"
	betaCond   = "alb.ingress.kubernetes.io/conditions.beta"
	gammaCond  = "alb.ingress.kubernetes.io/conditions.gamma"
)

func rollout(mod func(a *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting)) *v1alpha1.Rollout {
	tr := &v1alpha1.RolloutTrafficRouting{
		ALB:           &v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 80},
		ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "beta"}, {Name: "gamma"}},
	}
	if mod != nil {
		mod(tr.ALB, tr)
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: roName, Namespace: ns, UID: "3f1c2a52-0d4b-4c59-9e71-5a7b1d2c3e4f"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: stableSvc, CanaryService: canarySvc, TrafficRouting: tr,
		}}},
	}
}

func annotationPath(p, svc string) networkingv1.HTTPIngressPath {
	return routertest.IngressPath(p, networkingv1.PathTypeImplementationSpecific, svc, networkingv1.ServiceBackendPort{Name: UseAnnotation})
}

func servicePath(p, svc string) networkingv1.HTTPIngressPath {
	return routertest.IngressPath(p, networkingv1.PathTypePrefix, svc, networkingv1.ServiceBackendPort{Number: 80})
}

func albIngress(name string) *networkingv1.Ingress {
	class := "alb"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{"app": "guestbook"},
			Annotations: map[string]string{
				"alb.ingress.kubernetes.io/scheme":               "internet-facing",
				"alb.ingress.kubernetes.io/actions.ssl-redirect": `{"Type":"redirect"}`,
			},
		},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{
				routertest.IngressRule("shop.example.com", annotationPath("/*", "ssl-redirect"), servicePath("/static", "assets"), annotationPath("/*", stableSvc)),
				routertest.IngressRule("assets.example.com", servicePath("/", "assets")),
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

func desired(w int32, routes ...trafficrouting.HeaderRoute) trafficrouting.Desired {
	return trafficrouting.Desired{CanaryWeight: w, MaxWeight: 100, CanaryHash: "7c9d", StableHash: "5f6b", HeaderRoutes: routes}
}

// withoutManaged strips what the router manages so the rest can be
// compared with the Ingress as it was.
func withoutManaged(ing *networkingv1.Ingress) *networkingv1.Ingress {
	out := ing.DeepCopy()
	out.ResourceVersion = ""
	for k := range out.Annotations {
		if k == ManagedAnnotationsKey || strings.Contains(k, "/actions.guestbook-stable") ||
			strings.Contains(k, ".beta") || strings.Contains(k, ".gamma") {
			delete(out.Annotations, k)
		}
	}
	for i := range out.Spec.Rules {
		if h := out.Spec.Rules[i].HTTP; h != nil {
			var keep []networkingv1.HTTPIngressPath
			for _, p := range h.Paths {
				if n := p.Backend.Service.Name; n != "beta" && n != "gamma" {
					keep = append(keep, p)
				}
			}
			h.Paths = keep
		}
	}
	return out
}

func TestSyncWeights(t *testing.T) {
	cases := []struct {
		name    string
		mod     func(a *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting)
		objs    []client.Object
		d       trafficrouting.Desired
		key     string
		wantAct string
	}{
		{
			name:    "weight 10",
			d:       desired(10),
			key:     actionKey,
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":10},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":90}]}}`,
		},
		{
			name:    "weight 0 keeps a zero weight",
			d:       desired(0),
			key:     actionKey,
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":0},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":100}]}}`,
		},
		{
			name: "max weight 500",
			mod: func(_ *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting) {
				m := int32(500)
				tr.MaxTrafficWeight = &m
			},
			d:       trafficrouting.Desired{CanaryWeight: 125, MaxWeight: 500},
			key:     actionKey,
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":125},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":375}]}}`,
		},
		{
			name: "stickiness, root service, prefix and port",
			mod: func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) {
				a.RootService = "guestbook"
				a.AnnotationPrefix = "custom.alb.io"
				a.ServicePort = 8443
				a.StickinessConfig = &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 3600}
			},
			objs: func() []client.Object {
				ing := albIngress("web")
				ing.Spec.Rules[0].HTTP.Paths[2].Backend.Service.Name = "guestbook"
				return []client.Object{ing}
			}(),
			d:       desired(25),
			key:     "custom.alb.io/actions.guestbook",
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"8443","Weight":25},{"ServiceName":"guestbook-stable","ServicePort":"8443","Weight":75}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}`,
		},
		{
			name: "experiment Services are further target groups, out of the stable's weight",
			d: trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100, Additional: []trafficrouting.Destination{
				{ServiceName: "exp-baseline", Weight: 5}, {ServiceName: "exp-canary", Weight: 5},
			}},
			key:     actionKey,
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":10},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":80},{"ServiceName":"exp-baseline","ServicePort":"80","Weight":5},{"ServiceName":"exp-canary","ServicePort":"80","Weight":5}]}}`,
		},
		{
			name: "disabled stickiness is left out",
			mod: func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) {
				a.StickinessConfig = &v1alpha1.StickinessConfig{}
			},
			d:       desired(50),
			key:     actionKey,
			wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":50},{"ServiceName":"guestbook-stable","ServicePort":"80","Weight":50}]}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs
			if objs == nil {
				objs = []client.Object{albIngress("web")}
			}
			c := routertest.NewClient(nil, objs...)
			before := getIngress(t, c, "web")
			if err := newRouter(rollout(tc.mod), c).Sync(context.Background(), tc.d); err != nil {
				t.Fatal(err)
			}
			got := getIngress(t, c, "web")
			if a := got.Annotations[tc.key]; a != tc.wantAct {
				t.Errorf("action =\n%s\nwant\n%s", a, tc.wantAct)
			}
			wantRecord := `{"guestbook":["` + tc.key + `"]}`
			if m := got.Annotations[ManagedAnnotationsKey]; m != wantRecord {
				t.Errorf("managed record = %s, want %s", m, wantRecord)
			}
			rest := got.DeepCopy()
			delete(rest.Annotations, tc.key)
			delete(rest.Annotations, ManagedAnnotationsKey)
			rest.ResourceVersion = before.ResourceVersion
			if !equality.Semantic.DeepEqual(rest, before) {
				t.Errorf("something else changed:\n%+v\n%+v", before, rest)
			}
		})
	}
}

func TestSyncMultipleIngressesAndNoRewrite(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, albIngress("web"), albIngress("web-internal"))
	r := newRouter(rollout(func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) {
		a.Ingress = ""
		a.Ingresses = []string{"web", "web-internal"}
	}), c)
	if err := r.Sync(ctx, desired(30, routertest.ExactHeaderRoute("beta", "X-Beta", "1"))); err != nil {
		t.Fatal(err)
	}
	rvs := map[string]string{}
	for _, name := range []string{"web", "web-internal"} {
		got := getIngress(t, c, name)
		if !strings.Contains(got.Annotations[actionKey], `"Weight":30`) || got.Annotations[betaCond] == "" {
			t.Errorf("%s annotations = %v", name, got.Annotations)
		}
		rvs[name] = got.ResourceVersion
	}
	if err := r.Sync(ctx, desired(30, routertest.ExactHeaderRoute("beta", "X-Beta", "1"))); err != nil {
		t.Fatal(err)
	}
	for name, rv := range rvs {
		if now := getIngress(t, c, name).ResourceVersion; now != rv {
			t.Errorf("%s rewritten without a change: %s -> %s", name, rv, now)
		}
	}
}

func TestSyncHeaderRoutes(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, albIngress("web"))
	original := getIngress(t, c, "web")
	r := newRouter(rollout(nil), c)
	if r.Type() != "alb" {
		t.Errorf("Type = %q", r.Type())
	}

	// gamma is listed after beta in managedRoutes and is set first; its path
	// still ends up after beta's, both ahead of the weighted action.
	if err := r.Sync(ctx, desired(10, routertest.ExactHeaderRoute("gamma", "X-Gamma", "on"))); err != nil {
		t.Fatal(err)
	}
	both := desired(10, routertest.ExactHeaderRoute("beta", "X-Beta", "1"),
		trafficrouting.HeaderRoute{Name: "gamma", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Gamma", HeaderValue: &v1alpha1.StringMatch{Exact: "on"}},
			{HeaderName: "X-Region", HeaderValue: &v1alpha1.StringMatch{Exact: "eu"}},
		}})
	if err := r.Sync(ctx, both); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "web")
	wantAnn := map[string]string{
		betaAction: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":100}]}}`,
		betaCond:   `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Beta","values":["1"]}}]`,
		gammaCond:  `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Gamma","values":["on"]}},{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Region","values":["eu"]}}]`,
		ManagedAnnotationsKey: `{"guestbook":["` + actionKey + `","alb.ingress.kubernetes.io/actions.gamma","` + gammaCond +
			`","` + betaAction + `","` + betaCond + `"]}`,
	}
	for k, v := range wantAnn {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s =\n%s\nwant\n%s", k, got.Annotations[k], v)
		}
	}
	var names []string
	for _, p := range got.Spec.Rules[0].HTTP.Paths {
		names = append(names, p.Path+" "+p.Backend.Service.Name)
	}
	wantPaths := []string{"/* beta", "/* gamma", "/* ssl-redirect", "/static assets", "/* guestbook-stable"}
	if !reflect.DeepEqual(names, wantPaths) {
		t.Errorf("paths = %v, want %v", names, wantPaths)
	}
	if p := got.Spec.Rules[0].HTTP.Paths[0]; *p.PathType != networkingv1.PathTypeImplementationSpecific || p.Backend.Service.Port.Name != UseAnnotation {
		t.Errorf("header path = %+v", p)
	}
	if n := len(got.Spec.Rules[1].HTTP.Paths); n != 1 {
		t.Errorf("rule without the action got %d paths", n)
	}
	if !equality.Semantic.DeepEqual(withoutManaged(got), withoutManaged(original)) {
		t.Errorf("something else changed:\n%+v\n%+v", withoutManaged(original), withoutManaged(got))
	}

	// Dropping beta removes its annotations and path; gamma stays.
	if err := r.Sync(ctx, desired(10, both.HeaderRoutes[1])); err != nil {
		t.Fatal(err)
	}
	got = getIngress(t, c, "web")
	for _, k := range []string{betaAction, betaCond} {
		if _, ok := got.Annotations[k]; ok {
			t.Errorf("annotation %s kept", k)
		}
	}
	if got.Annotations[gammaCond] == "" {
		t.Errorf("gamma removed")
	}
	if p := got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; p != "gamma" || len(got.Spec.Rules[0].HTTP.Paths) != 4 {
		t.Errorf("paths = %+v", got.Spec.Rules[0].HTTP.Paths)
	}

	// No routes at all: the Ingress is as it was but for the weights.
	if err := r.Sync(ctx, desired(10)); err != nil {
		t.Fatal(err)
	}
	got = getIngress(t, c, "web")
	if m := got.Annotations[ManagedAnnotationsKey]; m != `{"guestbook":["`+actionKey+`"]}` {
		t.Errorf("managed record = %s", m)
	}
	rest := got.DeepCopy()
	delete(rest.Annotations, actionKey)
	delete(rest.Annotations, ManagedAnnotationsKey)
	rest.ResourceVersion = original.ResourceVersion
	if !equality.Semantic.DeepEqual(rest, original) {
		t.Errorf("not back to the original:\n%+v\n%+v", original, rest)
	}
}

func TestSyncKeepsUserRoutePathAndOtherRollouts(t *testing.T) {
	ing := albIngress("web")
	// The user narrowed beta's path and another Rollout manages its own action.
	ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, annotationPath("/api/*", "beta"))
	ing.Annotations[ManagedAnnotationsKey] = `{"other":["alb.ingress.kubernetes.io/actions.other"]}`
	ing.Annotations["alb.ingress.kubernetes.io/actions.other"] = `{"Type":"forward"}`
	c := routertest.NewClient(nil, ing)
	if err := newRouter(rollout(nil), c).Sync(context.Background(), desired(5, routertest.ExactHeaderRoute("beta", "X-Beta", "1"))); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "web")
	first := got.Spec.Rules[0].HTTP.Paths[0]
	if first.Path != "/api/*" || first.Backend.Service.Name != "beta" || len(got.Spec.Rules[0].HTTP.Paths) != 4 {
		t.Errorf("paths = %+v", got.Spec.Rules[0].HTTP.Paths)
	}
	want := `{"guestbook":["` + actionKey + `","` + betaAction + `","` + betaCond + `"],"other":["alb.ingress.kubernetes.io/actions.other"]}`
	if m := got.Annotations[ManagedAnnotationsKey]; m != want {
		t.Errorf("managed record = %s, want %s", m, want)
	}
	if got.Annotations["alb.ingress.kubernetes.io/actions.other"] != `{"Type":"forward"}` {
		t.Errorf("other Rollout's action changed")
	}
}

func TestSyncCorrectsUserEdits(t *testing.T) {
	ctx := context.Background()
	c := routertest.NewClient(nil, albIngress("web"))
	r := newRouter(rollout(nil), c)
	d := desired(20, routertest.ExactHeaderRoute("beta", "X-Beta", "1"))
	if err := r.Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	want := getIngress(t, c, "web")

	edited := want.DeepCopy()
	edited.Annotations[actionKey] = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-canary","ServicePort":"80","Weight":100}]}}`
	delete(edited.Annotations, betaCond)
	edited.Spec.Rules[0].HTTP.Paths = edited.Spec.Rules[0].HTTP.Paths[1:]
	if err := c.Update(ctx, edited); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, c, "web")
	got.ResourceVersion = want.ResourceVersion
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("edit not undone:\n%+v\n%+v", want, got)
	}
}

func TestSyncIgnoresMirrorRoutes(t *testing.T) {
	ctx := context.Background()
	plain, mirrored := routertest.NewClient(nil, albIngress("web")), routertest.NewClient(nil, albIngress("web"))
	d := desired(10)
	if err := newRouter(rollout(nil), plain).Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.MirrorRoutes = []trafficrouting.MirrorRoute{{Name: "gamma"}}
	if err := newRouter(rollout(nil), mirrored).Sync(ctx, d); err != nil {
		t.Fatal(err)
	}
	a, b := getIngress(t, plain, "web"), getIngress(t, mirrored, "web")
	if !equality.Semantic.DeepEqual(a, b) {
		t.Errorf("mirror route changed the Ingress:\n%+v\n%+v", a, b)
	}
}

func TestSyncErrors(t *testing.T) {
	noAction := albIngress("web")
	noAction.Spec.Rules[0].HTTP.Paths = noAction.Spec.Rules[0].HTTP.Paths[:2]
	badRecord := albIngress("web")
	badRecord.Annotations[ManagedAnnotationsKey] = "guestbook:alb.ingress.kubernetes.io/actions.guestbook-stable"
	cases := []struct {
		name string
		mod  func(a *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting)
		objs []client.Object
		d    trafficrouting.Desired
		want string
	}{
		{name: "missing ingress", d: desired(10), want: "Ingress shop/web does not exist"},
		{name: "no action path", objs: []client.Object{noAction}, d: desired(10), want: `has no rule path with backend service name "guestbook-stable" and port name "use-annotation"`},
		{name: "unreadable record", objs: []client.Object{badRecord}, d: desired(10), want: "is not a JSON object of string lists"},
		{
			name: "prefix match", d: desired(10, trafficrouting.HeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Prefix: "1"}}}}),
			want: "ALB can only match header values exactly",
		},
		{
			name: "regex match", d: desired(10, trafficrouting.HeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Regex: "1.*"}}}}),
			want: "ALB can only match header values exactly",
		},
		{name: "no header value", d: desired(10, trafficrouting.HeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta"}}}), want: "has no headerValue.exact"},
		{name: "no match", d: desired(10, trafficrouting.HeaderRoute{Name: "beta"}), want: `header route "beta" has no match`},
		{name: "route named like the action", d: desired(10, routertest.ExactHeaderRoute(stableSvc, "X-Beta", "1")), want: "has the name of the weighted action"},
		{
			name: "stickiness out of range",
			mod: func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) {
				a.StickinessConfig = &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 604801}
			},
			d: desired(10), want: "durationSeconds is 604801",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs
			if objs == nil && tc.name != "missing ingress" {
				objs = []client.Object{albIngress("web")}
			}
			c := routertest.NewClient(nil, objs...)
			var before *networkingv1.Ingress
			if len(objs) > 0 {
				before = getIngress(t, c, "web")
			}
			err := newRouter(rollout(tc.mod), c).Sync(context.Background(), tc.d)
			routertest.CheckConfigErrors(t, err, "alb", []string{tc.want})
			if before != nil {
				if after := getIngress(t, c, "web"); !equality.Semantic.DeepEqual(after, before) {
					t.Errorf("Ingress changed on error")
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	noAction := albIngress("web")
	noAction.Spec.Rules[0].HTTP.Paths[2].Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 80}
	badRecord := albIngress("web")
	badRecord.Annotations[ManagedAnnotationsKey] = "{"
	cases := []struct {
		name string
		mod  func(a *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting)
		objs []client.Object
		want []string
	}{
		{name: "ok", objs: []client.Object{albIngress("web")}},
		{name: "missing", want: []string{"Ingress shop/web does not exist"}},
		{name: "service path is not an action", objs: []client.Object{noAction}, want: []string{
			`Ingress shop/web has no rule path with backend service name "guestbook-stable" and port name "use-annotation"; add one so the action annotation alb.ingress.kubernetes.io/actions.guestbook-stable applies to it`,
		}},
		{
			name: "root service names the action",
			mod:  func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) { a.RootService = "guestbook" },
			objs: []client.Object{albIngress("web")},
			want: []string{`backend service name "guestbook" and port name "use-annotation"`},
		},
		{name: "unreadable record", objs: []client.Object{badRecord}, want: []string{"rollouts.argoproj.io/managed-alb-annotations of Ingress shop/web"}},
		{
			name: "every problem of several ingresses",
			mod: func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) {
				a.Ingresses = []string{"web", "gone"}
			},
			objs: []client.Object{noAction},
			want: []string{"Ingress shop/web has no rule path", "Ingress shop/gone does not exist"},
		},
		{
			name: "configuration",
			mod: func(a *v1alpha1.ALBTrafficRouting, tr *v1alpha1.RolloutTrafficRouting) {
				a.Ingress = ""
				a.ServicePort = 0
				m := int32(1000)
				tr.MaxTrafficWeight = &m
			},
			want: []string{"set trafficRouting.alb.ingress or ingresses", "servicePort must be set", "maxTrafficWeight is 1000"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := routertest.NewClient(nil, tc.objs...)
			err := newRouter(rollout(tc.mod), c).Check(context.Background())
			routertest.CheckConfigErrors(t, err, "alb", tc.want)
		})
	}
}

func TestReadFailureIsNotAConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	c := routertest.NewClient(routertest.FailGets(boom), albIngress("web"))
	r := newRouter(rollout(nil), c)
	for name, err := range map[string]error{
		"Check": r.Check(context.Background()),
		"Sync":  r.Sync(context.Background(), desired(10)),
	} {
		routertest.CheckNotConfigError(t, name, err, boom, "shop/web")
	}
}

func TestWriteConflictIsReported(t *testing.T) {
	conflict := errors.New("the object has been modified")
	c := routertest.NewClient(&interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		return conflict
	}}, albIngress("web"))
	err := newRouter(rollout(nil), c).Sync(context.Background(), desired(10))
	if !errors.Is(err, conflict) || !strings.Contains(err.Error(), "shop/web") {
		t.Errorf("Sync = %v", err)
	}
}
