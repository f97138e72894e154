package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

var gvrDestinationRule = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "destinationrules"}

// parityRollout is a 4-replica canary of "shop" with one weighted step and
// a manual gate; %s is the canary strategy's service and routing block.
const parityRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0, ports: [{containerPort: 8080}]}]
  strategy:
    canary:
%s
      steps:
      - setWeight: 30
      - pause: {}
`

func getObject(t *testing.T, c clients, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := c.dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// hostWeights reads the weights of the destinations of the first route of
// spec.<list>, by Service (the host's first label).
func hostWeights(u *unstructured.Unstructured, list string) map[string]int64 {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", list)
	out := map[string]int64{}
	if len(routes) == 0 {
		return out
	}
	dests, _ := routes[0].(map[string]any)["route"].([]any)
	for _, d := range dests {
		m, _ := d.(map[string]any)
		host, _, _ := unstructured.NestedString(m, "destination", "host")
		w, _, _ := unstructured.NestedInt64(m, "weight")
		out[strings.SplitN(host, ".", 2)[0]] = w
	}
	return out
}

func waitHostWeights(t *testing.T, c clients, ns, vs, list string, want map[string]int64) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("VirtualService %s %s weights %v", vs, list, want), func() (bool, error) {
		got := hostWeights(getObject(t, c, gvrVirtualService, ns, vs), list)
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Errorf("weights %v", got)
	})
}

// TestParityIstioRouteListTheVirtualServiceLacks: a Rollout naming an http
// route and tlsRoutes on a VirtualService with only a tls section walks its
// steps, as on Argo Rollouts, weighting the tls route.
func TestParityIstioRouteListTheVirtualServiceLacks(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pr-tls")
	applyYAML(t, ns, shopServices+`
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  tls:
  - match: [{port: 443, sniHosts: [shop.example.com]}]
    route:
    - destination: {host: shop-stable, port: {number: 443}}
      weight: 100
    - destination: {host: shop-canary, port: {number: 443}}
      weight: 0
`)
	applyYAML(t, ns, fmt.Sprintf(parityRollout, `      canaryService: shop-canary
      stableService: shop-stable
      trafficRouting:
        istio:
          virtualService:
            name: shop
            routes: [primary]
            tlsRoutes: [{port: 443, sniHosts: [shop.example.com]}]`))
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	setImage(t, ns, "shop", "registry.example/shop:2.0")
	ro := waitRollout(t, c, ns, "shop", "paused at the gate", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	if cond := findCondition(ro, v1alpha1.InvalidSpec); cond != nil {
		t.Fatalf("InvalidSpec: %s", cond.Message)
	}
	waitHostWeights(t, c, ns, "shop", "tls", map[string]int64{"shop-canary": 30, "shop-stable": 70})
	if _, found, _ := unstructured.NestedSlice(getObject(t, c, gvrVirtualService, ns, "shop").Object, "spec", "http"); found {
		t.Fatal("an http section was added to a VirtualService that had none")
	}
	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	waitHostWeights(t, c, ns, "shop", "tls", map[string]int64{"shop-canary": 0, "shop-stable": 100})
}

func findCondition(ro *v1alpha1.Rollout, typ v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == typ {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

var pingPongServices = servicesYAML("shop", 8080, "shop-ping", "shop-pong", "shop-root")

// waitPingPong waits until the Rollout is at rest or paused as want says
// and the ping-pong status and Service selectors are as given.
func waitPingPong(t *testing.T, c clients, ns string, stable v1alpha1.PingPongType, ping, pong func(*v1alpha1.Rollout) string, what string, cond func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	eventually(t, 2*time.Minute, what, func() (bool, error) {
		ro = getRollout(t, c, ns, "shop")
		if ro.Status.ObservedGeneration != fmt.Sprint(ro.Generation) || !cond(ro) {
			return false, fmt.Errorf("phase %s (%s), step %v", ro.Status.Phase, ro.Status.Message, derefOr(ro.Status.CurrentStepIndex, -1))
		}
		gotPing, gotPong := serviceHash(t, c, ns, "shop-ping"), serviceHash(t, c, ns, "shop-pong")
		ok := ro.Status.Canary.StablePingPong == stable && gotPing == ping(ro) && gotPong == pong(ro)
		return ok, fmt.Errorf("stablePingPong %q, ping selects %q, pong selects %q (stable %s, current %s)",
			ro.Status.Canary.StablePingPong, gotPing, gotPong, ro.Status.StableRS, ro.Status.CurrentPodHash)
	})
	return ro
}

func paused(ro *v1alpha1.Rollout) bool {
	return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
}

func healthyOnCurrent(ro *v1alpha1.Rollout) bool {
	return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
}

// TestParityPingPongIstio walks two promotions of a ping-pong canary split
// by an Istio VirtualService between the two Services: each update points
// the other Service at the canary and weights it, each promotion swaps
// status.canary.stablePingPong.
func TestParityPingPongIstio(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pr-ppistio")
	applyYAML(t, ns, pingPongServices+`
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  http:
  - name: primary
    route:
    - destination: {host: shop-ping, port: {number: 80}}
      weight: 100
    - destination: {host: shop-pong, port: {number: 80}}
      weight: 0
