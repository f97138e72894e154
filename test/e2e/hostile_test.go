package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// hostileCase is one invalid or hostile change to a healthy Rollout: a JSON
// patch, and the field the refusal must name.
type hostileCase struct {
	name, patch, field string
}

// hostileCases change the canary-manual-gates seed (5 replicas, canary with
// canaryService and stableService, steps setWeight 10, pause {},
// setWeight 50, pause 20s) in every way the published API allows a person
// to get wrong: wrong types, missing or conflicting fields, values out of
// range, huge numbers, unknown names and references to objects that do not
// exist.
var hostileCases = []hostileCase{
	// Wrong types and huge numbers: the API server refuses them by schema.
	{"replicas as a string", `[{"op":"replace","path":"/spec/replicas","value":"five"}]`, "replicas"},
	{"replicas beyond int32", `[{"op":"replace","path":"/spec/replicas","value":4294967296}]`, "replicas"},
	{"setWeight as a string", `[{"op":"replace","path":"/spec/strategy/canary/steps/0/setWeight","value":"ten"}]`, "setWeight"},
	{"setWeight beyond int32", `[{"op":"replace","path":"/spec/strategy/canary/steps/0/setWeight","value":99999999999}]`, "setWeight"},
	{"steps not a list", `[{"op":"replace","path":"/spec/strategy/canary/steps","value":{"setWeight":10}}]`, "steps"},
	{"selector as a string", `[{"op":"replace","path":"/spec/selector","value":"app=rails"}]`, "selector"},
	// The Pod template's schema is open: these pass the API server, and the
	// controller must refuse them without losing its cache of Rollouts.
	{"a container port beyond int32", `[{"op":"replace","path":"/spec/template/spec/containers/0/ports/0/containerPort","value":99999999999}]`, "containerPort"},
	{"a grace period as a string", `[{"op":"add","path":"/spec/template/spec/terminationGracePeriodSeconds","value":"soon"}]`, "terminationGracePeriodSeconds"},
	// Values out of range.
	{"negative replicas", `[{"op":"replace","path":"/spec/replicas","value":-1}]`, "replicas"},
	{"negative setWeight", `[{"op":"replace","path":"/spec/strategy/canary/steps/0/setWeight","value":-5}]`, "steps[0].setWeight"},
	{"setWeight above 100", `[{"op":"replace","path":"/spec/strategy/canary/steps/2/setWeight","value":101}]`, "steps[2].setWeight"},
	{"negative pause", `[{"op":"replace","path":"/spec/strategy/canary/steps/3/pause/duration","value":"-5s"}]`, "steps[3].pause.duration"},
	{"pause with an unknown unit", `[{"op":"replace","path":"/spec/strategy/canary/steps/3/pause/duration","value":"5x"}]`, "steps[3].pause.duration"},
	{"pause beyond any clock", `[{"op":"replace","path":"/spec/strategy/canary/steps/3/pause/duration","value":"99999999999h"}]`, "steps[3].pause.duration"},
	{"maxSurge not a number", `[{"op":"replace","path":"/spec/strategy/canary/maxSurge","value":"abc%"}]`, "maxSurge"},
	{"negative maxUnavailable", `[{"op":"replace","path":"/spec/strategy/canary/maxUnavailable","value":-1}]`, "maxUnavailable"},
	{"maxUnavailable above 100%", `[{"op":"replace","path":"/spec/strategy/canary/maxUnavailable","value":"200%"}]`, "maxUnavailable"},
	{"negative revisionHistoryLimit", `[{"op":"add","path":"/spec/revisionHistoryLimit","value":-1}]`, "revisionHistoryLimit"},
	{"negative minReadySeconds", `[{"op":"add","path":"/spec/minReadySeconds","value":-3}]`, "minReadySeconds"},
	{"minReadySeconds beyond the progress deadline", `[{"op":"add","path":"/spec/minReadySeconds","value":700}]`, "progressDeadlineSeconds"},
	{"anti-affinity weight above 100", `[{"op":"replace","path":"/spec/strategy/canary/antiAffinity/preferredDuringSchedulingIgnoredDuringExecution/weight","value":101}]`, "antiAffinity"},
	{"anti-affinity both ways", `[{"op":"add","path":"/spec/strategy/canary/antiAffinity/requiredDuringSchedulingIgnoredDuringExecution","value":{}}]`, "antiAffinity"},
	{"setCanaryScale weight above 100", `[{"op":"add","path":"/spec/strategy/canary/steps/0","value":{"setCanaryScale":{"weight":150}}}]`, "setCanaryScale"},
	// Missing and conflicting fields.
	{"an empty step", `[{"op":"add","path":"/spec/strategy/canary/steps/1","value":{}}]`, "steps[1]"},
	{"a step of unknown fields only", `[{"op":"add","path":"/spec/strategy/canary/steps/1","value":{"setWieght":20}}]`, "steps[1]"},
	{"two actions in one step", `[{"op":"add","path":"/spec/strategy/canary/steps/1/setWeight","value":20}]`, "steps[1]"},
	{"no strategy", `[{"op":"remove","path":"/spec/strategy/canary"}]`, "strategy"},
	{"both strategies", `[{"op":"add","path":"/spec/strategy/blueGreen","value":{"activeService":"rails-stable"}}]`, "blueGreen"},
	{"empty selector", `[{"op":"replace","path":"/spec/selector","value":{}}]`, "selector"},
	{"selector with a bad operator", `[{"op":"replace","path":"/spec/selector","value":{"matchExpressions":[{"key":"app","operator":"Near","values":["rails"]}]}}]`, "selector"},
	{"selector that misses the template", `[{"op":"replace","path":"/spec/selector/matchLabels/app","value":"other"}]`, "selector"},
	{"template and workloadRef together", `[{"op":"add","path":"/spec/workloadRef","value":{"apiVersion":"apps/v1","kind":"Deployment","name":"rails"}}]`, "workloadRef"},
	{"workloadRef to a StatefulSet", `[{"op":"remove","path":"/spec/template"},{"op":"add","path":"/spec/workloadRef","value":{"apiVersion":"apps/v1","kind":"StatefulSet","name":"rails"}}]`, "workloadRef"},
	{"same canary and stable Service", `[{"op":"replace","path":"/spec/strategy/canary/canaryService","value":"rails-stable"}]`, "canaryService"},
	{"setCanaryScale with replicas and weight", `[{"op":"add","path":"/spec/strategy/canary/steps/0","value":{"setCanaryScale":{"replicas":1,"weight":10}}}]`, "setCanaryScale"},
	{"setHeaderRoute without a router", `[{"op":"add","path":"/spec/strategy/canary/steps/0","value":{"setHeaderRoute":{"name":"h","match":[{"headerName":"x","headerValue":{"exact":"y"}}]}}}]`, "setHeaderRoute"},
	{"setMirrorRoute without a router", `[{"op":"add","path":"/spec/strategy/canary/steps/0","value":{"setMirrorRoute":{"name":"m","match":[{"method":{"exact":"GET"}}]}}}]`, "setMirrorRoute"},
	{"dynamicStableScale without a router", `[{"op":"add","path":"/spec/strategy/canary/dynamicStableScale","value":true}]`, "dynamicStableScale"},
	{"an analysis step without templates", `[{"op":"add","path":"/spec/strategy/canary/steps/1","value":{"analysis":{"templates":[]}}}]`, "analysis"},
	{"an experiment step without templates", `[{"op":"add","path":"/spec/strategy/canary/steps/1","value":{"experiment":{"templates":[]}}}]`, "experiment"},
	{"a traffic router with no router", `[{"op":"add","path":"/spec/strategy/canary/trafficRouting","value":{}}]`, "trafficRouting"},
	{"nginx without its Ingress", `[{"op":"add","path":"/spec/strategy/canary/trafficRouting","value":{"nginx":{}}}]`, "stableIngress"},
	{"istio without a VirtualService", `[{"op":"add","path":"/spec/strategy/canary/trafficRouting","value":{"istio":{}}}]`, "istio"},
	// Unknown names and references to objects that do not exist.
	{"an unknown traffic router plugin", `[{"op":"add","path":"/spec/strategy/canary/trafficRouting","value":{"plugins":{"example.com/unknown":{}}}}]`, "example.com/unknown"},
	{"a missing canary Service", `[{"op":"replace","path":"/spec/strategy/canary/canaryService","value":"nope"}]`, `"nope"`},
	{"a missing analysis template", `[{"op":"add","path":"/spec/strategy/canary/steps/1","value":{"analysis":{"templates":[{"templateName":"no-such-template"}]}}}]`, "no-such-template"},
	{"a missing background analysis template", `[{"op":"add","path":"/spec/strategy/canary/analysis","value":{"templates":[{"clusterScope":true,"templateName":"no-such-cluster-template"}]}}]`, "no-such-cluster-template"},
	{"a missing Deployment", `[{"op":"remove","path":"/spec/template"},{"op":"add","path":"/spec/workloadRef","value":{"apiVersion":"apps/v1","kind":"Deployment","name":"missing"}}]`, `"missing"`},
	{"an invalid canary label", `[{"op":"add","path":"/spec/strategy/canary/canaryMetadata","value":{"labels":{"bad key":"x"}}}]`, "canaryMetadata"},
}

