package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

var routerCRDsOnce struct{ done bool }

// ensureRouterCRDs installs the stand-in CRDs of every traffic router.
func ensureRouterCRDs(t *testing.T) {
	t.Helper()
	ensureCRDs(t)
	ensureIstioCRDs(t)
	if routerCRDsOnce.done {
		return
	}
	mustKubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "test", "e2e", "testdata", "router-crds.yaml"))
	if err := waitCRDsEstablished(newClients(t), "trafficsplits.split.smi-spec.io", "httproutes.gateway.networking.k8s.io",
		"traefikservices.traefik.io", "traefikservices.traefik.containo.us", "apisixroutes.apisix.apache.org", "mappings.getambassador.io"); err != nil {
		t.Fatal(err)
	}
	routerCRDsOnce.done = true
}

var (
	gvrVirtualService = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "virtualservices"}
	gvrIngress        = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	gvrTrafficSplit   = schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha1", Resource: "trafficsplits"}
	gvrHTTPRoute      = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	gvrTraefikService = schema.GroupVersionResource{Group: "traefik.containo.us", Version: "v1alpha1", Resource: "traefikservices"}
	gvrApisixRoute    = schema.GroupVersionResource{Group: "apisix.apache.org", Version: "v2", Resource: "apisixroutes"}
	gvrMapping        = schema.GroupVersionResource{Group: "getambassador.io", Version: "v2", Resource: "mappings"}
)

// shopServices are the stable, canary and root Services of the routed tests.
const shopServices = `
apiVersion: v1
kind: Service
metadata: {name: shop-stable}
spec: {selector: {app: shop}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop-canary}
spec: {selector: {app: shop}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: shop-root}
spec: {selector: {app: shop}, ports: [{port: 80, targetPort: 8080}]}
`

// shopRollout is a 10-replica canary walking 5% → 25% → 50% with a manual
// gate after each weight; %s is its trafficRouting block and %s its steps.
const shopRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 10
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0, ports: [{containerPort: 8080}]}]
  strategy:
    canary:
      canaryService: shop-canary
      stableService: shop-stable
      scaleDownDelaySeconds: 5
      abortScaleDownDelaySeconds: 3
      trafficRouting:
%s
      steps:
%s
`

const walkSteps = `
        - setWeight: 5
        - pause: {}
        - setWeight: 25
        - pause: {}
        - setWeight: 50
        - pause: {}`

// routerCase describes one router for the shared walk.
type routerCase struct {
	name string
	// objects are the router objects the user owns, applied before the Rollout.
	objects string
	// routing is the trafficRouting block, indented under it.
	routing string
	// gvr and object name the object whose weights are watched.
	gvr    schema.GroupVersionResource
	object string
	// weights reads canary and stable weights from the watched object; ok
	// is false while it shows none (e.g. not created yet).
	weights func(u *unstructured.Unstructured) (canary, stable int64, ok bool)
	// owned are the objects the user owns, with strip removing the parts
	// Kanaria manages: everything else must never change.
	owned []ownedObject
}

type ownedObject struct {
	gvr   schema.GroupVersionResource
	name  string
	strip func(u *unstructured.Unstructured)
}

func routerCases() []routerCase {
	return []routerCase{
		{
			name: "istio",
			objects: `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop, labels: {team: payments}, annotations: {owner: payments-sre}}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
  - name: primary
    match: [{uri: {prefix: /}}]
    retries: {attempts: 3, perTryTimeout: 2s}
    route:
    - destination: {host: shop-stable, port: {number: 80}}
      weight: 100
    - destination: {host: shop-canary.` + "{{ns}}" + `.svc.cluster.local, port: {number: 80}}
      weight: 0
  - name: legacy
    route:
    - destination: {host: legacy.other.svc.cluster.local}
