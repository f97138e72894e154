package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

// TestArgoCDModel checks the model of Argo CD's checks and actions on
// hand-made objects, so the end-to-end tests below rest on a model that
// reads the fields the way Argo CD's scripts do. It needs no cluster.
func TestArgoCDModel(t *testing.T) {
	ro := func(status map[string]any) map[string]any {
		return map[string]any{
			"metadata": map[string]any{"generation": int64(3)},
			"spec":     map[string]any{"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{}, map[string]any{}}}}},
			"status":   status,
		}
	}
	for name, tc := range map[string]struct {
		obj  map[string]any
		want argoHealth
	}{
		"no status":           {map[string]any{"metadata": map[string]any{"generation": int64(1)}}, argoHealth{"Progressing", "Waiting for rollout spec update to be observed"}},
		"old generation":      {ro(map[string]any{"observedGeneration": "2", "phase": "Healthy"}), argoHealth{"Progressing", "Waiting for rollout spec update to be observed"}},
		"a pre-v0.10 hash":    {ro(map[string]any{"observedGeneration": "7d9f8c", "phase": "Healthy"}), argoHealth{"Healthy", ""}},
		"paused is suspended": {ro(map[string]any{"observedGeneration": "3", "phase": "Paused", "message": "CanaryPauseStep"}), argoHealth{"Suspended", "CanaryPauseStep"}},
		"degraded":            {ro(map[string]any{"observedGeneration": "3", "phase": "Degraded", "message": "RolloutAborted: x"}), argoHealth{"Degraded", "RolloutAborted: x"}},
		"workload not observed": {func() map[string]any {
			o := ro(map[string]any{"observedGeneration": "3", "phase": "Healthy", "workloadObservedGeneration": "4"})
			o["spec"].(map[string]any)["workloadRef"] = map[string]any{"name": "d"}
			o["metadata"].(map[string]any)["annotations"] = map[string]any{"rollout.argoproj.io/workload-generation": "5"}
			return o
		}(), argoHealth{"Progressing", "Waiting for rollout spec update to be observed"}},
	} {
		if got := rolloutHealth(tc.obj); got != tc.want {
			t.Errorf("%s: rollout health %s, want %s", name, got, tc.want)
		}
	}
	if got := analysisRunHealth(map[string]any{"status": map[string]any{"phase": "Failed", "message": "metric \"x\" assessed Failed"}}); got.Status != "Degraded" || got.Message != `metric "x" assessed Failed` {
		t.Errorf("failed run health %s", got)
	}
	if got := experimentHealth(map[string]any{"status": map[string]any{"phase": "Running"}}); got.Status != "Progressing" {
		t.Errorf("running experiment health %s", got)
	}

	for name, tc := range map[string]struct {
		action string
		status map[string]any
		want   string
	}{
		"skip moves one step": {"skip-current-step", map[string]any{"observedGeneration": "3", "currentStepIndex": int64(1), "pauseConditions": []any{map[string]any{"reason": "CanaryPauseStep"}}},
			`{"status":{"currentStepIndex":2,"pauseConditions":null}}`},
		"skip stops at the end":  {"skip-current-step", map[string]any{"observedGeneration": "3", "currentStepIndex": int64(2)}, `{}`},
		"resume":                 {"resume", map[string]any{"pauseConditions": []any{map[string]any{"reason": "CanaryPauseStep"}}}, `{"status":{"pauseConditions":null}}`},
		"promote-full":           {"promote-full", map[string]any{"observedGeneration": "3"}, `{"status":{"promoteFull":true}}`},
		"retry":                  {"retry", map[string]any{"abort": true, "canary": map[string]any{"currentStepAnalysisRunStatus": map[string]any{"name": "r"}}}, `{"status":{"abort":null,"canary":{"currentStepAnalysisRunStatus":null}}}`},
		"retry without abort":    {"retry", map[string]any{"canary": map[string]any{}}, `{}`},
		"promote at a pause":     {"promote", map[string]any{"currentStepIndex": int64(1), "pauseConditions": []any{map[string]any{"reason": "CanaryPauseStep"}}}, `{"status":{"pauseConditions":null}}`},
		"promote between pauses": {"promote", map[string]any{"currentStepIndex": int64(0)}, `{"status":{"currentStepIndex":1}}`},
	} {
		live := ro(tc.status)
		edited := deepCopyJSON(t, live)
		argoActions[tc.action](edited, time.Now())
		b, err := json.Marshal(mergeDiff(live, edited))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s: patch %s, want %s", name, b, tc.want)
		}
	}
	restarted := ro(nil)
	argoActions["restart"](restarted, time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("x", 3600)))
	if got := field(restarted, "spec", "restartAt"); got != "2026-03-04T04:06:07Z" {
		t.Errorf("restartAt %v", got)
	}
}

