package e2e

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

// Names from bluegreen-integration-test-job.yaml.
const (
	bgFixture  = "bluegreen-integration-test-job.yaml"
	bgRollout  = "ecl-api"
	bgApp      = "ecl-api"
	bgActive   = "ecl-api-active"
	bgPreview  = "ecl-api-preview"
	bgTemplate = "scenario-test"
	bgReplicas = 3
	// bgBaseURLArg is the Job argument once {{args.base-url}} is filled in
	// with the Rollout's value.
	bgBaseURLArg = "baseUrl=http://ecl-api-preview.default.svc:8080"
	// bgScaleDownDelay is the default scaleDownDelaySeconds and the fixture's
	// abortScaleDownDelaySeconds.
	bgScaleDownDelay = 30 * time.Second
)

// bgFailingTest labels the scenario test's Job Pods so that the local
// cluster fails them: a test-only change standing in for a failing test.
var bgFailingTest = fmt.Sprintf(`{"op":"add","path":"/spec/metrics/0/provider/job/spec/template/metadata","value":{"labels":{%q:%q}}}`,
	devcluster.SimulateLabel, devcluster.SimulateFail)

// bgImagePatch is a JSON patch operation that changes the Rollout's image.
func bgImagePatch(image string) string {
	return fmt.Sprintf(`{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}`, image)
}

func patchJSON(t *testing.T, ns, kind, name string, ops ...string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", kind, name, "--type", "json", "-p", "["+strings.Join(ops, ",")+"]")
}

// bgStart runs a controller for a new namespace, applies the integration-test
// fixture unchanged and waits for its first version: Healthy, 3 Pods, both
// Services selecting it. It returns the namespace and the first hash.
func bgStart(t *testing.T, c clients, prefix string) (string, string) {
	t.Helper()
	ns := newNamespace(t, c, prefix)
	runController(t, ns)
	applySeed(t, ns, bgFixture)
	ro := waitRollout(t, c, ns, bgRollout, "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	if v1 == "" || ro.Status.CurrentPodHash != v1 {
		t.Fatalf("Healthy with stable %q and current %q", v1, ro.Status.CurrentPodHash)
	}
	waitCounts(t, c, ns, bgRollout, map[string]int32{v1: bgReplicas})
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 1 {
		t.Fatalf("first apply made %d ReplicaSets: %s", len(rss), specCounts(rss))
	}
	waitServices(t, c, ns, bgActive, v1, bgPreview, v1)
	if n := countPods(t, c, ns, "", func(p *corev1.Pod) bool { return p.Labels["app"] == bgApp }); n != bgReplicas {
		t.Fatalf("%d Pods labelled app=%s, want %d", n, bgApp, bgReplicas)
	}
	return ns, v1
}

// waitServices waits until the active and preview Services select the given
// hashes.
func waitServices(t *testing.T, c clients, ns, active, wantActive, preview, wantPreview string) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%s to select %s and %s to select %s", active, wantActive, preview, wantPreview), func() (bool, error) {
		a, p := serviceHash(t, c, ns, active), serviceHash(t, c, ns, preview)
		return a == wantActive && p == wantPreview, fmt.Errorf("%s selects %q, %s selects %q", active, a, preview, p)
	})
}

// hashPods is the fingerprint (sorted UIDs) of the live Pods of one version.
func hashPods(t *testing.T, c clients, ns, app, hash string) string {
	t.Helper()
	uids := podUIDs(t, c, ns, "app="+app+","+v1alpha1.DefaultRolloutUniqueLabelKey+"="+hash)
	if uids == "" {
		t.Fatalf("no live Pod of %s=%s", v1alpha1.DefaultRolloutUniqueLabelKey, hash)
	}
	return uids
}

// preRuns lists the pre-promotion AnalysisRuns of one version.
func preRuns(t *testing.T, c clients, ns, hash string) []v1alpha1.AnalysisRun {
	t.Helper()
	var list v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{
		v1alpha1.RolloutTypeLabel:             v1alpha1.RolloutTypePrePromotionLabel,
		v1alpha1.DefaultRolloutUniqueLabelKey: hash,
	}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func allRuns(t *testing.T, c clients, ns string) []v1alpha1.AnalysisRun {
	t.Helper()
	var list v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitPreRun waits for the one pre-promotion AnalysisRun of a version.
func waitPreRun(t *testing.T, c clients, ns, hash string, timeout time.Duration) v1alpha1.AnalysisRun {
	t.Helper()
	var run v1alpha1.AnalysisRun
	eventually(t, timeout, "the pre-promotion AnalysisRun of "+hash, func() (bool, error) {
		runs := preRuns(t, c, ns, hash)
		if len(runs) != 1 {
			return false, fmt.Errorf("%d pre-promotion runs", len(runs))
		}
		run = runs[0]
		return true, nil
	})
	return run
}

// runJob waits for the Job of an AnalysisRun's measurement and returns it
// once it finished.
func runJob(t *testing.T, c clients, ns, run string) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	eventually(t, 2*time.Minute, "the Job of AnalysisRun "+run+" to finish", func() (bool, error) {
		jobs, err := c.kube.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "analysisrun.argoproj.io/name=" + run})
		if err != nil {
			return false, err
		}
		if len(jobs.Items) != 1 {
			return false, fmt.Errorf("%d Jobs", len(jobs.Items))
		}
		job = &jobs.Items[0]
		return jobFinished(job) != "", fmt.Errorf("Job %s not finished: %+v", job.Name, job.Status)
	})
	return job
}

