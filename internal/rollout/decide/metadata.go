package decide

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// EphemeralMetadataAnnotation records on a ReplicaSet, as JSON, the
// ephemeral Pod metadata (canaryMetadata, stableMetadata, previewMetadata
// or activeMetadata) last merged into its Pod template. It is how a key the
// user removes from the Rollout is told from one the template itself
// carries; the name and format are the reference's, so ReplicaSets it made
// are understood too.
const EphemeralMetadataAnnotation = "rollout.argoproj.io/ephemeral-metadata"

// applyMetadata gives rs's Pod template, and its running Pods in place, the
// ephemeral metadata of the role it plays now (want) and removes what an
// earlier decision merged in and want no longer has: the keys the
// ReplicaSet's record names, or, on a ReplicaSet without a record, those of
// the role it no longer plays (drop). Labels its selector matches are never
// touched, and a key the user's own template sets goes back to the
// template's value instead of away.
func (d *decider) applyMetadata(rs *appsv1.ReplicaSet, want, drop *v1alpha1.PodTemplateMetadata) {
	rec, recorded := recordedMetadata(rs)
	if want == nil && drop == nil && !recorded {
		return
	}
	wantL, wantA := metadataMaps(want)
	// The template's previous keys come from the record, written in the
	// same patch as the template itself; running Pods may have missed an
	// earlier patch, so the keys of the other role are removed from them
	// as well.
	oldL, oldA := metadataMaps(rec)
	if !recorded {
		oldL, oldA = metadataMaps(drop)
	}
	dropL, dropA := metadataMaps(drop)
	fixed := fixedLabels(rs)

	tl := metadataOps(rs.Spec.Template.Labels, wantL, oldL, d.templ.Labels, fixed)
	ta := metadataOps(rs.Spec.Template.Annotations, wantA, oldA, d.templ.Annotations, nil)
	recOps := recordOps(rs, rec, recorded, want)
	if len(tl)+len(ta)+len(recOps) > 0 {
		if !(rs == d.newRS && d.newRSPlanned) {
			d.add(PatchReplicaSet{Name: rs.Name, Annotations: recOps, TemplateLabels: tl, TemplateAnnotations: ta})
		}
		rs.Annotations = ApplyOps(rs.Annotations, recOps)
		rs.Spec.Template.Labels = ApplyOps(rs.Spec.Template.Labels, tl)
		rs.Spec.Template.Annotations = ApplyOps(rs.Spec.Template.Annotations, ta)
	}
	if specReplicas(rs) == 0 {
		// Its Pods, if any, are on their way out.
		return
	}
	podL, podA := union(oldL, dropL), union(oldA, dropA)
	h := hashOf(rs)
	for _, p := range d.s.Pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h || !p.DeletionTimestamp.IsZero() {
			continue
		}
		pl := metadataOps(p.Labels, wantL, podL, d.templ.Labels, fixed)
		pa := metadataOps(p.Annotations, wantA, podA, d.templ.Annotations, nil)
		if len(pl)+len(pa) > 0 {
			d.add(PatchPod{Name: p.Name, Labels: pl, Annotations: pa})
		}
	}
}

// syncRoleMetadata gives rs the ephemeral metadata of the role it plays
// after this decision, whatever path the decision took (a person's pause,
// an inconclusive analysis, an abort, post-promotion analysis): the current
// version is the canary (preview) until it is stable, or, in blue-green,
// until the active Service selects it; the stable version is the stable
// (active) one. Where the strategy applied the metadata already this
// changes nothing.
func (d *decider) syncRoleMetadata(rs *appsv1.ReplicaSet) {
	if rs == nil {
		return
	}
	current := rs == d.newRS && hashOf(rs) != d.st.StableRS
	switch {
	case d.ro.Spec.Strategy.Canary != nil:
		c := d.ro.Spec.Strategy.Canary
		if current {
			d.applyMetadata(rs, c.CanaryMetadata, c.StableMetadata)
		} else {
			d.applyMetadata(rs, c.StableMetadata, c.CanaryMetadata)
		}
	case d.ro.Spec.Strategy.BlueGreen != nil:
		b := d.ro.Spec.Strategy.BlueGreen
		if current && d.plannedSelector(b.ActiveService) != d.newHash {
			d.applyMetadata(rs, b.PreviewMetadata, b.ActiveMetadata)
		} else {
			d.applyMetadata(rs, b.ActiveMetadata, b.PreviewMetadata)
		}
	}
}

// dropMetadataOfOthers takes the recorded ephemeral metadata out of the Pod
// templates of ReplicaSets that play no role any more (neither current nor
// stable), so a scale-up of an old revision does not bring back Pods
// labelled canary or stable. Their remaining Pods are left alone: they are
// on their way out or kept only for a quick rollback.
func (d *decider) dropMetadataOfOthers() {
	for _, rs := range d.others(d.rsByHash[d.st.StableRS]) {
		rec, recorded := recordedMetadata(rs)
		if !recorded {
			continue
		}
		oldL, oldA := metadataMaps(rec)
		tl := metadataOps(rs.Spec.Template.Labels, nil, oldL, d.templ.Labels, fixedLabels(rs))
		ta := metadataOps(rs.Spec.Template.Annotations, nil, oldA, d.templ.Annotations, nil)
		d.add(PatchReplicaSet{Name: rs.Name, Annotations: map[string]*string{EphemeralMetadataAnnotation: nil}, TemplateLabels: tl, TemplateAnnotations: ta})
		delete(rs.Annotations, EphemeralMetadataAnnotation)
		rs.Spec.Template.Labels = ApplyOps(rs.Spec.Template.Labels, tl)
		rs.Spec.Template.Annotations = ApplyOps(rs.Spec.Template.Annotations, ta)
	}
}