`)
	applyYAML(t, ns, fmt.Sprintf(parityRollout, `      pingPong: {pingService: shop-ping, pongService: shop-pong}
      trafficRouting:
        istio:
          virtualService: {name: shop, routes: [primary]}`))
	stableHash := func(ro *v1alpha1.Rollout) string { return ro.Status.StableRS }
	currentHash := func(ro *v1alpha1.Rollout) string { return ro.Status.CurrentPodHash }
	none := func(*v1alpha1.Rollout) string { return "" }

	// The first version makes ping stable; pong is not touched.
	ro := waitPingPong(t, c, ns, v1alpha1.PPPing, stableHash, none, "first version, ping stable", healthyOnCurrent)
	v1 := ro.Status.StableRS
	waitHostWeights(t, c, ns, "shop", "http", map[string]int64{"shop-ping": 100, "shop-pong": 0})

	setImage(t, ns, "shop", "registry.example/shop:2.0")
	ro = waitPingPong(t, c, ns, v1alpha1.PPPing, stableHash, currentHash, "update 1 at the gate: pong is the canary", paused)
	v2 := ro.Status.CurrentPodHash
	waitHostWeights(t, c, ns, "shop", "http", map[string]int64{"shop-ping": 70, "shop-pong": 30})
	promote(t, ns, "shop")
	// The Service that carried the canary now carries the stable version;
	// ping keeps the previous version, which takes no traffic.
	waitPingPong(t, c, ns, v1alpha1.PPPong, func(*v1alpha1.Rollout) string { return v1 }, currentHash, "update 1 promoted: pong stable", healthyOnCurrent)
	waitHostWeights(t, c, ns, "shop", "http", map[string]int64{"shop-ping": 0, "shop-pong": 100})

	setImage(t, ns, "shop", "registry.example/shop:3.0")
	ro = waitPingPong(t, c, ns, v1alpha1.PPPong, currentHash, func(*v1alpha1.Rollout) string { return v2 }, "update 2 at the gate: ping is the canary", paused)
	if ro.Status.StableRS != v2 {
		t.Fatalf("stable %s during update 2, want %s", ro.Status.StableRS, v2)
	}
	waitHostWeights(t, c, ns, "shop", "http", map[string]int64{"shop-ping": 30, "shop-pong": 70})
	promote(t, ns, "shop")
	waitPingPong(t, c, ns, v1alpha1.PPPing, currentHash, func(*v1alpha1.Rollout) string { return v2 }, "update 2 promoted: ping stable", healthyOnCurrent)
	waitHostWeights(t, c, ns, "shop", "http", map[string]int64{"shop-ping": 100, "shop-pong": 0})
}

// albTargetGroups reads the forward action of the root Service as Service
// → weight.
func albTargetGroups(t *testing.T, c clients, ns, ingress, action string) map[string]int64 {
	t.Helper()
	raw := getObject(t, c, gvrIngress, ns, ingress).GetAnnotations()["alb.ingress.kubernetes.io/actions."+action]
	var a struct {
		ForwardConfig struct {
			TargetGroups []struct {
				ServiceName string
				Weight      int64
			}
		}
	}
	out := map[string]int64{}
	if json.Unmarshal([]byte(raw), &a) != nil {
		return out
	}
	for _, tg := range a.ForwardConfig.TargetGroups {
		out[tg.ServiceName] = tg.Weight
	}
	return out
}

func waitTargetGroups(t *testing.T, c clients, ns, ingress, action string, want map[string]int64) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("ALB action %s forwards %v", action, want), func() (bool, error) {
		got := albTargetGroups(t, c, ns, ingress, action)
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Errorf("target groups %v", got)
	})
}

const shopALBIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop-alb, annotations: {alb.ingress.kubernetes.io/scheme: internet-facing}}
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop-root, port: {name: use-annotation}}}}
`