// jobFinished is the Job's final condition type, "" while it runs.
func jobFinished(job *batchv1.Job) batchv1.JobConditionType {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.Type
		}
	}
	return ""
}

func hasPause(ro *v1alpha1.Rollout, reason v1alpha1.PauseReason) bool {
	return slices.ContainsFunc(ro.Status.PauseConditions, func(p v1alpha1.PauseCondition) bool { return p.Reason == reason })
}

// expectHealthySoon reports an error unless the Rollout shows phase Healthy
// within a few seconds: a blue-green Rollout whose update completed is
// Healthy while the previous version waits for its scale-down delay.
func expectHealthySoon(t *testing.T, c clients, ns, name string) {
	t.Helper()
	var ro *v1alpha1.Rollout
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		ro = getRollout(t, c, ns, name)
		if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy {
			return
		}
	}
	t.Errorf("the completed update is not Healthy while the previous version waits for its scale-down delay: phase %s (%s)", ro.Status.Phase, ro.Status.Message)
}

// holdFor checks that check keeps passing for d.
func holdFor(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if err := check(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(end) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// rsSpec returns the spec replicas of a version's ReplicaSet, -1 if none.
func rsSpec(t *testing.T, c clients, ns string, ro *v1alpha1.Rollout, hash string) int32 {
	t.Helper()
	rs := replicaSetsOf(t, c, ns, ro)[hash]
	if rs == nil {
		return -1
	}
	return derefOr(rs.Spec.Replicas, 0)
}

// bgSample is what the blue-green watch saw at one moment, read in this
// order: the Services, then the pre-promotion AnalysisRuns, then the
// ReplicaSets. A run seen Successful after the active Service was read had
// finished no later than that read could have shown a switch it caused.
type bgSample struct {
	active, preview string
	runs            map[string]v1alpha1.AnalysisPhase // pre-promotion run phase by hash ("" = none)
	avail           map[string]int32                  // available Pods by hash
}

// bgWatch samples the Services, runs and ReplicaSets of one app.
type bgWatch struct {
	stop, done chan struct{}
	mu         sync.Mutex
	samples    []bgSample
}

func watchBlueGreen(t *testing.T, c clients, ns, app, active, preview string) *bgWatch {
	t.Helper()
	w := &bgWatch{stop: make(chan struct{}), done: make(chan struct{})}
	ctx := context.Background()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			var s bgSample
			var svcA, svcP corev1.Service
			if c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: active}, &svcA) != nil ||
				c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: preview}, &svcP) != nil {
				continue
			}
			s.active = svcA.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
			s.preview = svcP.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
			var runs v1alpha1.AnalysisRunList
			if c.ctrl.List(ctx, &runs, client.InNamespace(ns), client.MatchingLabels{v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypePrePromotionLabel}) != nil {
				continue
			}
			s.runs = map[string]v1alpha1.AnalysisPhase{}
			for _, r := range runs.Items {
				phase := r.Status.Phase
				if phase == "" {
					phase = v1alpha1.AnalysisPhasePending
				}
				s.runs[r.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] = phase
			}
			var rss appsv1.ReplicaSetList
			if c.ctrl.List(ctx, &rss, client.InNamespace(ns), client.MatchingLabels{"app": app}) != nil {
				continue
			}
			s.avail = map[string]int32{}
			for _, rs := range rss.Items {
				s.avail[rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] = rs.Status.AvailableReplicas
			}
			w.mu.Lock()
			w.samples = append(w.samples, s)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.end() })
	return w
}

// end stops the watch and returns its samples.
func (w *bgWatch) end() []bgSample {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.samples)
}

// checkSamples fails the test with the first few samples for which bad
// returns a complaint.
func checkSamples(t *testing.T, samples []bgSample, bad func(bgSample) string) {
	t.Helper()
	if len(samples) == 0 {
		t.Fatal("the blue-green watch took no sample")
	}
	var found []string
	for i, s := range samples {
		if msg := bad(s); msg != "" {
			found = append(found, fmt.Sprintf("sample %d: %s (active %q preview %q runs %v available %v)", i, msg, s.active, s.preview, s.runs, s.avail))
		}
	}
	if len(found) > 0 {
		t.Errorf("%d of %d samples are wrong, e.g.:\n  %s", len(found), len(samples), strings.Join(found[:min(len(found), 5)], "\n  "))
	}
}

