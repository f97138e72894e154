package decide

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: image, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
	}
}

// newExperiment is a baseline and a canary template with Services and one
// analysis of template "check".
func newExperiment() *v1alpha1.Experiment {
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: "ns", UID: "exp-uid"},
		Spec: v1alpha1.ExperimentSpec{
			Duration: "1m",
			Templates: []v1alpha1.TemplateSpec{
				{Name: "baseline", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "baseline"}},
					Template: podTemplate("baseline", "app:1"), Service: &v1alpha1.TemplateService{}},
				{Name: "canary", Replicas: ptr[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "canary"}},
					Template: podTemplate("canary", "app:2"), Service: &v1alpha1.TemplateService{Name: "canary-svc"}},
			},
			Analyses: []v1alpha1.ExperimentAnalysisTemplateRef{{
				Name: "compare", TemplateName: "check",
				Args: []v1alpha1.Argument{
					{Name: "canary-hash", Value: ptr("{{templates.canary.podTemplateHash}}")},
					{Name: "baseline-rs", Value: ptr("{{templates.baseline.replicaset.name}}")},
				},
			}},
			DryRun: []v1alpha1.DryRun{{MetricName: "latency"}},
		},
	}
}

func lookup() template.Lookup {
	return template.Lookup{
		Templates: map[string]*v1alpha1.AnalysisTemplate{"check": {
			ObjectMeta: metav1.ObjectMeta{Name: "check", Namespace: "ns"},
			Spec: v1alpha1.AnalysisTemplateSpec{
				Args:    []v1alpha1.Argument{{Name: "canary-hash"}, {Name: "baseline-rs"}},
				Metrics: []v1alpha1.Metric{{Name: "ok", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x/{{args.canary-hash}}"}}}},
			},
		}},
		ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{},
	}
}

func snapshot(ex *v1alpha1.Experiment, now time.Time) Snapshot {
	return Snapshot{
		Now: now, Experiment: ex, Templates: lookup(),
		ReplicaSets: map[string]*appsv1.ReplicaSet{}, Services: map[string]*corev1.Service{},
		TakenNames: map[string]bool{}, AnalysisRuns: map[string]*v1alpha1.AnalysisRun{},
	}
}

// world plays the cluster: it applies a plan's writes to the snapshot and
// the status to the Experiment, as the executor and the API server would.
type world struct {
	t    *testing.T
	s    Snapshot
	plan Plan
}

func newWorld(t *testing.T, ex *v1alpha1.Experiment) *world {
	return &world{t: t, s: snapshot(ex, t0)}
}

func (w *world) step(now time.Time) Plan {
	w.t.Helper()
	w.s.Now = now
	w.plan = Decide(w.s)
	for _, a := range w.plan.Actions {
		switch a := a.(type) {
		case CreateReplicaSet:
			rs := a.ReplicaSet.DeepCopy()
			w.s.ReplicaSets[rs.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey]] = rs
		case ScaleReplicaSet:
			for _, rs := range w.s.ReplicaSets {
				if rs.Name == a.Name {
					// New Pods are not ready yet; removed ones are gone.
					rs.Spec.Replicas = ptr(a.To)
					rs.Status = appsv1.ReplicaSetStatus{}
				}
			}
		case SetScaleDownDeadline:
			for _, rs := range w.s.ReplicaSets {
				if rs.Name == a.Name {
					if a.Deadline == "" {
						delete(rs.Annotations, v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey)
					} else {
						rs.Annotations[v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey] = a.Deadline
					}
				}
			}
		case CreateService:
			svc := a.Service.DeepCopy()
			svc.UID = "svc-" + "uid"
			w.s.Services[svc.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey]] = svc
		case DeleteService:
			for k, svc := range w.s.Services {
				if svc.Name == a.Name {
					delete(w.s.Services, k)
				}
			}
		case CreateAnalysisRun:
			w.s.AnalysisRuns[a.Run.Name] = a.Run.DeepCopy()
		case TerminateAnalysisRun:
			w.s.AnalysisRuns[a.Name].Spec.Terminate = true
		default:
			w.t.Fatalf("unexpected action %T", a)
		}
	}
	ex := w.s.Experiment.DeepCopy()
	ex.Status = w.plan.Status
	w.s.Experiment = ex
	return w.plan
}

