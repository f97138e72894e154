package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

const ns = "shop"

var allKinds = []routeKind{httpRouteKind, grpcRouteKind, tcpRouteKind, tlsRouteKind}

// newClient serves only the route kinds given.
func newClient(t *testing.T, kinds []routeKind, objs ...client.Object) client.WithWatch {
	t.Helper()
	var served []schema.GroupVersionKind
	for _, k := range kinds {
		served = append(served, k.gvk)
	}
	return routertest.Cluster{Scheme: runtime.NewScheme(), Serves: routertest.Kinds(served...)}.Client(objs...)
}

func newRollout(t *testing.T, plugin string, managed ...string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "guestbook", Namespace: ns, UID: "0b8a5a1e-0000-4000-8000-000000000001"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			CanaryService: "guestbook-canary",
			StableService: "guestbook-stable",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Plugins: map[string]json.RawMessage{PluginName: json.RawMessage(plugin)},
			},
		}}},
	}
	for _, n := range managed {
		ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: n})
	}
	return ro
}

func newRouter(t *testing.T, c client.Client, ro *v1alpha1.Rollout) *Router {
	t.Helper()
	r, err := New(trafficrouting.Env{Rollout: ro, Reader: c, Writer: c})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// fromYAML decodes like the API client does (whole numbers as int64), so
// fixtures compare equal to objects read back.
func fromYAML(t *testing.T, s string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var v any
	if strings.HasPrefix(strings.TrimSpace(string(j)), "[") {
		var l []any
		err = utiljson.Unmarshal(j, &l)
		v = l
	} else {
		var m map[string]any
		err = utiljson.Unmarshal(j, &m)
		v = m
	}
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return v
}

func object(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	return &unstructured.Unstructured{Object: fromYAML(t, s).(map[string]any)}
}

const webRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: shop
  labels: {app: guestbook}
  annotations: {team: web}
spec:
  parentRefs: [{name: gw, sectionName: https}]
  hostnames: [shop.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{name: x-canary, type: Exact, value: "no"}, {name: x-tenant, type: Exact, value: acme}]
    - path: {type: Exact, value: /healthz}
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
    backendRefs:
    - {group: "", kind: Service, name: guestbook-stable, port: 80, weight: 100}
    - {name: guestbook-canary, port: 8080, weight: 0}
  - matches: [{path: {type: PathPrefix, value: /static}}]
    backendRefs: [{name: assets, port: 80}]
`

func get(t *testing.T, c client.Client, k routeKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.Get(t, c, k.gvk, namespace, name)
}

func rules(t *testing.T, u *unstructured.Unstructured) []any {
	t.Helper()
	r, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withWeights is fixture u with backendRef ref of rule i weighted w.
func withWeights(t *testing.T, u *unstructured.Unstructured, set map[[2]int]int64) *unstructured.Unstructured {
	t.Helper()
	out := u.DeepCopy()
	rs := rules(t, out)
	for at, w := range set {
		rs[at[0]].(map[string]any)["backendRefs"].([]any)[at[1]].(map[string]any)["weight"] = w
	}
	if err := unstructured.SetNestedSlice(out.Object, rs, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	return out
}

func desired(canary int32, hrs ...trafficrouting.HeaderRoute) trafficrouting.Desired {
	return trafficrouting.Desired{CanaryWeight: canary, MaxWeight: trafficrouting.DefaultMaxWeight, HeaderRoutes: hrs}
}

func TestSyncWeights(t *testing.T) {
	tests := []struct {
		name string
		d    trafficrouting.Desired
		want map[[2]int]int64
	}{
		{name: "canary 30", d: desired(30), want: map[[2]int]int64{{0, 0}: 70, {0, 1}: 30}},
		{name: "all to canary", d: desired(100), want: map[[2]int]int64{{0, 0}: 0, {0, 1}: 100}},
		{name: "maxTrafficWeight", d: trafficrouting.Desired{CanaryWeight: 250, MaxWeight: 1000}, want: map[[2]int]int64{{0, 0}: 750, {0, 1}: 250}},
		// Header routes in Desired are ignored on a route that does not take them.
		{name: "header routes not taken", d: desired(5, routertest.ExactHeaderRoute("r1", "x-beta", "1")), want: map[[2]int]int64{{0, 0}: 95, {0, 1}: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := object(t, webRoute)
			c := newClient(t, allKinds, orig.DeepCopy())
			r := newRouter(t, c, newRollout(t, `{"httpRoutes":[{"name":"web"}]}`, "r1"))
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := r.Sync(context.Background(), tt.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			got := get(t, c, httpRouteKind, ns, "web")
			if want := withWeights(t, orig, tt.want); !routertest.SameExceptVersion(got, want) {
				t.Errorf("route =\n%v\nwant\n%v", got.Object, want.Object)
			}
			rv := got.GetResourceVersion()
			if err := r.Sync(context.Background(), tt.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if again := get(t, c, httpRouteKind, ns, "web"); again.GetResourceVersion() != rv {
				t.Errorf("second Sync wrote with nothing changed")
			}
		})
	}
}

func TestSyncMultipleRoutes(t *testing.T) {
	// Two source rules on one HTTPRoute; a GRPCRoute, TCPRoute and TLSRoute
	// in the configured namespace; one HTTPRoute not taking header routes.
	multi := object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: multi, namespace: edge}
spec:
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: guestbook-stable, port: 80, weight: 1}, {name: guestbook-canary, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /b}}]
    timeouts: {request: 10s}
    backendRefs: [{name: guestbook-canary, port: 81}, {name: guestbook-stable, port: 81}]
`)
	plain := object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: plain, namespace: edge}
