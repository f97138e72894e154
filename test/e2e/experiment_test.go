package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// webCheckTemplate is an AnalysisTemplate measuring a URL every second,
// three times; the hash argument rides along in the query so the run shows
// what the Experiment resolved.
const webCheckTemplate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: web-check
spec:
  args:
  - name: url
  - name: hash
  metrics:
  - name: check
    interval: 1s
    count: 3
    successCondition: result.ok == true
    failureCondition: result.ok == false
    provider:
      web:
        url: "{{args.url}}?hash={{args.hash}}"
`

// experimentTemplates are a baseline and a canary, each behind a Service.
func experimentTemplates() string {
	return `  templates:
  - name: baseline
    selector:
      matchLabels: {app: shop, role: baseline}
    template:
      metadata:
        labels: {app: shop, role: baseline}
      spec:
        containers:
        - name: shop
          image: shop:1.0
          ports: [{name: http, containerPort: 8080}]
    service: {}
  - name: canary
    replicas: 2
    selector:
      matchLabels: {app: shop, role: canary}
    template:
      metadata:
        labels: {app: shop, role: canary}
      spec:
        containers:
        - name: shop
          image: shop:2.0
          ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 9090}]
    service: {name: shop-canary-preview}
`
}

func getExperiment(t *testing.T, c clients, ns, name string) *v1alpha1.Experiment {
	t.Helper()
	var ex v1alpha1.Experiment
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ex); err != nil {
		t.Fatalf("get experiment %s: %v", name, err)
	}
	return &ex
}

// waitExperiment waits until the Experiment reaches phase.
func waitExperiment(t *testing.T, c clients, ns, name string, phase v1alpha1.AnalysisPhase, timeout time.Duration) *v1alpha1.Experiment {
	t.Helper()
	var ex v1alpha1.Experiment
	eventually(t, timeout, "experiment "+name+" to be "+string(phase), func() (bool, error) {
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ex); err != nil {
			return false, err
		}
		return ex.Status.Phase == phase, fmt.Errorf("phase %q (%s), templates %+v, runs %+v", ex.Status.Phase, ex.Status.Message, ex.Status.TemplateStatuses, ex.Status.AnalysisRuns)
	})
	return &ex
}

func templateStatus(ex *v1alpha1.Experiment, name string) v1alpha1.TemplateStatus {
	for _, ts := range ex.Status.TemplateStatuses {
		if ts.Name == name {
			return ts
		}
	}
	return v1alpha1.TemplateStatus{}
}

// TestExperimentBaselineAndCanary runs a baseline and a canary with
// Services and an analysis for 5 s: the ReplicaSets, Services and run are
// named, labelled and owned as the reference makes them, the Experiment
// ends Successful, and after scaleDownDelaySeconds the ReplicaSets are at
// zero and the Services gone.
func TestExperimentBaselineAndCanary(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "exp")
	target := newWebTarget(t)
	applyYAML(t, ns, webCheckTemplate)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: shop
spec:
  duration: 5s
  scaleDownDelaySeconds: 3
  analysisRunMetadata:
    labels: {team: shop}
%s  analyses:
  - name: health
    templateName: web-check
    args:
    - name: url
      value: %s/ok
    - name: hash
      value: "{{templates.canary.podTemplateHash}}"
`, experimentTemplates(), target.URL))

	ex := waitExperiment(t, c, ns, "shop", v1alpha1.AnalysisPhaseSuccessful, 2*time.Minute)
	if ex.Status.AvailableAt == nil {
		t.Error("status.availableAt is not set")
	}
	var rss appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{}
	for _, rs := range rss.Items {
		tmpl := rs.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey]
		hash := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
		hashes[tmpl] = hash
		if rs.Name != "shop-"+tmpl || rs.Annotations[v1alpha1.ExperimentNameAnnotationKey] != "shop" || hash == "" {
			t.Errorf("ReplicaSet %s: labels %v annotations %v", rs.Name, rs.Labels, rs.Annotations)
		}
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.Kind != "Experiment" || ref.UID != ex.UID {
			t.Errorf("ReplicaSet %s controller %v", rs.Name, ref)
		}
		if rs.Spec.Selector.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] != hash || rs.Spec.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != hash ||
			rs.Spec.Template.Labels["role"] != tmpl {
			t.Errorf("ReplicaSet %s selector %v template labels %v", rs.Name, rs.Spec.Selector, rs.Spec.Template.Labels)
		}
	}
	if len(rss.Items) != 2 || hashes["baseline"] == hashes["canary"] {
		t.Fatalf("ReplicaSets by template: %v", hashes)
	}
	for name, want := range map[string]v1alpha1.TemplateStatus{
		"baseline": {Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, ServiceName: "shop-baseline", PodTemplateHash: hashes["baseline"]},
		"canary":   {Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, ServiceName: "shop-canary-preview", PodTemplateHash: hashes["canary"]},
	} {
		got := templateStatus(ex, name)
		if got.Status != v1alpha1.TemplateStatusSuccessful || got.Replicas != want.Replicas || got.UpdatedReplicas != want.UpdatedReplicas ||
			got.ReadyReplicas != want.ReadyReplicas || got.AvailableReplicas != want.AvailableReplicas || got.LastTransitionTime == nil {
			t.Errorf("template %s status %+v", name, got)
		}
		// The Service goes with the Pods; while they wait out the delay
		// the status still names it.
		if got.ServiceName != "" && (got.ServiceName != want.ServiceName || got.PodTemplateHash != want.PodTemplateHash) {
			t.Errorf("template %s service %q hash %q, want %q %q", name, got.ServiceName, got.PodTemplateHash, want.ServiceName, want.PodTemplateHash)
		}
	}
	svc, err := c.kube.CoreV1().Services(ns).Get(context.Background(), "shop-canary-preview", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		t.Log("the canary Service was already removed after the scale-down delay")
	case err != nil:
		t.Fatal(err)
	default:
		if len(svc.Spec.Selector) != 1 || svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] != hashes["canary"] || len(svc.Spec.Ports) != 2 ||
			svc.Spec.Ports[1].Port != 9090 || svc.Spec.Ports[1].Name != "admin" {
			t.Errorf("canary Service selector %v ports %+v", svc.Spec.Selector, svc.Spec.Ports)
		}
		if ref := metav1.GetControllerOf(svc); ref == nil || ref.UID != ex.UID || svc.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey] != "canary" {
			t.Errorf("canary Service owners %v annotations %v", svc.OwnerReferences, svc.Annotations)
		}
	}

	if len(ex.Status.AnalysisRuns) != 1 || ex.Status.AnalysisRuns[0].Name != "health" || ex.Status.AnalysisRuns[0].AnalysisRun != "shop-health" {
		t.Fatalf("analysisRuns %+v", ex.Status.AnalysisRuns)
	}
	run := waitRun(t, c, ns, "shop-health", time.Minute)
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Labels["team"] != "shop" {
		t.Errorf("run phase %s (%s) labels %v", run.Status.Phase, run.Status.Message, run.Labels)
	}
	for _, a := range run.Spec.Args {
		if a.Name == "hash" && (a.Value == nil || *a.Value != hashes["canary"]) {
			t.Errorf("hash argument %v, want the canary's %s", a.Value, hashes["canary"])
		}
	}
	if ref := metav1.GetControllerOf(run); ref == nil || ref.UID != ex.UID {
		t.Errorf("run controller %v", ref)
	}
	if c := conditionOf(ex, v1alpha1.ExperimentProgressing); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ExperimentCompleted" {
		t.Errorf("Progressing condition %+v", c)
	}
	if out := mustKanaria(t, "get", "experiment", "shop", "-n", ns, "--no-color"); !strings.Contains(out, "Successful") ||
		!strings.Contains(out, "shop-canary") || !strings.Contains(out, "shop-health") {
		t.Errorf("kanaria get experiment:\n%s", out)
	}
	if out := mustKanaria(t, "list", "experiments", "-n", ns, "--no-color"); !strings.Contains(out, "shop") || !strings.Contains(out, "Successful") {
		t.Errorf("kanaria list experiments:\n%s", out)
	}

	eventually(t, time.Minute, "ReplicaSets at zero and Services gone", func() (bool, error) {
		var rss appsv1.ReplicaSetList
		if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, rs := range rss.Items {
			if derefOr(rs.Spec.Replicas, 1) != 0 {
				return false, fmt.Errorf("%s has %d replicas (deadline %q)", rs.Name, derefOr(rs.Spec.Replicas, 1),
					rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey])
			}
		}
		var svcs corev1.ServiceList
		if err := c.ctrl.List(context.Background(), &svcs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(svcs.Items) != 0 {
			return false, fmt.Errorf("%d Services left", len(svcs.Items))
		}
		ex = getExperiment(t, c, ns, "shop")
		canary := templateStatus(ex, "canary")
		return canary.ServiceName == "" && canary.PodTemplateHash == "", fmt.Errorf("the canary's status still names its Service: %+v", canary)
	})
	if ex.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("after scale-down: phase %s (%s)", ex.Status.Phase, ex.Status.Message)
	}
	assertEvents(t, c, ns, "shop", "NewReplicaSetCreated", "TemplateRunning", "AnalysisRunSuccessful", "ScalingReplicaSet")
}