// ready makes every Pod of every ReplicaSet available.
func (w *world) ready() {
	for _, rs := range w.s.ReplicaSets {
		n := *rs.Spec.Replicas
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n}
	}
}

func (w *world) runPhase(name string, p v1alpha1.AnalysisPhase, msg string) {
	w.s.AnalysisRuns[name].Status.Phase = p
	w.s.AnalysisRuns[name].Status.Message = msg
}

func actionsOf[T Action](p Plan) []T {
	var out []T
	for _, a := range p.Actions {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func hasEvent(p Plan, reason string) bool {
	for _, e := range p.Events {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

func TestFirstReconcileCreatesReplicaSetsAndServices(t *testing.T) {
	w := newWorld(t, newExperiment())
	p := w.step(t0)
	rss := actionsOf[CreateReplicaSet](p)
	if len(rss) != 2 {
		t.Fatalf("created %d ReplicaSets, want 2: %v", len(rss), p.Actions)
	}
	canary := rss[1].ReplicaSet
	hash := canary.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if canary.Name != "exp-canary" || hash == "" || *canary.Spec.Replicas != 2 {
		t.Errorf("canary ReplicaSet %s labels %v replicas %d", canary.Name, canary.Labels, *canary.Spec.Replicas)
	}
	if canary.Spec.Selector.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] != hash ||
		canary.Spec.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != hash || canary.Spec.Template.Labels["app"] != "canary" {
		t.Errorf("hash missing from selector %v or template labels %v", canary.Spec.Selector, canary.Spec.Template.Labels)
	}
	if canary.Annotations[v1alpha1.ExperimentNameAnnotationKey] != "exp" || canary.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey] != "canary" {
		t.Errorf("annotations %v", canary.Annotations)
	}
	if ref := metav1.GetControllerOf(canary); ref == nil || ref.Kind != "Experiment" || ref.UID != "exp-uid" {
		t.Errorf("controller %v", ref)
	}
	if rss[0].ReplicaSet.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == hash {
		t.Error("baseline and canary share a hash")
	}
	svcs := actionsOf[CreateService](p)
	if len(svcs) != 2 || svcs[0].Service.Name != "exp-baseline" || svcs[1].Service.Name != "canary-svc" {
		t.Fatalf("services %v", p.Actions)
	}
	sel := svcs[1].Service.Spec.Selector
	if len(sel) != 1 || sel[v1alpha1.DefaultRolloutUniqueLabelKey] != hash || svcs[1].Service.Spec.Ports[0].Port != 8080 || svcs[1].Service.Spec.Ports[0].Name != "http" {
		t.Errorf("canary Service selector %v ports %v", sel, svcs[1].Service.Spec.Ports)
	}
	st := p.Status
	if st.Phase != v1alpha1.AnalysisPhasePending || st.AvailableAt != nil || len(st.AnalysisRuns) != 0 {
		t.Errorf("status %+v", st)
	}
	ts := st.TemplateStatuses[1]
	if ts.Name != "canary" || ts.Status != v1alpha1.TemplateStatusProgressing || ts.ServiceName != "canary-svc" || ts.PodTemplateHash != hash || ts.LastTransitionTime == nil {
		t.Errorf("canary template status %+v", ts)
	}
	if c := findCondition(&st, v1alpha1.ExperimentProgressing); c == nil || c.Reason != ReasonReplicaSetUpdated || c.Status != corev1.ConditionTrue {
		t.Errorf("conditions %+v", st.Conditions)
	}
	if p.RequeueAfter != 601*time.Second {
		t.Errorf("requeue %s, want the progress deadline", p.RequeueAfter)
	}
	// The next look, with nothing ready yet, writes nothing new.
	again := w.step(t0.Add(time.Second))
	if len(again.Actions) != 0 || len(again.Events) != 0 {
		t.Errorf("second reconcile %v %v", again.Actions, again.Events)
	}
}

func TestAvailableTemplatesStartAnalysesThenTheDurationEnds(t *testing.T) {
	w := newWorld(t, newExperiment())
	w.step(t0)
	w.ready()
	at := t0.Add(10 * time.Second)
	p := w.step(at)
	st := p.Status
	if st.Phase != v1alpha1.AnalysisPhaseRunning || st.AvailableAt == nil || !st.AvailableAt.Time.Equal(at) {
		t.Fatalf("phase %s availableAt %v", st.Phase, st.AvailableAt)
	}
	for _, ts := range st.TemplateStatuses {
		if ts.Status != v1alpha1.TemplateStatusRunning || ts.AvailableReplicas == 0 {
			t.Errorf("template %+v", ts)
		}
	}
	runs := actionsOf[CreateAnalysisRun](p)
	if len(runs) != 1 {
		t.Fatalf("runs %v", p.Actions)
	}
	run := runs[0].Run
	canaryHash := w.s.ReplicaSets["canary"].Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if run.Name != "exp-compare" || *run.Spec.Args[0].Value != canaryHash || *run.Spec.Args[1].Value != "exp-baseline" {
		t.Errorf("run %s args %v", run.Name, run.Spec.Args)
	}
	if len(run.Spec.DryRun) != 1 || metav1.GetControllerOf(run).Kind != "Experiment" {
		t.Errorf("run dryRun %v owners %v", run.Spec.DryRun, run.OwnerReferences)
	}
	if rs := st.AnalysisRuns; len(rs) != 1 || rs[0].AnalysisRun != "exp-compare" || rs[0].Phase != v1alpha1.AnalysisPhasePending {
		t.Errorf("analysisRuns %+v", rs)
	}
	if p.RequeueAfter != 61*time.Second {
		t.Errorf("requeue %s, want the end of the duration", p.RequeueAfter)
	}

	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseRunning, "")
	if p := w.step(at.Add(30 * time.Second)); p.Status.Phase != v1alpha1.AnalysisPhaseRunning || p.Status.AnalysisRuns[0].Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("mid-way %+v", p.Status)
	}
	if c := findCondition(&w.s.Experiment.Status, v1alpha1.ExperimentProgressing); c == nil || c.Reason != ReasonNewReplicaSetAvailable {
		t.Errorf("running condition %+v", c)
	}

	end := at.Add(time.Minute)
	p = w.step(end)
	if p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("after the duration: %s %q", p.Status.Phase, p.Status.Message)
	}
	if c := findCondition(&p.Status, v1alpha1.ExperimentProgressing); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonExperimentCompleted {
		t.Errorf("completed condition %+v", c)
	}
	for _, ts := range p.Status.TemplateStatuses {
		if ts.Status != v1alpha1.TemplateStatusSuccessful {
			t.Errorf("template %+v", ts)
		}
	}

	// Ended: the run is terminated, and the ReplicaSets wait out the delay.
	p = w.step(end.Add(time.Second))
	if len(actionsOf[TerminateAnalysisRun](p)) != 1 || len(actionsOf[SetScaleDownDeadline](p)) != 2 || len(actionsOf[ScaleReplicaSet](p)) != 0 {
		t.Fatalf("after the end: %v", p.Actions)
	}
	if want := end.Add(31 * time.Second).Format(time.RFC3339); actionsOf[SetScaleDownDeadline](p)[0].Deadline != want {
		t.Errorf("deadline %s, want %s", actionsOf[SetScaleDownDeadline](p)[0].Deadline, want)
	}
	if p.RequeueAfter != 31*time.Second {
		t.Errorf("requeue %s, want the scale-down deadline", p.RequeueAfter)
	}
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseSuccessful, "Run Terminated")
	if p := w.step(end.Add(10 * time.Second)); len(actionsOf[ScaleReplicaSet](p)) != 0 || p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("before the deadline: %v %s", p.Actions, p.Status.Phase)
	}
	p = w.step(end.Add(40 * time.Second))
	if len(actionsOf[ScaleReplicaSet](p)) != 2 || len(actionsOf[DeleteService](p)) != 2 {
		t.Fatalf("at the deadline: %v", p.Actions)
	}
	for _, ts := range p.Status.TemplateStatuses {
		if ts.ServiceName != "" || ts.PodTemplateHash != "" {
			t.Errorf("template %s still names its Service: %+v", ts.Name, ts)
		}
	}
	if p := w.step(end.Add(41 * time.Second)); len(p.Actions) != 0 {
		t.Errorf("after scaling down: %v", p.Actions)
	}
}

