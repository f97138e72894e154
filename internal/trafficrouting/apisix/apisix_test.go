package apisix

import (
	"context"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const ns = "shop"

func rollout(route string, rules []string, managed ...string) *v1alpha1.Rollout {
	var mr []v1alpha1.MangedRoutes
	for _, m := range managed {
		mr = append(mr, v1alpha1.MangedRoutes{Name: m})
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "uid-web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			CanaryService: "web-canary",
			StableService: "web-stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				ManagedRoutes: mr,
				Apisix:        &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: route, Rules: rules}},
			},
		}}},
	}
}

func backend(svc string, weight ...int64) map[string]any {
	b := map[string]any{"serviceName": svc, "servicePort": int64(80)}
	if len(weight) > 0 {
		b["weight"] = weight[0]
	}
	return b
}

func httpRule(name string, priority any, exprs []any, backends ...any) map[string]any {
	m := map[string]any{
		"name":     name,
		"match":    map[string]any{"paths": []any{"/" + name + "/*"}, "hosts": []any{"shop.example"}},
		"backends": backends,
		"plugins":  []any{map[string]any{"name": "cors", "enable": true}},
	}
	if priority != nil {
		m["priority"] = priority
	}
	if exprs != nil {
		m["match"].(map[string]any)["exprs"] = exprs
	}
	return m
}

func apisixRoute(name string, http ...any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels":      map[string]any{"app": "web"},
			"annotations": map[string]any{"note": "keep", lastApplied: "{}"},
		},
		"spec": map[string]any{
			"ingressClassName": "apisix",
			"http":             http,
			"stream":           []any{map[string]any{"name": "tcp", "protocol": "TCP"}},
		},
	}}
	u.SetGroupVersionKind(GVK)
	return u
}

func headerExpr(name, op, value string) map[string]any {
	return map[string]any{"subject": map[string]any{"scope": "Header", "name": name}, "op": op, "value": value}
}

// fakeClient counts writes in n.
func fakeClient(n *routertest.Counts, objs ...client.Object) client.Client {
	return routertest.Cluster{Writes: n}.Client(objs...)
}

func get(t *testing.T, c client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.GetIfExists(t, c, GVK, ns, name)
}

func ownedBy(u *unstructured.Unstructured, ro *v1alpha1.Rollout) *unstructured.Unstructured {
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))})
	return u
}

func exactHeader(name, value string) []v1alpha1.HeaderRoutingMatch {
	return []v1alpha1.HeaderRoutingMatch{{HeaderName: name, HeaderValue: &v1alpha1.StringMatch{Exact: value}}}
}

func TestSyncWeights(t *testing.T) {
	other := httpRule("admin", nil, nil, backend("admin", 100))
	for _, tc := range []struct {
		name       string
		rules      []string
		http       []any
		d          trafficrouting.Desired
		wantHTTP   []any
		wantWrites int
	}{
		{
			name:  "named rules get the weights, other rules stay",
			rules: []string{"api", "shop"},
			http: []any{
				httpRule("api", nil, nil, backend("web-stable"), backend("web-canary"), backend("extra", 5)),
				other,
				httpRule("shop", int64(3), nil, backend("web-canary", 0), backend("web-stable", 100)),
			},
			d: trafficrouting.Desired{CanaryWeight: 30, MaxWeight: 100},
			wantHTTP: []any{
				httpRule("api", nil, nil, backend("web-stable", 70), backend("web-canary", 30), backend("extra", 5)),
				other,
				httpRule("shop", int64(3), nil, backend("web-canary", 30), backend("web-stable", 70)),
			},
			wantWrites: 1,
		},
		{
			name:       "no rules means the rule named like the route",
			http:       []any{httpRule("web-route", nil, nil, backend("web-stable"), backend("web-canary")), other},
			d:          trafficrouting.Desired{CanaryWeight: 400, MaxWeight: 1000},
			wantHTTP:   []any{httpRule("web-route", nil, nil, backend("web-stable", 600), backend("web-canary", 400)), other},
			wantWrites: 1,
		},
		{
			name:     "no write when the weights hold",
			http:     []any{httpRule("web-route", nil, nil, backend("web-stable", 100), backend("web-canary", 0))},
			d:        trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100},
			wantHTTP: []any{httpRule("web-route", nil, nil, backend("web-stable", 100), backend("web-canary", 0))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			c := fakeClient(&n, apisixRoute("web-route", tc.http...))
			before := get(t, c, "web-route")
			r := New(trafficrouting.Env{Rollout: rollout("web-route", tc.rules), Reader: c, Writer: c})
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			after := get(t, c, "web-route")
			want := before.DeepCopy()
			want.Object["spec"].(map[string]any)["http"] = tc.wantHTTP
			want.SetResourceVersion(after.GetResourceVersion())
			if !reflect.DeepEqual(after.Object, want.Object) {
				t.Errorf("route after Sync:\n got %v\nwant %v", after.Object, want.Object)
			}
			if n.Writes() != tc.wantWrites {
				t.Errorf("writes = %d, want %d", n.Writes(), tc.wantWrites)
			}
			if (after.GetResourceVersion() != before.GetResourceVersion()) != (tc.wantWrites > 0) {
				t.Errorf("resourceVersion %s -> %s with %d writes", before.GetResourceVersion(), after.GetResourceVersion(), tc.wantWrites)
			}
			if err := r.Sync(context.Background(), tc.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if n.Writes() != tc.wantWrites {
				t.Errorf("second Sync wrote: writes = %d, want %d", n.Writes(), tc.wantWrites)
			}
		})
	}
}

