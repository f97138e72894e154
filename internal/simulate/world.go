package simulate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// namespace is where the simulated objects live.
const namespace = "default"

// reaction is how long the simulated cluster takes to react to a write
// (a ReplicaSet controller creating Pods, a watch event reaching a
// controller); it is also the step of the clock while anything moves.
const reaction = time.Second

// defaultReadyAfter is how long a Pod takes to become ready when the
// scenario does not say; the local cluster's fake kubelet takes about this.
const defaultReadyAfter = time.Second

// defaultJobRunsFor is how long an analysis Job runs when the scenario does
// not say; the local cluster's Job Pods end a second after they start.
const defaultJobRunsFor = time.Second

// simPod is a Pod and what the simulated kubelet will do with it.
type simPod struct {
	pod      *corev1.Pod
	readyAt  time.Time // zero: never
	crashAt  time.Time // zero: never
	revision int
}

// simJob is an analysis Job and how it ends.
type simJob struct {
	endsAt  time.Time // zero: never
	outcome string
	// deadline marks a Job failed by its activeDeadlineSeconds.
	deadline bool
}

// world is the simulated cluster: the Rollout, its ReplicaSets, Pods and
// Services in memory, and the AnalysisRuns and Jobs in a fake API client
// that the real analysis controller reads and writes.
type world struct {
	sc    *Scenario
	start time.Time
	now   time.Time

	ro       *v1alpha1.Rollout
	rs       map[string]*appsv1.ReplicaSet
	pods     map[string]*simPod
	services map[string]*corev1.Service
	workload *appsv1.Deployment
	lookup   template.Lookup
	traffic  *trafficrouting.Desired

	c        client.WithWatch
	analysis *analysis.Reconciler
	// runStatusWrites counts the AnalysisRun status writes the analysis
	// controller made.
	runStatusWrites int
	runWake         map[string]time.Time
	jobs            map[string]*simJob
	jobsSeen        map[string]int // per metric, for scripted outcomes
	querier         *scripted
	// exps are the Experiments of experiment steps, by name, and expWake
	// when each asked to be reconciled again.
	exps    map[string]*v1alpha1.Experiment
	expWake map[string]time.Time

	events []recordedEvent
	uid    int
	// manifests are kept for the templates Experiments name.
	manifests *Manifests
	rolloutW  time.Time // when the Rollout asked to be reconciled again
}

// recordedEvent is an Event of the Rollout or of an AnalysisRun.
type recordedEvent struct {
	at      time.Time
	object  string
	typ     string
	reason  string
	message string
	routine bool
}

// newWorld builds the cluster the manifests describe.
func newWorld(m *Manifests, sc *Scenario, start time.Time) (*world, error) {
	ro, err := pickRollout(m, sc.Rollout)
	if err != nil {
		return nil, err
	}
	ro = ro.DeepCopy()
	ro.Namespace = namespace
	ro.UID = types.UID("rollout-" + ro.Name)
	ro.Generation = 1
	ro.CreationTimestamp = metav1.NewTime(start)
	w := &world{
		sc: sc, start: start, now: start, ro: ro,
		rs: map[string]*appsv1.ReplicaSet{}, pods: map[string]*simPod{}, services: map[string]*corev1.Service{},
		runWake: map[string]time.Time{}, jobs: map[string]*simJob{}, jobsSeen: map[string]int{},
		exps: map[string]*v1alpha1.Experiment{}, expWake: map[string]time.Time{}, manifests: m,
	}
	for _, svc := range m.Services {
		s := svc.DeepCopy()
		s.Namespace = namespace
		w.services[s.Name] = s
	}
	if ref := ro.Spec.WorkloadRef; ref != nil && ref.Name != "" {
		for _, d := range m.Deployments {
			if d.Name == ref.Name {
				w.workload = d.DeepCopy()
				w.workload.Namespace = namespace
				w.workload.Generation = 1
			}
		}
	}
	w.lookup = templateLookup(decide.TemplateRefs(ro), m)
	if err := sc.checkMetricNames(m); err != nil {
		return nil, err
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&v1alpha1.AnalysisRun{}, &batchv1.Job{}).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if _, ok := obj.(*v1alpha1.AnalysisRun); ok && sub == "status" {
					w.runStatusWrites++
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				if _, ok := obj.(*v1alpha1.AnalysisRun); ok && sub == "status" {
					w.runStatusWrites++
				}
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
		})
	for _, s := range m.Secrets {
		sec := s.DeepCopy()
		sec.Namespace = namespace
		b = b.WithObjects(sec)
	}
	w.c = b.Build()
	w.querier = newScripted(sc, start)
	queriers := map[string]metricproviders.Querier{}
	for _, name := range []string{"prometheus", "web", "datadog", "cloudwatch", "newrelic", "wavefront", "kayenta", "graphite", "influxdb", "skywalking", "plugin"} {
		queriers[name] = w.querier
	}
	w.analysis = &analysis.Reconciler{
		Client:     w.c,
		Secrets:    analysis.SecretReader{Reader: w.c},
		Recorder:   &recorder{w: w},
		Queriers:   queriers,
		Jobs:       &job.Provider{Client: w.c},
		Conditions: condition.NewEvaluator(),
		Now:        func() time.Time { return w.now },
	}
	return w, nil
}