func TestFailedAnalysisFailsTheExperiment(t *testing.T) {
	for _, phase := range []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive} {
		t.Run(string(phase), func(t *testing.T) {
			w := newWorld(t, newExperiment())
			w.step(t0)
			w.ready()
			w.step(t0.Add(time.Second))
			w.runPhase("exp-compare", phase, `Metric "ok" assessed Failed`)
			p := w.step(t0.Add(2 * time.Second))
			if p.Status.Phase != phase || p.Status.Message != `Metric "ok" assessed Failed` {
				t.Fatalf("phase %s message %q", p.Status.Phase, p.Status.Message)
			}
			if !hasEvent(p, "AnalysisRun"+string(phase)) {
				t.Errorf("events %v", p.Events)
			}
			p = w.step(t0.Add(3 * time.Second))
			if p.Status.Phase != phase || len(actionsOf[SetScaleDownDeadline](p)) != 2 {
				t.Errorf("after: %s %v", p.Status.Phase, p.Actions)
			}
		})
	}
}

func TestTemplateNeverAvailableFailsAtItsDeadline(t *testing.T) {
	ex := newExperiment()
	ex.Spec.ProgressDeadlineSeconds = ptr[int32](30)
	w := newWorld(t, ex)
	w.step(t0)
	w.s.ReplicaSets["baseline"].Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	w.s.ReplicaSets["canary"].Status = appsv1.ReplicaSetStatus{Replicas: 2}
	if p := w.step(t0.Add(5 * time.Second)); p.Status.Phase != v1alpha1.AnalysisPhasePending || p.RequeueAfter != 31*time.Second {
		t.Fatalf("before the deadline: %s, requeue %s", p.Status.Phase, p.RequeueAfter)
	}
	p := w.step(t0.Add(36 * time.Second))
	want := "Template 'canary' exceeded its progressDeadlineSeconds (30)"
	if p.Status.Phase != v1alpha1.AnalysisPhaseFailed || p.Status.Message != want {
		t.Fatalf("phase %s message %q", p.Status.Phase, p.Status.Message)
	}
	if ts := p.Status.TemplateStatuses[1]; ts.Status != v1alpha1.TemplateStatusFailed || ts.Message != want {
		t.Errorf("canary %+v", ts)
	}
	if len(actionsOf[CreateAnalysisRun](p)) != 0 {
		t.Error("an analysis started though a template never became available")
	}
}