func TestHeaderRoutes(t *testing.T) {
	ctx := context.Background()
	ro := rollout("web-route", []string{"api"}, "first", "second")
	userExpr := headerExpr("cookie", "Equal", "beta")
	main := apisixRoute("web-route",
		httpRule("api", int64(5), []any{userExpr}, backend("web-stable"), backend("web-canary"), backend("extra", 1)),
		httpRule("admin", nil, nil, backend("admin")),
	)
	var n routertest.Counts
	c := fakeClient(&n, main)
	r := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c})

	// Both header routes appear, the second outranked by the first.
	d := trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{
		{Name: "first", Match: exactHeader("x-canary", "yes")},
		{Name: "second", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Prefix: "qa.", Regex: "^qa"}},
		}},
	}}
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n.Create != 2 {
		t.Fatalf("creates = %d, want 2", n.Create)
	}
	first := get(t, c, "first")
	wantFirst := ownedBy(&unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{
			"name": "first", "namespace": ns,
			"labels":      map[string]any{"app": "web"},
			"annotations": map[string]any{"note": "keep"},
		},
		"spec": map[string]any{
			"ingressClassName": "apisix",
			"http": []any{httpRule("api", int64(7), []any{userExpr, headerExpr("x-canary", "Equal", "yes")},
				backend("web-canary", 100))},
		},
	}}, ro)
	wantFirst.SetGroupVersionKind(GVK)
	wantFirst.SetResourceVersion(first.GetResourceVersion())
	if !reflect.DeepEqual(first.Object, wantFirst.Object) {
		t.Errorf("header route first:\n got %v\nwant %v", first.Object, wantFirst.Object)
	}
	second := get(t, c, "second")
	rule := second.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
	if rule["priority"] != int64(6) {
		t.Errorf("second's priority = %v, want 6", rule["priority"])
	}
	wantExprs := []any{userExpr, headerExpr("x-user", "RegexMatch", "^qa"), headerExpr("x-user", "RegexMatch", `^qa\..*`)}
	if got := rule["match"].(map[string]any)["exprs"]; !reflect.DeepEqual(got, wantExprs) {
		t.Errorf("second's exprs = %v, want %v", got, wantExprs)
	}
	// The split route is untouched apart from its weights.
	if got := get(t, c, "web-route"); !reflect.DeepEqual(got.Object["metadata"].(map[string]any)["annotations"], main.Object["metadata"].(map[string]any)["annotations"]) {
		t.Errorf("split route metadata changed: %v", got.Object["metadata"])
	}

	// The same state again writes nothing.
	before := n
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if n != before {
		t.Errorf("unchanged Sync wrote: %+v -> %+v", before, n)
	}
	if got := get(t, c, "first"); got.GetResourceVersion() != first.GetResourceVersion() {
		t.Errorf("header route rewritten without a change")
	}

	// A changed match updates the route in place, keeping metadata someone
	// else added.
	first = get(t, c, "first")
	first.SetLabels(map[string]string{"app": "web", "added": "later"})
	if err := c.Update(ctx, first); err != nil {
		t.Fatal(err)
	}
	d.HeaderRoutes[0].Match = exactHeader("x-canary", "always")
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("Sync with a new match: %v", err)
	}
	first = get(t, c, "first")
	rule = first.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
	if got := rule["match"].(map[string]any)["exprs"]; !reflect.DeepEqual(got, []any{userExpr, headerExpr("x-canary", "Equal", "always")}) {
		t.Errorf("updated exprs = %v", got)
	}
	if first.GetLabels()["added"] != "later" {
		t.Errorf("update dropped labels: %v", first.GetLabels())
	}

	// Dropping "second" from the desired state deletes it, keeps "first".
	d.HeaderRoutes = d.HeaderRoutes[:1]
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("Sync without second: %v", err)
	}
	if get(t, c, "second") != nil {
		t.Errorf("header route second still exists")
	}
	if get(t, c, "first") == nil {
		t.Errorf("header route first was deleted")
	}

	// No header routes removes the rest; removing again is a no-op.
	d.HeaderRoutes = nil
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("Sync removing all: %v", err)
	}
	if get(t, c, "first") != nil {
		t.Errorf("header route first still exists")
	}
	before = n
	if err := r.Sync(ctx, d); err != nil {
		t.Fatalf("Sync after removal: %v", err)
	}
	if n != before {
		t.Errorf("Sync after removal wrote: %+v -> %+v", before, n)
	}
}

