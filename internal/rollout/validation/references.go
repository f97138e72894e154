package validation

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Refs are the objects a Rollout points at, as the caller fetched them.
type Refs struct {
	// Services holds the Service of every name ServiceNames returns; a nil
	// entry, like a missing one, means the Service does not exist.
	Services map[string]*corev1.Service
	// Workload is the Deployment spec.workloadRef names, nil if it does not exist.
	Workload *appsv1.Deployment
	// Template is the effective Pod template: spec.template, or the
	// Workload's. Nil means References works it out from the Rollout and Workload.
	Template *corev1.PodTemplateSpec
	// Selector is the effective selector: spec.selector, or the Workload's
	// when the Rollout has none. Nil means the same fallback is applied here.
	Selector *metav1.LabelSelector
}

// serviceRef is one Service the spec names, with where it names it.
type serviceRef struct {
	path *field.Path
	name string
	// meta is the ephemeral metadata the controller adds to the Pods this
	// Service selects; a Service may select on those labels too.
	meta *v1alpha1.PodTemplateMetadata
}

// serviceRefs lists the Services the spec names, in spec order.
func serviceRefs(ro *v1alpha1.Rollout) []serviceRef {
	var refs []serviceRef
	add := func(p *field.Path, name string, meta *v1alpha1.PodTemplateMetadata) {
		if name != "" {
			refs = append(refs, serviceRef{path: p, name: name, meta: meta})
		}
	}
	p := field.NewPath("spec", "strategy")
	if c := ro.Spec.Strategy.Canary; c != nil {
		cp := p.Child("canary")
		add(cp.Child("canaryService"), c.CanaryService, c.CanaryMetadata)
		add(cp.Child("stableService"), c.StableService, c.StableMetadata)
		if pp := c.PingPong; pp != nil {
			// Ping and pong swap roles, so neither has fixed role labels.
			add(cp.Child("pingPong", "pingService"), pp.PingService, nil)
			add(cp.Child("pingPong", "pongService"), pp.PongService, nil)
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		bp := p.Child("blueGreen")
		add(bp.Child("activeService"), bg.ActiveService, bg.ActiveMetadata)
		add(bp.Child("previewService"), bg.PreviewService, bg.PreviewMetadata)
	}
	return refs
}

// ServiceNames lists, sorted and without repeats, every Service the spec
// names, so the caller knows what to fetch for References (and what to
// index Rollouts by). Router root Services are not included: the Rollout
// never changes or selects through them.
func ServiceNames(ro *v1alpha1.Rollout) []string {
	var names []string
	for _, r := range serviceRefs(ro) {
		names = append(names, r.name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// References checks the Rollout against the objects it points at. It
// assumes Spec found nothing; on an invalid spec its findings may repeat
// or follow from Spec's.
func References(ro *v1alpha1.Rollout, refs Refs) field.ErrorList {
	var errs field.ErrorList
	tmpl := effectiveTemplate(ro, refs)

	for _, r := range serviceRefs(ro) {
		svc := refs.Services[r.name]
		if svc == nil {
			errs = append(errs, field.Invalid(r.path, r.name, fmt.Sprintf("service %q not found", r.name)))
			continue
		}
		// The controller rewrites a Service's selector; two Rollouts doing
		// that to one Service would fight over it.
		if owner := svc.Annotations[v1alpha1.ManagedByRolloutsKey]; owner != "" && owner != ro.Name {
			errs = append(errs, field.Invalid(r.path, r.name,
				fmt.Sprintf("service %q is already managed by Rollout %q; each Rollout needs its own Services", r.name, owner)))
		}
		if tmpl != nil {
			errs = append(errs, validateServiceSelects(svc, r, tmpl.Labels)...)
		}
	}

	if ref := ro.Spec.WorkloadRef; ref != nil && ref.Kind == "Deployment" {
		errs = append(errs, validateWorkload(ro, refs, tmpl)...)
	}
	return errs
}

// effectiveTemplate returns the Pod template the Rollout runs, or nil when
// it is unknown because the referenced Deployment is missing (which is
// reported on its own, so Services are not also blamed for it).
func effectiveTemplate(ro *v1alpha1.Rollout, refs Refs) *corev1.PodTemplateSpec {
	if ro.Spec.WorkloadRef != nil && refs.Workload == nil {
		return nil
	}
	switch {
	case refs.Template != nil:
		return refs.Template
	case ro.Spec.WorkloadRef != nil:
		return &refs.Workload.Spec.Template
	default:
		return &ro.Spec.Template
	}
}

// validateServiceSelects checks that the Service would select the Rollout's
// Pods: every label of its selector, apart from the pod-template hash the
// controller adds, must be on the template or in the role's metadata.
// Otherwise the controller would point traffic at a Service with no Pods.
func validateServiceSelects(svc *corev1.Service, r serviceRef, tmplLabels map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(svc.Spec.Selector) {
		if k == v1alpha1.DefaultRolloutUniqueLabelKey {
			continue
		}
		want := svc.Spec.Selector[k]
		got, ok := tmplLabels[k]
		if ok && got == want {
			continue
		}
		if r.meta != nil {
			if v, found := r.meta.Labels[k]; found && v == want {
				continue
			}
		}
		var msg string
		if ok {
			msg = fmt.Sprintf("service %q selects %s=%s, but the Pod template has %s=%s, so the Service would select none of the Rollout's Pods", r.name, k, want, k, got)
		} else {
			msg = fmt.Sprintf("service %q selects %s=%s, but the Pod template has no label %q, so the Service would select none of the Rollout's Pods", r.name, k, want, k)
		}
		errs = append(errs, field.Invalid(r.path, r.name, msg))
	}
	return errs
}

// validateWorkload checks the referenced Deployment.
func validateWorkload(ro *v1alpha1.Rollout, refs Refs, tmpl *corev1.PodTemplateSpec) field.ErrorList {
	ref := ro.Spec.WorkloadRef
	namePath := field.NewPath("spec", "workloadRef", "name")
	dep := refs.Workload
	if dep == nil {
		return field.ErrorList{field.Invalid(namePath, ref.Name, fmt.Sprintf("Deployment %q not found", ref.Name))}
	}
	// The Rollout takes over the Deployment's Pods; with a different
	// selector it would either miss them or claim Pods that are not its own.
	if ro.Spec.Selector != nil && canonicalSelector(ro.Spec.Selector) != canonicalSelector(dep.Spec.Selector) {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), metav1.FormatLabelSelector(ro.Spec.Selector),
			fmt.Sprintf("must equal the selector of Deployment %q (%s), whose Pod template the Rollout uses; or leave spec.selector unset to use the Deployment's",
				dep.Name, metav1.FormatLabelSelector(dep.Spec.Selector)))}
	}
	sel := refs.Selector
	if sel == nil {
		sel = ro.Spec.Selector
	}
	if sel == nil {
		sel = dep.Spec.Selector
	}
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return field.ErrorList{field.Invalid(namePath, ref.Name, fmt.Sprintf("Deployment %q has no selector, and spec.selector is unset; set spec.selector", dep.Name))}
	}
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(namePath, ref.Name, fmt.Sprintf("the selector %s is invalid: %v", metav1.FormatLabelSelector(sel), err))}
	}
	if tmpl != nil && !parsed.Matches(labels.Set(tmpl.Labels)) {
		return field.ErrorList{field.Invalid(namePath, ref.Name, fmt.Sprintf("the Pod template of Deployment %q has labels %q, which the selector %s does not match",
			dep.Name, labels.Set(tmpl.Labels).String(), parsed.String()))}
	}
	return nil
}

// canonicalSelector prints a selector so that equal selectors print alike
// whatever the order of their terms.
func canonicalSelector(s *metav1.LabelSelector) string {
	if s == nil {
		return "<nil>"
	}
	parsed, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return metav1.FormatLabelSelector(s)
	}
	return parsed.String()
}
