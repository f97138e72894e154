package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const istioRouting = `        managedRoutes: [{name: beta}, {name: shadow}]
        istio:
          virtualService: {name: shop, routes: [primary]}`

const routeSteps = `
        - setWeight: 10
        - setHeaderRoute:
            name: beta
            match: [{headerName: X-Beta, headerValue: {exact: "yes"}}]
        - setMirrorRoute:
            name: shadow
            percentage: 20
            match: [{method: {exact: GET}, path: {prefix: /api}}]
        - pause: {}
        - setHeaderRoute: {name: beta}
        - pause: {}`

// httpRouteNames lists the names of a VirtualService's http routes in order.
func httpRouteNames(t *testing.T, c clients, ns string) []string {
	t.Helper()
	u, err := c.dynamic.Resource(gvrVirtualService).Namespace(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	var names []string
	for _, r := range routes {
		n, _ := r.(map[string]any)["name"].(string)
		names = append(names, n)
	}
	return names
}

func waitRouteNames(t *testing.T, c clients, ns string, want ...string) *unstructured.Unstructured {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("VirtualService routes %v", want), func() (bool, error) {
		got := httpRouteNames(t, c, ns)
		return reflect.DeepEqual(got, want), fmt.Errorf("routes %v", got)
	})
	u, err := c.dynamic.Resource(gvrVirtualService).Namespace(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestTrafficHeaderAndMirrorRoutes walks setHeaderRoute and setMirrorRoute
// steps through Istio: the managed routes appear above the user's routes in
// managedRoutes order, a step without a match removes its route, and the
// end of the update and an abort remove them all.
func TestTrafficHeaderAndMirrorRoutes(t *testing.T) {
	ensureRouterCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "routes")
	runController(t, ns)
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(routerCases()[0].objects, "{{ns}}", ns))
	owned := readOwned(t, c, ns, routerCases()[0].owned)
	applyYAML(t, ns, fmt.Sprintf(shopRollout, istioRouting, routeSteps))
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	setImage(t, ns, "shop", "registry.example/shop:2.0")
	waitRollout(t, c, ns, "shop", "at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	vs := waitRouteNames(t, c, ns, "beta", "shadow", "primary", "legacy")
	beta := istioRoute(vs, "beta")
	matches, _, _ := unstructured.NestedSlice(beta, "match")
	if len(matches) != 1 {
		t.Fatalf("header route match = %v", matches)
	}
	if exact, _, _ := unstructured.NestedString(matches[0].(map[string]any), "headers", "X-Beta", "exact"); exact != "yes" {
		t.Fatalf("header route does not match X-Beta: yes: %v", matches)
	}
	dests, _ := beta["route"].([]any)
	if len(dests) != 1 || !strings.HasPrefix(fmt.Sprint(dests[0].(map[string]any)["destination"].(map[string]any)["host"]), "shop-canary") {
		t.Fatalf("header route does not send to the canary: %v", dests)
	}
	shadow := istioRoute(vs, "shadow")
	if host, _, _ := unstructured.NestedString(shadow, "mirror", "host"); !strings.HasPrefix(host, "shop-canary") {
		t.Fatalf("mirror route does not mirror to the canary: %v", shadow)
	}
	if pct, _, _ := unstructured.NestedFieldNoCopy(shadow, "mirrorPercentage", "value"); fmt.Sprint(pct) != "20" {
		t.Fatalf("mirror percentage = %v, want 20", pct)
	}
	if c, s, _ := istioWeights(vs); c != 10 || s != 90 {
		t.Fatalf("primary route weights %d/%d, want 10/90", c, s)
	}

	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "at the second pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 5
	})
	waitRouteNames(t, c, ns, "shadow", "primary", "legacy")
	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	waitRouteNames(t, c, ns, "primary", "legacy")
	checkOwned(t, c, ns, owned)

	// An abort removes the managed routes too.
	setImage(t, ns, "shop", "registry.example/shop:3.0")
	waitRollout(t, c, ns, "shop", "at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	waitRouteNames(t, c, ns, "beta", "shadow", "primary", "legacy")
	abort(t, ns, "shop")
	waitRouteNames(t, c, ns, "primary", "legacy")
	checkOwned(t, c, ns, owned)
}