// onlyPromotedAfterTest is the production invariant: the active Service
// selects the old version, or the new one once its pre-promotion test passed.
func onlyPromotedAfterTest(old, next string) func(bgSample) string {
	return func(s bgSample) string {
		switch {
		case s.active == old:
		case next != "" && s.active == next:
			if s.runs[next] != v1alpha1.AnalysisPhaseSuccessful {
				return "the active Service selects the new version before its pre-promotion test passed"
			}
		default:
			return "the active Service selects an unexpected version"
		}
		return ""
	}
}

// TestBlueGreenIntegrationTestJob follows bluegreen-integration-test-job.yaml:
// the new version comes up behind the preview Service only, the scenario test
// Job runs against it and, when it passes, the active Service switches and the
// old version is scaled down after 30 s; when it fails, production stays on
// the same Pods, the rollout is Degraded and the preview is scaled down 30 s
// after the abort.
func TestBlueGreenIntegrationTestJob(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns, v1 := bgStart(t, c, "bg-job")
	v1Pods := hashPods(t, c, ns, bgApp, v1)

	// An update whose test passes.
	w := watchBlueGreen(t, c, ns, bgApp, bgActive, bgPreview)
	setImage(t, ns, bgRollout, "registry.example/ecl-api:1.1.0")
	ro := waitRollout(t, c, ns, bgRollout, "a new version", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash != v1
	})
	v2 := ro.Status.CurrentPodHash
	run := waitPreRun(t, c, ns, v2, 2*time.Minute)
	if ref := metav1.GetControllerOf(&run); ref == nil || ref.Kind != "Rollout" || ref.UID != ro.UID {
		t.Errorf("AnalysisRun %s is controlled by %+v, want the Rollout %s", run.Name, ref, ro.UID)
	}
	// The reference labels a run with its purpose and the Rollout's selector
	// and annotates it with the revision it measures.
	if run.Labels[v1alpha1.RolloutTypeLabel] != v1alpha1.RolloutTypePrePromotionLabel ||
		run.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != v2 || run.Labels["app"] != bgApp {
		t.Errorf("AnalysisRun %s labels %v", run.Name, run.Labels)
	}
	// The revision is the new version's, which the Rollout's annotation
	// names too once its patch is seen.
	rev := replicaSetsOf(t, c, ns, ro)[v2].Annotations[v1alpha1.RevisionAnnotation]
	if rev == "" || run.Annotations[v1alpha1.RevisionAnnotation] != rev {
		t.Errorf("AnalysisRun %s annotations %v, want %s=%q as on ReplicaSet %s", run.Name, run.Annotations, v1alpha1.RevisionAnnotation, rev, v2)
	}
	waitRollout(t, c, ns, bgRollout, "the Rollout's revision annotation", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Annotations[v1alpha1.RevisionAnnotation] == rev
	})
	job := runJob(t, c, ns, run.Name)
	args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
	if !slices.Contains(job.Spec.Template.Spec.Containers[0].Args, bgBaseURLArg) || strings.Contains(args, "{{") {
		t.Errorf("Job %s args %q, want %q among them", job.Name, args, bgBaseURLArg)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.Kind != "AnalysisRun" || ref.UID != run.UID {
		t.Errorf("Job %s is controlled by %+v, want AnalysisRun %s", job.Name, ref, run.Name)
	}
	if got := jobFinished(job); got != batchv1.JobComplete {
		t.Fatalf("the scenario test Job ended %s, want Complete", got)
	}

	ro = waitRollout(t, c, ns, bgRollout, "the new version promoted to stable", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.StableRS == v2
	})
	switchSeen := time.Now()
	if a := serviceHash(t, c, ns, bgActive); a != v2 {
		t.Fatalf("after promotion %s selects %q, want %q", bgActive, a, v2)
	}
	// Right after the switch the old version is still fully up, on the
	// same Pods, waiting for its scale-down deadline.
	old := replicaSetsOf(t, c, ns, ro)[v1]
	if old == nil || derefOr(old.Spec.Replicas, 0) != bgReplicas {
		t.Fatalf("right after the switch the old ReplicaSet is %v, want %d replicas", old, bgReplicas)
	}
	if got := hashPods(t, c, ns, bgApp, v1); got != v1Pods {
		t.Errorf("the old Pods changed during the update: %s, were %s", got, v1Pods)
	}
	deadline, err := time.Parse(time.RFC3339, old.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey])
	if err != nil {
		t.Fatalf("old ReplicaSet has no valid %s annotation: %v (annotations %v)", v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey, err, old.Annotations)
	}
	if d := deadline.Sub(switchSeen); d < bgScaleDownDelay/2 || d > bgScaleDownDelay+time.Second {
		t.Errorf("scale-down deadline %s is %s after the switch was seen, want about %s", deadline.Format(time.RFC3339), d.Round(time.Second), bgScaleDownDelay)
	}
	samples := w.end()
	expectHealthySoon(t, c, ns, bgRollout)
	checkSamples(t, samples, func(s bgSample) string {
		if msg := onlyPromotedAfterTest(v1, v2)(s); msg != "" {
			return msg
		}
		if s.runs[v2] != "" && s.avail[v2] < bgReplicas {
			return "the pre-promotion test started before the preview was fully available"
		}
		return ""
	})
	// The samples must include the moment the new version was up behind
	// the preview Service only.
	if !slices.ContainsFunc(samples, func(s bgSample) bool {
		return s.active == v1 && s.preview == v2 && s.avail[v2] == bgReplicas
	}) {
		t.Errorf("never saw the new version fully up behind %s while %s selected the old one", bgPreview, bgActive)
	}
	holdFor(t, time.Until(deadline.Add(-2*time.Second)), "the old version until its scale-down deadline", func() error {
		ro := getRollout(t, c, ns, bgRollout)
		if n := rsSpec(t, c, ns, ro, v1); n != bgReplicas {
			return fmt.Errorf("old ReplicaSet scaled to %d before its deadline %s", n, deadline.Format(time.RFC3339))
		}
		return nil
	})
	waitCounts(t, c, ns, bgRollout, map[string]int32{v1: 0, v2: bgReplicas})
	assertEvents(t, c, ns, bgRollout, "AnalysisRunCreated", "RolloutCompleted")

	// An update whose test fails.
	patchJSON(t, ns, "analysistemplate", bgTemplate, bgFailingTest)
	v2Pods := hashPods(t, c, ns, bgApp, v2)
	w = watchBlueGreen(t, c, ns, bgApp, bgActive, bgPreview)
	setImage(t, ns, bgRollout, "registry.example/ecl-api:1.2.0")
	ro = waitRollout(t, c, ns, bgRollout, "a third version", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash != v2
	})
	v3 := ro.Status.CurrentPodHash
	run = waitPreRun(t, c, ns, v3, 2*time.Minute)
	job = runJob(t, c, ns, run.Name)
	if got := jobFinished(job); got != batchv1.JobFailed {
		t.Fatalf("the failing scenario test Job ended %s, want Failed", got)
	}
	ro = waitRollout(t, c, ns, bgRollout, "Degraded after the failed test", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	abortSeen := time.Now()
	if !ro.Status.Abort || ro.Status.AbortedAt == nil {
		t.Errorf("abort %v abortedAt %v, want an abort", ro.Status.Abort, ro.Status.AbortedAt)
	}
	if msg := ro.Status.Message; !strings.Contains(msg, "AnalysisRun "+run.Name) || !strings.Contains(msg, `"newman"`) {
		t.Errorf("message %q does not name AnalysisRun %s and its metric \"newman\"", msg, run.Name)
	}
	if ro.Status.StableRS != v2 {
		t.Errorf("stable is %q, want %q", ro.Status.StableRS, v2)
	}
	abortedAt := abortSeen
	if ro.Status.AbortedAt != nil {
		abortedAt = ro.Status.AbortedAt.Time
	}
	if a := serviceHash(t, c, ns, bgActive); a != v2 {
		t.Fatalf("after the failed test %s selects %q, want %q", bgActive, a, v2)
	}
	if got := hashPods(t, c, ns, bgApp, v2); got != v2Pods {
		t.Errorf("the production Pods changed: %s, were %s", got, v2Pods)
	}
	// The preview's deadline counts from the first decision that found the
	// stable fully available, as in the reference: here it was at the abort,
	// so the deadline is abortScaleDownDelaySeconds after it (the annotation
	// has a resolution of a second).
	eventually(t, time.Minute, "the preview's scale-down-deadline", func() (bool, error) {
		rs := replicaSetsOf(t, c, ns, getRollout(t, c, ns, bgRollout))[v3]
		if rs == nil {
			return false, fmt.Errorf("no ReplicaSet %s", v3)
		}
		v := rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey]
		deadline, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return false, fmt.Errorf("scale-down-deadline %q: %v", v, err)
		}
		if early, late := abortedAt.Add(bgScaleDownDelay-time.Second), abortedAt.Add(bgScaleDownDelay+5*time.Second); deadline.Before(early) || deadline.After(late) {
			t.Fatalf("scale-down-deadline %s, want %s after the abort at %s", v, bgScaleDownDelay, abortedAt.UTC().Format(time.RFC3339))
		}
		return true, nil
	})
	// The preview stays up a while after the abort, then goes.
	holdFor(t, time.Until(abortedAt.Add(bgScaleDownDelay-5*time.Second)), "the preview until abortScaleDownDelaySeconds", func() error {
		ro := getRollout(t, c, ns, bgRollout)
		if n := rsSpec(t, c, ns, ro, v3); n != bgReplicas {
			return fmt.Errorf("preview ReplicaSet at %d replicas %s after the abort, want %d until %s", n,
				time.Since(abortedAt).Round(time.Second), bgReplicas, bgScaleDownDelay)
		}
		return nil
	})
	waitCounts(t, c, ns, bgRollout, map[string]int32{v3: 0, v2: bgReplicas})
	if d := time.Since(abortedAt); d < bgScaleDownDelay-2*time.Second {
		t.Errorf("preview scaled down %s after the abort, want %s", d.Round(time.Second), bgScaleDownDelay)
	}
	if a := serviceHash(t, c, ns, bgActive); a != v2 {
		t.Errorf("%s selects %q, want %q", bgActive, a, v2)
	}
	if got := hashPods(t, c, ns, bgApp, v2); got != v2Pods {
		t.Errorf("the production Pods changed: %s, were %s", got, v2Pods)
	}
	checkSamples(t, w.end(), onlyPromotedAfterTest(v2, ""))
	assertEvents(t, c, ns, bgRollout, "AnalysisRunFailed", "RolloutAborted")
}