func conditionOf(ex *v1alpha1.Experiment, typ v1alpha1.ExperimentConditionType) *v1alpha1.ExperimentCondition {
	for i := range ex.Status.Conditions {
		if ex.Status.Conditions[i].Type == typ {
			return &ex.Status.Conditions[i]
		}
	}
	return nil
}

// TestExperimentEndsBadly: a failing analysis fails its Experiment with the
// run's message, and a template whose Pods never become ready fails its
// Experiment at progressDeadlineSeconds.
func TestExperimentEndsBadly(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "expbad")
	target := newWebTarget(t)
	applyYAML(t, ns, webCheckTemplate)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: failing
spec:
  duration: 5m
  scaleDownDelaySeconds: 0
%s  analyses:
  - name: health
    templateName: web-check
    args:
    - {name: url, value: "%s/bad"}
    - {name: hash, value: "{{templates.baseline.podTemplateHash}}"}
`, experimentTemplates(), target.URL))
	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: stuck
spec:
  progressDeadlineSeconds: 5
  templates:
  - name: canary
    selector:
      matchLabels: {app: stuck}
    template:
      metadata:
        labels: {app: stuck, kanaria.dev/simulate: never-ready}
      spec:
        containers: [{name: app, image: stuck:1}]
`)

	t.Run("analysis", func(t *testing.T) {
		ex := waitExperiment(t, c, ns, "failing", v1alpha1.AnalysisPhaseFailed, 2*time.Minute)
		run := waitRun(t, c, ns, "failing-health", time.Minute)
		if run.Status.Phase != v1alpha1.AnalysisPhaseFailed || ex.Status.Message != run.Status.Message || ex.Status.Message == "" {
			t.Errorf("experiment message %q, run %s %q", ex.Status.Message, run.Status.Phase, run.Status.Message)
		}
		if rs := ex.Status.AnalysisRuns; len(rs) != 1 || rs[0].Phase != v1alpha1.AnalysisPhaseFailed || rs[0].Message != run.Status.Message {
			t.Errorf("analysisRuns %+v", rs)
		}
		eventually(t, time.Minute, "the failed Experiment's ReplicaSets at zero", func() (bool, error) {
			for _, name := range []string{"failing-baseline", "failing-canary"} {
				rs, err := c.kube.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if derefOr(rs.Spec.Replicas, 1) != 0 {
					return false, fmt.Errorf("%s at %d", name, *rs.Spec.Replicas)
				}
			}
			return true, nil
		})
		assertEvents(t, c, ns, "failing", "AnalysisRunFailed")
	})
	t.Run("progress deadline", func(t *testing.T) {
		ex := waitExperiment(t, c, ns, "stuck", v1alpha1.AnalysisPhaseFailed, 2*time.Minute)
		want := "Template 'canary' exceeded its progressDeadlineSeconds (5)"
		if ex.Status.Message != want {
			t.Errorf("message %q, want %q", ex.Status.Message, want)
		}
		if ts := templateStatus(ex, "canary"); ts.Status != v1alpha1.TemplateStatusFailed || ts.Message != want || ts.AvailableReplicas != 0 {
			t.Errorf("template status %+v", ts)
		}
		if ex.Status.AvailableAt != nil {
			t.Errorf("availableAt %v for an Experiment that never became available", ex.Status.AvailableAt)
		}
		assertEvents(t, c, ns, "stuck", "TemplateFailed")
	})
}

