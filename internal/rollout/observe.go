// Package rollout is the Rollout controller: it observes a Rollout and what
// it owns from the informer caches, asks package decide for a plan, and
// applies the plan's writes in order.
package rollout

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
)

// observe reads everything a decision about ro looks at from the cache, and
// from api the ConfigMaps and Secrets of a Rollout with config snapshots on
// (nil api leaves them out).
func observe(ctx context.Context, c client.Reader, api client.Reader, copies *ownedCopies, taken *takenNames, ro *v1alpha1.Rollout, now time.Time) (decide.Snapshot, error) {
	s := decide.Snapshot{Now: now, Rollout: ro, Services: map[string]*corev1.Service{}}
	ns := ro.Namespace

	if ref := ro.Spec.WorkloadRef; ref != nil && ref.Name != "" && ref.Kind == "Deployment" {
		var dep appsv1.Deployment
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &dep)
		switch {
		case err == nil:
			s.Workload = &dep
		case !apierrors.IsNotFound(err):
			return s, fmt.Errorf("reading Deployment %s: %w", ref.Name, err)
		}
	}

	for _, name := range validation.ServiceNames(ro) {
		var svc corev1.Service
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc)
		switch {
		case err == nil:
			s.Services[name] = &svc
		case apierrors.IsNotFound(err):
			s.Services[name] = nil
		default:
			return s, fmt.Errorf("reading Service %s: %w", name, err)
		}
	}

	if err := observeAnalysis(ctx, c, ro, &s); err != nil {
		return s, err
	}
	if err := observeExperiments(ctx, c, ro, &s); err != nil {
		return s, err
	}

	// The cache holds only ReplicaSets and Pods that carry a pod-template
	// hash (see CacheObjects), and the indexes below narrow them to this
	// Rollout's: a reconcile reads its own objects, not every Rollout's of
	// the namespace, so its cost does not grow with the number of Rollouts.
	var owned, orphans appsv1.ReplicaSetList
	if err := c.List(ctx, &owned, client.InNamespace(ns), client.MatchingFields{indexOwner: string(ro.UID)}); err != nil {
		return s, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	if err := c.List(ctx, &orphans, client.InNamespace(ns), client.MatchingFields{indexOwner: ownerNone}); err != nil {
		return s, fmt.Errorf("listing orphaned ReplicaSets: %w", err)
	}
	selector := labels.Nothing()
	sel := ro.Spec.Selector
	if sel == nil && s.Workload != nil {
		sel = s.Workload.Spec.Selector
	}
	if sel != nil {
		if parsed, err := metav1.LabelSelectorAsSelector(sel); err == nil && !parsed.Empty() {
			selector = parsed
		}
	}
	var hashes []string
	// rsUIDs are the ReplicaSets whose Pods count as the Rollout's: an
	// experiment step's ReplicaSet may run the same Pod template, and its
	// Pods must not count against the Rollout's surge.
	rsUIDs := map[types.UID]bool{}
	for i := range owned.Items {
		rs := &owned.Items[i]
		s.ReplicaSets = append(s.ReplicaSets, rs)
		hashes = append(hashes, rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey])
		rsUIDs[rs.UID] = true
	}
	for i := range orphans.Items {
		rs := &orphans.Items[i]
		if rs.DeletionTimestamp.IsZero() && selector.Matches(labels.Set(rs.Labels)) {
			s.Orphans = append(s.Orphans, rs)
			hashes = append(hashes, rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey])
			rsUIDs[rs.UID] = true
		}
	}
	tmpl := &ro.Spec.Template
	if ro.Spec.WorkloadRef != nil {
		tmpl = nil
		if s.Workload != nil {
			tmpl = &s.Workload.Spec.Template
		}
	}
	if api != nil && tmpl != nil && configsnap.Enabled(ro.Annotations) {
		rewritten, err := observeConfigs(ctx, api, ro, tmpl, &s, copies)
		if err != nil {
			return s, err
		}
		tmpl = rewritten
	}
	if err := observeNameTaken(ctx, c, taken, ro, tmpl, &s); err != nil {
		return s, err
	}
	seen := map[string]bool{}
	for _, h := range hashes {
		if seen[h] {
			continue
		}
		seen[h] = true
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingFields{indexPodHash: h}); err != nil {
			return s, fmt.Errorf("listing Pods: %w", err)
		}
		for i := range pods.Items {
			// Two Rollouts with the same template share a hash; the
			// selector tells their Pods apart, and the owner tells them
			// from an Experiment's.
			p := &pods.Items[i]
			if !selector.Matches(labels.Set(p.Labels)) {
				continue
			}
			if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "ReplicaSet" && !rsUIDs[ref.UID] {
				continue
			}
			s.Pods = append(s.Pods, p)
		}
	}
	return s, nil
}

