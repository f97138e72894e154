package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// hostileExperimentBase is a valid Experiment of one template with a Service
// and no analysis, as JSON for the hostile cases to patch.
const hostileExperimentBase = `{"apiVersion":"argoproj.io/v1alpha1","kind":"Experiment","metadata":{"name":"NAME"},
 "spec":{"duration":"1h","templates":[{"name":"canary","replicas":1,
  "selector":{"matchLabels":{"app":"exp","role":"NAME"}},
  "template":{"metadata":{"labels":{"app":"exp","role":"NAME"}},
   "spec":{"containers":[{"name":"web","image":"web:1.0","ports":[{"name":"http","containerPort":8080}]}]}},
  "service":{}}]}}`

// hostileExperimentCases change hostileExperimentBase in the ways a person
// can get an Experiment wrong: wrong types the API server admits in the
// open Pod template (the controller must still read every other
// Experiment), values out of range, conflicting fields and references to
// objects that do not exist.
var hostileExperimentCases = []hostileCase{
	{"replicas as a string", `[{"op":"replace","path":"/spec/templates/0/replicas","value":"two"}]`, "replicas"},
	{"duration as a number", `[{"op":"replace","path":"/spec/duration","value":5}]`, "duration"},
	{"a container port beyond int32", `[{"op":"replace","path":"/spec/templates/0/template/spec/containers/0/ports/0/containerPort","value":99999999999}]`, "containerPort"},
	{"a grace period as a string", `[{"op":"add","path":"/spec/templates/0/template/spec/terminationGracePeriodSeconds","value":"soon"}]`, "terminationGracePeriodSeconds"},
	{"a duration with an unknown unit", `[{"op":"replace","path":"/spec/duration","value":"5 minutes"}]`, "spec.duration"},
	{"negative replicas", `[{"op":"replace","path":"/spec/templates/0/replicas","value":-1}]`, "replicas"},
	{"negative scaleDownDelaySeconds", `[{"op":"add","path":"/spec/scaleDownDelaySeconds","value":-1}]`, "scaleDownDelaySeconds"},
	{"negative progressDeadlineSeconds", `[{"op":"add","path":"/spec/progressDeadlineSeconds","value":-5}]`, "progressDeadlineSeconds"},
	{"two templates of one name", `[{"op":"add","path":"/spec/templates/1","value":{"name":"canary","selector":{"matchLabels":{"app":"exp"}},"template":{"metadata":{"labels":{"app":"exp"}},"spec":{"containers":[{"name":"web","image":"web:1.0"}]}}}}]`, "spec.templates[1].name"},
	{"an empty selector", `[{"op":"replace","path":"/spec/templates/0/selector","value":{}}]`, "spec.templates[0].selector"},
	{"a selector that misses the template", `[{"op":"replace","path":"/spec/templates/0/selector/matchLabels/app","value":"other"}]`, "spec.templates[0]"},
	{"a Service without ports", `[{"op":"remove","path":"/spec/templates/0/template/spec/containers/0/ports"}]`, "spec.templates[0].service"},
	{"a missing analysis template", `[{"op":"add","path":"/spec/analyses","value":[{"name":"a","templateName":"no-such-template"}]}]`, "no-such-template"},
}

// TestHostileExperiments creates one Experiment per hostile case beside a
// valid one. The API server refuses some by its schema; the controller ends
// every other one in phase Error with an InvalidExperimentSpec condition
// naming the field, and creates nothing for it. The valid Experiment,
// created last, still runs: no hostile one stops the controller from
// reading the others.
func TestHostileExperiments(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "hostile-exp")
	runController(t, ns)
	stored := map[string]hostileCase{}
	for i, tc := range hostileExperimentCases {
		name := fmt.Sprintf("bad-%d", i)
		doc, err := jsonpatch.DecodePatch([]byte(tc.patch))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		manifest, err := doc.Apply([]byte(strings.ReplaceAll(hostileExperimentBase, "NAME", name)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		path := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(path, manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		r := kubectl(t, "-n", ns, "create", "-f", path)
		if r.err != nil {
			if !strings.Contains(r.stderr, tc.field) {
				t.Errorf("%s: the API server refused the Experiment without naming %q: %s", tc.name, tc.field, r.stderr)
			}
			continue
		}
		stored[name] = tc
	}
	good := strings.ReplaceAll(hostileExperimentBase, "NAME", "good")
	path := filepath.Join(t.TempDir(), "good.json")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "-n", ns, "create", "-f", path)
	waitExperiment(t, c, ns, "good", v1alpha1.AnalysisPhaseRunning, 2*time.Minute)

	for name, tc := range stored {
		t.Run(tc.name, func(t *testing.T) {
			ex := waitExperiment(t, c, ns, name, v1alpha1.AnalysisPhaseError, time.Minute)
			var cond *v1alpha1.ExperimentCondition
			for i := range ex.Status.Conditions {
				if ex.Status.Conditions[i].Type == v1alpha1.InvalidExperimentSpec {
					cond = &ex.Status.Conditions[i]
				}
			}
			if cond == nil || cond.Status != corev1.ConditionTrue || !strings.Contains(cond.Message, tc.field) {
				t.Errorf("InvalidExperimentSpec condition %+v does not name %q", cond, tc.field)
			}
			var rss appsv1.ReplicaSetList
			if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns), client.MatchingLabels{"role": name}); err != nil {
				t.Fatal(err)
			}
			if len(rss.Items) != 0 {
				t.Errorf("%d ReplicaSets created for an invalid Experiment", len(rss.Items))
			}
		})
	}
	if len(stored) < 8 {
		t.Errorf("only %d hostile Experiments passed the API server; the controller's side is barely tested", len(stored))
	}
}