`,
			routing: `        istio:
          virtualService: {name: shop, routes: [primary]}`,
			gvr: gvrVirtualService, object: "shop",
			weights: istioWeights,
			owned:   []ownedObject{{gvr: gvrVirtualService, name: "shop", strip: stripIstioWeights}},
		},
		{
			name: "nginx",
			objects: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m}}
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop-stable, port: {number: 80}}}}
`,
			routing: `        nginx:
          stableIngress: shop
          additionalIngressAnnotations: {canary-by-header: X-Canary}`,
			gvr: gvrIngress, object: "shop-shop-canary",
			weights: func(u *unstructured.Unstructured) (int64, int64, bool) {
				a := u.GetAnnotations()
				if a["nginx.ingress.kubernetes.io/canary"] != "true" {
					return 0, 0, false
				}
				w, err := strconv.ParseInt(a["nginx.ingress.kubernetes.io/canary-weight"], 10, 64)
				if err != nil || a["nginx.ingress.kubernetes.io/canary-by-header"] != "X-Canary" {
					return 0, 0, false
				}
				return w, 100 - w, true
			},
			owned: []ownedObject{{gvr: gvrIngress, name: "shop", strip: func(*unstructured.Unstructured) {}}},
		},
		{
			name: "alb",
			objects: `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop-alb, annotations: {alb.ingress.kubernetes.io/scheme: internet-facing}}
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop-root, port: {name: use-annotation}}}}
`,
			routing: `        alb: {ingress: shop-alb, rootService: shop-root, servicePort: 80}`,
			gvr:     gvrIngress, object: "shop-alb",
			weights: albWeights,
			owned: []ownedObject{{gvr: gvrIngress, name: "shop-alb", strip: func(u *unstructured.Unstructured) {
				a := u.GetAnnotations()
				delete(a, "alb.ingress.kubernetes.io/actions.shop-root")
				delete(a, "rollouts.argoproj.io/managed-alb-annotations")
				u.SetAnnotations(a)
			}}},
		},
		{
			name:    "smi",
			routing: `        smi: {rootService: shop-root, trafficSplitName: shop-split}`,
			gvr:     gvrTrafficSplit, object: "shop-split",
			weights: smiWeights,
		},
		{
			name: "gatewayapi",
			objects: `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, labels: {team: payments}}
spec:
  parentRefs: [{name: shop-gateway}]
  hostnames: [shop.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: shop-stable, port: 80, weight: 100}
    - {name: shop-canary, port: 80, weight: 0}
  - matches: [{path: {type: PathPrefix, value: /legacy}}]
    backendRefs:
    - {name: legacy, port: 80}
`,
			routing: `        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: shop}`,
			gvr: gvrHTTPRoute, object: "shop",
			weights: gatewayWeights,
			owned:   []ownedObject{{gvr: gvrHTTPRoute, name: "shop", strip: stripGatewayWeights}},
		},
		{
			name: "traefik",
			objects: `
apiVersion: traefik.containo.us/v1alpha1
kind: TraefikService
metadata: {name: shop}
spec:
  weighted:
    sticky: {cookie: {name: shop}}
    services:
    - {name: shop-stable, port: 80, weight: 100}
    - {name: shop-canary, port: 80, weight: 0}
`,
			routing: `        traefik: {weightedTraefikServiceName: shop}`,
			gvr:     gvrTraefikService, object: "shop",
			weights: func(u *unstructured.Unstructured) (int64, int64, bool) {
				return namedWeights(u, "name", "spec", "weighted", "services")
			},
			owned: []ownedObject{{gvr: gvrTraefikService, name: "shop", strip: func(u *unstructured.Unstructured) {
				stripNamedWeights(u, "name", "spec", "weighted", "services")
			}}},
		},
		{
			name: "apisix",
			objects: `
apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata: {name: shop}
spec:
  http:
  - name: shop
    match: {hosts: [shop.example.com], paths: ["/*"]}
    backends:
    - {serviceName: shop-stable, servicePort: 80, weight: 100}
    - {serviceName: shop-canary, servicePort: 80, weight: 0}
`,
			routing: `        apisix: {route: {name: shop, rules: [shop]}}`,
			gvr:     gvrApisixRoute, object: "shop",
			weights: func(u *unstructured.Unstructured) (int64, int64, bool) {
				rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
				if len(rules) == 0 {
					return 0, 0, false
				}
				return namedWeights(&unstructured.Unstructured{Object: rules[0].(map[string]any)}, "serviceName", "backends")
			},
			owned: []ownedObject{{gvr: gvrApisixRoute, name: "shop", strip: func(u *unstructured.Unstructured) {
				rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
				for _, r := range rules {
					stripNamedWeights(&unstructured.Unstructured{Object: r.(map[string]any)}, "serviceName", "backends")
				}
				_ = unstructured.SetNestedSlice(u.Object, rules, "spec", "http")
			}}},
		},
		{
			name: "ambassador",
			objects: `
apiVersion: getambassador.io/v2
kind: Mapping
metadata: {name: shop}
spec: {prefix: /, service: "shop-stable:80", timeout_ms: 3000}
`,
			routing: `        ambassador: {mappings: [shop]}`,
			gvr:     gvrMapping, object: "shop-canary",
			weights: func(u *unstructured.Unstructured) (int64, int64, bool) {
				svc, _, _ := unstructured.NestedString(u.Object, "spec", "service")
				w, ok, _ := unstructured.NestedInt64(u.Object, "spec", "weight")
				if !ok || svc != "shop-canary:80" {
					return 0, 0, false
				}
				return w, 100 - w, true
			},
			owned: []ownedObject{{gvr: gvrMapping, name: "shop", strip: func(*unstructured.Unstructured) {}}},
		},
	}
}

