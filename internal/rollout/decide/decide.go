package decide

import (
	"time"

	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// Defaults of the published API.
const (
	defaultReplicas                = 1
	defaultRevisionHistoryLimit    = 10
	defaultProgressDeadlineSeconds = 600
	// trafficRecheck is how often a Rollout whose router objects are wrong
	// looks at them again.
	trafficRecheck = 10 * time.Second
)

// decider carries one decision. Its ReplicaSet views start as copies of the
// snapshot and follow the plan's writes, so later steps of the same decision
// see what earlier ones planned.
type decider struct {
	s     Snapshot
	ro    *v1alpha1.Rollout
	plan  Plan
	st    *v1alpha1.RolloutStatus
	now   metav1.Time
	templ corev1.PodTemplateSpec
	sel   *metav1.LabelSelector

	replicas int32
	newHash  string
	// rsByHash holds every controlled ReplicaSet (copies) by its hash.
	rsByHash map[string]*appsv1.ReplicaSet
	// newRS is the current template's ReplicaSet; planned when not created yet.
	newRS *appsv1.ReplicaSet
	// newRSPlanned is true when this plan creates newRS.
	newRSPlanned bool
	// stableRS is a canary's stable ReplicaSet, whose Pod template an
	// experiment step's stable templates run.
	stableRS *appsv1.ReplicaSet
	// stepNote explains in status.message why the rollout waits at a step.
	stepNote string
	// rollbackInWindow is true when newRS is a previous version within
	// spec.rollbackWindow of the stable one: it returns without steps,
	// pauses or analysis.
	rollbackInWindow bool
	// configCopies are the copies of ConfigMaps and Secrets that templ runs,
	// for a Rollout with config snapshots on.
	configCopies []configsnap.Copy
	// urgentFrom and urgentTo bound the actions, planned where the
	// strategy decided them, that take traffic back to stable; finish
	// moves them to the front of the plan.
	urgentFrom, urgentTo int
}

// Decide returns the plan for one reconcile of s.Rollout.
func Decide(s Snapshot) Plan {
	p := decideOnce(s)
	if abortUnacted(s, p) {
		return decideAbort(s, p)
	}
	return p
}

// decideOnce is one pass of the decision over s.
func decideOnce(s Snapshot) Plan {
	// Status keeps times to the second; deciding with the same precision
	// keeps an unchanged status equal to the stored one.
	d := &decider{s: s, ro: s.Rollout, now: metav1.NewTime(s.Now.Truncate(time.Second))}
	st := s.Rollout.Status.DeepCopy()
	d.st = st
	if !s.Rollout.DeletionTimestamp.IsZero() {
		d.plan.Status = *st
		return d.plan
	}
	d.replicas = deref(d.ro.Spec.Replicas, defaultReplicas)
	st.ObservedGeneration = strconv.FormatInt(d.ro.Generation, 10)

	if errs := d.validate(); len(errs) > 0 {
		d.invalidSpec(errs)
		if len(s.TrafficErrors) > 0 {
			// Router objects are not watched: look again soon, so creating
			// the missing VirtualService or route is picked up.
			d.requeue(trafficRecheck)
		}
		return d.finish()
	}
	d.clearInvalidSpec()
	if !d.snapshotConfigs() {
		return d.finish()
	}
	d.resolveWorkloadStatus()

	d.adoptOrphans()
	if !d.ensureNewReplicaSet() {
		return d.finish()
	}
	d.ownConfigCopies()
	switch {
	case d.ro.Spec.Strategy.Canary != nil:
		d.canary()
		d.followPingPong()
	case d.ro.Spec.Strategy.BlueGreen != nil:
		d.blueGreen()
	}
	d.syncRoleMetadata(d.newRS)
	d.syncRoleMetadata(d.rsByHash[d.st.StableRS])
	d.dropMetadataOfOthers()
	d.terminateStrayRuns()
	d.reconcileExperiments()
	d.cleanUpHistory()
	d.clearScaleDownDeadlines()
	d.restart()
	d.scaleDownWorkload()
	d.computeCounts()
	d.trackDuration()
	return d.finish()
}

// finish fills the plan's status and puts the writes that take traffic
// back to stable first.
func (d *decider) finish() Plan {
	d.cleanUpRouterLeftovers()
	d.plan.Status = *d.st
	if n := d.urgentTo - d.urgentFrom; n > 0 {
		acts := make([]Action, 0, len(d.plan.Actions))
		acts = append(acts, d.plan.Actions[d.urgentFrom:d.urgentTo]...)
		acts = append(acts, d.plan.Actions[:d.urgentFrom]...)
		acts = append(acts, d.plan.Actions[d.urgentTo:]...)
		d.plan.Actions = acts
		d.plan.UrgentWrites = n
	}
	return d.plan
}

// markUrgent records that the actions planned since from take traffic
// back to stable.
func (d *decider) markUrgent(from int) {
	d.urgentFrom, d.urgentTo = from, len(d.plan.Actions)
}

// validate runs the spec and reference checks and resolves the effective
// template and selector.
func (d *decider) validate() field.ErrorList {
	errs := validation.Spec(d.ro)
	ref := d.ro.Spec.WorkloadRef
	if ref != nil {
		if d.s.Workload == nil {
			// References reports the missing Deployment itself.
			d.templ, d.sel = corev1.PodTemplateSpec{}, d.ro.Spec.Selector
		} else {
			d.templ = *d.s.Workload.Spec.Template.DeepCopy()
			d.sel = d.ro.Spec.Selector
			if d.sel == nil {
				d.sel = d.s.Workload.Spec.Selector
			}
		}
	} else {
		d.templ = *d.ro.Spec.Template.DeepCopy()
		d.sel = d.ro.Spec.Selector
	}
	if d.routed() {
		for _, msg := range d.s.TrafficErrors {
			errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: "spec.strategy.canary.trafficRouting", BadValue: field.OmitValueType{}, Detail: msg})
		}
	}
	errs = append(errs, d.validateAnalysis()...)
	if len(errs) > 0 {
		return errs
	}
	return validation.References(d.ro, validation.Refs{
		Services: d.s.Services,
		Workload: d.s.Workload,
		Template: &d.templ,
		Selector: d.sel,
	})
}