func TestWithoutDurationRunsUntilTerminated(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Duration = ""
	w := newWorld(t, ex)
	w.step(t0)
	w.ready()
	w.step(t0.Add(time.Second))
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseRunning, "")
	p := w.step(t0.Add(time.Hour))
	if p.Status.Phase != v1alpha1.AnalysisPhaseRunning || p.RequeueAfter != 0 {
		t.Fatalf("an hour on: %s, requeue %s", p.Status.Phase, p.RequeueAfter)
	}
	w.s.Experiment.Spec.Terminate = true
	p = w.step(t0.Add(time.Hour + time.Second))
	if p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || len(actionsOf[TerminateAnalysisRun](p)) != 1 {
		t.Fatalf("terminated: %s %q %v", p.Status.Phase, p.Status.Message, p.Actions)
	}
}

func TestRequiredAnalysisEndsTheExperiment(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Duration = ""
	ex.Spec.Analyses[0].RequiredForCompletion = true
	w := newWorld(t, ex)
	w.step(t0)
	w.ready()
	w.step(t0.Add(time.Second))
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseSuccessful, "")
	p := w.step(t0.Add(time.Minute))
	if p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || p.Status.Message != MessageRequiredRunsCompleted {
		t.Fatalf("%s %q", p.Status.Phase, p.Status.Message)
	}
}

