package view

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

const ns = "shop"

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func fakeClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
}

// controlledBy makes owner the controller of the object, as the API server
// would record it.
func controlledBy(owner client.Object, gvk schema.GroupVersionKind) []metav1.OwnerReference {
	return []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)}
}

var (
	rolloutGVK     = v1alpha1.GroupVersion.WithKind("Rollout")
	rsGVK          = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	runGVK         = v1alpha1.GroupVersion.WithKind("AnalysisRun")
	experimentGVK  = v1alpha1.GroupVersion.WithKind("Experiment")
	metaAt         = func(d time.Duration) metav1.Time { return metav1.NewTime(ago(d)) }
	rolloutUID     = types.UID("uid-rollout")
	otherRollout   = types.UID("uid-other")
	runUID         = types.UID("uid-run")
	experimentUID  = types.UID("uid-experiment")
	canaryRSUID    = types.UID("uid-rs-canary")
	stableRSUID    = types.UID("uid-rs-stable")
	experimentRSID = types.UID("uid-rs-experiment")
)

func rollout(name string, uid types.UID) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: uid, CreationTimestamp: metaAt(48 * time.Hour)},
		Spec: v1alpha1.RolloutSpec{
			Replicas: i32(5),
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: i32(20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: i32(60)}, {Pause: &v1alpha1.RolloutPause{}},
			}}},
		},
		Status: v1alpha1.RolloutStatus{
			Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
			CurrentPodHash: "new", StableRS: "old", CurrentStepIndex: i32(1),
			Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6,
			Canary: v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{
				Canary: v1alpha1.WeightDestination{Weight: 17, PodTemplateHash: "new"},
				Stable: v1alpha1.WeightDestination{Weight: 83, PodTemplateHash: "old"},
			}},
		},
	}
}

func replicaSet(name, hash, revision string, uid types.UID, owner client.Object, ownerGVK schema.GroupVersionKind, replicas int32, image string, created time.Duration) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: uid, CreationTimestamp: metaAt(created),
			Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: revision},
			OwnerReferences: controlledBy(owner, ownerGVK),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}},
		},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

func runningPod(name string, owner *appsv1.ReplicaSet, created time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metaAt(created), OwnerReferences: controlledBy(owner, rsGVK)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
}

// canaryObjects is a canary at step 1 with one canary and two stable Pods,
// a step analysis with a Job, an experiment with its own ReplicaSet, and
// objects of another Rollout that must stay out of the tree.
func canaryObjects() []client.Object {
	ro := rollout("checkout", rolloutUID)
	other := rollout("search", otherRollout)
	canary := replicaSet("checkout-new", "new", "2", canaryRSUID, ro, rolloutGVK, 1, "app:2", 5*time.Minute)
	stable := replicaSet("checkout-old", "old", "1", stableRSUID, ro, rolloutGVK, 2, "app:1", 24*time.Hour)
	foreign := replicaSet("search-abc", "abc", "1", "uid-rs-foreign", other, rolloutGVK, 1, "search:1", time.Hour)
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: "checkout-new-2-1", Namespace: ns, UID: runUID, CreationTimestamp: metaAt(3 * time.Minute),
			Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "new"},
			OwnerReferences: controlledBy(ro, rolloutGVK),
		},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, MetricResults: []v1alpha1.MetricResult{
			{Name: "smoke", Successful: 2, Error: 1},
			{Name: "latency", Successful: 1, Inconclusive: 1, Failed: 1},
		}},
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke.1", Namespace: ns, CreationTimestamp: metaAt(time.Minute), OwnerReferences: controlledBy(run, runGVK)},
		Status:     batchv1.JobStatus{Active: 1},
	}
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "checkout-new-2-3", Namespace: ns, UID: experimentUID, CreationTimestamp: metaAt(2 * time.Minute),
			Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "new"},
			OwnerReferences: controlledBy(ro, rolloutGVK),
		},
		Status: v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning, TemplateStatuses: []v1alpha1.TemplateStatus{
			{Name: "baseline", Status: v1alpha1.TemplateStatusRunning, ServiceName: "checkout-baseline"},
		}},
	}
	expRS := replicaSet("checkout-new-2-3-baseline", "base", "", experimentRSID, exp, experimentGVK, 1, "app:1", 2*time.Minute)
	expRS.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey] = "baseline"
	return []client.Object{
		ro, other, canary, stable, foreign, run, job, exp, expRS,
		runningPod("checkout-new-a", canary, 5*time.Minute),
		runningPod("checkout-old-b", stable, 24*time.Hour),
		runningPod("checkout-old-a", stable, 24*time.Hour),
		runningPod("search-abc-a", foreign, time.Hour),
		runningPod("checkout-new-2-3-baseline-a", expRS, 2*time.Minute),
		// A Pod without an owner belongs to no tree.
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: ns}},
	}
}