// TestParityPingPongALB: with ALB the root Service's action forwards to
// the ping and pong Services, and a promotion swaps them.
func TestParityPingPongALB(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pr-ppalb")
	applyYAML(t, ns, pingPongServices+"\n---\n"+shopALBIngress)
	applyYAML(t, ns, fmt.Sprintf(parityRollout, `      pingPong: {pingService: shop-ping, pongService: shop-pong}
      trafficRouting:
        alb: {ingress: shop-alb, rootService: shop-root, servicePort: 80}`))
	stableHash := func(ro *v1alpha1.Rollout) string { return ro.Status.StableRS }
	currentHash := func(ro *v1alpha1.Rollout) string { return ro.Status.CurrentPodHash }
	none := func(*v1alpha1.Rollout) string { return "" }

	ro := waitPingPong(t, c, ns, v1alpha1.PPPing, stableHash, none, "first version, ping stable", healthyOnCurrent)
	v1 := ro.Status.StableRS
	waitTargetGroups(t, c, ns, "shop-alb", "shop-root", map[string]int64{"shop-ping": 100, "shop-pong": 0})

	setImage(t, ns, "shop", "registry.example/shop:2.0")
	waitPingPong(t, c, ns, v1alpha1.PPPing, stableHash, currentHash, "update at the gate: pong is the canary", paused)
	waitTargetGroups(t, c, ns, "shop-alb", "shop-root", map[string]int64{"shop-ping": 70, "shop-pong": 30})
	promote(t, ns, "shop")
	waitPingPong(t, c, ns, v1alpha1.PPPong, func(*v1alpha1.Rollout) string { return v1 }, currentHash, "promoted: pong stable", healthyOnCurrent)
	waitTargetGroups(t, c, ns, "shop-alb", "shop-root", map[string]int64{"shop-ping": 0, "shop-pong": 100})
}