// TestHostileManifests tries each hostile change on a healthy Rollout. The
// API server refuses some by its schema; the controller must refuse every
// other one with an InvalidSpec condition. Either refusal names the field,
// no ReplicaSet and no Pod is touched, and putting the spec back clears it.
func TestHostileManifests(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "hostile")
	runController(t, ns)
	applySeed(t, ns, "canary-manual-gates.yaml")
	good := waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	waitCounts(t, c, ns, "rails", map[string]int32{good.Status.StableRS: 5})
	podsBefore := podUIDs(t, c, ns, "app=rails")
	if len(hostileCases) < 40 {
		t.Fatalf("only %d hostile cases", len(hostileCases))
	}

	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			orig := getRollout(t, c, ns, "rails")
			r := kubectl(t, "-n", ns, "patch", "rollout", "rails", "--type", "json", "-p", tc.patch)
			if r.err != nil {
				// Refused by the API server: nothing was stored.
				if !strings.Contains(r.stderr, strings.TrimSuffix(strings.Split(tc.field, "[")[0], `"`)) {
					t.Errorf("the API server refused the change without naming %q: %s", tc.field, r.stderr)
				}
				return
			}
			defer func() {
				restoreSpec(t, c, orig)
				waitRollout(t, c, ns, "rails", "InvalidSpec cleared", time.Minute, func(ro *v1alpha1.Rollout) bool {
					return condition(ro, v1alpha1.InvalidSpec) == nil && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
				})
			}()
			ro := waitRollout(t, c, ns, "rails", "InvalidSpec naming "+tc.field, 30*time.Second, func(ro *v1alpha1.Rollout) bool {
				return conditionStatus(ro, v1alpha1.InvalidSpec) == corev1.ConditionTrue
			})
			if msg := condition(ro, v1alpha1.InvalidSpec).Message; !strings.Contains(msg, tc.field) {
				t.Errorf("InvalidSpec message %q does not name %q", msg, tc.field)
			}
			if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded {
				t.Errorf("phase %s while the spec is invalid", ro.Status.Phase)
			}
			if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 1 || derefOr(rss[good.Status.StableRS].Spec.Replicas, 0) != 5 {
				t.Errorf("ReplicaSets changed while invalid: %s", specCounts(rss))
			}
			if after := podUIDs(t, c, ns, "app=rails"); after != podsBefore {
				t.Errorf("Pods changed while invalid")
			}
		})
	}
}