func TestHeaderRouteNotOwned(t *testing.T) {
	ctx := context.Background()
	ro := rollout("web-route", nil, "taken")
	foreign := apisixRoute("taken", httpRule("x", nil, nil, backend("other")))
	var n routertest.Counts
	c := fakeClient(&n, apisixRoute("web-route", httpRule("web-route", nil, nil, backend("web-stable"), backend("web-canary"))), foreign)
	r := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c})

	// Removing a route that is not ours leaves it alone and is no error.
	if err := r.Sync(ctx, trafficrouting.Desired{MaxWeight: 100}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if get(t, c, "taken") == nil || n.Delete != 0 {
		t.Fatalf("foreign route deleted")
	}
	// Setting it is a ConfigError, after the weights are written.
	err := r.Sync(ctx, trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100,
		HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "taken", Match: exactHeader("a", "b")}}})
	routertest.CheckConfigErrors(t, err, "apisix", []string{"ApisixRoute shop/taken, the name of managed route \"taken\", exists and is not controlled by this Rollout"})
	if got := get(t, c, "taken"); !reflect.DeepEqual(got.Object["spec"], foreign.Object["spec"]) {
		t.Errorf("foreign route changed: %v", got.Object["spec"])
	}
	main := get(t, c, "web-route")
	if w := main.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)["backends"].([]any)[1].(map[string]any)["weight"]; w != int64(10) {
		t.Errorf("canary weight = %v, want 10", w)
	}
}

