package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// The tests of this file build the state Argo Rollouts leaves a release in
// (ReplicaSets, Services, AnalysisRuns, labels, annotations, owner
// references and the Rollout's status as that controller writes them),
// start Kanaria on it, and check that the release continues from where it
// stood.

// waitAvailablePods waits until the namespace holds exactly n Pods matching
// selector and its ReplicaSets count n available replicas in all, and
// returns the Pods' fingerprint.
func waitAvailablePods(t *testing.T, c clients, ns, selector string, n int) string {
	t.Helper()
	eventually(t, 2*time.Minute, fmt.Sprintf("%d available Pods of the reference's ReplicaSets", n), func() (bool, error) {
		uids := podUIDs(t, c, ns, selector)
		got := 0
		if uids != "" {
			got = len(strings.Split(uids, ","))
		}
		var list appsv1.ReplicaSetList
		if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		avail := 0
		for _, rs := range list.Items {
			avail += int(rs.Status.AvailableReplicas)
		}
		return got == n && avail == n, fmt.Errorf("%d Pods, %d available", got, avail)
	})
	return podUIDs(t, c, ns, selector)
}

// writeReferenceStatus stores st as the Rollout's status, as the
// reference's last write left it. The observed generation stays empty so
// that a test can tell Kanaria's first status write.
func writeReferenceStatus(t *testing.T, c clients, ro *v1alpha1.Rollout, st v1alpha1.RolloutStatus) {
	t.Helper()
	ro.Status = st
	if err := c.ctrl.Status().Update(context.Background(), ro); err != nil {
		t.Fatalf("writing the reference's status: %v", err)
	}
}

// setRevision stores the revision annotation the reference keeps on the
// Rollout.
func setRevision(t *testing.T, c clients, ro *v1alpha1.Rollout, revision string) {
	t.Helper()
	ro.Annotations = map[string]string{v1alpha1.RevisionAnnotation: revision}
	if err := c.ctrl.Update(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
}

// referenceService creates a Service that the reference manages for a
// Rollout, selecting hash.
func referenceService(t *testing.T, c clients, ns, name, rollout, hash string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{v1alpha1.ManagedByRolloutsKey: rollout}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": rollout, v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if err := c.ctrl.Create(context.Background(), svc); err != nil {
		t.Fatalf("creating Service %s: %v", name, err)
	}
}

// moveBlueGreen is a blue-green Rollout of three Pods behind web-active
// and web-preview, at version 2.0.
func moveBlueGreen(ns string) *v1alpha1.Rollout {
	labels := map[string]string{"app": "web"}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptrTo(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:2.0",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			},
			Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
				ActiveService: "web-active", PreviewService: "web-preview",
			}},
		},
	}
}

// healthTemplate is an AnalysisTemplate of three web measurements two
// seconds apart against url.
const healthTemplate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: health
spec:
  metrics:
  - name: check
    interval: 2s
    count: 3
    successCondition: result.ok == true
    provider:
      web:
        url: %s