// namedWeights reads the weights of the entries named after the canary and
// stable Services in the list at path, whose name field is key.
func namedWeights(u *unstructured.Unstructured, key string, path ...string) (int64, int64, bool) {
	list, _, _ := unstructured.NestedSlice(u.Object, path...)
	var canary, stable int64
	for _, e := range list {
		m := e.(map[string]any)
		w, _, _ := unstructured.NestedInt64(m, "weight")
		switch m[key] {
		case "shop-canary":
			canary = w
		case "shop-stable":
			stable = w
		}
	}
	return canary, stable, len(list) > 0
}

func stripNamedWeights(u *unstructured.Unstructured, key string, path ...string) {
	list, _, _ := unstructured.NestedSlice(u.Object, path...)
	for _, e := range list {
		m := e.(map[string]any)
		if m[key] == "shop-canary" || m[key] == "shop-stable" {
			delete(m, "weight")
		}
	}
	_ = unstructured.SetNestedSlice(u.Object, list, path...)
}

// TestTrafficRoutersWalkExactWeights runs the same canary through every
// router: at each gate the router object shows exactly the step's weight,
// the weights it ever showed are exactly 0, 5, 25, 50, 100, 0, the parts of
// the objects the user owns never change, the previous stable stays up for
// scaleDownDelaySeconds after the switch, and an abort sends everything
// back to the stable (its latency is logged).
func TestTrafficRoutersWalkExactWeights(t *testing.T) {
	ensureRouterCRDs(t)
	for _, rc := range routerCases() {
		t.Run(rc.name, func(t *testing.T) { walkRouter(t, rc) })
	}
}