// invalidSpec reports the errors and touches nothing: no ReplicaSet is
// created or scaled and no Service is changed while the spec is invalid.
func (d *decider) invalidSpec(errs field.ErrorList) {
	msg := validation.Message(errs)
	prev := FindCondition(d.st, v1alpha1.InvalidSpec)
	d.setCondition(v1alpha1.InvalidSpec, corev1.ConditionTrue, ReasonInvalidSpec, msg)
	d.st.Phase = v1alpha1.RolloutPhaseDegraded
	d.st.Message = ReasonInvalidSpec + ": " + msg
	if prev == nil || prev.Message != msg || prev.Status != corev1.ConditionTrue {
		d.event(corev1.EventTypeWarning, ReasonInvalidSpec, msg)
	}
}

func (d *decider) clearInvalidSpec() {
	if c := FindCondition(d.st, v1alpha1.InvalidSpec); c != nil {
		removeCondition(d.st, v1alpha1.InvalidSpec)
		d.event(corev1.EventTypeNormal, "SpecFixed", "the spec is valid again")
	}
}

// resolveWorkloadStatus records the referenced workload's generation in
// status.workloadObservedGeneration and, as the reference does, in the
// Rollout's WorkloadGenerationAnnotation: Argo CD shows a Rollout with a
// workloadRef as Progressing until the two agree.
func (d *decider) resolveWorkloadStatus() {
	if d.s.Workload != nil {
		gen := strconv.FormatInt(d.s.Workload.Generation, 10)
		d.st.WorkloadObservedGeneration = gen
		if d.ro.Annotations[v1alpha1.WorkloadGenerationAnnotation] != gen {
			d.add(AnnotateRollout{Key: v1alpha1.WorkloadGenerationAnnotation, Value: gen})
		}
	} else {
		d.st.WorkloadObservedGeneration = ""
	}
}

// adoptOrphans takes control of orphaned ReplicaSets of this Rollout, e.g.
// ones left behind when a Rollout was deleted with orphaning and recreated.
func (d *decider) adoptOrphans() {
	d.rsByHash = map[string]*appsv1.ReplicaSet{}
	for _, rs := range d.s.ReplicaSets {
		if h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]; h != "" {
			d.rsByHash[h] = rs.DeepCopy()
		}
	}
	for _, rs := range d.s.Orphans {
		h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
		if h == "" || d.rsByHash[h] != nil {
			continue
		}
		d.add(AdoptReplicaSet{Name: rs.Name, UID: rs.UID, ResourceVersion: rs.ResourceVersion, OwnerReferences: rs.OwnerReferences})
		d.rsByHash[h] = rs.DeepCopy()
	}
}

