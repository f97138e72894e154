package istio

import (
	"context"
	"testing"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// TestSyncExperimentDestinations walks a VirtualService through an
// experiment step: its Services join the weighted route (out of the
// stable's share, on the canary's port), their weights follow, and they
// leave again when the experiment ends, while the destination someone else
// added stays.
func TestSyncExperimentDestinations(t *testing.T) {
	f := newFixture(t, newRollout(), objs(t, hostVS("guestbook-canary", "guestbook-stable", 0, 100)))
	ctx := context.Background()
	during := desired(10)
	during.Additional = []trafficrouting.Destination{{ServiceName: "exp-baseline", Weight: 5}, {ServiceName: "exp-canary", Weight: 5}}
	if err := f.router.Sync(ctx, during); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: vs
  namespace: shop
  labels: {team: web}
  annotations: {owner: platform, rollouts.kanaria.dev/experiment-destinations: '["exp-baseline","exp-canary"]'}
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
    - destination: {host: guestbook-stable, port: {number: 8080}}
      weight: 80
      headers: {request: {set: {x-version: stable}}}
    - destination: {host: guestbook-canary, port: {number: 8080}}
      weight: 10
    - destination: {host: guestbook-extra}
      weight: 0
    - destination: {host: exp-baseline, port: {number: 8080}}
      weight: 5
    - destination: {host: exp-canary, port: {number: 8080}}
      weight: 5
`))

	// One Service changes weight and the other leaves.
	during.Additional = []trafficrouting.Destination{{ServiceName: "exp-canary", Weight: 20}}
	if err := f.router.Sync(ctx, during); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got := f.get(t, VirtualServiceGVK, ns, "vs")
	if a := got.GetAnnotations()[ExperimentDestinationsAnnotation]; a != `["exp-canary"]` {
		t.Fatalf("record %q, want only exp-canary", a)
	}
	route := got.Object["spec"].(map[string]any)["http"].([]any)[1].(map[string]any)["route"].([]any)
	if len(route) != 4 || destinationHost(route[3].(map[string]any)) != "exp-canary" {
		t.Fatalf("route %v, want stable, canary, extra and exp-canary", route)
	}
	if w, _ := number(route[3].(map[string]any)["weight"]); w != 20 {
		t.Fatalf("exp-canary weight %d, want 20", w)
	}
	if w, _ := number(route[0].(map[string]any)["weight"]); w != 70 {
		t.Fatalf("stable weight %d, want 70", w)
	}

	// The experiment is over: the VirtualService is as before it, but for
	// the weights.
	if err := f.router.Sync(ctx, desired(10)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	assertContent(t, f.get(t, VirtualServiceGVK, ns, "vs"), obj(t, hostVS("guestbook-canary", "guestbook-stable", 10, 90)))
}