// bgEnv is one failure-table case: a namespace with the fixture at its first
// version.
type bgEnv struct {
	c        clients
	ns, v1   string
	v1Pods   string
	autoProm bool
}

// untouched checks that nothing of production or of the Rollout's
// ReplicaSets changed: one ReplicaSet, the first, at full size on the same
// Pods; both Services on it; no AnalysisRun.
func (e *bgEnv) untouched(t *testing.T) error {
	t.Helper()
	ro := getRollout(t, e.c, e.ns, bgRollout)
	rss := replicaSetsOf(t, e.c, e.ns, ro)
	if len(rss) != 1 || rss[e.v1] == nil || derefOr(rss[e.v1].Spec.Replicas, 0) != bgReplicas {
		return fmt.Errorf("ReplicaSets changed: %s", specCounts(rss))
	}
	if got := podUIDs(t, e.c, e.ns, "app="+bgApp); got != e.v1Pods {
		return fmt.Errorf("the Pods changed: %s, were %s", got, e.v1Pods)
	}
	if a, p := serviceHash(t, e.c, e.ns, bgActive), serviceHash(t, e.c, e.ns, bgPreview); a != e.v1 || p != e.v1 {
		return fmt.Errorf("Services select %q and %q, want %q", a, p, e.v1)
	}
	if runs := allRuns(t, e.c, e.ns); len(runs) != 0 {
		return fmt.Errorf("%d AnalysisRuns exist", len(runs))
	}
	return nil
}