func TestFetchRolloutCanary(t *testing.T) {
	c := fakeClient(t, canaryObjects()...)
	tree, err := FetchRollout(context.Background(), c, ns, "checkout", now)
	if err != nil {
		t.Fatal(err)
	}
	s := tree.RolloutSummary
	if s.Strategy != StrategyCanary || s.Phase != v1alpha1.RolloutPhasePaused || s.Message != "CanaryPauseStep" {
		t.Errorf("summary = %+v", s)
	}
	if s.Step == nil || *s.Step != (Step{Current: 1, Total: 4}) {
		t.Errorf("step = %+v, want 1/4", s.Step)
	}
	if s.SetWeight == nil || *s.SetWeight != 20 || s.ActualWeight == nil || *s.ActualWeight != 17 {
		t.Errorf("weights = %v/%v, want 20 set, 17 actual", s.SetWeight, s.ActualWeight)
	}
	if s.Replicas != (Replicas{Desired: 5, Current: 6, Updated: 1, Ready: 6, Available: 6}) {
		t.Errorf("replicas = %+v", s.Replicas)
	}
	wantImages := []Image{{Name: "app:2", Roles: []string{RoleCanary}}, {Name: "app:1", Roles: []string{RoleStable}}}
	if !equalImages(tree.Images, wantImages) {
		t.Errorf("images = %+v, want %+v", tree.Images, wantImages)
	}

	if got := revisionNumbers(tree); !slices.Equal(got, []int64{2, 1}) {
		t.Fatalf("revisions = %v, want [2 1] (newest first, no foreign ones)", got)
	}
	rev2, rev1 := tree.Revisions[0], tree.Revisions[1]
	if len(rev2.ReplicaSets) != 1 || rev2.ReplicaSets[0].Name != "checkout-new" || !slices.Equal(rev2.ReplicaSets[0].Roles, []string{RoleCanary}) {
		t.Errorf("revision 2 ReplicaSets = %+v", rev2.ReplicaSets)
	}
	if pods := podNames(rev2.ReplicaSets[0]); !slices.Equal(pods, []string{"checkout-new-a"}) {
		t.Errorf("canary Pods = %v", pods)
	}
	if p := rev2.ReplicaSets[0].Pods[0]; p.Status != "Running" || p.Ready != 1 || p.Total != 1 || p.Restarts != 1 {
		t.Errorf("canary Pod = %+v", p)
	}
	if len(rev2.AnalysisRuns) != 1 {
		t.Fatalf("revision 2 AnalysisRuns = %+v", rev2.AnalysisRuns)
	}
	run := rev2.AnalysisRuns[0]
	if run.Successful != 3 || run.Failed != 1 || run.Inconclusive != 1 || run.Error != 1 {
		t.Errorf("run counts = %+v, want the metric results summed", run)
	}
	if len(run.Jobs) != 1 || run.Jobs[0].Name != "smoke.1" || run.Jobs[0].Status != JobRunning {
		t.Errorf("run Jobs = %+v", run.Jobs)
	}
	if len(rev2.Experiments) != 1 {
		t.Fatalf("revision 2 Experiments = %+v", rev2.Experiments)
	}
	ex := rev2.Experiments[0]
	if len(ex.ReplicaSets) != 1 || ex.ReplicaSets[0].Template != "baseline" || len(ex.ReplicaSets[0].Pods) != 1 {
		t.Errorf("experiment = %+v", ex)
	}
	if len(rev1.ReplicaSets) != 1 || !slices.Equal(rev1.ReplicaSets[0].Roles, []string{RoleStable}) {
		t.Errorf("revision 1 ReplicaSets = %+v", rev1.ReplicaSets)
	}
	// Same creation time: ordered by name for a stable display.
	if pods := podNames(rev1.ReplicaSets[0]); !slices.Equal(pods, []string{"checkout-old-a", "checkout-old-b"}) {
		t.Errorf("stable Pods = %v", pods)
	}
}