// TestExperimentRunsUntilTerminated: without a duration or a required
// analysis the Experiment runs until a person terminates it, then ends
// Successful and scales down.
func TestExperimentRunsUntilTerminated(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "expterm")
	target := newWebTarget(t)
	applyYAML(t, ns, webCheckTemplate)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: open
spec:
  scaleDownDelaySeconds: 1
%s  analyses:
  - name: health
    templateName: web-check
    args:
    - {name: url, value: "%s/ok"}
    - {name: hash, value: "{{templates.canary.podTemplateHash}}"}
`, experimentTemplates(), target.URL))

	waitExperiment(t, c, ns, "open", v1alpha1.AnalysisPhaseRunning, 2*time.Minute)
	// The analysis finishing is no reason to stop: it is not required.
	waitRun(t, c, ns, "open-health", time.Minute)
	time.Sleep(3 * time.Second)
	if ex := getExperiment(t, c, ns, "open"); ex.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("phase %s (%s) before anyone terminated it", ex.Status.Phase, ex.Status.Message)
	}
	if out := mustKanaria(t, "terminate", "experiment", "open", "-n", ns); !strings.Contains(out, "terminated") {
		t.Errorf("kanaria terminate experiment: %s", out)
	}
	ex := waitExperiment(t, c, ns, "open", v1alpha1.AnalysisPhaseSuccessful, time.Minute)
	for _, ts := range ex.Status.TemplateStatuses {
		if ts.Status != v1alpha1.TemplateStatusSuccessful {
			t.Errorf("template %+v", ts)
		}
	}
	eventually(t, time.Minute, "the terminated Experiment's ReplicaSets at zero", func() (bool, error) {
		var rss appsv1.ReplicaSetList
		if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, rs := range rss.Items {
			if derefOr(rs.Spec.Replicas, 1) != 0 {
				return false, fmt.Errorf("%s at %d", rs.Name, *rs.Spec.Replicas)
			}
		}
		return len(rss.Items) == 2, fmt.Errorf("%d ReplicaSets", len(rss.Items))
	})
}

// TestExperimentInvalidSpec: duplicate template names, an analysis template
// that does not exist and a duration that does not parse each end in phase
// Error with an InvalidSpec condition naming the field, and nothing is
// created.
func TestExperimentInvalidSpec(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "expinvalid")
	tmpl := func(name string) string {
		return fmt.Sprintf(`  - name: %s
    selector: {matchLabels: {app: bad}}
    template:
      metadata: {labels: {app: bad}}
      spec: {containers: [{name: app, image: bad:1}]}