// pickRollout finds the Rollout to simulate.
func pickRollout(m *Manifests, name string) (*v1alpha1.Rollout, error) {
	switch {
	case name != "":
		for _, ro := range m.Rollouts {
			if ro.Name == name {
				return ro, nil
			}
		}
		return nil, fmt.Errorf("the manifests hold no Rollout named %q", name)
	case len(m.Rollouts) == 1:
		return m.Rollouts[0], nil
	case len(m.Rollouts) == 0:
		return nil, fmt.Errorf("the manifests hold no Rollout")
	}
	var names []string
	for _, ro := range m.Rollouts {
		names = append(names, ro.Name)
	}
	return nil, fmt.Errorf("the manifests hold several Rollouts (%s): name one with rollout: in the scenario", strings.Join(names, ", "))
}

// templateLookup holds every template refs name, nested ones included, as
// the controllers' observe steps find them.
func templateLookup(refs []template.Ref, m *Manifests) template.Lookup {
	l := template.Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{}, ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{}}
	seen := map[template.Ref]bool{}
	for len(refs) > 0 {
		r := refs[0]
		refs = refs[1:]
		if seen[r] || r.Name == "" {
			continue
		}
		seen[r] = true
		if r.ClusterScope {
			l.ClusterTemplates[r.Name] = nil
			for _, t := range m.ClusterAnalysisTemplates {
				if t.Name == r.Name {
					l.ClusterTemplates[r.Name] = t.DeepCopy()
					refs = append(refs, template.Nested(&t.Spec)...)
				}
			}
			continue
		}
		l.Templates[r.Name] = nil
		for _, t := range m.AnalysisTemplates {
			if t.Name == r.Name {
				c := t.DeepCopy()
				c.Namespace = namespace
				l.Templates[r.Name] = c
				refs = append(refs, template.Nested(&t.Spec)...)
			}
		}
	}
	return l
}

// snapshot is what the controller's observe step would read.
func (w *world) snapshot(ctx context.Context) (decide.Snapshot, error) {
	s := decide.Snapshot{Now: w.now, Rollout: w.ro.DeepCopy(), Services: map[string]*corev1.Service{}, Templates: w.lookup}
	if w.workload != nil {
		s.Workload = w.workload.DeepCopy()
	}
	for _, name := range validation.ServiceNames(w.ro) {
		if svc, ok := w.services[name]; ok {
			s.Services[name] = svc.DeepCopy()
		} else {
			s.Services[name] = nil
		}
	}
	own := map[types.UID]bool{}
	for _, rs := range w.rolloutRS() {
		s.ReplicaSets = append(s.ReplicaSets, rs.DeepCopy())
		own[rs.UID] = true
	}
	for _, name := range sortedKeys(w.pods) {
		p := w.pods[name].pod
		if ref := metav1.GetControllerOf(p); ref != nil && own[ref.UID] {
			s.Pods = append(s.Pods, p.DeepCopy())
		}
	}
	for _, name := range sortedKeys(w.exps) {
		s.Experiments = append(s.Experiments, w.exps[name].DeepCopy())
	}
	runs, err := w.runs(ctx)
	if err != nil {
		return s, err
	}
	for i := range runs {
		s.AnalysisRuns = append(s.AnalysisRuns, &runs[i])
	}
	return s, nil
}