func deepCopyJSON(t *testing.T, in map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	// JSON numbers decode as float64; the live objects hold int64.
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = fix(e)
			}
		case []any:
			for i, e := range x {
				x[i] = fix(e)
			}
		case float64:
			return int64(x)
		}
		return v
	}
	return fix(out).(map[string]any)
}

// argoCanary is a two-replica canary with three indefinite pauses.
func argoCanary(ns, name string) *v1alpha1.Rollout {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptrTo(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				MaxSurge: &one, MaxUnavailable: &zero,
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptrTo(int32(50))},
					{Pause: &v1alpha1.RolloutPause{}},
					{Pause: &v1alpha1.RolloutPause{}},
					{Pause: &v1alpha1.RolloutPause{}},
				},
			}},
		},
	}
}

// TestArgoCDCanary walks a canary through what Argo CD shows and does:
// Healthy, Suspended at an indefinite pause, each Rollout action on its
// way, Progressing on a version that never becomes ready, Degraded after
// an abort, and Progressing again after a retry.
func TestArgoCDCanary(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "argocd-canary")
	if err := c.ctrl.Create(t.Context(), argoCanary(ns, "web")); err != nil {
		t.Fatal(err)
	}
	runController(t, ns)
	waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Healthy")
	v1 := getRollout(t, c, ns, "web").Status.StableRS

	setImage(t, ns, "web", "registry.example/web:2")
	h := waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Suspended")
	ro := getRollout(t, c, ns, "web")
	if derefOr(ro.Status.CurrentStepIndex, -1) != 1 || h.Message != ro.Status.Message {
		t.Fatalf("Suspended at step %d with message %q (status says %q)", derefOr(ro.Status.CurrentStepIndex, -1), h.Message, ro.Status.Message)
	}

	// pause, then resume: the resume clears the step's pause and spec.paused,
	// so the release moves to the next pause.
	runArgoAction(t, c, ns, "web", "pause")
	if ro = getRollout(t, c, ns, "web"); !ro.Spec.Paused {
		t.Fatal("the pause action did not set spec.paused")
	}
	waitHealth(t, c, rolloutGVK, ns, "web", time.Minute, "Suspended")
	runArgoAction(t, c, ns, "web", "resume")
	waitRollout(t, c, ns, "web", "paused at step 2 after resume", 2*time.Minute, func(r *v1alpha1.Rollout) bool {
		return !r.Spec.Paused && r.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(r.Status.CurrentStepIndex, -1) == 2
	})
	waitHealth(t, c, rolloutGVK, ns, "web", time.Minute, "Suspended")

	// skip-current-step moves exactly one step.
	runArgoAction(t, c, ns, "web", "skip-current-step")
	waitRollout(t, c, ns, "web", "paused at step 3 after skip", 2*time.Minute, func(r *v1alpha1.Rollout) bool {
		return r.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(r.Status.CurrentStepIndex, -1) == 3
	})
	time.Sleep(3 * time.Second)
	if ro = getRollout(t, c, ns, "web"); derefOr(ro.Status.CurrentStepIndex, -1) != 3 || ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("after skip-current-step: step %d phase %s, want held at step 3", derefOr(ro.Status.CurrentStepIndex, -1), ro.Status.Phase)
	}

	runArgoAction(t, c, ns, "web", "promote-full")
	waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Healthy")
	ro = getRollout(t, c, ns, "web")
	if ro.Status.StableRS == v1 || ro.Status.StableRS != ro.Status.CurrentPodHash || ro.Status.PromoteFull {
		t.Fatalf("after promote-full: stable %s current %s (first %s), promoteFull %v", ro.Status.StableRS, ro.Status.CurrentPodHash, v1, ro.Status.PromoteFull)
	}
	v2 := ro.Status.StableRS

	// restart: every Pod is replaced after restartAt, and the status says
	// when the restart finished.
	runArgoAction(t, c, ns, "web", "restart")
	ro = getRollout(t, c, ns, "web")
	if ro.Spec.RestartAt == nil {
		t.Fatal("the restart action did not set spec.restartAt")
	}
	restartAt := ro.Spec.RestartAt.Time
	waitRollout(t, c, ns, "web", "restarted", 3*time.Minute, func(r *v1alpha1.Rollout) bool {
		return r.Status.RestartedAt != nil && !r.Status.RestartedAt.Time.Before(restartAt) && r.Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
	eventually(t, 2*time.Minute, "every Pod created after restartAt", func() (bool, error) {
		var old []string
		pods, err := c.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.CreationTimestamp.Time.Before(restartAt) {
				old = append(old, p.Name)
			}
		}
		return len(old) == 0, fmt.Errorf("pods from before the restart: %v", old)
	})
	waitHealth(t, c, rolloutGVK, ns, "web", time.Minute, "Healthy")

	// A version whose Pods never become ready stays Progressing.
	patchJSON(t, ns, "rollout", "web", fmt.Sprintf(`{"op":"add","path":"/spec/template/metadata/labels/%s","value":%q}`,
		"kanaria.dev~1simulate", devcluster.SimulateNeverReady))
	waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Progressing")
	time.Sleep(3 * time.Second)
	if h := rolloutHealth(liveObject(t, c, rolloutGVK, ns, "web").Object); h.Status != "Progressing" {
		t.Fatalf("a release whose Pods never become ready shows %s", h)
	}

	runArgoAction(t, c, ns, "web", "abort")
	h = waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Degraded")
	ro = getRollout(t, c, ns, "web")
	if ro.Status.StableRS != v2 || h.Message == "" {
		t.Fatalf("after abort: stable %s (want %s), message %q", ro.Status.StableRS, v2, h.Message)
	}

	// retry clears the abort: the release runs again.
	runArgoAction(t, c, ns, "web", "retry")
	waitHealth(t, c, rolloutGVK, ns, "web", 2*time.Minute, "Progressing")
	if ro = getRollout(t, c, ns, "web"); ro.Status.Abort {
		t.Fatal("status.abort is still set after retry")
	}
}

