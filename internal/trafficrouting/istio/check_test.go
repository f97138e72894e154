package istio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

func vsWithHTTP(routes string) string {
	return `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  http:` + routes
}

const twoUnnamed = `
  - match: [{uri: {prefix: /a}}]
    route:
    - destination: {host: guestbook-stable}
    - destination: {host: guestbook-canary}
  - route:
    - destination: {host: guestbook-stable}
    - destination: {host: guestbook-canary}
`

func TestCheck(t *testing.T) {
	host := hostVS("guestbook-canary", "guestbook-stable", 0, 100)
	noRoutes := func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Routes = nil }
	cases := []struct {
		name string
		ro   *v1alpha1.Rollout
		objs []string
		// notServed are the kinds the cluster does not serve.
		notServed []schema.GroupVersionKind
		// want holds one substring per ConfigError, in order.
		want []string
	}{
		{name: "host-level ok", ro: newRollout(), objs: []string{host}},
		{name: "subset-level ok", ro: newRollout(withSubsets), objs: []string{subsetDR("", "", ""), subsetVS(0, 100)}},
		{name: "one unmanaged route beside managed ones", ro: newRollout(noRoutes, withManaged("hdr")), objs: []string{vsWithHTTP(`
  - name: hdr
    route: [{destination: {host: guestbook-canary}}]
  - route:
    - destination: {host: guestbook-stable}
    - destination: {host: guestbook-canary}
`)}},
		{
			name: "no istio block",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.TrafficRouting.Istio = nil }),
			want: []string{"trafficRouting.istio is not set"},
		},
		{
			name: "no virtual service",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService = nil }),
			want: []string{"names no virtualService or virtualServices"},
		},
		{
			name: "host-level without services",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.CanaryService = "" }),
			want: []string{"canaryService and stableService (or pingPong) must both be set"},
		},
		{
			name: "subset names equal",
			ro:   newRollout(withSubsets, func(ro *v1alpha1.Rollout) { istioOf(ro).DestinationRule.StableSubsetName = "canary" }),
			want: []string{`canarySubsetName and stableSubsetName are both "canary"`},
		},
		{
			name: "subset name missing",
			ro:   newRollout(withSubsets, func(ro *v1alpha1.Rollout) { istioOf(ro).DestinationRule.CanarySubsetName = "" }),
			want: []string{"needs name, canarySubsetName and stableSubsetName"},
		},
		{
			name: "virtual service missing",
			ro:   newRollout(),
			want: []string{"VirtualService shop/vs does not exist"},
		},
		{
			name: "virtual service in another namespace missing",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Name = "vs.gateways" }),
			objs: []string{host},
			want: []string{"VirtualService gateways/vs does not exist"},
		},
		{
			name:      "virtual service kind not served",
			ro:        newRollout(),
			notServed: []schema.GroupVersionKind{VirtualServiceGVK, DestinationRuleGVK},
			want:      []string{"does not serve VirtualService"},
		},
		{
			name: "destination rule missing",
			ro:   newRollout(withSubsets),
			objs: []string{subsetVS(0, 100)},
			want: []string{"DestinationRule shop/dr does not exist"},
		},
		{
			name:      "destination rule kind not served",
			ro:        newRollout(withSubsets),
			objs:      []string{subsetVS(0, 100)},
			notServed: []schema.GroupVersionKind{DestinationRuleGVK},
			want:      []string{"does not serve DestinationRule"},
		},
		{
			name: "destination rule lacks a subset",
			ro:   newRollout(withSubsets, func(ro *v1alpha1.Rollout) { istioOf(ro).DestinationRule.StableSubsetName = "v1" }),
			objs: []string{subsetDR("", "", ""), subsetVS(0, 100)},
			want: []string{
				`DestinationRule shop/dr has no subset named "v1"`,
				`VirtualService shop/vs: http route "primary" has no destination for the stable subset "v1"`,
			},
		},
		{
			name: "named route missing",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Routes = []string{"primary", "api"} }),
			objs: []string{host},
			want: []string{`VirtualService shop/vs: it has no http route named "api"`},
		},
		{
			name: "no routes listed and two http routes",
			ro:   newRollout(noRoutes),
			objs: []string{vsWithHTTP(twoUnnamed)},
			want: []string{"VirtualService shop/vs: it has 2 http routes besides the managed ones"},
		},
		{
			name: "no routes listed and no http route",
			ro:   newRollout(noRoutes),
			objs: []string{l4VS(100, 100, 100, 100)},
			want: []string{"VirtualService shop/vs: it has no http route, and no single tls or tcp route"},
		},
		{
			name: "weighted route is also managed",
			ro:   newRollout(withManaged("primary")),
			objs: []string{host},
			want: []string{`http route "primary" is listed in routes and in trafficRouting.managedRoutes`},
		},
		{
			name: "tls selector matches nothing",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService = &v1alpha1.IstioVirtualService{Name: "vs", TLSRoutes: []v1alpha1.TLSRoute{
					{Port: 443, SNIHosts: []string{"a.example.com"}}, // lacks www.a.example.com
					{Port: 8443, SNIHosts: []string{"b.example.com"}},
				}}
			}),
			objs: []string{l4VS(100, 100, 100, 100)},
			want: []string{
				"VirtualService shop/vs: it has no tls route matching port 443 and sniHosts [a.example.com]",
				"VirtualService shop/vs: it has no tls route matching port 8443 and sniHosts [b.example.com]",
			},
		},
		{
			name: "tcp selector matches nothing",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService = &v1alpha1.IstioVirtualService{Name: "vs", TCPRoutes: []v1alpha1.TCPRoute{{Port: 5432}}}
			}),
			objs: []string{l4VS(100, 100, 100, 100)},
			want: []string{"VirtualService shop/vs: it has no tcp route matching port 5432"},
		},
		{
			name: "canary destination missing",
			ro:   newRollout(),
			objs: []string{hostVS("guestbook-preview", "guestbook-stable", 0, 100)},
			want: []string{`VirtualService shop/vs: http route "primary" has no destination for the canary Service "guestbook-canary"`},
		},
		{
			name: "canary host in another namespace",
			ro:   newRollout(),
			objs: []string{hostVS("guestbook-canary.other", "guestbook-stable", 0, 100)},
			want: []string{`has no destination for the canary Service "guestbook-canary"`},
		},
		{
			name: "both destinations missing from an unnamed route",
			ro:   newRollout(noRoutes),
			objs: []string{vsWithHTTP(`
  - route: [{destination: {host: somewhere-else}}]
`)},
			want: []string{`VirtualService shop/vs: http route http[0] has no destination for the canary Service "guestbook-canary" or the stable Service "guestbook-stable"`},
		},
		{
			name: "tcp route lacks the stable destination",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService = &v1alpha1.IstioVirtualService{Name: "vs", TCPRoutes: []v1alpha1.TCPRoute{{Port: 5432}}}
			}),
			objs: []string{`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: guestbook-canary}}]
`},
			want: []string{`VirtualService shop/vs: tcp route tcp[0] has no destination for the stable Service "guestbook-stable"`},
		},
		{
			name: "subset destination missing",
			ro:   newRollout(withSubsets),
			objs: []string{subsetDR("", "", ""), vsWithHTTP(`
  - name: primary
    route: [{destination: {host: guestbook, subset: stable}}]
`)},
			want: []string{`http route "primary" has no destination for the canary subset "canary"`},
		},
		{
			name: "spec.http not a list",
			ro:   newRollout(),
			objs: []string{`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  http: {name: primary}
`},
			want: []string{"VirtualService shop/vs: spec.http is not a list"},
		},
		{
			name: "virtualService and virtualServices both set",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualServices = []v1alpha1.IstioVirtualService{{Name: "edge.gateways", Routes: []string{"web"}}}
			}),
			objs: []string{host},
			want: []string{"sets both virtualService and virtualServices"},
		},
		{
			name: "same virtual service twice",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService = nil
				istioOf(ro).VirtualServices = []v1alpha1.IstioVirtualService{{Name: "vs", Routes: []string{"primary"}}, {Name: "vs.shop", Routes: []string{"legacy"}}}
			}),
			objs: []string{host},
			want: []string{"VirtualService shop/vs is listed more than once"},
		},
		{
			name: "problems of several objects are all reported",
			ro: newRollout(withSubsets, func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService = nil
				istioOf(ro).VirtualServices = []v1alpha1.IstioVirtualService{{Name: "vs", Routes: []string{"primary"}}, {Name: "edge.gateways", Routes: []string{"web"}}}
			}),
			objs: []string{subsetVS(0, 100)},
			want: []string{
				"DestinationRule shop/dr does not exist",
				"VirtualService gateways/edge does not exist",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.ro, objs(t, c.objs...), notServed(c.notServed...))
			err := f.router.Check(context.Background())
			routertest.CheckConfigErrors(t, err, "istio", c.want)

			// Sync meets the same problems and then writes nothing.
			err = f.router.Sync(context.Background(), desired(50))
			routertest.CheckConfigErrors(t, err, "istio", c.want)
			if c.want != nil && len(f.writes.updates) != 0 {
				t.Fatalf("Sync with a bad configuration wrote %q", f.writes.updates)
			}
		})
	}
}