func TestRequiredAnalysisOutlivesTheDuration(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Analyses[0].RequiredForCompletion = true
	w := newWorld(t, ex)
	w.step(t0)
	w.ready()
	w.step(t0.Add(time.Second))
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseRunning, "")
	if p := w.step(t0.Add(2 * time.Minute)); p.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("the duration ended before the required run: %s", p.Status.Phase)
	}
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseSuccessful, "")
	if p := w.step(t0.Add(3 * time.Minute)); p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("%s %q", p.Status.Phase, p.Status.Message)
	}
}

func TestInvalidSpecCreatesNothing(t *testing.T) {
	cases := map[string]struct {
		edit func(*v1alpha1.Experiment)
		want string
	}{
		"no selector":       {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[1].Selector = nil }, "spec.templates[1].selector: Required value"},
		"empty selector":    {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[0].Selector = &metav1.LabelSelector{} }, "spec.templates[0].selector"},
		"selector mismatch": {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[0].Template.Labels["app"] = "x" }, "spec.templates[0].template.metadata.labels"},
		"duplicate names":   {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[1].Name = "baseline" }, `spec.templates[1].name: Duplicate value: "baseline"`},
		"bad duration":      {func(ex *v1alpha1.Experiment) { ex.Spec.Duration = "5 minutes" }, `spec.duration: Invalid value: "5 minutes"`},
		"missing template":  {func(ex *v1alpha1.Experiment) { ex.Spec.Analyses[0].TemplateName = "nope" }, `spec.analyses[0].templateName: Not found: "nope"`},
		"missing cluster template": {func(ex *v1alpha1.Experiment) { ex.Spec.Analyses[0].ClusterScope = true },
			`spec.analyses[0].templateName: Not found: "check"`},
		"service without ports": {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[0].Template.Spec.Containers[0].Ports = nil }, "spec.templates[0].service"},
		"undecodable spec": {func(ex *v1alpha1.Experiment) {
			*ex = v1alpha1.Experiment{ObjectMeta: ex.ObjectMeta,
				DecodeError: "json: cannot unmarshal string into Go struct field Experiment.spec.templates.replicas of type int32"}
		}, "spec.templates.replicas"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ex := newExperiment()
			tc.edit(ex)
			w := newWorld(t, ex)
			p := w.step(t0)
			if len(p.Actions) != 0 {
				t.Fatalf("actions %v", p.Actions)
			}
			c := findCondition(&p.Status, v1alpha1.InvalidExperimentSpec)
			if c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonInvalidSpec || !strings.Contains(c.Message, tc.want) {
				t.Fatalf("condition %+v, want message with %q", c, tc.want)
			}
			if p.Status.Phase != v1alpha1.AnalysisPhaseError || p.Status.Message != "InvalidSpec: "+c.Message {
				t.Errorf("phase %s message %q", p.Status.Phase, p.Status.Message)
			}
			if !hasEvent(p, ReasonInvalidSpec) {
				t.Error("no InvalidSpec event")
			}
			again := w.step(t0.Add(time.Second))
			if len(again.Actions) != 0 || len(again.Events) != 0 || findCondition(&again.Status, v1alpha1.InvalidExperimentSpec).LastUpdateTime != c.LastUpdateTime {
				t.Errorf("second look changed something: %v %v", again.Actions, again.Events)
			}
		})
	}
}