// ensureNewReplicaSet finds or plans the ReplicaSet of the current template.
// It returns false when the decision must stop here (a hash collision was
// recorded and the next reconcile retries with a new name).
func (d *decider) ensureNewReplicaSet() bool {
	hashes := podhash.TemplateHashes(&d.templ, d.st.CollisionCount)
	d.newHash = hashes.Null
	name := d.ro.Name + "-" + d.newHash
	if rs := d.templateReplicaSet(hashes); rs != nil {
		// Its hash names the version from now on, whoever computed it.
		d.newHash = hashOf(rs)
		d.newRS = rs
		d.bumpRevisionIfOld()
		return true
	}
	for _, rs := range d.s.ReplicaSets {
		if rs.Name == name {
			// A controlled ReplicaSet holds the name but not the hash label:
			// treat as a collision, as a foreign one would be.
			return d.collision(name)
		}
	}
	if d.nameTakenByOther(name) {
		return d.collision(name)
	}
	if rs := d.s.NameTaken; rs != nil && rs.Name == name {
		// As the reference does: another name, from the next collision
		// count. Creating into the taken name would fail unseen until the
		// progress deadline.
		return d.collision(name + " (" + takenBy(rs) + ", so the Rollout cannot adopt it)")
	}
	d.newRS = d.buildReplicaSet(name)
	d.newRSPlanned = true
	return true
}

// templateReplicaSet returns the controlled ReplicaSet that runs the current
// template, nil when there is none. A ReplicaSet labelled with either hash
// encoding comes first; failing that, one whose template equals the current
// one, the status's current version preferred, then the newest revision. So
// a ReplicaSet that Argo Rollouts, or a Kanaria built on another k8s.io/api
// version, named with a hash computed differently is kept rather than
// doubled by a second one with the same Pods.
func (d *decider) templateReplicaSet(h podhash.Hashes) *appsv1.ReplicaSet {
	for _, hash := range []string{h.Null, h.Omitted} {
		if rs := d.rsByHash[hash]; rs != nil {
			return rs
		}
	}
	if rs := d.rsByHash[d.st.CurrentPodHash]; rs != nil && podhash.SameTemplate(&rs.Spec.Template, &d.templ) {
		return rs
	}
	var best *appsv1.ReplicaSet
	for _, rs := range d.rsByHash {
		if !podhash.SameTemplate(&rs.Spec.Template, &d.templ) {
			continue
		}
		if best == nil || revision(rs) > revision(best) || revision(rs) == revision(best) && rs.Name < best.Name {
			best = rs
		}
	}
	return best
}

func (d *decider) nameTakenByOther(name string) bool {
	for _, rs := range d.s.Orphans {
		if rs.Name == name && rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != d.newHash {
			return true
		}
	}
	return false
}

// takenBy says who holds a ReplicaSet the Rollout cannot adopt.
func takenBy(rs *appsv1.ReplicaSet) string {
	if ref := metav1.GetControllerOf(rs); ref != nil {
		return fmt.Sprintf("controlled by %s %s", ref.Kind, ref.Name)
	}
	return "its labels do not match the Rollout's selector"
}

func (d *decider) collision(name string) bool {
	n := deref(d.st.CollisionCount, 0) + 1
	d.st.CollisionCount = &n
	d.event(corev1.EventTypeWarning, "HashCollision", fmt.Sprintf("ReplicaSet name %s is taken; retrying with collision count %d", name, n))
	d.plan.RequeueAfter = 1
	return false
}

