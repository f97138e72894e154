// Package istio splits a Rollout's traffic with Istio: it weights the canary
// and stable destinations of the routes a Rollout names in its
// VirtualServices, points a DestinationRule's canary and stable subsets at
// the two ReplicaSets when splitting by subset, and keeps the managed header
// and mirror routes at the top of the VirtualServices' http routes.
//
// Objects are handled as unstructured maps and edited in place, so fields
// this package does not know (newer Istio fields, other tools' annotations)
// survive every write unchanged.
package istio

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs, messages and ConfigErrors.
const Type = "istio"

// PodTemplateHashLabel is the Pod label a DestinationRule subset selects on
// to address one ReplicaSet.
const PodTemplateHashLabel = "rollouts-pod-template-hash"

// ManagedByAnnotation marks a DestinationRule whose subsets a Rollout
// rewrites, under the key Argo Rollouts uses, so tools that know it (and
// people) can tell the labels are not theirs to edit.
const ManagedByAnnotation = "argo-rollouts.argoproj.io/managed-by-rollouts"

// VirtualServiceGVK is the kind edited for weights and managed routes.
// v1alpha3 is what Argo Rollouts reads and writes, and every Istio release
// still serves it.
var VirtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "VirtualService"}

// DestinationRuleGVK is the kind whose subsets are pointed at the canary and
// stable ReplicaSets for subset-level splitting.
var DestinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"}

// Router edits the VirtualServices and DestinationRule of one Rollout.
type Router struct {
	env trafficrouting.Env
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Istio router of env.Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "istio".
func (r *Router) Type() string { return Type }

// Check reads the VirtualServices and the DestinationRule and reports every
// configuration problem found, so a user fixes them all in one go.
// What Argo Rollouts passes over (a route list the VirtualService lacks)
// is logged here, once per reconcile.
func (r *Router) Check(ctx context.Context) error {
	var ignored []string
	_, err := r.plan(ctx, nil, &ignored)
	if len(ignored) > 0 {
		log.FromContext(ctx).Info("istio: parts of the configuration ignored", "rollout", r.env.Rollout.Namespace+"/"+r.env.Rollout.Name, "ignored", ignored)
	}
	return err
}

// Sync makes the Istio objects show d. All objects are read and all
// problems found before the first write, so a bad configuration never
// leaves the objects half updated.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if d.MaxWeight == 0 {
		// A zero MaxWeight would give the stable a negative weight, which
		// Istio rejects; the documented default is what a caller meant.
		d.MaxWeight = trafficrouting.DefaultMaxWeight
	}
	p, err := r.plan(ctx, &d, new([]string))
	if err != nil {
		return err
	}
	// The subsets go first: a weight must not point at a subset that still
	// selects the previous ReplicaSet's Pods.
	if p.destinationRule != nil {
		if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, p.destinationRule.before, p.destinationRule.after); err != nil {
			return err
		}
	}
	for _, vs := range p.virtualServices {
		if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, vs.before, vs.after); err != nil {
			return err
		}
	}
	return nil
}

// edit is an object as read and the copy that shows the desired state.
type edit struct {
	before, after *unstructured.Unstructured
}

// plan is everything Sync writes.
type plan struct {
	destinationRule *edit
	virtualServices []edit
}

// vsRef is one VirtualService of the Rollout, resolved to its namespace.
type vsRef struct {
	spec            v1alpha1.IstioVirtualService
	namespace, name string
}

func (v vsRef) String() string { return v.namespace + "/" + v.name }

// plan reads every object and computes its desired copy; with d nil it only
// validates. Configuration problems are collected and joined; any other
// error stops at once. What is passed over is added to ignored.
func (r *Router) plan(ctx context.Context, d *trafficrouting.Desired, ignored *[]string) (*plan, error) {
	cfg, err := r.config()
	if err != nil {
		return nil, err
	}
	var problems []error
	// collect sorts a read error into a configuration problem (kept to
	// report with the others) or a failure (returned at once).
	collect := func(err error) error {
		var ce *trafficrouting.ConfigError
		if errors.As(err, &ce) {
			problems = append(problems, err)
			return nil
		}
		return err
	}

	p := &plan{}
	if dr := cfg.DestinationRule; dr != nil {
		obj, err := trafficrouting.GetObject(ctx, r.env.Reader, Type, DestinationRuleGVK, r.env.Rollout.Namespace, dr.Name)
		if err != nil {
			if err := collect(err); err != nil {
				return nil, err
			}
		} else {
			after := obj.DeepCopy()
			problems = append(problems, r.editDestinationRule(after, *dr, d)...)
			p.destinationRule = &edit{before: obj, after: after}
		}
	}

	refs, refProblems := r.virtualServices(cfg)
	problems = append(problems, refProblems...)
	for _, ref := range refs {
		obj, err := trafficrouting.GetObject(ctx, r.env.Reader, Type, VirtualServiceGVK, ref.namespace, ref.name)
		if err != nil {
			if err := collect(err); err != nil {
				return nil, err
			}
			continue
		}
		after := obj.DeepCopy()
		problems = append(problems, r.editVirtualService(after, ref, cfg, d, ignored)...)
		p.virtualServices = append(p.virtualServices, edit{before: obj, after: after})
	}

	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return p, nil
}

