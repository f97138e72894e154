package decide

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// sim is a small simulated cluster: it applies plans the way the executor
// and the ReplicaSet controller would, so whole rollouts can be walked
// through Decide offline and the safety rules checked at every state.
type sim struct {
	t        testing.TB
	now      time.Time
	ro       *v1alpha1.Rollout
	rs       map[string]*appsv1.ReplicaSet // by name
	pods     map[string]*corev1.Pod
	services map[string]*corev1.Service
	workload *appsv1.Deployment
	// broken lists hashes whose Pods never become available.
	broken map[string]bool
	// deleted records ReplicaSets removed for revisionHistoryLimit.
	deleted []string
	events  []Event
	// releases are the ended releases every plan reported, in order.
	releases []ReleaseTiming
	uid      int
	// runs are the AnalysisRuns the plans created, by name; tests set
	// their phase as the analysis controller would.
	runs      map[string]*v1alpha1.AnalysisRun
	templates template.Lookup
	// exps are the Experiments the plans created, by name; tests set their
	// phase and template statuses as the Experiment controller would.
	exps map[string]*v1alpha1.Experiment
	// traffic is what the routers show: the last synced desired state.
	traffic *trafficrouting.Desired
	// trafficErrors are the router problems observe would report.
	trafficErrors []string
	// configs are the referenced ConfigMaps and Secrets observe would
	// report for a Rollout with config snapshots on; nil when it is off.
	configs map[configsnap.Ref]configsnap.Source
	// copies are the configuration copies the plans created, with their
	// owners' UIDs.
	copies map[configsnap.Ref][]types.UID
	// shardBucket is the snapshot's ShardBucket: set, the controller runs
	// with shards.
	shardBucket string
	// heldRuns and heldExps are the snapshot's HeldRunNames and
	// HeldExperimentNames: names an earlier create found held by another
	// object.
	heldRuns, heldExps map[string]bool
}

func newSim(t testing.TB, ro *v1alpha1.Rollout) *sim {
	ro.UID = "rollout-uid"
	ro.Namespace = "default"
	ro.Generation = 1
	s := &sim{t: t, now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), ro: ro, rs: map[string]*appsv1.ReplicaSet{},
		pods: map[string]*corev1.Pod{}, services: map[string]*corev1.Service{}, broken: map[string]bool{},
		runs: map[string]*v1alpha1.AnalysisRun{}, exps: map[string]*v1alpha1.Experiment{}, templates: template.Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{}}}
	return s
}

func (s *sim) addService(name string, selector map[string]string) {
	s.services[name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: selector}}
}

func (s *sim) snapshot() Snapshot {
	snap := Snapshot{Now: s.now, Rollout: s.ro.DeepCopy(), Services: map[string]*corev1.Service{}, Workload: s.workload.DeepCopy(),
		Templates: s.templates, TrafficErrors: s.trafficErrors, ShardBucket: s.shardBucket,
		HeldRunNames: s.heldRuns, HeldExperimentNames: s.heldExps}
	for _, name := range sortedKeys(s.runs) {
		snap.AnalysisRuns = append(snap.AnalysisRuns, s.runs[name].DeepCopy())
	}
	for _, name := range sortedKeys(s.exps) {
		snap.Experiments = append(snap.Experiments, s.exps[name].DeepCopy())
	}
	for _, rs := range s.sortedRS() {
		snap.ReplicaSets = append(snap.ReplicaSets, rs.DeepCopy())
	}
	for _, name := range sortedKeys(s.pods) {
		snap.Pods = append(snap.Pods, s.pods[name].DeepCopy())
	}
	for name, svc := range s.services {
		snap.Services[name] = svc.DeepCopy()
	}
	if s.configs != nil {
		snap.Configs = &ConfigSnapshots{Sources: map[configsnap.Ref]configsnap.Source{}, CopyOwners: map[configsnap.Ref][]types.UID{}}
		for r, src := range s.configs {
			snap.Configs.Sources[r] = src
		}
		for r, owners := range s.copies {
			snap.Configs.CopyOwners[r] = append([]types.UID(nil), owners...)
		}
		snap.Configs.MissingCopies = map[configsnap.Ref]bool{}
		for _, rs := range s.rs {
			for _, r := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
				if _, ok := s.copies[r]; !ok {
					snap.Configs.MissingCopies[r] = true
				}
			}
		}
	}
	return snap
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *sim) sortedRS() []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, k := range sortedKeys(s.rs) {
		out = append(out, s.rs[k])
	}
	return out
}