// runs lists the Rollout's AnalysisRuns, oldest first.
func (w *world) runs(ctx context.Context) ([]v1alpha1.AnalysisRun, error) {
	return w.runsOf(ctx, w.ro.UID)
}

// runsOf lists the AnalysisRuns an object controls (every run with an
// empty uid), oldest first.
func (w *world) runsOf(ctx context.Context, uid types.UID) ([]v1alpha1.AnalysisRun, error) {
	var list v1alpha1.AnalysisRunList
	if err := w.c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	out := list.Items[:0]
	for _, r := range list.Items {
		if ref := metav1.GetControllerOf(&r); uid == "" || ref != nil && ref.UID == uid {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreationTimestamp.Equal(&out[j].CreationTimestamp) {
			return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rolloutRS are the ReplicaSets the Rollout controls, by name.
func (w *world) rolloutRS() []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range w.sortedRS() {
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == w.ro.UID {
			out = append(out, rs)
		}
	}
	return out
}

func (w *world) sortedRS() []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(w.rs))
	for _, k := range sortedKeys(w.rs) {
		out = append(out, w.rs[k])
	}
	return out
}

func (w *world) nextUID(prefix string) types.UID {
	w.uid++
	return types.UID(fmt.Sprintf("%s-%d", prefix, w.uid))
}

// apply makes one write of a plan, as the controller's executor would.
func (w *world) apply(ctx context.Context, a decide.Action) error {
	switch a := a.(type) {
	case decide.CreateReplicaSet:
		rs := a.ReplicaSet.DeepCopy()
		if _, exists := w.rs[rs.Name]; exists {
			return fmt.Errorf("the controller created ReplicaSet %s, which exists", rs.Name)
		}
		rs.UID = w.nextUID("rs")
		rs.Generation = 1
		rs.CreationTimestamp = metav1.NewTime(w.now)
		w.rs[rs.Name] = rs
	case decide.ScaleReplicaSet:
		rs := w.rs[a.Name]
		if rs == nil {
			return fmt.Errorf("the controller scaled ReplicaSet %s, which does not exist", a.Name)
		}
		rs.Spec.Replicas = ptr(a.To)
		rs.Generation++
	case decide.PatchReplicaSet:
		if rs := w.rs[a.Name]; rs != nil {
			rs.Annotations = decide.ApplyOps(rs.Annotations, a.Annotations)
			rs.Spec.Template.Labels = decide.ApplyOps(rs.Spec.Template.Labels, a.TemplateLabels)
			rs.Spec.Template.Annotations = decide.ApplyOps(rs.Spec.Template.Annotations, a.TemplateAnnotations)
		}
	case decide.AdoptReplicaSet:
	case decide.DeleteReplicaSet:
		delete(w.rs, a.Name)
	case decide.SetServiceSelector:
		svc := w.services[a.Service]
		if svc == nil {
			return fmt.Errorf("the controller pointed Service %s, which does not exist", a.Service)
		}
		sel := map[string]string{}
		for k, v := range svc.Spec.Selector {
			sel[k] = v
		}
		sel[v1alpha1.DefaultRolloutUniqueLabelKey] = a.Hash
		svc.Spec.Selector = sel
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[v1alpha1.ManagedByRolloutsKey] = w.ro.Name
	case decide.PatchPod:
		if p := w.pods[a.Name]; p != nil {
			p.pod.Labels = decide.ApplyOps(p.pod.Labels, a.Labels)
			p.pod.Annotations = decide.ApplyOps(p.pod.Annotations, a.Annotations)
		}
	case decide.EvictPod:
		delete(w.pods, a.Name)
	case decide.ScaleDeployment:
		if w.workload != nil {
			w.workload.Spec.Replicas = ptr(a.To)
			w.workload.Generation++
		}
	case decide.SetRolloutRevision:
		if w.ro.Annotations == nil {
			w.ro.Annotations = map[string]string{}
		}
		w.ro.Annotations[v1alpha1.RevisionAnnotation] = a.Revision
	case decide.AnnotateRollout:
		if w.ro.Annotations == nil {
			w.ro.Annotations = map[string]string{}
		}
		w.ro.Annotations[a.Key] = a.Value
	case decide.SyncTraffic:
		d := a.Desired
		w.traffic = &d
	case decide.CreateAnalysisRun:
		run := a.Run.DeepCopy()
		run.UID = w.nextUID("run")
		run.CreationTimestamp = metav1.NewTime(w.now)
		run.ResourceVersion = ""
		if err := w.c.Create(ctx, run); err != nil {
			return fmt.Errorf("creating AnalysisRun %s: %w", run.Name, err)
		}
		w.runWake[run.Name] = w.now
	case decide.TerminateAnalysisRun:
		return w.terminateRun(ctx, a.Name)
	case decide.DeleteAnalysisRun:
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: a.Name}}
		if err := client.IgnoreNotFound(w.c.Delete(ctx, run)); err != nil {
			return fmt.Errorf("deleting AnalysisRun %s: %w", a.Name, err)
		}
		delete(w.runWake, a.Name)
	case decide.CreateExperiment:
		ex := a.Experiment.DeepCopy()
		if _, exists := w.exps[ex.Name]; exists {
			return fmt.Errorf("the controller created Experiment %s, which exists", ex.Name)
		}
		ex.UID = w.nextUID("exp")
		ex.Namespace = namespace
		ex.CreationTimestamp = metav1.NewTime(w.now)
		ex.Generation = 1
		w.exps[ex.Name] = ex
		w.expWake[ex.Name] = w.now
	case decide.TerminateExperiment:
		if ex := w.exps[a.Name]; ex != nil {
			ex.Spec.Terminate = true
			w.expWake[a.Name] = w.now
		}
	case decide.DeleteExperiment:
		return w.deleteExperiment(ctx, a.Name)
	default:
		return fmt.Errorf("the simulation cannot apply %T", a)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// revisionOf reads an object's rollout.argoproj.io/revision annotation.
func revisionOf(o metav1.Object) int {
	n, _ := strconv.Atoi(o.GetAnnotations()[v1alpha1.RevisionAnnotation])
	return n
}

// behaviour is how the Pods of a revision behave.
func (w *world) behaviour(revision int) RevisionBehaviour {
	b := RevisionBehaviour{ReadyAfter: w.sc.Pods.ReadyAfter}
	for _, r := range w.sc.Pods.Revisions {
		if r.Revision == revision {
			if r.ReadyAfter != nil {
				b.ReadyAfter = r.ReadyAfter
			}
			b.NeverReady = r.NeverReady
			b.CrashAfter = r.CrashAfter
		}
	}
	return b
}

// neverReadyTemplate reports whether the local cluster would keep Pods of
// this template from ever becoming ready: the same label and image marker.
func neverReadyTemplate(t *corev1.PodTemplateSpec) bool {
	if t.Labels[devcluster.SimulateLabel] == devcluster.SimulateNeverReady {
		return true
	}
	cs := t.Spec.Containers
	return len(cs) > 0 && strings.Contains(cs[0].Image, devcluster.NeverReadyImageMarker)
}

// tickCluster lets the ReplicaSet controller and the kubelets act: Pods
// are created and removed to match each ReplicaSet, become ready or crash
// on time, and ReplicaSet status follows. It reports whether anything
// changed.
func (w *world) tickCluster() bool {
	changed := false
	// The garbage collector removes the Pods of a deleted ReplicaSet.
	live := map[types.UID]bool{}
	for _, rs := range w.rs {
		live[rs.UID] = true
	}
	for _, name := range sortedKeys(w.pods) {
		if ref := metav1.GetControllerOf(w.pods[name].pod); ref == nil || !live[ref.UID] {
			delete(w.pods, name)
			changed = true
		}
	}
	for _, rs := range w.sortedRS() {
		rev := revisionOf(rs)
		want := int(deref(rs.Spec.Replicas, 0))
		var mine []*simPod
		for _, name := range sortedKeys(w.pods) {
			if p := w.pods[name]; metav1.IsControlledBy(p.pod, rs) {
				mine = append(mine, p)
			}
		}
		for i := len(mine); i < want; i++ {
			w.uid++
			name := fmt.Sprintf("%s-%05d", rs.Name, w.uid)
			lbl := map[string]string{}
			for k, v := range rs.Spec.Template.Labels {
				lbl[k] = v
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: lbl,
				Annotations: rs.Spec.Template.Annotations, UID: types.UID(name), CreationTimestamp: metav1.NewTime(w.now),
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
				Spec:   *rs.Spec.Template.Spec.DeepCopy(),
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			sp := &simPod{pod: pod, revision: rev}
			b := w.behaviour(rev)
			if !b.NeverReady && !neverReadyTemplate(&rs.Spec.Template) {
				after := defaultReadyAfter
				if b.ReadyAfter != nil {
					after = b.ReadyAfter.D()
				}
				sp.readyAt = w.now.Add(after)
				if b.CrashAfter != nil {
					sp.crashAt = sp.readyAt.Add(b.CrashAfter.D())
				}
			}
			w.pods[name] = sp
			mine = append(mine, sp)
			changed = true
		}
		if len(mine) > want {
			// As the ReplicaSet controller does: not-ready Pods go first,
			// then the youngest.
			sort.SliceStable(mine, func(i, j int) bool {
				ri, rj := w.podReady(mine[i]), w.podReady(mine[j])
				if ri != rj {
					return !ri
				}
				return mine[i].pod.CreationTimestamp.After(mine[j].pod.CreationTimestamp.Time)
			})
			for _, p := range mine[:len(mine)-want] {
				delete(w.pods, p.pod.Name)
			}
			mine = mine[len(mine)-want:]
			changed = true
		}
		var ready, available int32
		minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
		for _, p := range mine {
			st := corev1.ConditionFalse
			if w.podReady(p) {
				st = corev1.ConditionTrue
				ready++
				if !w.now.Before(p.readyAt.Add(minReady)) {
					available++
				}
			}
			if len(p.pod.Status.Conditions) == 0 || p.pod.Status.Conditions[0].Status != st {
				p.pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(w.now)}}
				p.pod.Status.ContainerStatuses = nil
				for _, c := range p.pod.Spec.Containers {
					p.pod.Status.ContainerStatuses = append(p.pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
						Ready: st == corev1.ConditionTrue, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
				}
				changed = true
			}
		}
		n := int32(len(mine))
		if rs.Status.Replicas != n || rs.Status.ReadyReplicas != ready || rs.Status.AvailableReplicas != available || rs.Status.ObservedGeneration != rs.Generation {
			changed = true
		}
		rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, ready, available
		rs.Status.FullyLabeledReplicas = n
		rs.Status.ObservedGeneration = rs.Generation
	}
	if d := w.workload; d != nil {
		n := deref(d.Spec.Replicas, 1)
		if d.Status.Replicas != n || d.Status.ObservedGeneration != d.Generation {
			changed = true
		}
		d.Status.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas = n, n, n, n
		d.Status.ObservedGeneration = d.Generation
	}
	return changed
}

// podReady reports whether the kubelet shows the Pod ready now.
func (w *world) podReady(p *simPod) bool {
	if p.readyAt.IsZero() || w.now.Before(p.readyAt) {
		return false
	}
	return p.crashAt.IsZero() || w.now.Before(p.crashAt)
}

// tickJobs lets the Job controller finish analysis Jobs on time.
func (w *world) tickJobs(ctx context.Context) (bool, error) {
	var list batchv1.JobList
	if err := w.c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return false, fmt.Errorf("listing Jobs: %w", err)
	}
	changed := false
	for i := range list.Items {
		j := &list.Items[i]
		sj := w.jobs[j.Name]
		if sj == nil {
			sj = w.jobOutcome(j)
			w.jobs[j.Name] = sj
			changed = true
		}
		if sj.endsAt.IsZero() || w.now.Before(sj.endsAt) || len(j.Status.Conditions) > 0 {
			continue
		}
		cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(w.now)}
		switch {
		case sj.deadline:
			cond.Type, cond.Reason, cond.Message = batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline"
		case sj.outcome == JobFail:
			cond.Type, cond.Reason, cond.Message = batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"
			j.Status.Failed = 1
		default:
			j.Status.Succeeded = 1
		}
		j.Status.Conditions = []batchv1.JobCondition{cond}
		if err := w.c.Status().Update(ctx, j); err != nil {
			return false, fmt.Errorf("finishing Job %s: %w", j.Name, err)
		}
		changed = true
	}
	return changed, nil
}