func TestFetchRolloutBlueGreenRoles(t *testing.T) {
	ro := rollout("payments", rolloutUID)
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "payments", PreviewService: "payments-preview"}}
	ro.Status = v1alpha1.RolloutStatus{
		Phase: v1alpha1.RolloutPhasePaused, CurrentPodHash: "new", StableRS: "old",
		BlueGreen: v1alpha1.BlueGreenStatus{ActiveSelector: "old", PreviewSelector: "new"},
	}
	preview := replicaSet("payments-new", "new", "3", canaryRSUID, ro, rolloutGVK, 2, "pay:2", time.Minute)
	active := replicaSet("payments-old", "old", "2", stableRSUID, ro, rolloutGVK, 2, "pay:1", time.Hour)
	old := replicaSet("payments-older", "older", "1", "uid-rs-older", ro, rolloutGVK, 0, "pay:0", 48*time.Hour)
	old.Status = appsv1.ReplicaSetStatus{}
	c := fakeClient(t, ro, preview, active, old)

	tree, err := FetchRollout(context.Background(), c, ns, "payments", now)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Strategy != StrategyBlueGreen || tree.Step != nil || tree.SetWeight != nil {
		t.Errorf("summary = %+v, want blue-green without step or weight", tree.RolloutSummary)
	}
	roles := map[string][]string{}
	status := map[string]string{}
	for _, r := range tree.Revisions {
		for _, rs := range r.ReplicaSets {
			roles[rs.Name], status[rs.Name] = rs.Roles, rs.Status
		}
	}
	if !slices.Equal(roles["payments-new"], []string{RolePreview}) ||
		!slices.Equal(roles["payments-old"], []string{RoleStable, RoleActive}) ||
		len(roles["payments-older"]) != 0 {
		t.Errorf("roles = %v", roles)
	}
	if status["payments-older"] != RSScaledDown || status["payments-new"] != RSHealthy {
		t.Errorf("statuses = %v", status)
	}
	wantImages := []Image{{Name: "pay:2", Roles: []string{RolePreview}}, {Name: "pay:1", Roles: []string{RoleStable, RoleActive}}}
	if !equalImages(tree.Images, wantImages) {
		t.Errorf("images = %+v, want %+v", tree.Images, wantImages)
	}
}

func TestFetchRolloutNotFound(t *testing.T) {
	c := fakeClient(t)
	_, err := FetchRollout(context.Background(), c, "staging", "checkout", now)
	if err == nil {
		t.Fatal("no error for a missing rollout")
	}
	want := `rollout "checkout" not found in namespace "staging" (use -n to pick the namespace)`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	var nf *NotFoundError
	if !errors.As(err, &nf) || !apierrors.IsNotFound(err) {
		t.Errorf("error %v is not a NotFoundError wrapping the API error", err)
	}
}