// config returns trafficRouting.istio, or a ConfigError when the Rollout
// has none or lacks what the chosen kind of splitting needs.
func (r *Router) config() (*v1alpha1.IstioTrafficRouting, error) {
	c := r.env.Canary()
	if c == nil || c.TrafficRouting == nil || c.TrafficRouting.Istio == nil {
		return nil, trafficrouting.Errorf(Type, "spec.strategy.canary.trafficRouting.istio is not set")
	}
	cfg := c.TrafficRouting.Istio
	var problems []error
	switch {
	case cfg.VirtualService == nil && len(cfg.VirtualServices) == 0:
		problems = append(problems, trafficrouting.Errorf(Type, "trafficRouting.istio names no virtualService or virtualServices"))
	case cfg.VirtualService != nil && len(cfg.VirtualServices) > 0:
		// Argo Rollouts documents the two as alternatives (and then reads
		// only virtualServices); refusing both beats silently ignoring one.
		problems = append(problems, trafficrouting.Errorf(Type, "trafficRouting.istio sets both virtualService and virtualServices; set one"))
	}
	if dr := cfg.DestinationRule; dr != nil {
		if dr.Name == "" || dr.CanarySubsetName == "" || dr.StableSubsetName == "" {
			problems = append(problems, trafficrouting.Errorf(Type, "trafficRouting.istio.destinationRule needs name, canarySubsetName and stableSubsetName"))
		} else if dr.CanarySubsetName == dr.StableSubsetName {
			problems = append(problems, trafficrouting.Errorf(Type, "trafficRouting.istio.destinationRule: canarySubsetName and stableSubsetName are both %q", dr.CanarySubsetName))
		}
	} else if stable, canary := r.env.Services(false); canary == "" || stable == "" {
		problems = append(problems, trafficrouting.Errorf(Type, "canaryService and stableService (or pingPong) must both be set to split traffic by host (or set trafficRouting.istio.destinationRule to split by subset)"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return cfg, nil
}

// virtualServices resolves the configured VirtualServices. A name written
// "name.namespace" is in that namespace, which lets a Rollout drive a
// VirtualService owned by a gateway team elsewhere.
func (r *Router) virtualServices(cfg *v1alpha1.IstioTrafficRouting) ([]vsRef, []error) {
	var specs []v1alpha1.IstioVirtualService
	if cfg.VirtualService != nil {
		specs = append(specs, *cfg.VirtualService)
	}
	specs = append(specs, cfg.VirtualServices...)

	var refs []vsRef
	var problems []error
	seen := map[string]bool{}
	for _, s := range specs {
		ref := vsRef{spec: s, namespace: r.env.Rollout.Namespace, name: s.Name}
		// Only the first two dot-separated parts count, as in Argo
		// Rollouts: a namespace has no dots, so anything more is a typo
		// that the missing-object error will show.
		if parts := strings.Split(s.Name, "."); len(parts) >= 2 {
			ref.name, ref.namespace = parts[0], parts[1]
		}
		if ref.name == "" || ref.namespace == "" {
			problems = append(problems, trafficrouting.Errorf(Type, "virtualService name %q is not of the form name or name.namespace", s.Name))
			continue
		}
		// Two entries for one object would each write it from the same
		// read, and the second write would always conflict.
		if seen[ref.String()] {
			problems = append(problems, trafficrouting.Errorf(Type, "VirtualService %s is listed more than once; list all its routes in one entry", ref))
			continue
		}
		seen[ref.String()] = true
		refs = append(refs, ref)
	}
	return refs, problems
}

// vsErrorf builds a ConfigError about one VirtualService.
func vsErrorf(ref vsRef, format string, args ...any) error {
	return trafficrouting.Errorf(Type, "VirtualService %s: %s", ref, fmt.Sprintf(format, args...))
}