func TestSyncBadConfigInOneObjectWritesNothing(t *testing.T) {
	// The DestinationRule and the first VirtualService are fine; the
	// second is not, and nothing at all may be written.
	ro := newRollout(withSubsets, func(ro *v1alpha1.Rollout) {
		istioOf(ro).VirtualService = nil
		istioOf(ro).VirtualServices = []v1alpha1.IstioVirtualService{{Name: "vs", Routes: []string{"primary"}}, {Name: "edge.gateways", Routes: []string{"web"}}}
	})
	f := newFixture(t, ro, objs(t, subsetDR("", "", ""), subsetVS(0, 100), gatewayVS(0)))
	err := f.router.Sync(context.Background(), desired(50))
	routertest.CheckConfigErrors(t, err, "istio", []string{
		`VirtualService gateways/edge: http route "web" has no destination for the canary subset "canary" or the stable subset "stable"`,
	})
	if len(f.writes.updates) != 0 {
		t.Fatalf("wrote %q", f.writes.updates)
	}
}

func TestSyncDesiredRouteNotManaged(t *testing.T) {
	f := newFixture(t, newRollout(withManaged("header-a")), objs(t, hostVS("guestbook-canary", "guestbook-stable", 0, 100)))
	d := desired(10)
	d.HeaderRoutes = headerRoutes("header-b")
	err := f.router.Sync(context.Background(), d)
	routertest.CheckConfigErrors(t, err, "istio", []string{`route "header-b" is not listed in trafficRouting.managedRoutes`})
	if len(f.writes.updates) != 0 {
		t.Fatalf("wrote %q", f.writes.updates)
	}
}