// reconcile runs Decide once and applies its plan.
func (s *sim) reconcile() Plan {
	s.t.Helper()
	p := Decide(s.snapshot())
	for _, a := range p.Actions {
		s.apply(a)
	}
	s.events = append(s.events, p.Events...)
	s.releases = append(s.releases, p.Releases...)
	s.ro.Status = p.Status
	s.checkInvariants()
	return p
}

func (s *sim) apply(a Action) {
	switch a := a.(type) {
	case CreateReplicaSet:
		rs := a.ReplicaSet.DeepCopy()
		if _, exists := s.rs[rs.Name]; exists {
			s.t.Fatalf("create of existing ReplicaSet %s", rs.Name)
		}
		// No Pod may reference a copy that does not exist yet.
		for _, c := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
			if _, ok := s.copies[c]; !ok {
				s.t.Fatalf("ReplicaSet %s created before its copy %s", rs.Name, c)
			}
		}
		s.uid++
		rs.UID = types.UID(fmt.Sprint("rs-", s.uid))
		rs.Generation = 1
		rs.CreationTimestamp = metav1.NewTime(s.now)
		s.rs[rs.Name] = rs
	case ScaleReplicaSet:
		rs := s.rs[a.Name]
		if deref(rs.Spec.Replicas, 0) != a.From {
			s.t.Fatalf("scale %s from %d but it has %d", a.Name, a.From, deref(rs.Spec.Replicas, 0))
		}
		rs.Spec.Replicas = ptr(a.To)
		rs.Generation++
	case PatchReplicaSet:
		rs := s.rs[a.Name]
		rs.Annotations = ApplyOps(rs.Annotations, a.Annotations)
		rs.Spec.Template.Labels = ApplyOps(rs.Spec.Template.Labels, a.TemplateLabels)
		rs.Spec.Template.Annotations = ApplyOps(rs.Spec.Template.Annotations, a.TemplateAnnotations)
	case SetServiceSelector:
		svc := s.services[a.Service]
		sel := map[string]string{}
		for k, v := range svc.Spec.Selector {
			sel[k] = v
		}
		sel[v1alpha1.DefaultRolloutUniqueLabelKey] = a.Hash
		svc.Spec.Selector = sel
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[v1alpha1.ManagedByRolloutsKey] = s.ro.Name
	case PatchPod:
		p := s.pods[a.Name]
		p.Labels = ApplyOps(p.Labels, a.Labels)
		p.Annotations = ApplyOps(p.Annotations, a.Annotations)
	case EvictPod:
		delete(s.pods, a.Name)
	case DeleteReplicaSet:
		delete(s.rs, a.Name)
		s.deleted = append(s.deleted, a.Name)
		// The garbage collector removes copies whose last owner is gone.
		for r, owners := range s.copies {
			var kept []types.UID
			for _, u := range owners {
				if u != a.UID {
					kept = append(kept, u)
				}
			}
			if len(kept) == 0 {
				delete(s.copies, r)
			} else {
				s.copies[r] = kept
			}
		}
	case CreateConfigCopy:
		if src, ok := s.configs[a.Copy.Source]; !ok || src.Hash != a.Copy.Hash {
			s.t.Fatalf("copy of %s with hash %s, but the source is %+v", a.Copy.Source, a.Copy.Hash, src)
		}
		if s.copies == nil {
			s.copies = map[configsnap.Ref][]types.UID{}
		}
		if _, ok := s.copies[a.Copy.Ref()]; !ok {
			s.copies[a.Copy.Ref()] = []types.UID{s.ro.UID}
		}
	case OwnConfigCopy:
		owners, ok := s.copies[a.Copy]
		if !ok {
			s.t.Fatalf("owner patch of missing copy %s", a.Copy)
		}
		kept := []types.UID{}
		for _, u := range owners {
			if u != a.RolloutUID && u != a.ReplicaSetUID {
				kept = append(kept, u)
			}
		}
		s.copies[a.Copy] = append(kept, a.ReplicaSetUID)
	case ScaleDeployment:
		s.workload.Spec.Replicas = ptr(a.To)
	case AnnotateRollout:
		if s.ro.Annotations == nil {
			s.ro.Annotations = map[string]string{}
		}
		s.ro.Annotations[a.Key] = a.Value
	case SetRolloutRevision:
		if s.ro.Annotations == nil {
			s.ro.Annotations = map[string]string{}
		}
		s.ro.Annotations[v1alpha1.RevisionAnnotation] = a.Revision
	case CreateAnalysisRun:
		if _, exists := s.runs[a.Run.Name]; exists {
			s.t.Fatalf("create of existing AnalysisRun %s", a.Run.Name)
		}
		r := a.Run.DeepCopy()
		r.Status.Phase = v1alpha1.AnalysisPhaseRunning
		s.runs[r.Name] = r
	case TerminateAnalysisRun:
		r := s.runs[a.Name]
		r.Spec.Terminate = true
		if !r.Status.Phase.Completed() {
			r.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
		}
	case DeleteAnalysisRun:
		delete(s.runs, a.Name)
	case CreateExperiment:
		if _, exists := s.exps[a.Experiment.Name]; exists {
			s.t.Fatalf("create of existing Experiment %s", a.Experiment.Name)
		}
		ex := a.Experiment.DeepCopy()
		s.uid++
		ex.UID = types.UID(fmt.Sprint("ex-", s.uid))
		ex.CreationTimestamp = metav1.NewTime(s.now)
		ex.Status.Phase = v1alpha1.AnalysisPhasePending
		s.exps[ex.Name] = ex
	case TerminateExperiment:
		ex := s.exps[a.Name]
		ex.Spec.Terminate = true
		if !ex.Status.Phase.Completed() {
			ex.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
		}
	case DeleteExperiment:
		delete(s.exps, a.Name)
	case SyncTraffic:
		d := a.Desired
		s.traffic = &d
	case AdoptReplicaSet:
	default:
		s.t.Fatalf("unknown action %T", a)
	}
}