// invalid applies patch and checks that the Rollout reports InvalidSpec with
// a message containing want, and touches nothing.
func (e *bgEnv) invalid(t *testing.T, want string, ops ...string) {
	t.Helper()
	patchJSON(t, e.ns, "rollout", bgRollout, ops...)
	ro := waitRollout(t, e.c, e.ns, bgRollout, "InvalidSpec", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return conditionStatus(ro, v1alpha1.InvalidSpec) == corev1.ConditionTrue
	})
	if msg := condition(ro, v1alpha1.InvalidSpec).Message; !strings.Contains(msg, want) {
		t.Errorf("InvalidSpec message %q does not mention %q", msg, want)
	}
	if ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || !strings.HasPrefix(ro.Status.Message, "InvalidSpec") {
		t.Errorf("phase %s message %q, want Degraded with InvalidSpec", ro.Status.Phase, ro.Status.Message)
	}
	holdFor(t, 3*time.Second, "nothing touched while the spec is invalid", func() error { return e.untouched(t) })
}

// TestBlueGreenFailureTable runs the failure cases the team tested its
// pipeline with, each with autoPromotionEnabled true and false. Every case
// ends with production on the intended version, on the Pods it had, and the
// active Service never selects a version whose test did not pass.
func TestBlueGreenFailureTable(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)

	cases := []struct {
		name string
		// run drives the case and returns the intended version ("" = the first).
		run func(t *testing.T, e *bgEnv) string
	}{
		{"invalid spec", func(t *testing.T, e *bgEnv) string {
			for _, v := range []struct {
				name, want string
				op         string
			}{
				{"preview equals active", "previewService", `{"op":"replace","path":"/spec/strategy/blueGreen/previewService","value":"ecl-api-active"}`},
				{"canary and blueGreen", "canary", `{"op":"add","path":"/spec/strategy/canary","value":{}}`},
			} {
				orig := getRollout(t, e.c, e.ns, bgRollout)
				e.invalid(t, v.want, bgImagePatch("registry.example/ecl-api:2.0.0"), v.op)
				restoreSpec(t, e.c, orig)
				waitRollout(t, e.c, e.ns, bgRollout, "InvalidSpec cleared after "+v.name, time.Minute, func(ro *v1alpha1.Rollout) bool {
					return condition(ro, v1alpha1.InvalidSpec) == nil && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
				})
				if err := e.untouched(t); err != nil {
					t.Fatalf("after fixing %s: %v", v.name, err)
				}
			}
			return ""
		}},
		{"pods never ready", func(t *testing.T, e *bgEnv) string {
			patchJSON(t, e.ns, "rollout", bgRollout, `{"op":"add","path":"/spec/progressDeadlineSeconds","value":15}`,
				bgImagePatch("registry.example/ecl-api:never-ready"))
			ro := waitRollout(t, e.c, e.ns, bgRollout, "ProgressDeadlineExceeded", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
				p := condition(ro, v1alpha1.RolloutProgressing)
				return p != nil && p.Reason == "ProgressDeadlineExceeded" && p.Status == corev1.ConditionFalse
			})
			v2 := ro.Status.CurrentPodHash
			if v2 == e.v1 || ro.Status.StableRS != e.v1 || ro.Status.Phase != v1alpha1.RolloutPhaseDegraded {
				t.Errorf("current %q stable %q phase %s, want a new version, stable %q, Degraded", v2, ro.Status.StableRS, ro.Status.Phase, e.v1)
			}
			holdFor(t, 3*time.Second, "nothing promoted after the deadline", func() error {
				if a, p := serviceHash(t, e.c, e.ns, bgActive), serviceHash(t, e.c, e.ns, bgPreview); a != e.v1 || p != e.v1 {
					return fmt.Errorf("Services select %q and %q, want %q (the new version has no ready Pod)", a, p, e.v1)
				}
				if runs := allRuns(t, e.c, e.ns); len(runs) != 0 {
					return fmt.Errorf("%d AnalysisRuns for a version that never became ready", len(runs))
				}
				return nil
			})
			return ""
		}},
		{"missing service", func(t *testing.T, e *bgEnv) string {
			e.invalid(t, `"ecl-api-preview-missing"`, bgImagePatch("registry.example/ecl-api:2.0.0"),
				`{"op":"replace","path":"/spec/strategy/blueGreen/previewService","value":"ecl-api-preview-missing"}`)
			return ""
		}},
		{"wrong service", func(t *testing.T, e *bgEnv) string {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "ecl-api-other"},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": "other"},
					Ports:    []corev1.ServicePort{{Port: 8080}},
				},
			}
			if _, err := e.c.kube.CoreV1().Services(e.ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			e.invalid(t, `"ecl-api-other"`, bgImagePatch("registry.example/ecl-api:2.0.0"),
				`{"op":"replace","path":"/spec/strategy/blueGreen/previewService","value":"ecl-api-other"}`)
			if h := serviceHash(t, e.c, e.ns, "ecl-api-other"); h != "" {
				t.Errorf("the wrong Service was changed to select %q", h)
			}
			return ""
		}},
		{"failing test", func(t *testing.T, e *bgEnv) string {
			patchJSON(t, e.ns, "analysistemplate", bgTemplate, bgFailingTest)
			setImage(t, e.ns, bgRollout, "registry.example/ecl-api:2.0.0")
			ro := waitRollout(t, e.c, e.ns, bgRollout, "Degraded after the failed test", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
			v2 := ro.Status.CurrentPodHash
			if v2 == e.v1 || !ro.Status.Abort || ro.Status.StableRS != e.v1 || !strings.Contains(ro.Status.Message, "AnalysisRun") {
				t.Errorf("current %q stable %q abort %v message %q, want an abort naming the AnalysisRun", v2, ro.Status.StableRS, ro.Status.Abort, ro.Status.Message)
			}
			if runs := preRuns(t, e.c, e.ns, v2); len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseFailed {
				t.Errorf("pre-promotion runs of the new version: %d, want one Failed", len(runs))
			}
			return ""
		}},
		{"normal", func(t *testing.T, e *bgEnv) string {
			setImage(t, e.ns, bgRollout, "registry.example/ecl-api:2.0.0")
			if !e.autoProm {
				ro := waitRollout(t, e.c, e.ns, bgRollout, "paused for promotion", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
					return ro.Status.Phase == v1alpha1.RolloutPhasePaused && hasPause(ro, v1alpha1.PauseReasonBlueGreenPause)
				})
				v2 := ro.Status.CurrentPodHash
				if runs := preRuns(t, e.c, e.ns, v2); len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
					t.Errorf("paused with %d pre-promotion runs, want one Successful", len(runs))
				}
				waitServices(t, e.c, e.ns, bgActive, e.v1, bgPreview, v2)
				holdFor(t, 3*time.Second, "the pause until promoted", func() error {
					ro := getRollout(t, e.c, e.ns, bgRollout)
					if ro.Status.Phase != v1alpha1.RolloutPhasePaused || !hasPause(ro, v1alpha1.PauseReasonBlueGreenPause) {
						return fmt.Errorf("phase %s pause conditions %+v", ro.Status.Phase, ro.Status.PauseConditions)
					}
					if a := serviceHash(t, e.c, e.ns, bgActive); a != e.v1 {
						return fmt.Errorf("%s selects %q while paused", bgActive, a)
					}
					return nil
				})
				promote(t, e.ns, bgRollout)
			}
			ro := waitRollout(t, e.c, e.ns, bgRollout, "the new version promoted to stable", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
				return ro.Status.StableRS != e.v1 && ro.Status.StableRS == ro.Status.CurrentPodHash
			})
			v2 := ro.Status.StableRS
			// Right after the switch the old version still runs, on the same Pods.
			if n := rsSpec(t, e.c, e.ns, ro, e.v1); n != bgReplicas {
				t.Errorf("old ReplicaSet at %d replicas right after the switch, want %d until the scale-down delay", n, bgReplicas)
			}
			if got := hashPods(t, e.c, e.ns, bgApp, e.v1); got != e.v1Pods {
				t.Errorf("the old Pods changed during the update: %s, were %s", got, e.v1Pods)
			}
			expectHealthySoon(t, e.c, e.ns, bgRollout)
			return v2
		}},
	}

	for _, tc := range cases {
		for _, auto := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s,autoPromotionEnabled=%v", tc.name, auto), func(t *testing.T) {
				t.Parallel()
				ns, v1 := bgStart(t, c, "bg-table")
				if !auto {
					patchJSON(t, ns, "rollout", bgRollout, `{"op":"replace","path":"/spec/strategy/blueGreen/autoPromotionEnabled","value":false}`)
					waitRollout(t, c, ns, bgRollout, "Healthy after the autoPromotionEnabled patch", time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
				}
				e := &bgEnv{c: c, ns: ns, v1: v1, v1Pods: hashPods(t, c, ns, bgApp, v1), autoProm: auto}
				w := watchBlueGreen(t, c, ns, bgApp, bgActive, bgPreview)

				intended := tc.run(t, e)

				samples := w.end()
				if intended == "" {
					intended = v1
					checkSamples(t, samples, onlyPromotedAfterTest(v1, ""))
					ro := getRollout(t, c, ns, bgRollout)
					if ro.Status.StableRS != v1 {
						t.Errorf("stable is %q, want the first version %q", ro.Status.StableRS, v1)
					}
					if got := hashPods(t, c, ns, bgApp, v1); got != e.v1Pods {
						t.Errorf("the production Pods changed: %s, were %s", got, e.v1Pods)
					}
				} else {
					checkSamples(t, samples, onlyPromotedAfterTest(v1, intended))
				}
				if a := serviceHash(t, c, ns, bgActive); a != intended {
					t.Errorf("%s selects %q at the end, want %q", bgActive, a, intended)
				}
			})
		}
	}
}