// TestArgoCDBlueGreen checks a blue-green release: the preview version up
// and awaiting promotion shows Suspended, Argo CD's promote promotes it, and
// the Rollout is Healthy on the new version.
func TestArgoCDBlueGreen(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "argocd-bg")
	applyYAML(t, ns, `apiVersion: v1
kind: Service
metadata: {name: shop-active}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: shop-preview}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - {name: shop, image: registry.example/shop:1}
  strategy:
    blueGreen:
      activeService: shop-active
      previewService: shop-preview
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 5
`)
	runController(t, ns)
	waitHealth(t, c, rolloutGVK, ns, "shop", 2*time.Minute, "Healthy")
	v1 := getRollout(t, c, ns, "shop").Status.StableRS

	setImage(t, ns, "shop", "registry.example/shop:2")
	waitHealth(t, c, rolloutGVK, ns, "shop", 2*time.Minute, "Suspended")
	ro := getRollout(t, c, ns, "shop")
	if ro.Status.BlueGreen.PreviewSelector != ro.Status.CurrentPodHash || ro.Status.BlueGreen.ActiveSelector != v1 || ro.Status.CurrentPodHash == v1 {
		t.Fatalf("awaiting promotion: preview %s active %s current %s (first %s)", ro.Status.BlueGreen.PreviewSelector,
			ro.Status.BlueGreen.ActiveSelector, ro.Status.CurrentPodHash, v1)
	}
	v2 := ro.Status.CurrentPodHash

	runArgoAction(t, c, ns, "shop", "promote")
	waitHealth(t, c, rolloutGVK, ns, "shop", 2*time.Minute, "Healthy")
	ro = getRollout(t, c, ns, "shop")
	if ro.Status.StableRS != v2 || ro.Status.BlueGreen.ActiveSelector != v2 {
		t.Fatalf("after promote: stable %s active %s, want %s", ro.Status.StableRS, ro.Status.BlueGreen.ActiveSelector, v2)
	}
}