func TestReadErrorIsNotAConfigError(t *testing.T) {
	boom := errors.New("connection refused")
	fail := func(s *setup) {
		s.funcs.Get = routertest.FailGets(boom).Get
	}
	f := newFixture(t, newRollout(), objs(t, hostVS("guestbook-canary", "guestbook-stable", 0, 100)), fail)
	for name, err := range map[string]error{
		"Check": f.router.Check(context.Background()),
		"Sync":  f.router.Sync(context.Background(), desired(10)),
	} {
		routertest.CheckNotConfigError(t, name, err, boom, "reading VirtualService shop/vs")
	}
}

func TestSyncWriteError(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}, "vs", fmt.Errorf("changed"))
	fail := func(s *setup) {
		s.funcs.Update = func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if o.GetObjectKind().GroupVersionKind().Kind == "VirtualService" {
				return conflict
			}
			return c.Update(ctx, o, opts...)
		}
	}
	f := newFixture(t, newRollout(withSubsets), objs(t, subsetDR("", "", ""), subsetVS(0, 100)), fail)
	err := f.router.Sync(context.Background(), desired(10))
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "updating VirtualService shop/vs") {
		t.Fatalf("Sync = %v, want the wrapped conflict", err)
	}
	// The DestinationRule went first and is in place for the retry.
	assertContent(t, f.get(t, DestinationRuleGVK, ns, "dr"), obj(t, subsetDR("c4n4ry", "st4bl3", "guestbook")))
}