// TestParityRemovingTrafficRoutingCleansUp: a Rollout that leaves Istio
// subset routing and ALB takes the pod-template hash labels and its
// managed-by annotation out of the DestinationRule and gives the ALB
// action back to its Service, as Argo Rollouts does, and scales the
// previous version down as a basic canary. The VirtualService is left as
// it is (Argo Rollouts does not touch it either).
func TestParityRemovingTrafficRoutingCleansUp(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pr-cleanup")
	// Without a rootService the action is the stable Service's: Argo
	// Rollouts gives it back to that Service (with a rootService it finds no
	// port for it in the action and leaves the Ingress as it is).
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(shopALBIngress, "shop-root", "shop-stable")+`
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: shop, annotations: {owner: payments-sre}}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: canary, labels: {app: shop}}
  - {name: stable, labels: {app: shop}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop]
  http:
  - name: primary
    route:
    - destination: {host: shop, subset: stable}
      weight: 100
    - destination: {host: shop, subset: canary}
      weight: 0
`)
	routed := `      canaryService: shop-canary
      stableService: shop-stable
      scaleDownDelaySeconds: 600
      trafficRouting:
        istio:
          virtualService: {name: shop, routes: [primary]}
          destinationRule: {name: shop, canarySubsetName: canary, stableSubsetName: stable}
        alb: {ingress: shop-alb, servicePort: 80}`
	applyYAML(t, ns, fmt.Sprintf(parityRollout, routed))
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	waitRollout(t, c, ns, "shop", "paused at the gate", 2*time.Minute, paused)
	promote(t, ns, "shop")
	ro := waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, healthyOnCurrent)
	v2 := ro.Status.StableRS

	dr := getObject(t, c, gvrDestinationRule, ns, "shop")
	if dr.GetAnnotations()["argo-rollouts.argoproj.io/managed-by-rollouts"] != "shop" {
		t.Fatalf("the DestinationRule is not marked as managed: %v", dr.GetAnnotations())
	}
	waitTargetGroups(t, c, ns, "shop-alb", "shop-stable", map[string]int64{"shop-canary": 0, "shop-stable": 100})
	eventually(t, 30*time.Second, "VirtualService back to the stable subset", func() (bool, error) {
		got := subsetWeights(getObject(t, c, gvrVirtualService, ns, "shop"))
		return fmt.Sprint(got) == fmt.Sprint(map[string]int64{"canary": 0, "stable": 100}), fmt.Errorf("weights %v", got)
	})
	vsBefore := getObject(t, c, gvrVirtualService, ns, "shop")
	// The previous version waits out scaleDownDelaySeconds.
	var v1 string
	for h, rs := range replicaSetsOf(t, c, ns, ro) {
		if h != v2 && derefOr(rs.Spec.Replicas, 0) > 0 {
			v1 = h
		}
	}
	if v1 == "" {
		t.Fatal("the previous version is already gone; the test needs it waiting for its scale-down delay")
	}

	// The user removes trafficRouting (and scaleDownDelaySeconds, which
	// needs it).
	mustKubectl(t, "-n", ns, "patch", "rollout", "shop", "--type", "json", "-p",
		`[{"op":"remove","path":"/spec/strategy/canary/trafficRouting"},{"op":"remove","path":"/spec/strategy/canary/scaleDownDelaySeconds"}]`)

	eventually(t, 30*time.Second, "DestinationRule cleaned", func() (bool, error) {
		dr := getObject(t, c, gvrDestinationRule, ns, "shop")
		if _, ok := dr.GetAnnotations()["argo-rollouts.argoproj.io/managed-by-rollouts"]; ok {
			return false, fmt.Errorf("annotations %v", dr.GetAnnotations())
		}
		subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
		for _, s := range subsets {
			labels, _ := s.(map[string]any)["labels"].(map[string]any)
			if _, ok := labels[v1alpha1.DefaultRolloutUniqueLabelKey]; ok || labels["app"] != "shop" {
				return false, fmt.Errorf("subsets %v", subsets)
			}
		}
		if dr.GetAnnotations()["owner"] != "payments-sre" {
			return false, fmt.Errorf("the user's annotation went: %v", dr.GetAnnotations())
		}
		return true, nil
	})
	eventually(t, 30*time.Second, "ALB action given back to its Service", func() (bool, error) {
		ing := getObject(t, c, gvrIngress, ns, "shop-alb")
		if rec, ok := ing.GetAnnotations()["rollouts.argoproj.io/managed-alb-annotations"]; ok {
			return false, fmt.Errorf("managed-alb-annotations still %s", rec)
		}
		got := albTargetGroups(t, c, ns, "shop-alb", "shop-stable")
		return fmt.Sprint(got) == fmt.Sprint(map[string]int64{"shop-stable": 100}), fmt.Errorf("target groups %v", got)
	})
	waitCounts(t, c, ns, "shop", map[string]int32{v2: 4, v1: 0})
	vsAfter := getObject(t, c, gvrVirtualService, ns, "shop")
	if fmt.Sprint(vsAfter.Object["spec"]) != fmt.Sprint(vsBefore.Object["spec"]) {
		t.Fatalf("the VirtualService changed after trafficRouting was removed:\nbefore %v\nafter  %v", vsBefore.Object["spec"], vsAfter.Object["spec"])
	}
	ro = waitRollout(t, c, ns, "shop", "Healthy as a basic canary", time.Minute, healthyOnCurrent)
	if cond := findCondition(ro, v1alpha1.InvalidSpec); cond != nil {
		t.Fatalf("InvalidSpec: %s", cond.Message)
	}
}

