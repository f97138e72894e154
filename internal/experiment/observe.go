// Package experiment is the Experiment controller: it observes an
// Experiment and what it owns from the informer caches, asks package
// decide for a plan, applies the plan's writes in order and writes the
// status once.
package experiment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	"github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
)

// observe reads everything a decision about ex looks at. Owned objects come
// from the cache through the owner indexes; a template whose ReplicaSet or
// Service the cache does not show is looked up on the API server, so a
// reconcile right after our own create neither creates it again nor
// mistakes it for someone else's.
func observe(ctx context.Context, c, api client.Reader, ex *v1alpha1.Experiment, now time.Time) (decide.Snapshot, error) {
	s := decide.Snapshot{
		Now: now, Experiment: ex,
		ReplicaSets:  map[string]*appsv1.ReplicaSet{},
		Services:     map[string]*corev1.Service{},
		TakenNames:   map[string]bool{},
		AnalysisRuns: map[string]*v1alpha1.AnalysisRun{},
	}
	ns, uid := ex.Namespace, string(ex.UID)
	defined := map[string]bool{}
	for _, t := range ex.Spec.Templates {
		defined[t.Name] = true
	}
	mine := func(o metav1.Object) (string, bool) {
		ref := metav1.GetControllerOf(o)
		a := o.GetAnnotations()
		if ref == nil || ref.UID != ex.UID || a[v1alpha1.ExperimentNameAnnotationKey] != ex.Name {
			return "", false
		}
		t := a[v1alpha1.ExperimentTemplateNameAnnotationKey]
		return t, defined[t]
	}

	var rss appsv1.ReplicaSetList
	if err := c.List(ctx, &rss, client.InNamespace(ns), client.MatchingFields{indexReplicaSetOwner: uid}); err != nil {
		return s, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		if t, ok := mine(rs); ok {
			if _, dup := s.ReplicaSets[t]; dup {
				return s, fmt.Errorf("several ReplicaSets belong to template %q", t)
			}
			s.ReplicaSets[t] = rs
		}
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs, client.InNamespace(ns), client.MatchingFields{indexServiceOwner: uid}); err != nil {
		return s, fmt.Errorf("listing Services: %w", err)
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if t, ok := mine(svc); ok {
			if _, dup := s.Services[t]; dup {
				return s, fmt.Errorf("several Services belong to template %q", t)
			}
			s.Services[t] = svc
		}
	}
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		if t.Name == "" || s.ReplicaSets[t.Name] != nil {
			continue
		}
		rs := &appsv1.ReplicaSet{}
		switch err := api.Get(ctx, client.ObjectKey{Namespace: ns, Name: decide.ReplicaSetName(ex, t)}, rs); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return s, fmt.Errorf("reading ReplicaSet %s: %w", decide.ReplicaSetName(ex, t), err)
		default:
			if name, ok := mine(rs); ok && name == t.Name {
				s.ReplicaSets[t.Name] = rs
			} else {
				s.TakenNames["ReplicaSet/"+rs.Name] = true
			}
		}
	}
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		name := decide.ServiceName(ex, t)
		if name == "" || t.Name == "" || s.Services[t.Name] != nil {
			continue
		}
		svc := &corev1.Service{}
		switch err := api.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return s, fmt.Errorf("reading Service %s: %w", name, err)
		default:
			if tn, ok := mine(svc); ok && tn == t.Name {
				s.Services[t.Name] = svc
			} else {
				s.TakenNames["Service/"+name] = true
			}
		}
	}

	var runs v1alpha1.AnalysisRunList
	if err := c.List(ctx, &runs, client.InNamespace(ns), client.MatchingFields{indexRunOwner: uid}); err != nil {
		return s, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for i := range runs.Items {
		s.AnalysisRuns[runs.Items[i].Name] = &runs.Items[i]
	}
	lookup, err := fetchTemplates(ctx, c, ns, decide.TemplateRefs(ex))
	if err != nil {
		return s, err
	}
	s.Templates = lookup
	return s, nil
}

// fetchTemplates reads the analysis templates refs name, following the
// templates they name in turn; one that does not exist is recorded as nil.
func fetchTemplates(ctx context.Context, c client.Reader, ns string, refs []template.Ref) (template.Lookup, error) {
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
			var t v1alpha1.ClusterAnalysisTemplate
			if err := c.Get(ctx, client.ObjectKey{Name: r.Name}, &t); err != nil {
				if !apierrors.IsNotFound(err) {
					return l, fmt.Errorf("reading ClusterAnalysisTemplate %s: %w", r.Name, err)
				}
				l.ClusterTemplates[r.Name] = nil
				continue
			}
			l.ClusterTemplates[r.Name] = &t
			refs = append(refs, template.Nested(&t.Spec)...)
			continue
		}
		var t v1alpha1.AnalysisTemplate
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Name}, &t); err != nil {
			if !apierrors.IsNotFound(err) {
				return l, fmt.Errorf("reading AnalysisTemplate %s: %w", r.Name, err)
			}
			l.Templates[r.Name] = nil
			continue
		}
		l.Templates[r.Name] = &t
		refs = append(refs, template.Nested(&t.Spec)...)
	}
	return l, nil
}