func TestTemplateCopiedWithAHashGetsItsOwn(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Templates[0].Selector.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] = "old"
	p := newWorld(t, ex).step(t0)
	rss := actionsOf[CreateReplicaSet](p)
	if len(rss) != 2 {
		t.Fatalf("actions %v, status %+v", p.Actions, p.Status)
	}
	rs := rss[0].ReplicaSet
	h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if h == "old" || rs.Spec.Selector.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] != h || rs.Spec.Template.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h {
		t.Errorf("hash %s, selector %v, template labels %v", h, rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels)
	}
}

func TestHashDiffersFromTheRollouts(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Templates[1].Template = *ex.Spec.Templates[0].Template.DeepCopy()
	ex.Spec.Templates[1].Selector = ex.Spec.Templates[0].Selector.DeepCopy()
	rss := actionsOf[CreateReplicaSet](newWorld(t, ex).step(t0))
	a, b := rss[0].ReplicaSet.Labels[v1alpha1.DefaultRolloutUniqueLabelKey], rss[1].ReplicaSet.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if a == b {
		t.Errorf("two templates with the same Pod template share the hash %s", a)
	}
	if rollout := podhash.Template(&ex.Spec.Templates[0].Template, nil); rollout == a {
		t.Errorf("the template has the hash a Rollout gives the same Pod template: %s", a)
	}
	if again := templateHash(ex, "baseline", &ex.Spec.Templates[0].Template, nil); again != a {
		t.Errorf("the hash is not stable: %s then %s", a, again)
	}
}

func TestSomeoneElsesReplicaSetNameIsAnError(t *testing.T) {
	w := newWorld(t, newExperiment())
	w.s.TakenNames["ReplicaSet/exp-canary"] = true
	p := w.step(t0)
	if len(actionsOf[CreateReplicaSet](p)) != 1 {
		t.Errorf("actions %v", p.Actions)
	}
	if p.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(p.Status.Message, "exp-canary already exists") {
		t.Errorf("phase %s message %q", p.Status.Phase, p.Status.Message)
	}
}

func TestRunOfALostStatusWriteIsTakenOver(t *testing.T) {
	w := newWorld(t, newExperiment())
	w.step(t0)
	w.ready()
	before := w.s.Experiment.DeepCopy()
	w.step(t0.Add(time.Second))
	// The status write of that reconcile was lost; the run exists.
	w.s.Experiment = before
	p := w.step(t0.Add(2 * time.Second))
	if len(actionsOf[CreateAnalysisRun](p)) != 0 {
		t.Fatalf("created a second run: %v", p.Actions)
	}
	if rs := p.Status.AnalysisRuns; len(rs) != 1 || rs[0].AnalysisRun != "exp-compare" {
		t.Errorf("analysisRuns %+v", rs)
	}
}

func TestZeroScaleDownDelayScalesAtOnce(t *testing.T) {
	ex := newExperiment()
	ex.Spec.ScaleDownDelaySeconds = ptr[int32](0)
	ex.Spec.Terminate = true
	w := newWorld(t, ex)
	w.s.ReplicaSets["baseline"] = newReplicaSet(ex, &ex.Spec.Templates[0], nil, 1, "")
	p := w.step(t0)
	if len(actionsOf[ScaleReplicaSet](p)) != 1 || len(actionsOf[CreateReplicaSet](p)) != 0 || p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("%v %s", p.Actions, p.Status.Phase)
	}
}

func TestArgumentPlaceholders(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Analyses[0].Args[1].Value = ptr("{{templates.nope.podTemplateHash}}")
	w := newWorld(t, ex)
	w.step(t0)
	w.ready()
	p := w.step(t0.Add(time.Second))
	if len(actionsOf[CreateAnalysisRun](p)) != 0 || p.Status.Phase != v1alpha1.AnalysisPhaseError ||
		!strings.Contains(p.Status.Message, "{{templates.nope.podTemplateHash}}") {
		t.Errorf("%v %s %q", p.Actions, p.Status.Phase, p.Status.Message)
	}
}