func TestFetchExperiment(t *testing.T) {
	c := fakeClient(t, canaryObjects()...)
	ex, err := FetchExperiment(context.Background(), c, ns, "checkout-new-2-3", now)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Phase != v1alpha1.AnalysisPhaseRunning || len(ex.ReplicaSets) != 1 || ex.ReplicaSets[0].Name != "checkout-new-2-3-baseline" {
		t.Errorf("experiment = %+v", ex)
	}
	var b strings.Builder
	if err := RenderExperiment(&b, ex, RenderOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"◌ Running", "└─ Pod checkout-new-2-3-baseline-a", "template baseline (Running), service checkout-baseline"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("experiment view lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSummarizeRolloutWeights(t *testing.T) {
	ro := rollout("checkout", rolloutUID)
	for _, tc := range []struct {
		name   string
		change func(*v1alpha1.Rollout)
		set    int32
		actual int32
	}{
		{"pause after 20", func(*v1alpha1.Rollout) {}, 20, 17},
		{"at setWeight 60", func(r *v1alpha1.Rollout) { r.Status.CurrentStepIndex = i32(2) }, 60, 17},
		{"steps done", func(r *v1alpha1.Rollout) { r.Status.CurrentStepIndex = i32(4) }, 100, 17},
		{"aborted", func(r *v1alpha1.Rollout) { r.Status.Abort = true }, 0, 17},
		{"promoted", func(r *v1alpha1.Rollout) {
			r.Status.StableRS = "new"
			r.Status.Canary.Weights.Stable = v1alpha1.WeightDestination{Weight: 100, PodTemplateHash: "new"}
			r.Status.Canary.Weights.Canary.Weight = 0
		}, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ro.DeepCopy()
			tc.change(r)
			s := SummarizeRollout(r)
			if *s.SetWeight != tc.set || *s.ActualWeight != tc.actual {
				t.Errorf("weights = %d set / %d actual, want %d / %d", *s.SetWeight, *s.ActualWeight, tc.set, tc.actual)
			}
		})
	}
}

// TestSummarizeRolloutOutOfRangeStep shows a step index a client wrote out
// of range the way the controller reads it, instead of failing the command.
func TestSummarizeRolloutOutOfRangeStep(t *testing.T) {
	for _, tc := range []struct {
		index, current, set int32
	}{{-7, 0, 20}, {-1, 0, 20}, {40, 4, 100}} {
		r := rollout("checkout", rolloutUID)
		r.Status.CurrentStepIndex = i32(tc.index)
		s := SummarizeRollout(r)
		if s.Step == nil || s.Step.Current != tc.current || s.Step.Total != 4 || *s.SetWeight != tc.set {
			t.Fatalf("index %d: step %+v set %d, want %d/4 set %d", tc.index, s.Step, *s.SetWeight, tc.current, tc.set)
		}
		var b strings.Builder
		if err := Render(&b, Tree{RolloutSummary: s}, RenderOptions{Now: now}); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d/4 (status.currentStepIndex is %d)", tc.current, tc.index); !strings.Contains(b.String(), want) {
			t.Errorf("header lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPodStatus(t *testing.T) {
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	deleted := metav1.NewTime(now)
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
		icon string
	}{
		{"crash loop", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{State: waiting("CrashLoopBackOff")}}}}, "CrashLoopBackOff", iconFailed},
		{"creating", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: waiting("ContainerCreating")}}}}, "ContainerCreating", iconProgressing},
		{"init", corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{}, {}}}, Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}, {State: waiting("PodInitializing")}}}}, "Init:1/2", iconProgressing},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, "Terminating", iconProgressing},
		{"no phase", corev1.Pod{}, "Unknown", iconInconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fromPod(rolloutview.DescribePod(&tc.pod))
			icon, _ := podIcon(p)
			if p.Status != tc.want || icon != tc.icon {
				t.Errorf("status = %q %s, want %q %s", p.Status, icon, tc.want, tc.icon)
			}
		})
	}
}

func revisionNumbers(t Tree) []int64 {
	var n []int64
	for _, r := range t.Revisions {
		n = append(n, r.Number)
	}
	return n
}

func podNames(rs ReplicaSet) []string {
	var n []string
	for _, p := range rs.Pods {
		n = append(n, p.Name)
	}
	return n
}

func equalImages(a, b []Image) bool {
	return slices.EqualFunc(a, b, func(x, y Image) bool { return x.Name == y.Name && slices.Equal(x.Roles, y.Roles) })
}