// reconcileBusy reconciles and reports whether the plan changed anything: a
// traffic sync to the split the routers already show does not count.
func (s *sim) reconcileBusy() (Plan, bool) {
	before := s.traffic
	p := s.reconcile()
	for _, a := range p.Actions {
		if t, ok := a.(SyncTraffic); ok && before != nil && reflect.DeepEqual(t.Desired, *before) {
			continue
		}
		return p, true
	}
	return p, false
}

// tick lets the ReplicaSet controller and kubelets act: Pods are created and
// deleted to match spec, and Pods of healthy versions become available.
func (s *sim) tick(d time.Duration) {
	s.now = s.now.Add(d)
	for _, rs := range s.sortedRS() {
		h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
		want := int(deref(rs.Spec.Replicas, 0))
		var mine []string
		for _, name := range sortedKeys(s.pods) {
			if s.pods[name].Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h {
				mine = append(mine, name)
			}
		}
		for i := len(mine); i < want; i++ {
			s.uid++
			name := fmt.Sprintf("%s-%d", rs.Name, s.uid)
			lbl := map[string]string{}
			for k, v := range rs.Spec.Template.Labels {
				lbl[k] = v
			}
			s.pods[name] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbl,
				UID: types.UID(name), CreationTimestamp: metav1.NewTime(s.now)}}
		}
		for i := want; i < len(mine); i++ {
			delete(s.pods, mine[len(mine)-1-(i-want)])
		}
		n := int32(want)
		rs.Status.Replicas = n
		rs.Status.ReadyReplicas = n
		rs.Status.AvailableReplicas = n
		if s.broken[h] {
			rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = 0, 0
		}
		rs.Status.ObservedGeneration = rs.Generation
		for _, name := range sortedKeys(s.pods) {
			p := s.pods[name]
			if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h {
				st := corev1.ConditionTrue
				if s.broken[h] {
					st = corev1.ConditionFalse
				}
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
			}
		}
	}
}