// TestArgoCDAnalysisAndExperiment checks the AnalysisRun and Experiment
// checks: a run still measuring is Progressing, a canary whose step
// analysis fails has a Degraded run and is Degraded itself, and an
// Experiment is Progressing while it runs and Healthy once it succeeded.
func TestArgoCDAnalysisAndExperiment(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "argocd-analysis")
	job := func(outcome string) string {
		return fmt.Sprintf(`      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              labels: {%s: %s}
            spec:
              restartPolicy: Never
              containers:
              - {name: smoke, image: registry.example/smoke:1}
`, devcluster.SimulateLabel, outcome)
	}
	applyYAML(t, ns, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: soak}
spec:
  metrics:
  - name: soak
    provider:
`+job(devcluster.SimulateRunForever)+`---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
`+job(devcluster.SimulateFail)+`---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - {name: api, image: registry.example/api:1}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis:
          templates:
          - templateName: smoke
      - pause: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: trial}
spec:
  duration: 20s
  templates:
  - name: canary
    selector:
      matchLabels: {app: trial}
    template:
      metadata:
        labels: {app: trial}
      spec:
        containers:
        - {name: trial, image: registry.example/trial:1}
`)
	ctl := runController(t, ns)

	waitHealth(t, c, experimentGVK, ns, "trial", time.Minute, "Progressing", "Experiment is running")
	waitHealth(t, c, analysisRunGVK, ns, "soak", time.Minute, "Progressing", "Analysis run is running")

	waitHealth(t, c, rolloutGVK, ns, "api", 2*time.Minute, "Healthy")
	setImage(t, ns, "api", "registry.example/api:2")
	h := waitHealth(t, c, rolloutGVK, ns, "api", 2*time.Minute, "Degraded")
	ro := getRollout(t, c, ns, "api")
	if ro.Status.Canary.CurrentStepAnalysisRunStatus == nil {
		t.Fatalf("Degraded (%s) with no step analysis run recorded", h)
	}
	run := ro.Status.Canary.CurrentStepAnalysisRunStatus.Name
	rh := waitHealth(t, c, analysisRunGVK, ns, run, time.Minute, "Degraded")
	if rh.Message == "" {
		t.Error("the failed run's health has no message")
	}

	h = waitHealth(t, c, experimentGVK, ns, "trial", 2*time.Minute, "Healthy")
	if h.Message != "Experiment is successful" {
		t.Errorf("experiment message %q", h.Message)
	}
	if h := analysisRunHealth(liveObject(t, c, analysisRunGVK, ns, "soak").Object); h.Status != "Progressing" {
		t.Errorf("the run that never finishes shows %s", h)
	}

	// The reference's metric names, labels and values for the same objects,
	// as its public dashboards query them.
	want := []string{
		fmt.Sprintf(`rollout_info{name="api",namespace=%q,phase="Abort",strategy="canary",traffic_router=""} 1`, ns),
		fmt.Sprintf(`rollout_phase{name="api",namespace=%q,phase="Abort",strategy="canary"} 1`, ns),
		fmt.Sprintf(`rollout_info_replicas_desired{name="api",namespace=%q} 1`, ns),
		fmt.Sprintf(`analysis_run_info{name="soak",namespace=%q,phase="Running"} 1`, ns),
		fmt.Sprintf(`analysis_run_metric_phase{dry_run="false",metric="soak",name="soak",namespace=%q,phase="Running",type="Job"} 1`, ns),
		fmt.Sprintf(`analysis_run_info{name=%q,namespace=%q,phase="Failed"} 1`, run, ns),
		fmt.Sprintf(`experiment_info{name="trial",namespace=%q,phase="Successful"} 1`, ns),
		fmt.Sprintf(`analysis_template_metric_info{metric="smoke",name="smoke",namespace=%q,type="Job"} 1`, ns),
		fmt.Sprintf(`experiment_phase{name="trial",namespace=%q,phase="Successful"} 1`, ns),
		fmt.Sprintf(`rollout_reconcile_count{name="api",namespace=%q}`, ns),
		fmt.Sprintf(`analysis_run_reconcile_count{name="soak",namespace=%q}`, ns),
		fmt.Sprintf(`experiment_reconcile_count{name="trial",namespace=%q}`, ns),
		fmt.Sprintf(`rollout_events_total{name="api",namespace=%q,reason="RolloutAborted",type="Warning"}`, ns),
		fmt.Sprintf(`controller_clientset_k8s_request_total{kind="rollouts",name="api",namespace=%q,status_code="200",verb="Patch"}`, ns),
	}
	eventually(t, 30*time.Second, "the reference's metrics on /metrics", func() (bool, error) {
		code, body, err := ctl.get("/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("GET /metrics: %d %v", code, err)
		}
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0, fmt.Errorf("missing %v", missing)
	})

	// Argo CD's terminate action on the run that would measure forever: its
	// Job is cut short, which leaves the run Inconclusive, shown as Unknown.
	runArgoActionOn(t, c, analysisRunGVK, ns, "soak", "terminate")
	waitHealth(t, c, analysisRunGVK, ns, "soak", time.Minute, "Unknown")
}

// TestArgoCDWorkloadRef checks a Rollout whose template comes from a
// Deployment: Argo CD shows it Progressing until the Deployment's
// generation in the Rollout's annotation and in
// status.workloadObservedGeneration agree, so it must reach Healthy, and
// Suspended at the pause of a release the Deployment starts.
func TestArgoCDWorkloadRef(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "argocd-ref")
	applyYAML(t, ns, `apiVersion: apps/v1