spec:
  rules:
  - backendRefs: [{name: guestbook-stable, port: 80}, {name: guestbook-canary, port: 80}]
`)
	grpc := object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: rpc, namespace: edge}
spec:
  rules:
  - matches: [{method: {type: Exact, service: shop.Cart}}]
    backendRefs: [{name: guestbook-stable, port: 9000}, {name: guestbook-canary, port: 9000}]
`)
	tcp := object(t, `
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: raw, namespace: edge}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: guestbook-stable, port: 5432}, {name: guestbook-canary, port: 5432}]
`)
	tls := object(t, `
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: sni, namespace: edge}
spec:
  hostnames: [db.example.com]
  rules:
  - backendRefs: [{name: guestbook-stable, port: 443}, {name: guestbook-canary, port: 443}]
`)
	c := newClient(t, allKinds, multi.DeepCopy(), plain.DeepCopy(), grpc.DeepCopy(), tcp.DeepCopy(), tls.DeepCopy())
	ro := newRollout(t, `{"namespace":"edge","httpRoutes":[{"name":"multi","useHeaderRoutes":true},{"name":"plain"}],
		"grpcRoute":"rpc","tcpRoute":"raw","tlsRoutes":[{"name":"sni"}]}`, "beta")
	r := newRouter(t, c, ro)
	if err := r.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := r.Sync(context.Background(), desired(20, routertest.ExactHeaderRoute("beta", "x-beta", "on"))); err != nil {
		t.Fatalf("Sync: %v", err)
	}

	wantMulti := fromYAML(t, `
- matches: [{path: {type: PathPrefix, value: /a}}]
  backendRefs: [{name: guestbook-stable, port: 80, weight: 80}, {name: guestbook-canary, port: 80, weight: 20}]
- matches: [{path: {type: PathPrefix, value: /b}}]
  timeouts: {request: 10s}
  backendRefs: [{name: guestbook-canary, port: 81, weight: 20}, {name: guestbook-stable, port: 81, weight: 80}]
- name: beta
  matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: x-beta, type: Exact, value: "on"}]}]
  backendRefs: [{group: "", kind: Service, name: guestbook-canary, port: 80, weight: 1}]
- name: beta-1
  matches: [{path: {type: PathPrefix, value: /b}, headers: [{name: x-beta, type: Exact, value: "on"}]}]
  timeouts: {request: 10s}
  backendRefs: [{group: "", kind: Service, name: guestbook-canary, port: 81, weight: 1}]
`)
	if got := rules(t, get(t, c, httpRouteKind, "edge", "multi")); !equality.Semantic.DeepEqual(got, wantMulti) {
		t.Errorf("multi rules =\n%v\nwant\n%v", got, wantMulti)
	}
	if got := get(t, c, httpRouteKind, "edge", "plain"); !routertest.SameExceptVersion(got, withWeights(t, plain, map[[2]int]int64{{0, 0}: 80, {0, 1}: 20})) {
		t.Errorf("plain = %v", got.Object)
	}
	wantGRPC := fromYAML(t, `
- matches: [{method: {type: Exact, service: shop.Cart}}]
  backendRefs: [{name: guestbook-stable, port: 9000, weight: 80}, {name: guestbook-canary, port: 9000, weight: 20}]
- name: beta
  matches: [{method: {type: Exact, service: shop.Cart}, headers: [{name: x-beta, type: Exact, value: "on"}]}]
  backendRefs: [{group: "", kind: Service, name: guestbook-canary, port: 9000, weight: 1}]
`)
	if got := rules(t, get(t, c, grpcRouteKind, "edge", "rpc")); !equality.Semantic.DeepEqual(got, wantGRPC) {
		t.Errorf("grpc rules =\n%v\nwant\n%v", got, wantGRPC)
	}
	if got := get(t, c, tcpRouteKind, "edge", "raw"); !routertest.SameExceptVersion(got, withWeights(t, tcp, map[[2]int]int64{{0, 0}: 80, {0, 1}: 20})) {
		t.Errorf("tcp = %v", got.Object)
	}
	if got := get(t, c, tlsRouteKind, "edge", "sni"); !routertest.SameExceptVersion(got, withWeights(t, tls, map[[2]int]int64{{0, 0}: 80, {0, 1}: 20})) {
		t.Errorf("tls = %v", got.Object)
	}
	if err := r.Check(context.Background()); err != nil {
		t.Errorf("Check with header rules present: %v", err)
	}

	// Back to no header route: every route returns to its weighted form
	// and carries no annotation.
	if err := r.Sync(context.Background(), desired(0)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := get(t, c, httpRouteKind, "edge", "multi"); !routertest.SameExceptVersion(got, withWeights(t, multi, map[[2]int]int64{{0, 0}: 100, {0, 1}: 0, {1, 0}: 0, {1, 1}: 100})) {
		t.Errorf("multi after removal = %v", got.Object)
	}
	if got := get(t, c, grpcRouteKind, "edge", "rpc"); !routertest.SameExceptVersion(got, withWeights(t, grpc, map[[2]int]int64{{0, 0}: 100, {0, 1}: 0})) {
		t.Errorf("grpc after removal = %v", got.Object)
	}
}