`

// referenceRun creates the AnalysisRun the reference creates from
// healthTemplate for ro's release of hash at revision 2 (named name,
// labelled with the selector's labels, the hash and the run's type,
// annotated with the revision, controlled by ro) and leaves it Running
// after one successful measurement at started.
func referenceRun(t *testing.T, c clients, ro *v1alpha1.Rollout, name, hash, url string, labels map[string]string, started metav1.Time) {
	t.Helper()
	all := map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash, "app": "web"}
	for k, v := range labels {
		all[k] = v
	}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ro.Namespace, Labels: all,
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: "2"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
			Name: "check", Interval: "2s", Count: ptrTo(intstr.FromInt32(3)), SuccessCondition: "result.ok == true",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url}},
		}}},
	}
	if err := c.ctrl.Create(context.Background(), run); err != nil {
		t.Fatalf("creating the reference's AnalysisRun: %v", err)
	}
	run.Status = v1alpha1.AnalysisRunStatus{
		Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: &started,
		RunSummary: v1alpha1.RunSummary{Count: 1},
		MetricResults: []v1alpha1.MetricResult{{
			Name: "check", Phase: v1alpha1.AnalysisPhaseRunning, Count: 1, Successful: 1,
			Measurements: []v1alpha1.Measurement{{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: `{"errors":0,"ok":true}`,
				StartedAt: &started, FinishedAt: &started}},
		}},
	}
	if err := c.ctrl.Status().Update(context.Background(), run); err != nil {
		t.Fatalf("writing the reference's run status: %v", err)
	}
}

// onlyRun checks that the namespace holds one AnalysisRun, name, ended
// Successful with the reference's measurement and two more, and that the
// target was measured twice: Kanaria continued the run.
func onlyRun(t *testing.T, c clients, ns, name string, started metav1.Time, target *webTarget) {
	t.Helper()
	runs := allRuns(t, c, ns)
	if len(runs) != 1 || runs[0].Name != name {
		var names []string
		for _, r := range runs {
			names = append(names, r.Name)
		}
		t.Fatalf("AnalysisRuns %v, want only the reference's %s", names, name)
	}
	done := runs[0]
	if done.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || len(done.Status.MetricResults) != 1 {
		t.Fatalf("the reference's run ended %s (%s) with %d metric results", done.Status.Phase, done.Status.Message, len(done.Status.MetricResults))
	}
	ms := done.Status.MetricResults[0].Measurements
	if len(ms) != 3 || ms[0].StartedAt == nil || !ms[0].StartedAt.Equal(&started) {
		t.Errorf("measurements %+v, want the reference's first and two more", ms)
	}
	if n := target.count("/ok"); n != 2 {
		t.Errorf("Kanaria measured %d times, want the two the reference had not taken", n)
	}
}

// TestTakesOverBlueGreenDuringScaleDownDelay starts Kanaria on a blue-green
// Rollout the reference promoted a moment ago: both Services select the new
// version, and the old ReplicaSet, its Pods still up, carries the
// reference's scale-down-deadline. The two ReplicaSets are named by the two
// hash encodings. Kanaria scales the old one down at that deadline, not at
// a deadline of its own, and restarts no Pod.
func TestTakesOverBlueGreenDuringScaleDownDelay(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "move-bg")
	ctx := context.Background()

	ro := moveBlueGreen(ns)
	// Longer than the deadline left, so a deadline of Kanaria's own would
	// come visibly late.
	ro.Spec.Strategy.BlueGreen.ScaleDownDelaySeconds = ptrTo(int32(60))
	if err := c.ctrl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	setRevision(t, c, ro, "2")
	// The old version by the older library's encoding, the new one by the
	// newer's: a controller upgraded between the two releases.
	v1 := referenceReplicaSetBy(t, c, ro, "registry.example/web:1.0", "1", 3, false, nil)
	v2 := referenceReplicaSetBy(t, c, ro, "registry.example/web:2.0", "2", 3, true, nil)
	referenceService(t, c, ns, "web-active", "web", v2)
	referenceService(t, c, ns, "web-preview", "web", v2)
	pods := waitAvailablePods(t, c, ns, "app=web", 6)
	v2Pods := hashPods(t, c, ns, "web", v2)

	// The reference wrote the deadline at promotion, scaleDownDelaySeconds
	// before it; what is left of it is shorter than the spec's delay.
	deadline := time.Now().Add(20 * time.Second).UTC().Truncate(time.Second)
	var old appsv1.ReplicaSet
	if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-" + v1}, &old); err != nil {
		t.Fatal(err)
	}
	old.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey] = deadline.Format(time.RFC3339)
	if err := c.ctrl.Update(ctx, &old); err != nil {
		t.Fatal(err)
	}
	promoted := metav1.NewTime(deadline.Add(-60 * time.Second))
	writeReferenceStatus(t, c, ro, v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v2, Phase: v1alpha1.RolloutPhaseHealthy,
		BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: v2, PreviewSelector: v2},
		Replicas:  6, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, HPAReplicas: 3,
		Selector: "app=web," + v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v2,
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutAvailable, Status: corev1.ConditionTrue, Reason: "AvailableReason", Message: "Rollout has minimum availability", LastUpdateTime: promoted, LastTransitionTime: promoted},
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", Message: `ReplicaSet "web-` + v2 + `" has successfully progressed.`, LastUpdateTime: promoted, LastTransitionTime: promoted},
			{Type: v1alpha1.RolloutHealthy, Status: corev1.ConditionTrue, Reason: "RolloutHealthy", Message: "Rollout is healthy", LastUpdateTime: promoted, LastTransitionTime: promoted},
			{Type: v1alpha1.RolloutCompleted, Status: corev1.ConditionTrue, Reason: "RolloutCompleted", Message: "Rollout completed update to revision 2 (" + v2 + "): Initial deploy", LastUpdateTime: promoted, LastTransitionTime: promoted},
		},
	})
	rss := allReplicaSets(t, c, ns)

	runController(t, ns)
	waitRollout(t, c, ns, "web", "Kanaria's first status write", time.Minute, func(*v1alpha1.Rollout) bool { return true })
	if time.Now().After(deadline.Add(-3 * time.Second)) {
		t.Fatalf("the controller took until %s to start, too close to the deadline %s for the test to tell", time.Now().UTC().Format(time.RFC3339), deadline.Format(time.RFC3339))
	}
	if now := podUIDs(t, c, ns, "app=web"); now != pods {
		t.Fatalf("Pods changed when Kanaria took over a promoted blue-green Rollout: before %v, after %v", pods, now)
	}

	// The old ReplicaSet goes to zero at the reference's deadline.
	var scaledAt time.Time
	eventually(t, 90*time.Second, "the old ReplicaSet scaled to zero", func() (bool, error) {
		var rs appsv1.ReplicaSet
		if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-" + v1}, &rs); err != nil {
			return false, err
		}
		if derefOr(rs.Spec.Replicas, -1) == 0 {
			scaledAt = time.Now()
			return true, nil
		}
		if rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey] != deadline.Format(time.RFC3339) {
			return false, fmt.Errorf("the deadline changed to %q", rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey])
		}
		return false, fmt.Errorf("%d replicas", derefOr(rs.Spec.Replicas, -1))
	})
	// The deadline has a resolution of a second, and the poll above looks
	// a few times a second.
	if early := deadline.Sub(scaledAt); early > time.Second {
		t.Errorf("the old ReplicaSet was scaled down %s before the reference's deadline %s", early.Round(100*time.Millisecond), deadline.Format(time.RFC3339))
	}
	if late := scaledAt.Sub(deadline); late > 5*time.Second {
		t.Errorf("the old ReplicaSet was scaled down %s after the reference's deadline %s", late.Round(100*time.Millisecond), deadline.Format(time.RFC3339))
	}
	if got := hashPods(t, c, ns, "web", v2); got != v2Pods {
		t.Errorf("the active version's Pods changed: %s, were %s", got, v2Pods)
	}
	if a, p := serviceHash(t, c, ns, "web-active"), serviceHash(t, c, ns, "web-preview"); a != v2 || p != v2 {
		t.Errorf("the Services select %q and %q, want %q", a, p, v2)
	}
	got := getRollout(t, c, ns, "web")
	if got.Status.StableRS != v2 || got.Status.CurrentPodHash != v2 || got.Status.Phase != v1alpha1.RolloutPhaseHealthy {
		t.Errorf("status stable %q current %q phase %s, want %q, %q, Healthy", got.Status.StableRS, got.Status.CurrentPodHash, got.Status.Phase, v2, v2)
	}
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Errorf("ReplicaSets %v, want only the reference's %v", now, rss)
	}
}

// TestTakesOverRunningStepAnalysis starts Kanaria on a canary the reference
// left at an analysis step, with the step's AnalysisRun Running after one
// of its three measurements. Kanaria measures the same run twice more,
// creates no second run, and moves on to the next step when the run
// succeeds.
func TestTakesOverRunningStepAnalysis(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "move-run")
	ctx := context.Background()
	target := newWebTarget(t)
	applyYAML(t, ns, fmt.Sprintf(healthTemplate, target.URL+"/ok"))

	ro := trustRollout(ns, "web", "registry.example/web:2.0")
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptrTo(int32(10))},
		{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "health"}}}},
		{Pause: &v1alpha1.RolloutPause{}},
	}
	if err := c.ctrl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	setRevision(t, c, ro, "2")
	v1 := referenceReplicaSet(t, c, ro, "registry.example/web:1.0", "1", 5)
	v2 := referenceReplicaSet(t, c, ro, "registry.example/web:2.0", "2", 1)

	// The run as the reference names, labels, annotates and owns a step
	// analysis: <rollout>-<hash>-<revision>-<step index>.
	runName := fmt.Sprintf("web-%s-2-1", v2)
	started := metav1.NewTime(time.Now().Add(-time.Second).Truncate(time.Second))
	referenceRun(t, c, ro, runName, v2, target.URL+"/ok", map[string]string{
		v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypeStepLabel, v1alpha1.RolloutCanaryStepIndexLabel: "1",
	}, started)

	at := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	writeReferenceStatus(t, c, ro, v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v1, CurrentStepHash: podhash.Steps(ro.Spec.Strategy.Canary.Steps),
		CurrentStepIndex: ptrTo(int32(1)), Phase: v1alpha1.RolloutPhaseProgressing, Message: "more replicas need to be updated",
		Canary:   v1alpha1.CanaryStatus{CurrentStepAnalysisRunStatus: &v1alpha1.RolloutAnalysisRunStatus{Name: runName, Status: v1alpha1.AnalysisPhaseRunning}},
		Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6, HPAReplicas: 6,
		Selector: "app=web",
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", Message: `Updated Replicas "web-` + v2 + `" is progressing.`, LastUpdateTime: at, LastTransitionTime: at},
		},
	})
	pods := waitAvailablePods(t, c, ns, "app=web", 6)
	rss := allReplicaSets(t, c, ns)

	runController(t, ns)
	waitRollout(t, c, ns, "web", "Kanaria's first status write", time.Minute, func(*v1alpha1.Rollout) bool { return true })
	if now := podUIDs(t, c, ns, "app=web"); now != pods {
		t.Fatalf("Pods changed when Kanaria took over: before %v, after %v", pods, now)
	}
	got := waitRollout(t, c, ns, "web", "paused at the step after the analysis", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 2
	})
	if got.Status.StableRS != v1 || got.Status.CurrentPodHash != v2 {
		t.Errorf("stable %q current %q, want %q and %q", got.Status.StableRS, got.Status.CurrentPodHash, v1, v2)
	}
	onlyRun(t, c, ns, runName, started, target)
	if s := got.Status.Canary.CurrentStepAnalysisRunStatus; s != nil && s.Name != runName {
		t.Errorf("the status names the run %q, want %q", s.Name, runName)
	}
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Errorf("ReplicaSets %v, want only the reference's %v", now, rss)
	}
}

// TestTakesOverAbortedCanary starts Kanaria on a canary the reference
// aborted: the new ReplicaSet at zero, the stable one at full size, and
// abort and abortedAt in the status. Kanaria keeps it aborted, keeps the
// time it was aborted, leaves every Pod alone, and a retry starts the
// steps again on the same ReplicaSets.
func TestTakesOverAbortedCanary(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "move-abort")
	ctx := context.Background()

	ro := trustRollout(ns, "web", "registry.example/web:2.0")
	if err := c.ctrl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	setRevision(t, c, ro, "2")
	v1 := referenceReplicaSet(t, c, ro, "registry.example/web:1.0", "1", 5)
	v2 := referenceReplicaSet(t, c, ro, "registry.example/web:2.0", "2", 0)
	abortedAt := metav1.NewTime(time.Now().Add(-2 * time.Minute).Truncate(time.Second))
	msg := "RolloutAborted: Rollout aborted update to revision 2"
	writeReferenceStatus(t, c, ro, v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v1, CurrentStepHash: podhash.Steps(ro.Spec.Strategy.Canary.Steps),
		CurrentStepIndex: ptrTo(int32(0)), Abort: true, AbortedAt: &abortedAt,
		Phase: v1alpha1.RolloutPhaseDegraded, Message: msg,
		Replicas: 5, UpdatedReplicas: 0, ReadyReplicas: 5, AvailableReplicas: 5, HPAReplicas: 5,
		Selector: "app=web",
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionFalse, Reason: "RolloutAborted", Message: "Rollout aborted update to revision 2", LastUpdateTime: abortedAt, LastTransitionTime: abortedAt},
			{Type: v1alpha1.RolloutAvailable, Status: corev1.ConditionTrue, Reason: "AvailableReason", Message: "Rollout has minimum availability", LastUpdateTime: abortedAt, LastTransitionTime: abortedAt},
		},
	})
	pods := waitAvailablePods(t, c, ns, "app=web", 5)
	rss := allReplicaSets(t, c, ns)

	runController(t, ns)
	waitRollout(t, c, ns, "web", "Kanaria's first status write", time.Minute, func(*v1alpha1.Rollout) bool { return true })
	// Give the controller a few more reconciles to do something wrong.
	time.Sleep(3 * time.Second)
	got := getRollout(t, c, ns, "web")
	if !got.Status.Abort || got.Status.AbortedAt == nil || !got.Status.AbortedAt.Equal(&abortedAt) || got.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("abort %v abortedAt %v phase %s, want true, %s, Degraded", got.Status.Abort, got.Status.AbortedAt, got.Status.Phase, abortedAt.UTC().Format(time.RFC3339))
	}
	if got.Status.StableRS != v1 || got.Status.CurrentPodHash != v2 {
		t.Errorf("stable %q current %q, want %q and %q", got.Status.StableRS, got.Status.CurrentPodHash, v1, v2)
	}
	waitCounts(t, c, ns, "web", map[string]int32{v1: 5, v2: 0})
	if now := podUIDs(t, c, ns, "app=web"); now != pods {
		t.Fatalf("Pods changed when Kanaria took over an aborted canary: before %v, after %v", pods, now)
	}

	retry(t, ns, "web")
	waitRollout(t, c, ns, "web", "at the first pause after the retry", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1 && !ro.Status.Abort
	})
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Errorf("ReplicaSets %v after the retry, want only the reference's %v", now, rss)
	}
	if got := derefOr(getRollout(t, c, ns, "web").Status.CurrentStepIndex, -1); got != 1 {
		t.Errorf("step %d after the retry, want 1", got)
	}
}

// TestTakesOverBlueGreenPrePromotionAnalysis starts Kanaria on a blue-green
// Rollout the reference left with the new version up behind the preview
// Service and its pre-promotion AnalysisRun Running after one of three
// measurements. Kanaria measures the same run to its end, creates no second
// run, and promotes when it succeeds; no Pod restarts on the way.
func TestTakesOverBlueGreenPrePromotionAnalysis(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "move-pre")
	ctx := context.Background()
	target := newWebTarget(t)
	applyYAML(t, ns, fmt.Sprintf(healthTemplate, target.URL+"/ok"))

	ro := moveBlueGreen(ns)
	ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "health"}},
	}
	if err := c.ctrl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	setRevision(t, c, ro, "2")
	v1 := referenceReplicaSetBy(t, c, ro, "registry.example/web:1.0", "1", 3, true, nil)
	v2 := referenceReplicaSetBy(t, c, ro, "registry.example/web:2.0", "2", 3, true, nil)
	referenceService(t, c, ns, "web-active", "web", v1)
	referenceService(t, c, ns, "web-preview", "web", v2)
	pods := waitAvailablePods(t, c, ns, "app=web", 6)
	v2Pods := hashPods(t, c, ns, "web", v2)

	// The reference names a pre-promotion run <rollout>-<hash>-<revision>-pre.
	runName := fmt.Sprintf("web-%s-2-pre", v2)
	started := metav1.NewTime(time.Now().Add(-time.Second).Truncate(time.Second))
	referenceRun(t, c, ro, runName, v2, target.URL+"/ok", map[string]string{
		v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypePrePromotionLabel,
	}, started)
	at := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	writeReferenceStatus(t, c, ro, v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v1, Phase: v1alpha1.RolloutPhaseProgressing,
		Message: "waiting for analysis to complete",
		BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: v1, PreviewSelector: v2,
			PrePromotionAnalysisRunStatus: &v1alpha1.RolloutAnalysisRunStatus{Name: runName, Status: v1alpha1.AnalysisPhaseRunning}},
		Replicas: 6, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, HPAReplicas: 3,
		Selector: "app=web," + v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v1,
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", Message: `ReplicaSet "web-` + v2 + `" is progressing.`, LastUpdateTime: at, LastTransitionTime: at},
		},
	})
	rss := allReplicaSets(t, c, ns)

	runController(t, ns)
	waitRollout(t, c, ns, "web", "Kanaria's first status write", time.Minute, func(*v1alpha1.Rollout) bool { return true })
	if now := podUIDs(t, c, ns, "app=web"); now != pods {
		t.Fatalf("Pods changed when Kanaria took over: before %v, after %v", pods, now)
	}
	got := waitRollout(t, c, ns, "web", "promoted after the reference's run", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.StableRS == v2 && ro.Status.BlueGreen.ActiveSelector == v2
	})
	if a := serviceHash(t, c, ns, "web-active"); a != v2 {
		t.Errorf("web-active selects %q after the promotion, want %q", a, v2)
	}
	if s := got.Status.BlueGreen.PrePromotionAnalysisRunStatus; s != nil && s.Name != runName {
		t.Errorf("the status names the run %q, want %q", s.Name, runName)
	}
	onlyRun(t, c, ns, runName, started, target)
	if now := hashPods(t, c, ns, "web", v2); now != v2Pods {
		t.Errorf("the new version's Pods changed: %s, were %s", now, v2Pods)
	}
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Errorf("ReplicaSets %v, want only the reference's %v", now, rss)
	}
}