`, name)
	}
	cases := map[string]struct{ spec, want string }{
		"duplicate":        {"  templates:\n" + tmpl("one") + tmpl("one"), `spec.templates[1].name: Duplicate value: "one"`},
		"missing-template": {"  templates:\n" + tmpl("one") + "  analyses:\n  - {name: a, templateName: nowhere}\n", `spec.analyses[0].templateName: Not found: "nowhere"`},
		"bad-duration":     {"  duration: 5 minutes\n  templates:\n" + tmpl("one"), `spec.duration: Invalid value: "5 minutes"`},
	}
	for name, tc := range cases {
		applyYAML(t, ns, "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata:\n  name: "+name+"\nspec:\n"+tc.spec)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := waitExperiment(t, c, ns, name, v1alpha1.AnalysisPhaseError, time.Minute)
			cond := conditionOf(ex, v1alpha1.InvalidExperimentSpec)
			if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != "InvalidSpec" || !strings.Contains(cond.Message, tc.want) {
				t.Errorf("InvalidSpec condition %+v, want a message with %q", cond, tc.want)
			}
			if !strings.Contains(ex.Status.Message, tc.want) {
				t.Errorf("message %q", ex.Status.Message)
			}
		})
	}
	assertEvents(t, c, ns, "duplicate", "InvalidSpec")
	var rss appsv1.ReplicaSetList
	var svcs corev1.ServiceList
	var runs v1alpha1.AnalysisRunList
	for _, l := range []client.ObjectList{&rss, &svcs, &runs} {
		if err := c.ctrl.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rss.Items)+len(svcs.Items)+len(runs.Items) != 0 {
		t.Errorf("created %d ReplicaSets, %d Services, %d AnalysisRuns for invalid Experiments", len(rss.Items), len(svcs.Items), len(runs.Items))
	}

	// Once the missing template exists, a retry runs the Experiment.
	target := newWebTarget(t)
	applyYAML(t, ns, strings.Replace(webCheckTemplate, "name: web-check", "name: nowhere", 1))
	mustKubectl(t, "patch", "experiment", "missing-template", "-n", ns, "--type", "merge",
		"-p", fmt.Sprintf(`{"spec":{"analyses":[{"name":"a","templateName":"nowhere","args":[{"name":"url","value":"%s/ok"},{"name":"hash","value":"x"}]}]}}`, target.URL))
	mustKanaria(t, "retry", "experiment", "missing-template", "-n", ns)
	ex := waitExperiment(t, c, ns, "missing-template", v1alpha1.AnalysisPhaseRunning, time.Minute)
	if conditionOf(ex, v1alpha1.InvalidExperimentSpec) != nil {
		t.Errorf("conditions %+v after the fix", ex.Status.Conditions)
	}
	if run := waitRun(t, c, ns, "missing-template-a", time.Minute); run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("run after the fix: %s %q", run.Status.Phase, run.Status.Message)
	}
}
