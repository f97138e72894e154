package istio

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// tlsOnlyVS has a tls section and nothing else, as a VirtualService for a
// TLS-passthrough service does.
func tlsOnlyVS(canaryW, stableW int32) string {
	return `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  tls:
  - match: [{port: 443, sniHosts: [a.example.com]}]
    route:
    - destination: {host: guestbook-stable}
      weight: ` + fmt.Sprint(stableW) + `
    - destination: {host: guestbook-canary}
      weight: ` + fmt.Sprint(canaryW) + `
`
}

// httpAndDBVS has the weighted http route "primary" and a tcp route to a
// database that has nothing to do with the Rollout.
const httpAndDBVS = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [guestbook]
  http:
  - name: primary
    route:
    - destination: {host: guestbook-stable}
      weight: 100
    - destination: {host: guestbook-canary}
      weight: 0
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: postgres}}]
  tls:
  - match: [{port: 443, sniHosts: [a.example.com]}]
    route:
    - destination: {host: guestbook-stable}
      weight: 100
    - destination: {host: guestbook-canary}
      weight: 0
`

func TestRouteListsTheVirtualServiceLacks(t *testing.T) {
	cases := []struct {
		name string
		ro   *v1alpha1.Rollout
		vs   string
		// want is the VirtualService after a sync to 30.
		want string
		// ignored holds one substring per note, in order.
		ignored []string
	}{
		{
			name: "routes named, only a tls section",
			ro: newRollout(func(ro *v1alpha1.Rollout) {
				istioOf(ro).VirtualService.TLSRoutes = []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"a.example.com"}}}
			}),
			vs:      tlsOnlyVS(0, 100),
			want:    tlsOnlyVS(30, 70),
			ignored: []string{"VirtualService shop/vs: routes [primary] ignored: it has no http section"},
		},
		{
			name:    "tlsRoutes named, no tls section",
			ro:      newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.TLSRoutes = []v1alpha1.TLSRoute{{Port: 443}} }),
			vs:      hostVS("guestbook-canary", "guestbook-stable", 0, 100),
			want:    hostVS("guestbook-canary", "guestbook-stable", 30, 70),
			ignored: []string{"tlsRoutes ignored: it has no tls section"},
		},
		{
			name: "nothing named, a single tls route",
			ro:   newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Routes = nil }),
			vs:   tlsOnlyVS(0, 100),
			want: tlsOnlyVS(30, 70),
		},
		{
			name: "an unnamed list with one route to both is weighted, one elsewhere is not",
			ro:   newRollout(),
			vs:   httpAndDBVS,
			want: strings.ReplaceAll(strings.ReplaceAll(httpAndDBVS, "weight: 100", "weight: 70"), "weight: 0", "weight: 30"),
			ignored: []string{
				"VirtualService shop/vs: tcp route tcp[0] is not weighted: it does not send to both the canary and the stable",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.ro, objs(t, c.vs))
			if err := f.router.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			var ignored []string
			if _, err := f.router.plan(context.Background(), nil, &ignored); err != nil {
				t.Fatalf("plan: %v", err)
			}
			if len(ignored) != len(c.ignored) {
				t.Fatalf("ignored = %q, want %d notes like %q", ignored, len(c.ignored), c.ignored)
			}
			for i, w := range c.ignored {
				if !strings.Contains(ignored[i], w) {
					t.Fatalf("ignored[%d] = %q, want it to contain %q", i, ignored[i], w)
				}
			}
			if err := f.router.Sync(context.Background(), desired(30)); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, c.want))
		})
	}
}

// TestRouteNamedButMissingIsStillAnError keeps the clear error for a route
// name the http section does not have: Argo Rollouts fails there too.
func TestRouteNamedButMissingIsStillAnError(t *testing.T) {
	ro := newRollout(func(ro *v1alpha1.Rollout) { istioOf(ro).VirtualService.Routes = []string{"api"} })
	f := newFixture(t, ro, objs(t, httpAndDBVS))
	err := f.router.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), `it has no http route named "api"`) {
		t.Fatalf("Check = %v, want the missing route named", err)
	}
	if got := f.writes.updates; !reflect.DeepEqual(got, []string(nil)) {
		t.Fatalf("Check wrote %q", got)
	}
}