// TestBlueGreenIstioPrometheusWaitsForPromotion follows
// bluegreen-istio-prometheus.yaml up to the promotion: the Rollout runs the
// Deployment's template while the Deployment stays at 0, an update of the
// Deployment brings the new version up behind service-preview and waits for
// a person, and the team's VirtualService is never modified.
func TestBlueGreenIstioPrometheusWaitsForPromotion(t *testing.T) {
	ensureCRDs(t)
	ensureIstioCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "bg-istio")
	runController(t, ns)
	vsRes := c.dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "virtualservices"}).Namespace(ns)

	applySeed(t, ns, "bluegreen-istio-prometheus.yaml")
	vsBefore, err := vsRes.Get(context.Background(), "virtual-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ro := waitRollout(t, c, ns, "rollout", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	waitCounts(t, c, ns, "rollout", map[string]int32{v1: 1})
	waitServices(t, c, ns, "service", v1, "service-preview", v1)
	if rs := replicaSetsOf(t, c, ns, ro)[v1]; rs.Spec.Template.Spec.Containers[0].Image != "registry.example/grpc-server:1.0.0" {
		t.Fatalf("the Rollout's ReplicaSet runs %s, not the Deployment's template", rs.Spec.Template.Spec.Containers[0].Image)
	}
	deploymentAtZero := func() error {
		var dep appsv1.Deployment
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "grpc-server"}, &dep); err != nil {
			return err
		}
		if derefOr(dep.Spec.Replicas, 1) != 0 || dep.Status.Replicas != 0 {
			return fmt.Errorf("Deployment grpc-server at %d replicas (%d Pods), want 0", derefOr(dep.Spec.Replicas, 1), dep.Status.Replicas)
		}
		return nil
	}
	if err := deploymentAtZero(); err != nil {
		t.Fatal(err)
	}
	if n := countPods(t, c, ns, "", func(p *corev1.Pod) bool { return p.Labels["app"] == "grpc-server" }); n != 1 {
		t.Fatalf("%d grpc-server Pods, want 1", n)
	}
	v1Pods := hashPods(t, c, ns, "grpc-server", v1)

	mustKubectl(t, "-n", ns, "set", "image", "deployment/grpc-server", "grpc-server=registry.example/grpc-server:1.1.0")
	ro = waitRollout(t, c, ns, "rollout", "paused for promotion", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentPodHash != v1 && ro.Status.Phase == v1alpha1.RolloutPhasePaused && hasPause(ro, v1alpha1.PauseReasonBlueGreenPause)
	})
	v2 := ro.Status.CurrentPodHash
	waitCounts(t, c, ns, "rollout", map[string]int32{v2: 1, v1: 1})
	waitServices(t, c, ns, "service", v1, "service-preview", v2)
	if rs := replicaSetsOf(t, c, ns, ro)[v2]; rs.Spec.Template.Spec.Containers[0].Image != "registry.example/grpc-server:1.1.0" {
		t.Fatalf("the new ReplicaSet runs %s", rs.Spec.Template.Spec.Containers[0].Image)
	}
	holdFor(t, 5*time.Second, "the pause until promoted", func() error {
		ro := getRollout(t, c, ns, "rollout")
		if ro.Status.Phase != v1alpha1.RolloutPhasePaused || !hasPause(ro, v1alpha1.PauseReasonBlueGreenPause) || ro.Status.StableRS != v1 {
			return fmt.Errorf("phase %s pause conditions %+v stable %q", ro.Status.Phase, ro.Status.PauseConditions, ro.Status.StableRS)
		}
		if a := serviceHash(t, c, ns, "service"); a != v1 {
			return fmt.Errorf("service selects %q before promotion", a)
		}
		if got := podUIDs(t, c, ns, "app=grpc-server,"+v1alpha1.DefaultRolloutUniqueLabelKey+"="+v1); got != v1Pods {
			return fmt.Errorf("the production Pods changed: %s, were %s", got, v1Pods)
		}
		if runs := allRuns(t, c, ns); len(runs) != 0 {
			return fmt.Errorf("%d AnalysisRuns before promotion", len(runs))
		}
		return deploymentAtZero()
	})
	vsAfter, err := vsRes.Get(context.Background(), "virtual-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vsBefore.Object["spec"], vsAfter.Object["spec"]) || vsBefore.GetResourceVersion() != vsAfter.GetResourceVersion() {
		t.Errorf("the VirtualService was modified:\nbefore %v (resourceVersion %s)\nafter  %v (resourceVersion %s)",
			vsBefore.Object["spec"], vsBefore.GetResourceVersion(), vsAfter.Object["spec"], vsAfter.GetResourceVersion())
	}
}