// headerRule is the rule webRoute gets for a header route: a clone of its
// first rule whose matches gain the conditions (replacing x-canary where
// named) and that sends to the canary alone.
func headerRule(name, headersYAML string) string {
	return `
- name: ` + name + `
  matches:
  - path: {type: PathPrefix, value: /api}
    headers: ` + headersYAML + `
  - path: {type: Exact, value: /healthz}
    headers: ` + headersYAML + `
  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
  backendRefs: [{group: "", kind: Service, name: guestbook-canary, port: 8080, weight: 1}]
`
}

func TestHeaderRoutes(t *testing.T) {
	const weighted = `
- matches:
  - path: {type: PathPrefix, value: /api}
    headers: [{name: x-canary, type: Exact, value: "no"}, {name: x-tenant, type: Exact, value: acme}]
  - path: {type: Exact, value: /healthz}
  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
  backendRefs:
  - {group: "", kind: Service, name: guestbook-stable, port: 80, weight: 90}
  - {name: guestbook-canary, port: 8080, weight: 10}
- matches: [{path: {type: PathPrefix, value: /static}}]
  backendRefs: [{name: assets, port: 80}]
`
	r1 := headerRule("r1", `[{name: X-Canary, type: Exact, value: "yes"}]`)
	// The /api match keeps x-tenant but drops its own x-canary condition.
	r1 = strings.Replace(r1, `headers: [{name: X-Canary, type: Exact, value: "yes"}]`,
		`headers: [{name: X-Canary, type: Exact, value: "yes"}, {name: x-tenant, type: Exact, value: acme}]`, 1)
	r2Conds := `[{name: x-version, type: RegularExpression, value: 'v1\.2.*'}, {name: x-user, type: RegularExpression, value: '^qa-[0-9]+$'}`
	r2 := headerRule("r2", r2Conds+`]`)
	// Here the /api match keeps both of its own header conditions.
	r2 = strings.Replace(r2, r2Conds+`]`, r2Conds+`, {name: x-canary, type: Exact, value: "no"}, {name: x-tenant, type: Exact, value: acme}]`, 1)
	hr1 := routertest.ExactHeaderRoute("r1", "X-Canary", "yes")
	hr2 := trafficrouting.HeaderRoute{Name: "r2", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "x-version", HeaderValue: &v1alpha1.StringMatch{Prefix: "v1.2"}},
		{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Regex: "^qa-[0-9]+$"}},
	}}
	extra := `
- matches: [{path: {type: PathPrefix, value: /new}}]
  backendRefs: [{name: other, port: 80}]
`

	type step struct {
		name      string
		restart   bool   // a new Router, as after a controller restart
		edit      string // rules someone else prepends before the step
		d         trafficrouting.Desired
		wantRules string
		wantRec   []string // managed routes recorded for the Rollout, in rule order
		wantWrite bool
	}
	steps := []step{
		{name: "weights only", d: desired(10), wantRules: weighted, wantWrite: true},
		{name: "add r1", d: desired(10, hr1), wantRules: weighted + r1, wantRec: []string{"r1"}, wantWrite: true},
		{name: "unchanged", d: desired(10, hr1), wantRules: weighted + r1, wantRec: []string{"r1"}},
		{name: "add r2 after restart", restart: true, d: desired(10, hr1, hr2), wantRules: weighted + r1 + r2, wantRec: []string{"r1", "r2"}, wantWrite: true},
		{name: "reorder", d: desired(10, hr2, hr1), wantRules: weighted + r2 + r1, wantRec: []string{"r1", "r2"}, wantWrite: true},
		{name: "remove r2 after someone added a rule", restart: true, edit: extra, d: desired(10, hr1),
			wantRules: extra + weighted + r1, wantRec: []string{"r1"}, wantWrite: true},
		{name: "remove all", d: desired(10), wantRules: extra + weighted, wantWrite: true},
		{name: "still nothing", restart: true, d: desired(10), wantRules: extra + weighted},
	}

	orig := object(t, webRoute)
	c := newClient(t, allKinds, orig.DeepCopy())
	ro := newRollout(t, `{"httpRoute":"web"}`, "r1", "r2")
	r := newRouter(t, c, ro)
	for _, s := range steps {
		if s.restart {
			r = newRouter(t, c, ro)
		}
		if s.edit != "" {
			u := get(t, c, httpRouteKind, ns, "web")
			rs := append(fromYAML(t, s.edit).([]any), rules(t, u)...)
			if err := unstructured.SetNestedSlice(u.Object, rs, "spec", "rules"); err != nil {
				t.Fatal(err)
			}
			if err := c.Update(context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		before := get(t, c, httpRouteKind, ns, "web")
		if err := r.Sync(context.Background(), s.d); err != nil {
			t.Fatalf("%s: Sync: %v", s.name, err)
		}
		got := get(t, c, httpRouteKind, ns, "web")
		if want := fromYAML(t, s.wantRules); !equality.Semantic.DeepEqual(rules(t, got), want) {
			t.Errorf("%s: rules =\n%v\nwant\n%v", s.name, rules(t, got), want)
		}
		if wrote := got.GetResourceVersion() != before.GetResourceVersion(); wrote != s.wantWrite {
			t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrite)
		}
		// Everything but the rules and the annotation stays as it was.
		trimmed := got.DeepCopy()
		ann := trimmed.GetAnnotations()
		rec := ann[ManagedRulesAnnotation]
		delete(ann, ManagedRulesAnnotation)
		trimmed.SetAnnotations(ann)
		if err := unstructured.SetNestedSlice(trimmed.Object, rules(t, orig), "spec", "rules"); err != nil {
			t.Fatal(err)
		}
		if !routertest.SameExceptVersion(trimmed, orig) {
			t.Errorf("%s: route outside its rules changed: %v", s.name, got.Object)
		}
		if len(s.wantRec) == 0 {
			if _, ok := got.GetAnnotations()[ManagedRulesAnnotation]; ok {
				t.Errorf("%s: annotation left behind: %s", s.name, rec)
			}
			continue
		}
		recs, err := readRecords(got)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		mine := recs["shop/guestbook"]
		if len(recs) != 1 || len(mine) != len(s.wantRec) {
			t.Errorf("%s: annotation = %s, want entries for %v", s.name, rec, s.wantRec)
		}
		for _, name := range s.wantRec {
			if want := fromYAML(t, map[string]string{"r1": r1, "r2": r2}[name]); !equality.Semantic.DeepEqual(mine[name], want) {
				t.Errorf("%s: recorded %s = %v, want %v", s.name, name, mine[name], want)
			}
		}
	}
}