// settle alternates reconciles and ticks until a plan has nothing to do.
func (s *sim) settle() {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		p, busy := s.reconcileBusy()
		s.tick(time.Second)
		if !busy && (p.RequeueAfter == 0 || p.RequeueAfter > time.Second) {
			if _, busy := s.reconcileBusy(); !busy {
				return
			}
		}
	}
	s.t.Fatalf("no steady state after 100 reconciles: status %+v", s.ro.Status)
}

// checkInvariants are the safety rules every state must keep.
func (s *sim) checkInvariants() {
	s.t.Helper()
	for _, name := range sortedKeys(s.services) {
		svc := s.services[name]
		h, ok := svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
		if !ok {
			continue
		}
		var target *appsv1.ReplicaSet
		for _, rs := range s.rs {
			if rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h {
				target = rs
			}
		}
		if target == nil || target.Status.AvailableReplicas == 0 && !s.brokenEverywhere() {
			s.t.Fatalf("Service %s points at %s, which has no available Pods", name, h)
		}
		if deref(target.Spec.Replicas, 0) == 0 {
			s.t.Fatalf("Service %s points at %s, which is being scaled to zero", name, h)
		}
	}
	s.checkTrafficInvariants()
}

// checkTrafficInvariants are the rules of a routed canary: a Service with a
// share of the traffic selects Pods that can take it, and the stable is
// never below full size while it may get traffic back.
func (s *sim) checkTrafficInvariants() {
	s.t.Helper()
	c := s.ro.Spec.Strategy.Canary
	if s.traffic == nil || c == nil || c.TrafficRouting == nil {
		return
	}
	d := s.traffic
	replicas := deref(s.ro.Spec.Replicas, 1)
	if d.CanaryWeight > 0 {
		h := s.services[c.CanaryService].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
		rs := s.rsByHash(h)
		need := int32((int64(replicas)*int64(d.CanaryWeight) + int64(d.MaxWeight) - 1) / int64(d.MaxWeight))
		if h != s.ro.Status.StableRS && !c.DynamicStableScale && canaryScaleAt(c.Steps, len(c.Steps)-1) == nil && rs.Status.AvailableReplicas < need {
			s.t.Fatalf("%d of %d of the traffic goes to %s, which has %d available Pods (needs %d)", d.CanaryWeight, d.MaxWeight, h, rs.Status.AvailableReplicas, need)
		}
	}
	// An experiment's Service gets traffic only while its Experiment runs
	// (its Pods are available and not about to be scaled down), and the
	// shares never exceed the whole.
	sum := d.CanaryWeight
	for _, a := range d.Additional {
		sum += a.Weight
		running := false
		for _, ex := range s.exps {
			for _, ts := range ex.Status.TemplateStatuses {
				if ts.ServiceName == a.ServiceName && ex.Status.Phase == v1alpha1.AnalysisPhaseRunning && !ex.Spec.Terminate {
					running = true
				}
			}
		}
		if !running {
			s.t.Fatalf("%d of %d of the traffic goes to %s, whose Experiment is not running", a.Weight, d.MaxWeight, a.ServiceName)
		}
	}
	if sum > d.MaxWeight {
		s.t.Fatalf("the canary and experiment shares add up to %d of %d", sum, d.MaxWeight)
	}
	if d.StableWeight() > 0 && !c.DynamicStableScale {
		h := s.services[c.StableService].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
		// Before the first version is up the Service selects nothing yet.
		if rs := s.rsByHash(h); h != "" && (rs == nil || deref(rs.Spec.Replicas, 0) < replicas) {
			s.t.Fatalf("%d of %d of the traffic goes to the stable %s, which is scaled below %d", d.StableWeight(), d.MaxWeight, h, replicas)
		}
	}
}

