package istio

import (
	"context"
	"fmt"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const leftoverDR = `
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: %s
  namespace: shop
  annotations: {argo-rollouts.argoproj.io/managed-by-rollouts: %s, owner: platform}
spec:
  host: guestbook
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - name: canary
    labels: {app: guestbook, rollouts-pod-template-hash: c4n4ry}
  - name: stable
    labels: {rollouts-pod-template-hash: st4bl3}
  - name: legacy
    labels: {version: v0}
`

const cleanedDR = `
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: dr
  namespace: shop
  annotations: {owner: platform}
spec:
  host: guestbook
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets:
  - name: canary
    labels: {app: guestbook}
  - name: stable
    labels: {}
  - name: legacy
    labels: {version: v0}
`

func TestLeftovers(t *testing.T) {
	noRouting := newRollout(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.TrafficRouting = nil })
	mine := obj(t, fmt.Sprintf(leftoverDR, "dr", "guestbook"))

	f := newFixture(t, noRouting, objs(t, fmt.Sprintf(leftoverDR, "dr", "guestbook"), fmt.Sprintf(leftoverDR, "dr-other", "another-rollout")))
	got, err := Leftovers(context.Background(), f.c, noRouting)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Before.GetName() != "dr" || got[0].Router != Type {
		t.Fatalf("Leftovers = %+v, want DestinationRule dr only", got)
	}
	assertContent(t, CleanDestinationRule(mine), obj(t, cleanedDR))

	// A Rollout that still names the rule leaves it alone.
	if got, _ := Leftovers(context.Background(), f.c, newRollout(withSubsets)); len(got) != 0 {
		t.Fatalf("Leftovers of a Rollout naming the rule = %+v", got)
	}
	// Without Istio there is nothing to find and no error.
	f = newFixture(t, noRouting, nil, notServed(DestinationRuleGVK, VirtualServiceGVK))
	if got, err := Leftovers(context.Background(), f.c, noRouting); err != nil || len(got) != 0 {
		t.Fatalf("Leftovers without Istio = %+v, %v", got, err)
	}
}