// recordedMetadata reads a ReplicaSet's ephemeral metadata record. A
// record that does not parse counts as none.
func recordedMetadata(rs *appsv1.ReplicaSet) (*v1alpha1.PodTemplateMetadata, bool) {
	v, ok := rs.Annotations[EphemeralMetadataAnnotation]
	if !ok {
		return nil, false
	}
	var m v1alpha1.PodTemplateMetadata
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, false
	}
	return &m, true
}

// recordOps returns the change of rs's record that makes it name want.
func recordOps(rs *appsv1.ReplicaSet, rec *v1alpha1.PodTemplateMetadata, recorded bool, want *v1alpha1.PodTemplateMetadata) map[string]*string {
	if want == nil || len(want.Labels)+len(want.Annotations) == 0 {
		if _, ok := rs.Annotations[EphemeralMetadataAnnotation]; ok {
			return map[string]*string{EphemeralMetadataAnnotation: nil}
		}
		return nil
	}
	wl, wa := metadataMaps(want)
	rl, ra := metadataMaps(rec)
	if recorded && equalMaps(wl, rl) && equalMaps(wa, ra) {
		return nil
	}
	b, err := json.Marshal(v1alpha1.PodTemplateMetadata{Labels: want.Labels, Annotations: want.Annotations})
	if err != nil {
		// Maps of strings always encode; should one not, the record stays.
		return nil
	}
	return map[string]*string{EphemeralMetadataAnnotation: ptr(string(b))}
}

func metadataMaps(m *v1alpha1.PodTemplateMetadata) (labels, annotations map[string]string) {
	if m == nil {
		return nil, nil
	}
	return m.Labels, m.Annotations
}

// fixedLabels are the labels of rs's Pods that ephemeral metadata never
// changes: the ones its selector matches (a Pod without them would leave
// the ReplicaSet) and the pod-template hash.
func fixedLabels(rs *appsv1.ReplicaSet) map[string]bool {
	fixed := map[string]bool{v1alpha1.DefaultRolloutUniqueLabelKey: true}
	if rs.Spec.Selector != nil {
		for k := range rs.Spec.Selector.MatchLabels {
			fixed[k] = true
		}
		for _, e := range rs.Spec.Selector.MatchExpressions {
			fixed[e.Key] = true
		}
	}
	return fixed
}

func union(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// metadataOps returns the changes that give current every key of want and
// none of old's keys that want does not hold: such a key goes back to the
// value keep (the user's template) gives it, or away. Keys in fixed are
// left as they are.
func metadataOps(current, want, old, keep map[string]string, fixed map[string]bool) map[string]*string {
	ops := map[string]*string{}
	for k, v := range want {
		if fixed[k] {
			continue
		}
		if cur, ok := current[k]; !ok || cur != v {
			ops[k] = ptr(v)
		}
	}
	for k := range old {
		if _, wanted := want[k]; wanted || fixed[k] {
			continue
		}
		if v, kept := keep[k]; kept {
			if cur, ok := current[k]; !ok || cur != v {
				ops[k] = ptr(v)
			}
			continue
		}
		if _, ok := current[k]; ok {
			ops[k] = nil
		}
	}
	if len(ops) == 0 {
		return nil
	}
	return ops
}

// ApplyOps returns m with the key changes ops describe applied, as the API
// server applies a merge patch of them (a nil value removes the key); m
// itself is left alone. The decision uses it to keep its snapshot in step
// with its own writes, and the simulation to apply them.
func ApplyOps(m map[string]string, ops map[string]*string) map[string]string {
	if len(ops) == 0 {
		return m
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range ops {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// injectAntiAffinity adds, to a new ReplicaSet being created, a Pod
// anti-affinity against the stable version's Pods, so a bad canary does not
// land on (and hurt) the nodes of production.
func (d *decider) injectAntiAffinity(aa *v1alpha1.AntiAffinity, stable *appsv1.ReplicaSet) {
	if aa == nil || !d.newRSPlanned || stable == nil || stable == d.newRS {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: v1alpha1.DefaultRolloutUniqueLabelKey, Operator: metav1.LabelSelectorOpIn, Values: []string{hashOf(stable)},
		}}},
		TopologyKey: corev1.LabelHostname,
	}
	spec := &d.newRS.Spec.Template.Spec
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.PodAntiAffinity == nil {
		spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	pa := spec.Affinity.PodAntiAffinity
	if p := aa.PreferredDuringSchedulingIgnoredDuringExecution; p != nil {
		pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: p.Weight, PodAffinityTerm: term})
	}
	if aa.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	}
}