func TestCheckErrors(t *testing.T) {
	good := httpRule("api", nil, nil, backend("web-stable"), backend("web-canary"))
	noSvc := rollout("web-route", []string{"api"})
	noSvc.Spec.Strategy.Canary.CanaryService = ""
	noSvc.Spec.Strategy.Canary.StableService = ""
	noRoute := rollout("web-route", nil)
	noRoute.Spec.Strategy.Canary.TrafficRouting.Apisix.Route = nil
	notHTTP := apisixRoute("web-route")
	delete(notHTTP.Object["spec"].(map[string]any), "http")
	for _, tc := range []struct {
		name    string
		ro      *v1alpha1.Rollout
		objs    []client.Object
		wantMsg []string
	}{
		{name: "no route configured", ro: noRoute, wantMsg: []string{"trafficRouting.apisix.route.name is required"}},
		{name: "route missing", ro: rollout("web-route", nil), wantMsg: []string{"ApisixRoute shop/web-route does not exist"}},
		{name: "no http rules", ro: rollout("web-route", nil), objs: []client.Object{notHTTP}, wantMsg: []string{"ApisixRoute shop/web-route has no spec.http rules"}},
		{
			name:    "services unset",
			ro:      noSvc,
			objs:    []client.Object{apisixRoute("web-route", good)},
			wantMsg: []string{"canaryService is required", "stableService is required"},
		},
		{
			name: "rules and backends missing",
			ro:   rollout("web-route", []string{"api", "nope", "half"}),
			objs: []client.Object{apisixRoute("web-route", good, httpRule("half", nil, nil, backend("something-else")))},
			wantMsg: []string{
				`has no HTTP rule named "nope"`,
				`HTTP rule "half" of ApisixRoute shop/web-route has no backend for the canary Service "web-canary"`,
				`HTTP rule "half" of ApisixRoute shop/web-route has no backend for the stable Service "web-stable"`,
			},
		},
		{
			name: "managed route names clash",
			ro:   rollout("web-route", []string{"api"}, "web-route", "taken", "free"),
			objs: []client.Object{apisixRoute("web-route", good), apisixRoute("taken")},
			wantMsg: []string{
				`managed route "web-route" has the name of the ApisixRoute the Rollout splits`,
				`ApisixRoute shop/taken, the name of managed route "taken", exists and is not controlled by this Rollout`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			c := fakeClient(&n, tc.objs...)
			r := New(trafficrouting.Env{Rollout: tc.ro, Reader: c, Writer: c})
			routertest.CheckConfigErrors(t, r.Check(context.Background()), "apisix", tc.wantMsg)
		})
	}
}

func TestCheckAcceptsOwnHeaderRoute(t *testing.T) {
	ro := rollout("web-route", nil, "mine")
	var n routertest.Counts
	c := fakeClient(&n,
		apisixRoute("web-route", httpRule("web-route", nil, nil, backend("web-stable"), backend("web-canary"))),
		ownedBy(apisixRoute("mine"), ro))
	if err := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c}).Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestSyncRefuses(t *testing.T) {
	ro := rollout("web-route", nil, "h")
	for _, tc := range []struct {
		name    string
		d       trafficrouting.Desired
		wantMsg string
	}{
		{"mirror routes", trafficrouting.Desired{MaxWeight: 100, MirrorRoutes: []trafficrouting.MirrorRoute{{Name: "m"}}}, "does not support setMirrorRoute"},
		{"header route without match", trafficrouting.Desired{MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "h"}}}, `header route "h" has no match`},
		{"header value without a comparison", trafficrouting.Desired{MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "h",
			Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{}}}}}}, "every match needs a headerName"},
		{"header value missing", trafficrouting.Desired{MaxWeight: 100, HeaderRoutes: []trafficrouting.HeaderRoute{{Name: "h",
			Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x"}}}}}, "every match needs a headerName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n routertest.Counts
			c := fakeClient(&n, apisixRoute("web-route", httpRule("web-route", nil, nil, backend("web-stable", 100), backend("web-canary", 0))))
			err := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c}).Sync(context.Background(), tc.d)
			routertest.CheckConfigErrors(t, err, "apisix", []string{tc.wantMsg})
			if n.Create != 0 {
				t.Errorf("created %d routes", n.Create)
			}
		})
	}
}

func TestKindNotServed(t *testing.T) {
	c := routertest.Cluster{Serves: routertest.Kinds()}.Client()
	err := New(trafficrouting.Env{Rollout: rollout("web-route", nil), Reader: c, Writer: c}).Check(context.Background())
	routertest.CheckConfigErrors(t, err, "apisix", []string{"the cluster does not serve ApisixRoute (apisix.apache.org/v2)"})
}

func TestType(t *testing.T) {
	if got := New(trafficrouting.Env{}).Type(); got != "apisix" {
		t.Fatalf("Type = %q", got)
	}
}