// TestBlueGreenPrePromotionPastProgressDeadline follows the reference when a
// pre-promotion test hangs past progressDeadlineSeconds with
// progressDeadlineAbort: the deadline runs while a blue-green release waits
// for its analysis (only a canary's analysis and experiment steps stop it),
// so the release is aborted: the run is terminated, production stays on the
// stable version and the preview is scaled down after
// abortScaleDownDelaySeconds.
func TestBlueGreenPrePromotionPastProgressDeadline(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns, v1 := bgStart(t, c, "bg-deadline")
	// The scenario test hangs: its Pod keeps running and its Job never ends.
	mustKubectl(t, "-n", ns, "patch", "analysistemplate", "scenario-test", "--type", "json", "-p",
		fmt.Sprintf(`[{"op":"add","path":"/spec/metrics/0/provider/job/spec/template/metadata","value":{"labels":{%q:%q}}}]`,
			devcluster.SimulateLabel, devcluster.SimulateRunForever))
	mustKubectl(t, "-n", ns, "patch", "rollout", bgRollout, "--type", "merge", "-p", `{"spec":{"progressDeadlineSeconds":15,"progressDeadlineAbort":true}}`)
	setImage(t, ns, bgRollout, "registry.example/ecl-api:1.1.0")
	ro := waitRollout(t, c, ns, bgRollout, "a new version", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash != v1
	})
	v2 := ro.Status.CurrentPodHash
	run := waitPreRun(t, c, ns, v2, 2*time.Minute)

	ro = waitRollout(t, c, ns, bgRollout, "aborted by the progress deadline", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Abort && ro.Status.Phase == v1alpha1.RolloutPhaseDegraded
	})
	want := "RolloutAborted: Rollout aborted update to revision " + ro.Annotations[v1alpha1.RevisionAnnotation]
	if ro.Status.Message != want {
		t.Errorf("message %q, want %q", ro.Status.Message, want)
	}
	if ro.Status.StableRS != v1 || serviceHash(t, c, ns, bgActive) != v1 {
		t.Fatalf("stable %q, %s selects %q: want production left on %q", ro.Status.StableRS, bgActive, serviceHash(t, c, ns, bgActive), v1)
	}
	eventually(t, time.Minute, "the hanging pre-promotion run to be terminated", func() (bool, error) {
		var cur v1alpha1.AnalysisRun
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: run.Name}, &cur); err != nil {
			return false, err
		}
		return cur.Spec.Terminate && cur.Status.Phase.Completed(), fmt.Errorf("terminate %v phase %q", cur.Spec.Terminate, cur.Status.Phase)
	})
	waitCounts(t, c, ns, bgRollout, map[string]int32{v2: 0, v1: bgReplicas})
	if a := serviceHash(t, c, ns, bgActive); a != v1 {
		t.Fatalf("%s selects %q after the abort, want %q", bgActive, a, v1)
	}
}