// TestTrafficGatewayAPIHeaderRoute adds and removes a header route on an
// HTTPRoute configured the way the Gateway API plugin is configured.
func TestTrafficGatewayAPIHeaderRoute(t *testing.T) {
	ensureRouterCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "gwroutes")
	runController(t, ns)
	gw := routerCases()[4]
	applyYAML(t, ns, shopServices+"\n---\n"+gw.objects)
	owned := readOwned(t, c, ns, gw.owned)
	routing := `        managedRoutes: [{name: beta}]
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: shop}`
	steps := `
        - setWeight: 10
        - setHeaderRoute:
            name: beta
            match: [{headerName: X-Beta, headerValue: {exact: "yes"}}]
        - pause: {}`
	applyYAML(t, ns, fmt.Sprintf(shopRollout, routing, steps))
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	waitRollout(t, c, ns, "shop", "at the pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 2
	})
	headerRule := func() map[string]any {
		u, err := c.dynamic.Resource(gvrHTTPRoute).Namespace(ns).Get(context.Background(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		for _, r := range rules {
			m := r.(map[string]any)
			matches, _, _ := unstructured.NestedSlice(m, "matches")
			for _, mt := range matches {
				hs, _, _ := unstructured.NestedSlice(mt.(map[string]any), "headers")
				for _, h := range hs {
					if h.(map[string]any)["name"] == "X-Beta" && h.(map[string]any)["value"] == "yes" {
						return m
					}
				}
			}
		}
		return nil
	}
	rule := headerRule()
	if rule == nil {
		t.Fatal("no HTTPRoute rule matches X-Beta: yes at the pause")
	}
	refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
	if len(refs) != 1 || refs[0].(map[string]any)["name"] != "shop-canary" {
		t.Fatalf("the header rule does not send only to the canary: %v", refs)
	}
	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	eventually(t, time.Minute, "the header rule removed", func() (bool, error) { return headerRule() == nil, nil })
	checkOwned(t, c, ns, owned)
}

// TestTrafficBadRouterConfig breaks the router configuration of a healthy
// Rollout together with a new image: each case is an InvalidSpec that names
// the problem, no ReplicaSet or Pod is created or touched, the
// VirtualService keeps its resourceVersion, and re-applying the good
// manifest clears it.
func TestTrafficBadRouterConfig(t *testing.T) {
	ensureRouterCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "badroute")
	runController(t, ns)
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(routerCases()[0].objects, "{{ns}}", ns))
	good := fmt.Sprintf(shopRollout, routerCases()[0].routing, walkSteps)
	applyYAML(t, ns, good)
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	const image = `{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example/shop:9.9"}`
	cases := []struct {
		name, patch, want string
	}{
		{"missing VirtualService", `{"op":"replace","path":"/spec/strategy/canary/trafficRouting/istio/virtualService/name","value":"nope"}`, "nope"},
		{"unknown route", `{"op":"replace","path":"/spec/strategy/canary/trafficRouting/istio/virtualService/routes","value":["no-such-route"]}`, "no-such-route"},
		{"Service the route does not send to", `{"op":"replace","path":"/spec/strategy/canary/canaryService","value":"shop-root"}`, "shop-root"},
		{"plugin not built in", `{"op":"replace","path":"/spec/strategy/canary/trafficRouting","value":{"plugins":{"acme/router":{}}}}`, "acme/router"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vsBefore := resourceVersion(t, c, ns)
			pods := podUIDs(t, c, ns, "app=shop")
			rsBefore := specCounts(replicaSetsOf(t, c, ns, getRollout(t, c, ns, "shop")))
			mustKubectl(t, "-n", ns, "patch", "rollout", "shop", "--type", "json", "-p", "["+tc.patch+","+image+"]")
			ro := waitRollout(t, c, ns, "shop", "InvalidSpec", time.Minute, func(ro *v1alpha1.Rollout) bool {
				return conditionStatus(ro, v1alpha1.InvalidSpec) == corev1.ConditionTrue
			})
			if msg := condition(ro, v1alpha1.InvalidSpec).Message; !strings.Contains(msg, tc.want) {
				t.Errorf("InvalidSpec message %q does not name %q", msg, tc.want)
			}
			time.Sleep(2 * time.Second)
			if got := specCounts(replicaSetsOf(t, c, ns, ro)); got != rsBefore {
				t.Errorf("ReplicaSets changed under an invalid spec: %s, was %s", got, rsBefore)
			}
			if got := podUIDs(t, c, ns, "app=shop"); got != pods {
				t.Errorf("Pods changed under an invalid spec")
			}
			if got := resourceVersion(t, c, ns); got != vsBefore {
				t.Errorf("the VirtualService was written under an invalid spec")
			}
			// replace, not apply: apply keeps fields its last-applied
			// record does not know, such as the broken plugins block.
			path := filepath.Join(t.TempDir(), "rollout.yaml")
			if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
			mustKubectl(t, "replace", "-n", ns, "-f", path)
			waitRollout(t, c, ns, "shop", "valid and Healthy again", time.Minute, func(ro *v1alpha1.Rollout) bool {
				return conditionStatus(ro, v1alpha1.InvalidSpec) == "" && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
			})
		})
	}
}

func resourceVersion(t *testing.T, c clients, ns string) string {
	t.Helper()
	u, err := c.dynamic.Resource(gvrVirtualService).Namespace(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetResourceVersion()
}

// TestTrafficAbortLatency aborts a canary at 25% through Istio again and
// again and reports the time from the abort's write to the VirtualService
// showing 0% for the canary. KANARIA_ABORT_SAMPLES sets the number of
// aborts (5 by default; docs/benchmarks.md reports 100). It asserts
// nothing about the time itself.
func TestTrafficAbortLatency(t *testing.T) {
	ensureRouterCRDs(t)
	samples := 5
	if v := os.Getenv("KANARIA_ABORT_SAMPLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KANARIA_ABORT_SAMPLES=%q is not a positive number", v)
		}
		samples = n
	}
	c := newClients(t)
	ns := newNamespace(t, c, "abortlat")
	runController(t, ns, "--log-level", "info")
	rc := routerCases()[0]
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(rc.objects, "{{ns}}", ns))
	applyYAML(t, ns, fmt.Sprintf(shopRollout, rc.routing, `
        - setWeight: 25
        - pause: {}`))
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	w := watchWeights(t, c, ns, rc)
	var lat []time.Duration
	for i := 0; i < samples; i++ {
		setImage(t, ns, "shop", fmt.Sprintf("registry.example/shop:%d.0", i+2))
		waitRollout(t, c, ns, "shop", "paused at 25%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 &&
				ro.Status.Canary.Weights != nil && ro.Status.Canary.Weights.Canary.Weight == 25
		})
		lat = append(lat, abortAndTime(t, c, ns, w))
		waitRollout(t, c, ns, "shop", "Degraded", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	}
	t.Logf("abort to canary weight 0 over %d aborts: median %s, p99 %s, max %s",
		len(lat), percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))
}