// jobOutcome decides how a new Job ends: the scenario's script for its
// metric, else the local cluster's labels.
func (w *world) jobOutcome(j *batchv1.Job) *simJob {
	metric := j.Labels[job.LabelMetric]
	outcome, runsFor := JobSucceed, defaultJobRunsFor
	switch j.Spec.Template.Labels[devcluster.SimulateLabel] {
	case devcluster.SimulateFail:
		outcome = JobFail
	case devcluster.SimulateRunForever:
		outcome = JobHang
	}
	if script := w.sc.Jobs[metric]; len(script) > 0 {
		i := min(w.jobsSeen[metric], len(script)-1)
		outcome = script[i].Result
		if script[i].RunsFor != nil {
			runsFor = script[i].RunsFor.D()
		}
	}
	w.jobsSeen[metric]++
	sj := &simJob{outcome: outcome}
	if outcome != JobHang {
		sj.endsAt = w.now.Add(runsFor)
	}
	// Kubernetes fails a Job that outlives activeDeadlineSeconds.
	if d := j.Spec.ActiveDeadlineSeconds; d != nil {
		deadline := w.now.Add(time.Duration(*d) * time.Second)
		if sj.endsAt.IsZero() || deadline.Before(sj.endsAt) {
			sj.endsAt, sj.outcome, sj.deadline = deadline, JobFail, true
		}
	}
	return sj
}

// checkMetricNames refuses metrics and jobs entries that name no metric of
// the manifests' templates: a misspelt name would otherwise script nothing.
func (s *Scenario) checkMetricNames(man *Manifests) error {
	known := map[string]bool{}
	for _, t := range man.AnalysisTemplates {
		for _, m := range t.Spec.Metrics {
			known[m.Name] = true
		}
	}
	for _, t := range man.ClusterAnalysisTemplates {
		for _, m := range t.Spec.Metrics {
			known[m.Name] = true
		}
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []string
	for _, name := range sortedKeys(s.Metrics) {
		if !known[name] && len(s.Metrics[name]) > 0 {
			errs = append(errs, fmt.Sprintf("%s:%d: metrics.%s: the manifests' analysis templates have no metric of that name (they have: %s)",
				s.file, s.Metrics[name][0].line, name, strings.Join(names, ", ")))
		}
	}
	for _, name := range sortedKeys(s.Jobs) {
		if !known[name] && len(s.Jobs[name]) > 0 {
			errs = append(errs, fmt.Sprintf("%s:%d: jobs.%s: the manifests' analysis templates have no metric of that name (they have: %s)",
				s.file, s.Jobs[name][0].line, name, strings.Join(names, ", ")))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}