func TestSharedAndForeignRules(t *testing.T) {
	// Another Rollout's recorded rule is left alone; a rule named after one
	// of our managed routes that sends only to our canary (left by the
	// Argo Rollouts plugin, or with the annotation lost) is removed; a
	// user's rule of the same shape but another name stays.
	route := object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: shop
  annotations:
    rollouts.kanaria.dev/managed-routes: '{"shop/other":{"h":[{"name":"h","backendRefs":[{"name":"other-canary","port":80,"weight":1}]}]}}'
spec:
  rules:
  - backendRefs: [{name: guestbook-stable, port: 80}, {name: guestbook-canary, port: 80}]
  - backendRefs: [{name: other-stable, port: 80}, {name: other-canary, port: 80}]
  - name: h
    backendRefs: [{name: other-canary, port: 80, weight: 1}]
  - name: r1
    matches: [{headers: [{name: x, value: "1"}]}]
    backendRefs: [{name: guestbook-canary, port: 80}]
  - name: r1-1
    backendRefs: [{name: guestbook-canary, port: 80}]
  - name: mine
    backendRefs: [{name: guestbook-canary, port: 80}]
`)
	c := newClient(t, allKinds, route)
	r := newRouter(t, c, newRollout(t, `{"httpRoute":"web"}`, "r1"))
	if err := r.Sync(context.Background(), desired(50)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got := get(t, c, httpRouteKind, ns, "web")
	want := fromYAML(t, `
- backendRefs: [{name: guestbook-stable, port: 80, weight: 50}, {name: guestbook-canary, port: 80, weight: 50}]
- backendRefs: [{name: other-stable, port: 80}, {name: other-canary, port: 80}]
- name: h
  backendRefs: [{name: other-canary, port: 80, weight: 1}]
- name: mine
  backendRefs: [{name: guestbook-canary, port: 80, weight: 50}]
`)
	if !equality.Semantic.DeepEqual(rules(t, got), want) {
		t.Errorf("rules =\n%v\nwant\n%v", rules(t, got), want)
	}
	if a := got.GetAnnotations()[ManagedRulesAnnotation]; a != route.GetAnnotations()[ManagedRulesAnnotation] {
		t.Errorf("other Rollout's record changed: %s", a)
	}

	// Adding our route records it beside the other Rollout's.
	if err := r.Sync(context.Background(), desired(50, routertest.ExactHeaderRoute("r1", "x", "1"))); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	recs, err := readRecords(get(t, c, httpRouteKind, ns, "web"))
	if err != nil || len(recs) != 2 || len(recs["shop/guestbook"]["r1"]) != 1 || len(recs["shop/other"]["h"]) != 1 {
		t.Errorf("records = %v, %v", recs, err)
	}
}

func TestConfigErrors(t *testing.T) {
	noBoth := object(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  rules:
  - backendRefs: [{name: guestbook-stable, port: 80}]
  - backendRefs: [{name: guestbook-canary, port: 80}]
`)
	corrupt := object(t, webRoute)
	corrupt.SetAnnotations(map[string]string{ManagedRulesAnnotation: "{not json"})
	wrongShape := object(t, webRoute)
	wrongShape.SetAnnotations(map[string]string{ManagedRulesAnnotation: `{"shop/guestbook":{"r1":"rule"}}`})
	tcpOnly := object(t, `
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: raw, namespace: shop}
spec: {rules: [{backendRefs: [{name: guestbook-stable, port: 1}, {name: guestbook-canary, port: 1}]}]}
`)
	tests := []struct {
		name   string
		plugin string
		kinds  []routeKind
		objs   []client.Object
		noSvc  bool
		d      trafficrouting.Desired
		check  []string // Check's ConfigErrors
		sync   []string // Sync's ConfigErrors; nil means Sync succeeds
	}{
		{name: "route missing", plugin: `{"httpRoute":"web"}`, kinds: allKinds,
			check: []string{"HTTPRoute shop/web does not exist"}, sync: []string{"HTTPRoute shop/web does not exist"}},
		{name: "two routes missing", plugin: `{"httpRoute":"web","grpcRoute":"rpc","namespace":"edge"}`, kinds: allKinds,
			check: []string{"HTTPRoute edge/web does not exist", "GRPCRoute edge/rpc does not exist"}, sync: []string{"HTTPRoute edge/web does not exist"}},
		{name: "kind not served", plugin: `{"tcpRoute":"raw"}`, kinds: []routeKind{httpRouteKind}, objs: []client.Object{tcpOnly},
			check: []string{"does not serve TCPRoute"}, sync: []string{"does not serve TCPRoute"}},
		{name: "no rule with both services", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{noBoth},
			check: []string{"no rule whose backendRefs name both guestbook-canary and guestbook-stable"},
			sync:  []string{"no rule whose backendRefs name both"}},
		{name: "corrupt annotation", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{corrupt},
			check: []string{"does not parse"}, sync: []string{"does not parse"}},
		{name: "annotation of the wrong shape", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{wrongShape},
			check: []string{`"shop/guestbook"/"r1" is not a list`}, sync: []string{"is not a list"}},
		{name: "services unset", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{object(t, webRoute)}, noSvc: true,
			check: []string{"canaryService and stableService"}, sync: []string{"canaryService and stableService"}},
		{name: "header value missing", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{object(t, webRoute)},
			d:    desired(10, trafficrouting.HeaderRoute{Name: "r1", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x"}}}),
			sync: []string{"header x needs an exact, prefix or regex value"}},
		{name: "header value empty", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{object(t, webRoute)},
			d:    desired(10, trafficrouting.HeaderRoute{Name: "r1", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{}}}}),
			sync: []string{"needs an exact, prefix or regex value"}},
		{name: "header route without match", plugin: `{"httpRoute":"web"}`, kinds: allKinds, objs: []client.Object{object(t, webRoute)},
			d: desired(10, trafficrouting.HeaderRoute{Name: "r1"}), sync: []string{`header route "r1" has no match`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []*unstructured.Unstructured
			for _, o := range tt.objs {
				before = append(before, o.(*unstructured.Unstructured).DeepCopy())
			}
			c := newClient(t, tt.kinds, tt.objs...)
			ro := newRollout(t, tt.plugin, "r1")
			if tt.noSvc {
				ro.Spec.Strategy.Canary.StableService = ""
			}
			r := newRouter(t, c, ro)
			routertest.CheckConfigErrors(t, r.Check(context.Background()), "gatewayapi", tt.check)
			routertest.CheckConfigErrors(t, r.Sync(context.Background(), tt.d), "gatewayapi", tt.sync)
			for _, b := range before {
				kind := routeKind{gvk: b.GroupVersionKind()}
				if len(tt.kinds) < len(allKinds) {
					continue // not readable through this client
				}
				if got := get(t, c, kind, b.GetNamespace(), b.GetName()); got.GetResourceVersion() != "999" {
					t.Errorf("Sync wrote %s after a configuration error", b.GetName())
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	ro := newRollout(t, `{}`)
	delete(ro.Spec.Strategy.Canary.TrafficRouting.Plugins, PluginName)
	if _, err := New(trafficrouting.Env{Rollout: ro}); len(trafficrouting.ConfigErrors(err)) != 1 {
		t.Errorf("New without configuration = %v, want a ConfigError", err)
	}
	ro = newRollout(t, `{"httpRoutes":{"name":"web"}}`)
	_, err := New(trafficrouting.Env{Rollout: ro})
	if ces := trafficrouting.ConfigErrors(err); len(ces) != 1 || !strings.Contains(ces[0].Msg, "httpRoutes") {
		t.Errorf("New with a bad field = %v, want a ConfigError naming httpRoutes", err)
	}
}

func TestReadFailureIsNotConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	c := routertest.Cluster{Scheme: runtime.NewScheme(), Funcs: routertest.FailGets(boom)}.Client()
	r := newRouter(t, c, newRollout(t, `{"httpRoute":"web","tcpRoute":"raw"}`))
	routertest.CheckNotConfigError(t, "Check", r.Check(context.Background()), boom, "")
	routertest.CheckNotConfigError(t, "Sync", r.Sync(context.Background(), desired(1)), boom, "")
}

func TestType(t *testing.T) {
	r := newRouter(t, nil, newRollout(t, `{"httpRoute":"web"}`))
	if r.Type() != "gatewayapi" {
		t.Errorf("Type() = %q", r.Type())
	}
}

// An API server with Gateway API CRDs from before named rules prunes the
// rule name; the added rule must still be found and removed, not piled up.
func TestPrunedRuleName(t *testing.T) {
	c := newClient(t, allKinds, object(t, webRoute))
	r := newRouter(t, c, newRollout(t, `{"httpRoute":"web"}`, "r1"))
	if err := r.Sync(context.Background(), desired(10, routertest.ExactHeaderRoute("r1", "x", "1"))); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	u := get(t, c, httpRouteKind, ns, "web")
	rs := rules(t, u)
	delete(rs[len(rs)-1].(map[string]any), "name")
	if err := unstructured.SetNestedSlice(u.Object, rs, "spec", "rules"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Sync(context.Background(), desired(10, routertest.ExactHeaderRoute("r1", "x", "1"))); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	if n := len(rules(t, get(t, c, httpRouteKind, ns, "web"))); n != 3 {
		t.Errorf("route has %d rules, want 3 (two own, one header rule)", n)
	}
	if err := r.Sync(context.Background(), desired(10)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n := len(rules(t, get(t, c, httpRouteKind, ns, "web"))); n != 2 {
		t.Errorf("after removal the route has %d rules, want 2", n)
	}
}