// observeNameTaken looks up the name the current template's ReplicaSet takes
// when neither the Rollout's ReplicaSets nor its orphans hold it: a
// ReplicaSet of that name controlled by another object must be seen, or the
// create would fail unnoticed at every reconcile. The read is from the cache,
// which holds every ReplicaSet that carries a pod-template hash (of the held
// shards' buckets, when sharded); one it cannot hold is known from taken,
// where an earlier create refused for it recorded it. tmpl is the effective
// template (pointed at configuration copies), nil when there is none yet.
func observeNameTaken(ctx context.Context, c client.Reader, taken *takenNames, ro *v1alpha1.Rollout, tmpl *corev1.PodTemplateSpec, s *decide.Snapshot) error {
	if tmpl == nil {
		return nil
	}
	name := ro.Name + "-" + podhash.Template(tmpl, ro.Status.CollisionCount)
	for _, rs := range append(append([]*appsv1.ReplicaSet(nil), s.ReplicaSets...), s.Orphans...) {
		if rs.Name == name {
			return nil
		}
	}
	if rs := taken.holder(client.ObjectKeyFromObject(ro), name); rs != nil {
		s.NameTaken = rs
		return nil
	}
	var rs appsv1.ReplicaSet
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, &rs); {
	case err == nil:
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != ro.UID {
			s.NameTaken = &rs
		}
		return nil
	case apierrors.IsNotFound(err):
		return nil
	default:
		return fmt.Errorf("reading ReplicaSet %s: %w", name, err)
	}
}

// observeAnalysis reads the Rollout's AnalysisRuns and every template its
// spec names, following nested template references.
func observeAnalysis(ctx context.Context, c client.Reader, ro *v1alpha1.Rollout, s *decide.Snapshot) error {
	refs := decide.TemplateRefs(ro)
	s.Templates = template.Lookup{Templates: map[string]*v1alpha1.AnalysisTemplate{}, ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{}}
	if len(refs) == 0 {
		return nil
	}
	seen := map[template.Ref]bool{}
	for len(refs) > 0 {
		r := refs[0]
		refs = refs[1:]
		if seen[r] || r.Name == "" {
			continue
		}
		seen[r] = true
		var spec *v1alpha1.AnalysisTemplateSpec
		if r.ClusterScope {
			var t v1alpha1.ClusterAnalysisTemplate
			if err := c.Get(ctx, client.ObjectKey{Name: r.Name}, &t); err != nil {
				if !apierrors.IsNotFound(err) {
					return fmt.Errorf("reading ClusterAnalysisTemplate %s: %w", r.Name, err)
				}
				s.Templates.ClusterTemplates[r.Name] = nil
				continue
			}
			s.Templates.ClusterTemplates[r.Name] = &t
			spec = &t.Spec
		} else {
			var t v1alpha1.AnalysisTemplate
			if err := c.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: r.Name}, &t); err != nil {
				if !apierrors.IsNotFound(err) {
					return fmt.Errorf("reading AnalysisTemplate %s: %w", r.Name, err)
				}
				s.Templates.Templates[r.Name] = nil
				continue
			}
			s.Templates.Templates[r.Name] = &t
			spec = &t.Spec
		}
		refs = append(refs, template.Nested(spec)...)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.List(ctx, &runs, client.InNamespace(ro.Namespace), client.MatchingFields{indexRunOwner: string(ro.UID)}); err != nil {
		return fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for i := range runs.Items {
		s.AnalysisRuns = append(s.AnalysisRuns, &runs.Items[i])
	}
	return nil
}

// observeExperiments reads the Experiments the Rollout controls. Only a
// canary with an experiment step, or one that still owns Experiments of an
// earlier spec, has any; the index keeps the read to the Rollout's own.
func observeExperiments(ctx context.Context, c client.Reader, ro *v1alpha1.Rollout, s *decide.Snapshot) error {
	var exs v1alpha1.ExperimentList
	if err := c.List(ctx, &exs, client.InNamespace(ro.Namespace), client.MatchingFields{indexExperimentOwner: string(ro.UID)}); err != nil {
		return fmt.Errorf("listing Experiments: %w", err)
	}
	for i := range exs.Items {
		s.Experiments = append(s.Experiments, &exs.Items[i])
	}
	return nil
}