// revision returns a ReplicaSet's revision number, 0 when unknown.
func revision(rs *appsv1.ReplicaSet) int64 {
	n, err := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func (d *decider) maxRevision(except *appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range d.rsByHash {
		if rs != except {
			m = max(m, revision(rs))
		}
	}
	return m
}

// bumpRevisionIfOld gives an older ReplicaSet that becomes current again (a
// rollback or undo) the next revision number, as the Deployment controller
// does, so revisions always grow.
func (d *decider) bumpRevisionIfOld() {
	m := d.maxRevision(d.newRS)
	cur := revision(d.newRS)
	if cur > m {
		d.setRolloutRevision(cur)
		return
	}
	next := strconv.FormatInt(m+1, 10)
	d.add(PatchReplicaSet{Name: d.newRS.Name, Annotations: map[string]*string{v1alpha1.RevisionAnnotation: &next}})
	if d.newRS.Annotations == nil {
		d.newRS.Annotations = map[string]string{}
	}
	d.newRS.Annotations[v1alpha1.RevisionAnnotation] = next
	d.setRolloutRevision(m + 1)
}

func (d *decider) setRolloutRevision(rev int64) {
	r := strconv.FormatInt(rev, 10)
	if d.ro.Annotations[v1alpha1.RevisionAnnotation] != r {
		d.add(SetRolloutRevision{Revision: r})
	}
}

// currentRevision is the new ReplicaSet's revision.
func (d *decider) currentRevision() int64 { return revision(d.newRS) }

// buildReplicaSet returns the ReplicaSet of the current template, scaled to 0;
// the strategy decides its size and the plan creates it.
func (d *decider) buildReplicaSet(name string) *appsv1.ReplicaSet {
	tmpl := d.templ.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = d.newHash
	sel := d.sel.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[v1alpha1.DefaultRolloutUniqueLabelKey] = d.newHash
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	rev := strconv.FormatInt(d.maxRevision(nil)+1, 10)
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       d.ro.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d.ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: d.ro.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
	// After the hash: the label is where the ReplicaSet is cached, not what
	// its Pods run, so it never makes a new revision.
	shard.Label(&rs.ObjectMeta, &rs.Spec.Template, d.s.ShardBucket)
	d.annotateCopies(rs)
	d.setRolloutRevision(d.maxRevision(nil) + 1)
	return rs
}

// others returns the controlled ReplicaSets that are neither new nor stable,
// oldest revision first.
func (d *decider) others(stable *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range d.rsByHash {
		if rs != d.newRS && rs != stable {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if ri, rj := revision(out[i]), revision(out[j]); ri != rj {
			return ri < rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// scale plans a ReplicaSet's new size; creating a planned ReplicaSet takes
// its size with it.
func (d *decider) scale(rs *appsv1.ReplicaSet, to int32) {
	from := deref(rs.Spec.Replicas, 0)
	if rs == d.newRS && d.newRSPlanned {
		rs.Spec.Replicas = &to
		return
	}
	if from == to {
		return
	}
	d.add(ScaleReplicaSet{Name: rs.Name, From: from, To: to})
	rs.Spec.Replicas = &to
}

// scaleShrinksFirst plans the new sizes of several ReplicaSets, those that
// shrink before those that grow. A ReplicaSet may grow into room that
// another one's scale-down in the same plan frees (the surge bounds the
// ReplicaSets' desired replicas, as for a Deployment); writing the
// scale-downs first keeps that sum within replicas + maxSurge after every
// single write, not only once all are made.
func (d *decider) scaleShrinksFirst(rss []*appsv1.ReplicaSet, to []int32) {
	for i, rs := range rss {
		if to[i] < specReplicas(rs) {
			d.scale(rs, to[i])
		}
	}
	for i, rs := range rss {
		d.scale(rs, to[i])
	}
}

// createNewRSIfPlanned adds the creation of the new ReplicaSet to the plan,
// with whatever size and metadata the strategy gave it.
func (d *decider) createNewRSIfPlanned() {
	if d.newRSPlanned {
		d.syncRoleMetadata(d.newRS)
		// The copies come first: a Pod of the new ReplicaSet must never
		// reference a copy that does not exist yet. Scale-downs planned
		// ahead of it stay ahead: the new ReplicaSet's size may use the
		// room they free.
		first := append(d.configCopyActions(), CreateReplicaSet{ReplicaSet: d.newRS.DeepCopy()})
		at := 0
		for at < len(d.plan.Actions) {
			if s, ok := d.plan.Actions[at].(ScaleReplicaSet); !ok || s.To >= s.From {
				break
			}
			at++
		}
		d.plan.Actions = append(append(append([]Action{}, d.plan.Actions[:at]...), first...), d.plan.Actions[at:]...)
		if d.urgentTo > d.urgentFrom && d.urgentFrom >= at {
			d.urgentFrom += len(first)
			d.urgentTo += len(first)
		}
		d.newRSPlanned = false
		d.note(ReasonNewRSCreated,
			fmt.Sprintf("created ReplicaSet %s (revision %d) with %d replicas", d.newRS.Name, d.currentRevision(), deref(d.newRS.Spec.Replicas, 0)))
	}
}

func (d *decider) add(a Action) { d.plan.Actions = append(d.plan.Actions, a) }

func (d *decider) event(typ, reason, msg string) {
	d.plan.Events = append(d.plan.Events, Event{Type: typ, Reason: reason, Message: msg})
}

// note records a routine decision: logged, not recorded as an Event.
func (d *decider) note(reason, msg string) {
	d.plan.Events = append(d.plan.Events, Event{Type: corev1.EventTypeNormal, Reason: reason, Message: msg, Routine: true})
}

// requeue asks for a reconcile no later than after.
func (d *decider) requeue(after time.Duration) {
	if after <= 0 {
		after = 1
	}
	if d.plan.RequeueAfter == 0 || after < d.plan.RequeueAfter {
		d.plan.RequeueAfter = after
	}
}

func available(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return rs.Status.AvailableReplicas
}

func specReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return deref(rs.Spec.Replicas, 0)
}