// TestParityDeletedRolloutCleansDestinationRule: deleting a Rollout that
// split by Istio subsets takes its labels and annotation out of the
// DestinationRule, as Argo Rollouts does.
func TestParityDeletedRolloutCleansDestinationRule(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pr-delete")
	applyYAML(t, ns, `
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: shop}
spec:
  host: shop
  subsets:
  - {name: canary, labels: {app: shop}}
  - {name: stable, labels: {app: shop}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop]
  http:
  - name: primary
    route:
    - destination: {host: shop, subset: stable}
      weight: 100
    - destination: {host: shop, subset: canary}
      weight: 0
`)
	applyYAML(t, ns, fmt.Sprintf(parityRollout, `      trafficRouting:
        istio:
          virtualService: {name: shop, routes: [primary]}
          destinationRule: {name: shop, canarySubsetName: canary, stableSubsetName: stable}`))
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	eventually(t, 30*time.Second, "DestinationRule subsets labelled", func() (bool, error) {
		subsets, _, _ := unstructured.NestedSlice(getObject(t, c, gvrDestinationRule, ns, "shop").Object, "spec", "subsets")
		for _, s := range subsets {
			labels, _ := s.(map[string]any)["labels"].(map[string]any)
			if labels[v1alpha1.DefaultRolloutUniqueLabelKey] != ro.Status.StableRS {
				return false, fmt.Errorf("subsets %v", subsets)
			}
		}
		return true, nil
	})

	mustKubectl(t, "-n", ns, "delete", "rollout", "shop", "--wait=false")
	eventually(t, 30*time.Second, "DestinationRule cleaned after the Rollout's deletion", func() (bool, error) {
		dr := getObject(t, c, gvrDestinationRule, ns, "shop")
		if _, ok := dr.GetAnnotations()["argo-rollouts.argoproj.io/managed-by-rollouts"]; ok {
			return false, fmt.Errorf("annotations %v", dr.GetAnnotations())
		}
		subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
		for _, s := range subsets {
			labels, _ := s.(map[string]any)["labels"].(map[string]any)
			if _, ok := labels[v1alpha1.DefaultRolloutUniqueLabelKey]; ok {
				return false, fmt.Errorf("subsets %v", subsets)
			}
		}
		return true, nil
	})
}

// subsetWeights reads the weights of the first http route's destinations
// by subset.
func subsetWeights(u *unstructured.Unstructured) map[string]int64 {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	out := map[string]int64{}
	if len(routes) == 0 {
		return out
	}
	dests, _ := routes[0].(map[string]any)["route"].([]any)
	for _, d := range dests {
		m, _ := d.(map[string]any)
		subset, _, _ := unstructured.NestedString(m, "destination", "subset")
		w, _, _ := unstructured.NestedInt64(m, "weight")
		out[subset] = w
	}
	return out
}
