package decide

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// applyMetadata gives rs's Pod template, and its running Pods in place, the
// ephemeral metadata of the role it plays now (want) and removes that of the
// role it no longer plays (drop), so after a promotion nothing is left
// labelled canary. Keys the user's own template sets are never removed.
func (d *decider) applyMetadata(rs *appsv1.ReplicaSet, want, drop *v1alpha1.PodTemplateMetadata) {
	if want == nil && drop == nil {
		return
	}
	var wantL, wantA, dropL, dropA map[string]string
	if want != nil {
		wantL, wantA = want.Labels, want.Annotations
	}
	if drop != nil {
		dropL, dropA = drop.Labels, drop.Annotations
	}
	labelOps := func(current map[string]string) map[string]*string {
		return metadataOps(current, wantL, dropL, d.templ.Labels)
	}
	annotationOps := func(current map[string]string) map[string]*string {
		return metadataOps(current, wantA, dropA, d.templ.Annotations)
	}

	tl, ta := labelOps(rs.Spec.Template.Labels), annotationOps(rs.Spec.Template.Annotations)
	if len(tl)+len(ta) > 0 {
		if !(rs == d.newRS && d.newRSPlanned) {
			d.add(PatchReplicaSet{Name: rs.Name, TemplateLabels: tl, TemplateAnnotations: ta})
		}
		rs.Spec.Template.Labels = applyOps(rs.Spec.Template.Labels, tl)
		rs.Spec.Template.Annotations = applyOps(rs.Spec.Template.Annotations, ta)
	}
	h := hashOf(rs)
	for _, p := range d.s.Pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h || !p.DeletionTimestamp.IsZero() {
			continue
		}
		pl, pa := labelOps(p.Labels), annotationOps(p.Annotations)
		if len(pl)+len(pa) > 0 {
			d.add(PatchPod{Name: p.Name, Labels: pl, Annotations: pa})
		}
	}
}

// metadataOps returns the changes that take current to having every key of
// want and none of drop's keys that neither want nor keep holds.
func metadataOps(current, want, drop, keep map[string]string) map[string]*string {
	ops := map[string]*string{}
	for k, v := range want {
		if cur, ok := current[k]; !ok || cur != v {
			ops[k] = ptr(v)
		}
	}
	for k := range drop {
		if _, wanted := want[k]; wanted {
			continue
		}
		if v, kept := keep[k]; kept {
			if current[k] != v {
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

func applyOps(m map[string]string, ops map[string]*string) map[string]string {
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