kind: Deployment
metadata: {name: cart}
spec:
  replicas: 0
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      containers:
      - {name: cart, image: registry.example/cart:1}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: cart}
spec:
  replicas: 1
  selector:
    matchLabels: {app: cart}
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: cart
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {}
`)
	runController(t, ns)
	waitHealth(t, c, rolloutGVK, ns, "cart", 2*time.Minute, "Healthy")
	dep, err := c.kube.AppsV1().Deployments(ns).Get(t.Context(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ro := getRollout(t, c, ns, "cart")
	if gen := fmt.Sprint(dep.Generation); ro.Annotations[v1alpha1.WorkloadGenerationAnnotation] != gen || ro.Status.WorkloadObservedGeneration != gen {
		t.Fatalf("Deployment generation %s, annotation %q, workloadObservedGeneration %q", gen,
			ro.Annotations[v1alpha1.WorkloadGenerationAnnotation], ro.Status.WorkloadObservedGeneration)
	}

	patchJSON(t, ns, "deployment", "cart", `{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example/cart:2"}`)
	waitHealth(t, c, rolloutGVK, ns, "cart", 2*time.Minute, "Suspended")
	runArgoAction(t, c, ns, "cart", "resume")
	waitHealth(t, c, rolloutGVK, ns, "cart", 2*time.Minute, "Healthy")
	ro = getRollout(t, c, ns, "cart")
	if ro.Status.StableRS != ro.Status.CurrentPodHash || ro.Annotations[v1alpha1.WorkloadGenerationAnnotation] != ro.Status.WorkloadObservedGeneration {
		t.Fatalf("after the release: stable %s current %s, annotation %q, observed %q", ro.Status.StableRS, ro.Status.CurrentPodHash,
			ro.Annotations[v1alpha1.WorkloadGenerationAnnotation], ro.Status.WorkloadObservedGeneration)
	}
}