func (s *sim) brokenEverywhere() bool {
	for _, rs := range s.rs {
		if rs.Status.AvailableReplicas > 0 {
			return false
		}
	}
	return true
}

func (s *sim) setImage(image string) {
	s.ro.Spec.Template.Spec.Containers[0].Image = image
	s.ro.Generation++
}

func (s *sim) hashOf(image string) string {
	t := s.ro.Spec.Template.DeepCopy()
	t.Spec.Containers[0].Image = image
	return podhash.Template(t, s.ro.Status.CollisionCount)
}

func (s *sim) rsByHash(h string) *appsv1.ReplicaSet {
	for _, rs := range s.rs {
		if rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h {
			return rs
		}
	}
	return nil
}

// counts returns spec replicas of the ReplicaSets of the given hashes.
func (s *sim) counts(hashes ...string) []int32 {
	out := make([]int32, len(hashes))
	for i, h := range hashes {
		out[i] = specReplicas(s.rsByHash(h))
	}
	return out
}

func (s *sim) promote() {
	s.ro.Status.PauseConditions = nil
}

func (s *sim) hasEvent(reason string) bool {
	for _, e := range s.events {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

// podsWithLabel counts Pods of hash h whose label k has value v.
func (s *sim) podsWithLabel(h, k, v string) int {
	n := 0
	for _, p := range s.pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h && p.Labels[k] == v {
			n++
		}
	}
	return n
}

func (s *sim) podsOf(h string) int {
	n := 0
	for _, p := range s.pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] == h {
			n++
		}
	}
	return n
}

// manualGates is the Rollout of the canary-manual-gates fixture.
func manualGates() *v1alpha1.Rollout {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "rails"},
		Spec: v1alpha1.RolloutSpec{
			Replicas:             ptr(int32(5)),
			RevisionHistoryLimit: ptr(int32(3)),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rails"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rails"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "rails", Image: "rails:6.0"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryService: "rails-canary", StableService: "rails-stable",
				MaxSurge: &one, MaxUnavailable: &zero,
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptr(int32(10))},
					{Pause: &v1alpha1.RolloutPause{}},
					{SetWeight: ptr(int32(50))},
					{Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("20s"))}},
				},
			}},
		},
	}
}

func newManualGatesSim(t testing.TB) *sim {
	s := newSim(t, manualGates())
	s.addService("rails-stable", map[string]string{"app": "rails"})
	s.addService("rails-canary", map[string]string{"app": "rails"})
	return s
}

func wantPhase(t *testing.T, s *sim, phase v1alpha1.RolloutPhase) {
	t.Helper()
	if s.ro.Status.Phase != phase {
		t.Fatalf("phase = %s (%s), want %s", s.ro.Status.Phase, s.ro.Status.Message, phase)
	}
}

func wantCounts(t *testing.T, s *sim, hashes []string, want ...int32) {
	t.Helper()
	got := s.counts(hashes...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replicas of %v = %v, want %v", hashes, got, want)
	}
}

func wantSelectors(t *testing.T, s *sim, stable, canary string) {
	t.Helper()
	if got := s.services["rails-stable"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]; got != stable {
		t.Fatalf("rails-stable selects %q, want %q", got, stable)
	}
	if got := s.services["rails-canary"].Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]; got != canary {
		t.Fatalf("rails-canary selects %q, want %q", got, canary)
	}
}

func stepIndex(s *sim) int32 { return deref(s.ro.Status.CurrentStepIndex, -1) }

func joinEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s: %s\n", e.Reason, e.Message)
	}
	return b.String()
}

func ptrTime(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }
