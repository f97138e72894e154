package istio

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// hostVS is VirtualService "vs" with a route nobody weights ("legacy"), the
// weighted route "primary" (with a third destination and fields this
// package does not know), and labels, annotations and spec fields that
// must all survive a Sync.
func hostVS(canaryHost, stableHost string, canaryW, stableW int32) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: vs
  namespace: shop
  labels: {team: web}
  annotations: {owner: platform}
spec:
  hosts: [guestbook.example.com]
  gateways: [public]
  x-future-field: {keep: me}
  http:
  - name: legacy
    match: [{uri: {prefix: /legacy}}]
    route:
    - destination: {host: legacy, port: {number: 80}}
  - name: primary
    retries: {attempts: 3}
    route:
    - destination: {host: %[2]s, port: {number: 8080}}
      weight: %[4]d
      headers: {request: {set: {x-version: stable}}}
    - destination: {host: %[1]s, port: {number: 8080}}
      weight: %[3]d
    - destination: {host: guestbook-extra}
      weight: 0
`, canaryHost, stableHost, canaryW, stableW)
}

func TestSyncHostWeights(t *testing.T) {
	cases := []struct {
		name                   string
		canaryHost, stableHost string
		d                      trafficrouting.Desired
		canaryW, stableW       int32
	}{
		{"short names", "guestbook-canary", "guestbook-stable", desired(30), 30, 70},
		{"all to canary", "guestbook-canary", "guestbook-stable", desired(100), 100, 0},
		{"back to stable", "guestbook-canary", "guestbook-stable", desired(0), 0, 100},
		{"name.namespace", "guestbook-canary.shop", "guestbook-stable.shop", desired(10), 10, 90},
		{"name.namespace.svc", "guestbook-canary.shop.svc", "guestbook-stable.shop.svc", desired(10), 10, 90},
		{"cluster.local FQDN", "guestbook-canary.shop.svc.cluster.local", "guestbook-stable.shop.svc.cluster.local", desired(10), 10, 90},
		{"custom cluster domain", "guestbook-canary.shop.svc.corp.internal", "guestbook-stable", desired(10), 10, 90},
		{"maxTrafficWeight", "guestbook-canary", "guestbook-stable", trafficrouting.Desired{CanaryWeight: 250, MaxWeight: 1000}, 250, 750},
		{"zero MaxWeight means 100", "guestbook-canary", "guestbook-stable", trafficrouting.Desired{CanaryWeight: 40}, 40, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, newRollout(), objs(t, hostVS(c.canaryHost, c.stableHost, 0, 100)))
			if err := f.router.Sync(context.Background(), c.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, hostVS(c.canaryHost, c.stableHost, c.canaryW, c.stableW)))
		})
	}
}

func objs(t *testing.T, manifests ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, m := range manifests {
		out = append(out, obj(t, m))
	}
	return out
}

func TestSyncSingleUnnamedRoute(t *testing.T) {
	vs := func(w int32) string {
		return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  http:
  - route:
    - destination: {host: guestbook-stable}
      weight: %d
    - destination: {host: guestbook-canary}
      weight: %d
`, 100-w, w)
	}
	ro := newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Routes = nil })
	f := newFixture(t, ro, objs(t, vs(0)))
	if err := f.router.Sync(context.Background(), desired(25)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, vs(25)))
}

// subsetDR is DestinationRule "dr" with the canary and stable subsets, a
// third subset and policies that must survive a Sync.
func subsetDR(canaryHash, stableHash, annotation string) string {
	label := func(h string) string {
		if h == "" {
			return ""
		}
		return ", rollouts-pod-template-hash: " + h
	}
	ann := ""
	if annotation != "" {
		ann = ", argo-rollouts.argoproj.io/managed-by-rollouts: " + annotation
	}
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: dr
  namespace: shop
  annotations: {owner: platform%s}
spec:
  host: guestbook
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - name: debug
    labels: {app: guestbook, track: debug}
  - name: canary
    labels: {app: guestbook%s}
  - name: stable
    labels: {app: guestbook%s}
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}}
`, ann, label(canaryHash), label(stableHash))
}

func subsetVS(canaryW, stableW int32) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  http:
  - name: primary
    route:
    - destination: {host: guestbook, subset: stable}
      weight: %d
    - destination: {host: guestbook, subset: canary}
      weight: %d
    - destination: {host: guestbook, subset: debug}
      weight: 0
`, stableW, canaryW)
}

func TestSyncSubsets(t *testing.T) {
	cases := []struct {
		name                   string
		before                 string
		d                      trafficrouting.Desired
		canaryHash, stableHash string
	}{
		{"labels added", subsetDR("", "", ""), desired(40), "c4n4ry", "st4bl3"},
		{"labels replaced", subsetDR("old1", "old2", "someone-else"), desired(40), "c4n4ry", "st4bl3"},
		{"no canary ReplicaSet drops the label", subsetDR("old1", "st4bl3", "guestbook"),
			trafficrouting.Desired{CanaryWeight: 40, MaxWeight: 100, StableHash: "st4bl3"}, "", "st4bl3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, newRollout(withSubsets), objs(t, c.before, subsetVS(0, 100)))
			if err := f.router.Sync(context.Background(), c.d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			assertContent(t, f.get(t, DestinationRuleGVK, ns, "dr"), obj(t, subsetDR(c.canaryHash, c.stableHash, "guestbook")))
			assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, subsetVS(40, 60)))
			// Subsets must select the right Pods before weights point at them.
			want := []string{"DestinationRule shop/dr", "VirtualService shop/vs"}
			if !slices.Equal(f.writes.updates, want) {
				t.Fatalf("writes = %q, want %q", f.writes.updates, want)
			}
		})
	}
}

func l4VS(w443a, w443b, w3306, w3307 int32) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  tls:
  - match: [{port: 443, sniHosts: [a.example.com, www.a.example.com]}]
    route:
    - destination: {host: guestbook-stable, port: {number: 443}}
      weight: %[1]d
    - destination: {host: guestbook-canary, port: {number: 443}}
      weight: %[5]d
  - match: [{port: 443, sniHosts: [b.example.com]}]
    route:
    - destination: {host: guestbook-stable}
      weight: %[2]d
    - destination: {host: guestbook-canary}
      weight: %[6]d
  tcp:
  - match: [{port: 3306}]
    route:
    - destination: {host: guestbook-stable}
      weight: %[3]d
    - destination: {host: guestbook-canary}
      weight: %[7]d
  - match: [{port: 3307}]
    route:
    - destination: {host: guestbook-stable}
      weight: %[4]d
    - destination: {host: guestbook-canary}
      weight: %[8]d
`, w443a, w443b, w3306, w3307, 100-w443a, 100-w443b, 100-w3306, 100-w3307)
}

func TestSyncTLSAndTCPRoutes(t *testing.T) {
	ro := newRollout(func(ro *v1alpha1.Rollout) {
		istioOf(ro).VirtualService = &v1alpha1.IstioVirtualService{
			Name: "vs",
			// The SNI hosts are a set: their order does not matter.
			TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"www.a.example.com", "a.example.com"}}},
			TCPRoutes: []v1alpha1.TCPRoute{{Port: 3306}},
		}
	})
	f := newFixture(t, ro, objs(t, l4VS(100, 100, 100, 100)))
	if err := f.router.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := f.router.Sync(context.Background(), desired(20)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// Stable weights 80 on the selected routes, untouched elsewhere.
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, l4VS(80, 100, 80, 100)))

	// An L4-only VirtualService has no http traffic to match headers on,
	// so a header route is not put there, and that is no error.
	ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "hdr"}}
	d := desired(20)
	d.HeaderRoutes = []trafficrouting.HeaderRoute{{Name: "hdr", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}}
	if err := f.router.Sync(context.Background(), d); err != nil {
		t.Fatalf("Sync with header route: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, l4VS(80, 100, 80, 100)))
}

func gatewayVS(canaryW int32) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: edge, namespace: gateways}
spec:
  hosts: [guestbook.example.com]
  gateways: [istio-system/public]
  http:
  - name: web
    route:
    - destination: {host: guestbook-canary.shop.svc.cluster.local}
      weight: %d
    - destination: {host: guestbook-stable.shop.svc.cluster.local}
      weight: %d
`, canaryW, 100-canaryW)
}

func TestSyncMultipleVirtualServices(t *testing.T) {
	ro := newRollout(func(ro *v1alpha1.Rollout) {
		istioOf(ro).VirtualService = nil
		istioOf(ro).VirtualServices = []v1alpha1.IstioVirtualService{
			{Name: "vs", Routes: []string{"primary"}},
			{Name: "edge.gateways", Routes: []string{"web"}},
		}
	})
	f := newFixture(t, ro, objs(t, hostVS("guestbook-canary", "guestbook-stable", 0, 100), gatewayVS(0)))
	if err := f.router.Sync(context.Background(), desired(60)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, hostVS("guestbook-canary", "guestbook-stable", 60, 40)))
	assertContent(t, f.get(t, VirtualServiceGVK, "gateways", "edge"), obj(t, gatewayVS(60)))
}

// withRoutes puts managed routes at the top of base's http list, where
// Sync must put them.
func withRoutes(base string, managed ...string) string {
	i := strings.Index(base, "  - name: legacy")
	if i < 0 {
		i = strings.Index(base, "  - name: primary")
	}
	return base[:i] + strings.Join(managed, "") + base[i:]
}

const headerA = `
  - name: header-a
    match:
    - headers:
        x-tier: {prefix: gold}
    - headers:
        x-user: {regex: ".*@example.com"}
    route:
    - destination: {host: guestbook-canary, port: {number: 8080}}
      weight: 100
`

const headerB = `
  - name: header-b
    match:
    - headers:
        x-canary: {exact: "yes"}
    route:
    - destination: {host: guestbook-canary, port: {number: 8080}}
      weight: 100
`

// staleHeaderB is a managed route as someone left it: in the wrong place
// and with the wrong content.
const staleHeaderB = `
  - name: header-b
    match: [{headers: {x-old: {exact: "1"}}}]
    route:
    - destination: {host: guestbook-stable}
`

func headerRoutes(names ...string) []trafficrouting.HeaderRoute {
	all := map[string]trafficrouting.HeaderRoute{
		"header-a": {Name: "header-a", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "x-tier", HeaderValue: &v1alpha1.StringMatch{Prefix: "gold"}},
			{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Regex: ".*@example.com"}},
		}},
		"header-b": {Name: "header-b", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}},
		}},
	}
	var out []trafficrouting.HeaderRoute
	for _, n := range names {
		out = append(out, all[n])
	}
	return out
}

func TestSyncHeaderRoutes(t *testing.T) {
	base := func() string { return hostVS("guestbook-canary", "guestbook-stable", 10, 90) }
	cases := []struct {
		name   string
		before string
		routes []trafficrouting.HeaderRoute
		want   string
	}{
		{"added in managedRoutes order", base(), headerRoutes("header-b", "header-a"), withRoutes(base(), headerA, headerB)},
		{"one added", base(), headerRoutes("header-b"), withRoutes(base(), headerB)},
		{"stale one rewritten and moved to the top", base() + staleHeaderB, headerRoutes("header-a", "header-b"), withRoutes(base(), headerA, headerB)},
		{"removed when not desired", withRoutes(base(), headerA, headerB), nil, base()},
		{"one of two removed", withRoutes(base(), headerA, headerB), headerRoutes("header-b"), withRoutes(base(), headerB)},
		{"empty match removes", withRoutes(base(), headerB), []trafficrouting.HeaderRoute{{Name: "header-b"}}, base()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ro := newRollout(withManaged("mirror-1", "header-a", "header-b"))
			f := newFixture(t, ro, objs(t, c.before))
			d := desired(10)
			d.HeaderRoutes = c.routes
			if err := f.router.Sync(context.Background(), d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, c.want))
		})
	}
}

func TestSyncHeaderRouteSubset(t *testing.T) {
	ro := newRollout(withSubsets, withManaged("hdr"))
	f := newFixture(t, ro, objs(t, subsetDR("", "", ""), subsetVS(0, 100)))
	d := desired(0)
	d.HeaderRoutes = []trafficrouting.HeaderRoute{{Name: "hdr", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}}
	if err := f.router.Sync(context.Background(), d); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	want := withRoutes(subsetVS(0, 100), `
  - name: hdr
    match: [{headers: {x-canary: {exact: "yes"}}}]
    route:
    - destination: {host: guestbook, subset: canary}
      weight: 100
`)
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, want))
}

func mirrorRoute20(percent int) string {
	return fmt.Sprintf(`
  - name: mirror-1
    match:
    - method: {exact: GET}
      uri: {prefix: /api}
      headers: {x-mirror: {exact: "yes"}}
    - uri: {exact: /health}
    route:
    - destination: {host: guestbook-stable, port: {number: 8080}}
      weight: 80
      headers: {request: {set: {x-version: stable}}}
    - destination: {host: guestbook-canary, port: {number: 8080}}
      weight: 20
    - destination: {host: guestbook-extra}
      weight: 0
    mirror: {host: guestbook-canary, port: {number: 8080}}
    mirrorPercentage: {value: %d}
`, percent)
}

func TestSyncMirrorRoutes(t *testing.T) {
	base := func(w int32) string { return hostVS("guestbook-canary", "guestbook-stable", w, 100-w) }
	mirror := func(p *int32) []trafficrouting.MirrorRoute {
		return []trafficrouting.MirrorRoute{{
			Name: "mirror-1",
			Match: []v1alpha1.RouteMatch{
				{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}, Headers: map[string]v1alpha1.StringMatch{"x-mirror": {Exact: "yes"}}},
				{Path: &v1alpha1.StringMatch{Exact: "/health"}},
			},
			Percentage: p,
		}}
	}
	cases := []struct {
		name    string
		before  string
		mirrors []trafficrouting.MirrorRoute
		headers []trafficrouting.HeaderRoute
		want    string
	}{
		{"added, all mirrored", base(0), mirror(nil), nil, withRoutes(base(20), mirrorRoute20(100))},
		{"added with a percentage", base(0), mirror(ptr(int32(35))), nil, withRoutes(base(20), mirrorRoute20(35))},
		{"weights follow the primary route", withRoutes(base(5), mirrorRoute20(100)), mirror(nil), nil, withRoutes(base(20), mirrorRoute20(100))},
		{"ordered with header routes", base(0), mirror(nil), headerRoutes("header-b"), withRoutes(base(20), mirrorRoute20(100), headerB)},
		{"removed", withRoutes(base(20), mirrorRoute20(100), headerB), nil, headerRoutes("header-b"), withRoutes(base(20), headerB)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ro := newRollout(withManaged("mirror-1", "header-a", "header-b"))
			f := newFixture(t, ro, objs(t, c.before))
			d := desired(20)
			d.MirrorRoutes, d.HeaderRoutes = c.mirrors, c.headers
			if err := f.router.Sync(context.Background(), d); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, c.want))
		})
	}
}

func TestSyncWritesNothingWhenUnchanged(t *testing.T) {
	full := desired(20)
	full.HeaderRoutes = headerRoutes("header-a", "header-b")
	full.MirrorRoutes = []trafficrouting.MirrorRoute{{Name: "mirror-1", Percentage: ptr(int32(50)), Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}}}
	cases := []struct {
		name string
		ro   *v1alpha1.Rollout
		objs []string
		d    trafficrouting.Desired
	}{
		{"host weights", newRollout(), []string{hostVS("guestbook-canary", "guestbook-stable", 0, 100)}, desired(20)},
		{"subsets", newRollout(withSubsets), []string{subsetDR("", "", ""), subsetVS(0, 100)}, desired(20)},
		{"managed routes", newRollout(withManaged("mirror-1", "header-a", "header-b")), []string{hostVS("guestbook-canary", "guestbook-stable", 0, 100)}, full},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.ro, objs(t, c.objs...))
			ctx := context.Background()
			if err := f.router.Sync(ctx, c.d); err != nil {
				t.Fatalf("first Sync: %v", err)
			}
			vsRV := f.get(t, VirtualServiceGVK, ns, "vs").GetResourceVersion()
			writes := len(f.writes.updates)
			if writes == 0 {
				t.Fatal("first Sync wrote nothing")
			}
			if err := f.router.Sync(ctx, c.d); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			if len(f.writes.updates) != writes {
				t.Fatalf("second Sync wrote %q", f.writes.updates[writes:])
			}
			if rv := f.get(t, VirtualServiceGVK, ns, "vs").GetResourceVersion(); rv != vsRV {
				t.Fatalf("resourceVersion moved from %s to %s", vsRV, rv)
			}
		})
	}
}

func TestSyncAlreadyInPlaceWritesNothing(t *testing.T) {
	f := newFixture(t, newRollout(withSubsets), objs(t, subsetDR("c4n4ry", "st4bl3", "guestbook"), subsetVS(30, 70)))
	if err := f.router.Sync(context.Background(), desired(30)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(f.writes.updates) != 0 {
		t.Fatalf("Sync wrote %q", f.writes.updates)
	}
}
