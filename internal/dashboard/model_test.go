package dashboard

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
)

func TestDescribeStep(t *testing.T) {
	for want, step := range map[string]v1alpha1.CanaryStep{
		"setWeight 20":                         {SetWeight: ptr(int32(20))},
		"pause (until promoted)":               {Pause: &v1alpha1.RolloutPause{}},
		"pause 10s":                            {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromInt32(10))}},
		"pause 5m":                             {Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("5m"))}},
		"analysis: success-rate, latency":      {Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "success-rate"}, {TemplateName: "latency"}}}},
		"experiment: baseline, canary for 10m": {Experiment: &v1alpha1.RolloutExperimentStep{Duration: "10m", Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline"}, {Name: "canary"}}}},
		"setCanaryScale 3 replicas":            {SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr(int32(3))}},
		"setCanaryScale 25%":                   {SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr(int32(25))}},
		"setCanaryScale matchTrafficWeight":    {SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}},
		"setHeaderRoute beta":                  {SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}},
		"setMirrorRoute shadow":                {SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow"}},
	} {
		if got := describeStep(step); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"0.99": 0.99, "[0.5]": 0.5, " 12 ": 12, "[ 3e2 ]": 300} {
		if got := parseNumber(in); got == nil || *got != want {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", "ok", "[1,2]", "NaN", "+Inf", "{}"} {
		if got := parseNumber(in); got != nil {
			t.Errorf("%q: got %v, want no number", in, *got)
		}
	}
}

func TestSetWeightAndStatus(t *testing.T) {
	ro := webRollout()
	if w := setWeight(ro); w != 20 {
		t.Errorf("paused after setWeight 20: %d", w)
	}
	ro.Status.CurrentStepIndex = ptr(int32(4))
	if w := setWeight(ro); w != 60 {
		t.Errorf("at the analysis after setWeight 60: %d", w)
	}
	ro.Status.CurrentStepIndex = ptr(int32(5))
	if w := setWeight(ro); w != 100 {
		t.Errorf("past the last step: %d", w)
	}
	ro.Status.Abort = true
	if w := setWeight(ro); w != 0 {
		t.Errorf("aborted: %d", w)
	}
	steps := stepsOf(ro)
	for _, s := range steps {
		if s.State != StepDone {
			t.Errorf("past the last step, step %d is %s", s.Index, s.State)
		}
	}
	ro.Status.ObservedGeneration = "1"
	if st, _ := rolloutStatus(ro); st != StatusProgressing {
		t.Errorf("status of an unobserved generation: %s", st)
	}

	bg := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "bg"}}
	bg.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "a"}
	bg.Status.BlueGreen.ActiveSelector, bg.Status.BlueGreen.PreviewSelector, bg.Status.StableRS = "h1", "h2", "h1"
	if r := rolesOf(bg, "h1"); len(r) != 2 || r[0] != "active" || r[1] != "stable" {
		t.Errorf("roles of the active version: %v", r)
	}
	if r := rolesOf(bg, "h2"); len(r) != 1 || r[0] != "preview" {
		t.Errorf("roles of the preview version: %v", r)
	}
	if s := summarize(bg, nil); s.Strategy != "blueGreen" || s.Step != nil || s.Weight != nil {
		t.Errorf("blue-green summary: %+v", s)
	}
}

func TestPodStatus(t *testing.T) {
	now := metav1.Now()
	for want, p := range map[string]*corev1.Pod{
		"Running":          {Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		"Pending":          {},
		"Terminating":      {ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		"ImagePullBackOff": {Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}},
		"Init:Error":       {Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "Error"}}}}}},
		"Evicted":          {Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}},
	} {
		if got := podStatus(p); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestDetailListsTheRolloutsExperimentsUnderTheirRevision(t *testing.T) {
	ro := webRollout()
	ro.Status.Canary.CurrentExperiment = "web-" + canaryH + "-2-1"
	rss := []appsv1.ReplicaSet{
		*replicaSet("web-"+stableH, stableH, "1", "registry.example/web:1", stableID, 5),
		*replicaSet("web-"+canaryH, canaryH, "2", "registry.example/web:2", canaryID, 1),
	}
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}
	exp := func(name, hash string, owners []metav1.OwnerReference) v1alpha1.Experiment {
		return v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, OwnerReferences: owners, CreationTimestamp: created,
				Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}},
			Spec: v1alpha1.ExperimentSpec{Templates: []v1alpha1.TemplateSpec{{Name: "baseline"}, {Name: "canary"}}},
		}
	}
	current := exp("web-"+canaryH+"-2-1", canaryH, owner)
	current.Status = v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning,
		TemplateStatuses: []v1alpha1.TemplateStatus{{Name: "canary", Status: v1alpha1.TemplateStatusRunning, Replicas: 1, AvailableReplicas: 1, ServiceName: "exp-canary"}},
		AnalysisRuns:     []v1alpha1.ExperimentAnalysisRunStatus{{Name: "smoke", AnalysisRun: "web-smoke", Phase: v1alpha1.AnalysisPhaseRunning}}}
	someoneElses := exp("other", canaryH, nil)
	d := detail(ro, rss, nil, nil, []v1alpha1.Experiment{current, someoneElses})
	var got []Experiment
	for _, rev := range d.Revisions {
		if rev.Number == 2 {
			got = rev.Experiments
		} else if len(rev.Experiments) > 0 {
			t.Errorf("revision %d has Experiments %+v", rev.Number, rev.Experiments)
		}
	}
	if len(got) != 1 {
		t.Fatalf("revision 2 Experiments %+v, want the Rollout's one", got)
	}
	ex := got[0]
	if ex.Name != current.Name || !ex.Current || ex.Phase != "Running" || len(ex.Templates) != 2 || len(ex.AnalysisRuns) != 1 {
		t.Fatalf("experiment %+v", ex)
	}
	if b, c := ex.Templates[0], ex.Templates[1]; b.Status != "Progressing" || c.Status != "Running" || c.Available != 1 || c.ServiceName != "exp-canary" {
		t.Fatalf("templates %+v, want the unreported baseline Progressing and the canary as reported", ex.Templates)
	}
}

// TestDescribeReplicaSetConfig: the dashboard names the configuration
// copies a ReplicaSet's Pods run, read from its annotation.
func TestDescribeReplicaSetConfig(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "api-abc", Annotations: map[string]string{
		configsnap.CopiesAnnotation: "Secret/api-secret-5f6a7b8c9d",
	}}}
	got := describeReplicaSet(rs, nil).Config
	if len(got) != 1 || got[0] != "Secret/api-secret-5f6a7b8c9d" {
		t.Errorf("Config = %v", got)
	}
	if got := describeReplicaSet(&appsv1.ReplicaSet{}, nil).Config; got != nil {
		t.Errorf("Config without snapshots = %v", got)
	}
}