func TestRetryAfterTheEndStartsAfresh(t *testing.T) {
	w := newWorld(t, newExperiment())
	w.step(t0)
	w.ready()
	w.step(t0.Add(time.Second))
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseFailed, "bad")
	w.step(t0.Add(2 * time.Second))
	w.step(t0.Add(3 * time.Second))
	w.step(t0.Add(time.Minute))
	for _, rs := range w.s.ReplicaSets {
		if *rs.Spec.Replicas != 0 {
			t.Fatalf("%s not scaled down: %d", rs.Name, *rs.Spec.Replicas)
		}
	}
	// kanaria retry experiment clears the status.
	w.s.Experiment.Status = v1alpha1.ExperimentStatus{}
	p := w.step(t0.Add(2 * time.Minute))
	if len(actionsOf[ScaleReplicaSet](p)) != 2 || len(actionsOf[SetScaleDownDeadline](p)) != 2 || len(actionsOf[CreateService](p)) != 2 {
		t.Fatalf("retry: %v", p.Actions)
	}
	if p.Status.Phase != v1alpha1.AnalysisPhasePending || len(p.Status.AnalysisRuns) != 0 {
		t.Fatalf("retry took over the failed run: %+v", p.Status)
	}
	w.ready()
	p = w.step(t0.Add(2*time.Minute + time.Second))
	runs := actionsOf[CreateAnalysisRun](p)
	if len(runs) != 1 || runs[0].Run.Name != "exp-compare.1" || p.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("second run %v, phase %s", p.Actions, p.Status.Phase)
	}
}

func TestAnalysesAloneRunAtOnce(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Templates = nil
	ex.Spec.Analyses[0].Args = nil
	ex.Spec.Analyses[0].RequiredForCompletion = true
	ex.Spec.Duration = ""
	w := newWorld(t, ex)
	p := w.step(t0)
	if p.Status.Phase != v1alpha1.AnalysisPhaseRunning || p.Status.AvailableAt == nil || len(actionsOf[CreateAnalysisRun](p)) != 1 {
		t.Fatalf("%s %v %v", p.Status.Phase, p.Status.AvailableAt, p.Actions)
	}
	w.runPhase("exp-compare", v1alpha1.AnalysisPhaseSuccessful, "")
	if p := w.step(t0.Add(time.Minute)); p.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || p.Status.Message != MessageRequiredRunsCompleted {
		t.Fatalf("%s %q", p.Status.Phase, p.Status.Message)
	}
}

// TestReplicaSetsCarryTheShardBucket checks that with shards an
// Experiment's new ReplicaSet and its Pod template carry the Experiment's
// bucket without changing the hash that names the ReplicaSet, and that
// without shards they carry none.
func TestReplicaSetsCarryTheShardBucket(t *testing.T) {
	for _, bucket := range []string{"9", ""} {
		ex := newExperiment()
		w := newWorld(t, ex)
		w.s.ShardBucket = bucket
		p := w.step(t0)
		created := actionsOf[CreateReplicaSet](p)
		if len(created) == 0 {
			t.Fatalf("bucket %q: no ReplicaSet created: %v", bucket, p.Actions)
		}
		plain := newReplicaSet(ex, &ex.Spec.Templates[0], nil, 1, "")
		found := false
		for _, c := range created {
			rs := c.ReplicaSet
			if rs.Name == plain.Name {
				found = true
				if rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != plain.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] {
					t.Errorf("bucket %q: the label changed the hash: %s vs %s", bucket, rs.Labels, plain.Labels)
				}
			}
			got, ok := rs.Labels[shard.LabelBucket]
			tgot, tok := rs.Spec.Template.Labels[shard.LabelBucket]
			if got != bucket || ok != (bucket != "") || tgot != bucket || tok != (bucket != "") {
				t.Errorf("bucket %q: ReplicaSet %s labelled %v, template %v", bucket, rs.Name, rs.Labels, rs.Spec.Template.Labels)
			}
		}
		if !found {
			t.Fatalf("bucket %q: no ReplicaSet %s among %v", bucket, plain.Name, p.Actions)
		}
	}
}