func walkRouter(t *testing.T, rc routerCase) {
	c := newClients(t)
	ns := newNamespace(t, c, "route-"+rc.name)
	runController(t, ns)
	applyYAML(t, ns, shopServices+"\n---\n"+strings.ReplaceAll(rc.objects, "{{ns}}", ns))
	owned := readOwned(t, c, ns, rc.owned)
	applyYAML(t, ns, fmt.Sprintf(shopRollout, rc.routing, walkSteps))
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS

	w := watchWeights(t, c, ns, rc)
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	for i, want := range []int64{5, 25, 50} {
		ro = waitRollout(t, c, ns, "shop", fmt.Sprintf("paused after setWeight %d", want), 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == int32(2*i+1)
		})
		if got := w.current(t); got != want {
			t.Fatalf("at the gate after setWeight %d the router shows canary weight %d", want, got)
		}
		if cw := ro.Status.Canary.Weights; cw == nil || int64(cw.Canary.Weight) != want || int64(cw.Stable.Weight) != 100-want {
			t.Fatalf("status.canary.weights = %+v, want canary %d", cw, want)
		}
		checkOwned(t, c, ns, owned)
		promote(t, ns, "shop")
	}
	ro = waitRollout(t, c, ns, "shop", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	v2 := ro.Status.StableRS
	eventually(t, time.Minute, "the router back at canary weight 0", func() (bool, error) {
		return w.current(t) == 0, fmt.Errorf("weights seen %v", w.seen())
	})
	if got := serviceHash(t, c, ns, "shop-stable"); got != v2 {
		t.Fatalf("shop-stable selects %s, want %s", got, v2)
	}
	// scaleDownDelaySeconds is 5: the previous stable is still up right
	// after the switch, and gone after the delay.
	if rs := replicaSetsOf(t, c, ns, ro)[v1]; rs == nil || derefOr(rs.Spec.Replicas, 0) != 10 {
		t.Fatalf("the previous stable was scaled down before its delay: %s", specCounts(replicaSetsOf(t, c, ns, ro)))
	}
	waitCounts(t, c, ns, "shop", map[string]int32{v2: 10, v1: 0})
	if got, want := w.seen(), []int64{0, 5, 25, 50, 100, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the router showed canary weights %v, want exactly %v", got, want)
	}
	checkOwned(t, c, ns, owned)

	// Abort at 25%: the first thing that happens is the router at 0.
	setImage(t, ns, "shop", "registry.example/shop:3.0")
	waitRollout(t, c, ns, "shop", "paused at 5%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	promote(t, ns, "shop")
	ro = waitRollout(t, c, ns, "shop", "paused at 25%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	v3 := ro.Status.CurrentPodHash
	latency := abortAndTime(t, c, ns, w)
	t.Logf("%s: abort to canary weight 0 on the router object took %s", rc.name, latency)
	waitRollout(t, c, ns, "shop", "Degraded after the abort", time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	// abortScaleDownDelaySeconds is 3: the canary goes, the stable stays.
	waitCounts(t, c, ns, "shop", map[string]int32{v2: 10, v3: 0})
	checkOwned(t, c, ns, owned)
}

// abortAndTime aborts shop and returns how long until the router object
// shows canary weight 0, measured from just before the abort's write.
func abortAndTime(t *testing.T, c clients, ns string, w *weightWatch) time.Duration {
	t.Helper()
	start := time.Now()
	ro := getRollout(t, c, ns, "shop")
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"status":{"abort":true}}`))
	if err := c.ctrl.Status().Patch(context.Background(), ro, patch); err != nil {
		t.Fatalf("abort: %v", err)
	}
	at, ok := w.waitFor(0, start, time.Minute)
	if !ok {
		t.Fatalf("the router never showed canary weight 0 after the abort; weights seen %v", w.seen())
	}
	return at.Sub(start)
}

// weightWatch records every canary weight a router object shows, from a
// watch, so no short-lived value is missed.
type weightWatch struct {
	mu      sync.Mutex
	changes []weightChange
	cond    *sync.Cond
}

type weightChange struct {
	at     time.Time
	weight int64
}

func watchWeights(t *testing.T, c clients, ns string, rc routerCase) *weightWatch {
	t.Helper()
	w := &weightWatch{}
	w.cond = sync.NewCond(&w.mu)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res := c.dynamic.Resource(rc.gvr).Namespace(ns)
	record := func(u *unstructured.Unstructured, deleted bool) {
		var cw int64
		ok := true
		if !deleted {
			cw, _, ok = rc.weights(u)
		}
		if !ok {
			return
		}
		w.mu.Lock()
		if n := len(w.changes); n == 0 || w.changes[n-1].weight != cw {
			w.changes = append(w.changes, weightChange{at: time.Now(), weight: cw})
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
	// A canary object that does not exist (NGINX, Ambassador before the
	// update) sends the canary nothing.
	if u, err := res.Get(ctx, rc.object, metav1.GetOptions{}); err == nil {
		record(u, false)
	} else if apierrors.IsNotFound(err) {
		record(nil, true)
	}
	go func() {
		for ctx.Err() == nil {
			wi, err := res.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + rc.object})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				record(u, ev.Type == watch.Deleted)
			}
		}
	}()
	return w
}

func (w *weightWatch) seen() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int64, len(w.changes))
	for i, c := range w.changes {
		out[i] = c.weight
	}
	return out
}

func (w *weightWatch) current(t *testing.T) int64 {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.changes) == 0 {
		return -1
	}
	return w.changes[len(w.changes)-1].weight
}

// waitFor returns when the object first showed weight after since.
func (w *weightWatch) waitFor(weight int64, since time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	go func() {
		time.Sleep(timeout)
		w.cond.Broadcast()
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, c := range w.changes {
			if c.weight == weight && c.at.After(since) {
				return c.at, true
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		w.cond.Wait()
	}
}

type ownedSnapshot struct {
	obj   ownedObject
	strip map[string]any
}

func readOwned(t *testing.T, c clients, ns string, objs []ownedObject) []ownedSnapshot {
	t.Helper()
	var out []ownedSnapshot
	for _, o := range objs {
		out = append(out, ownedSnapshot{obj: o, strip: strippedContent(t, c, ns, o)})
	}
	return out
}

// strippedContent is what the user owns of an object: labels, annotations
// and spec, without the parts Kanaria manages.
func strippedContent(t *testing.T, c clients, ns string, o ownedObject) map[string]any {
	t.Helper()
	u, err := c.dynamic.Resource(o.gvr).Namespace(ns).Get(context.Background(), o.name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s %s: %v", o.gvr.Resource, o.name, err)
	}
	o.strip(u)
	spec := u.Object["spec"]
	return map[string]any{"labels": u.GetLabels(), "annotations": u.GetAnnotations(), "spec": spec}
}

func checkOwned(t *testing.T, c clients, ns string, snaps []ownedSnapshot) {
	t.Helper()
	for _, s := range snaps {
		now := strippedContent(t, c, ns, s.obj)
		if !reflect.DeepEqual(now, s.strip) {
			b, _ := json.MarshalIndent(s.strip, "", " ")
			a, _ := json.MarshalIndent(now, "", " ")
			t.Fatalf("%s %s changed outside the parts Kanaria manages:\nbefore %s\nafter  %s", s.obj.gvr.Resource, s.obj.name, b, a)
		}
	}
}

// istioRoute returns the http route named name of a VirtualService.
func istioRoute(u *unstructured.Unstructured, name string) map[string]any {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, r := range routes {
		if m, ok := r.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

func istioWeights(u *unstructured.Unstructured) (int64, int64, bool) {
	r := istioRoute(u, "primary")
	if r == nil {
		return 0, 0, false
	}
	var canary, stable int64
	dests, _ := r["route"].([]any)
	for _, d := range dests {
		m, _ := d.(map[string]any)
		host, _, _ := unstructured.NestedString(m, "destination", "host")
		w, _, _ := unstructured.NestedInt64(m, "weight")
		switch strings.SplitN(host, ".", 2)[0] {
		case "shop-canary":
			canary = w
		case "shop-stable":
			stable = w
		}
	}
	return canary, stable, true
}

func stripIstioWeights(u *unstructured.Unstructured) {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, r := range routes {
		m, _ := r.(map[string]any)
		if m["name"] != "primary" {
			continue
		}
		dests, _ := m["route"].([]any)
		for _, d := range dests {
			delete(d.(map[string]any), "weight")
		}
	}
	_ = unstructured.SetNestedSlice(u.Object, routes, "spec", "http")
}

func albWeights(u *unstructured.Unstructured) (int64, int64, bool) {
	raw := u.GetAnnotations()["alb.ingress.kubernetes.io/actions.shop-root"]
	if raw == "" {
		return 0, 0, false
	}
	var action struct {
		Type          string `json:"type"`
		ForwardConfig struct {
			TargetGroups []struct {
				ServiceName string `json:"serviceName"`
				ServicePort string `json:"servicePort"`
				Weight      int64  `json:"weight"`
			} `json:"targetGroups"`
		} `json:"forwardConfig"`
	}
	if err := json.Unmarshal([]byte(raw), &action); err != nil || action.Type != "forward" {
		return 0, 0, false
	}
	var canary, stable int64
	for _, tg := range action.ForwardConfig.TargetGroups {
		if tg.ServicePort != "80" {
			return 0, 0, false
		}
		switch tg.ServiceName {
		case "shop-canary":
			canary = tg.Weight
		case "shop-stable":
			stable = tg.Weight
		}
	}
	return canary, stable, true
}

func smiWeights(u *unstructured.Unstructured) (int64, int64, bool) {
	if svc, _, _ := unstructured.NestedString(u.Object, "spec", "service"); svc != "shop-root" {
		return 0, 0, false
	}
	backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
	var canary, stable int64
	for _, b := range backends {
		m, _ := b.(map[string]any)
		var w int64
		switch v := m["weight"].(type) {
		case int64:
			w = v
		case string:
			w, _ = strconv.ParseInt(v, 10, 64)
		}
		switch m["service"] {
		case "shop-canary":
			canary = w
		case "shop-stable":
			stable = w
		}
	}
	return canary, stable, len(backends) == 2
}

func gatewayWeights(u *unstructured.Unstructured) (int64, int64, bool) {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	if len(rules) == 0 {
		return 0, 0, false
	}
	refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
	var canary, stable int64
	for _, r := range refs {
		m := r.(map[string]any)
		w, _, _ := unstructured.NestedInt64(m, "weight")
		switch m["name"] {
		case "shop-canary":
			canary = w
		case "shop-stable":
			stable = w
		}
	}
	return canary, stable, true
}

func stripGatewayWeights(u *unstructured.Unstructured) {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, ref := range refs {
			m := ref.(map[string]any)
			if m["name"] == "shop-canary" || m["name"] == "shop-stable" {
				delete(m, "weight")
			}
		}
		_ = unstructured.SetNestedSlice(r.(map[string]any), refs, "backendRefs")
	}
	_ = unstructured.SetNestedSlice(u.Object, rules, "spec", "rules")
	a := u.GetAnnotations()
	for k := range a {
		if strings.HasPrefix(k, "rollouts.kanaria.dev/") {
			delete(a, k)
		}
	}
	u.SetAnnotations(a)
}

// percentile returns the p-th percentile (0..100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}
