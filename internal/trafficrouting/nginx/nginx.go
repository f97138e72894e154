// Package nginx splits traffic with the NGINX ingress controller's canary
// Ingress: for every stable Ingress the Rollout names, a second Ingress with
// the same hosts and paths, pointing at the canary Service and carrying the
// canary annotations, takes the canary's share of the requests. The stable
// Ingress belongs to the user and is only read.
package nginx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs and messages.
const Type = "nginx"

// DefaultAnnotationPrefix is the ingress controller's annotation prefix
// when trafficRouting.nginx.annotationPrefix is unset.
const DefaultAnnotationPrefix = "nginx.ingress.kubernetes.io"

// CanarySuffix ends the name of every canary Ingress.
const CanarySuffix = "-canary"

// ingressClassAnnotation is the one annotation of the stable Ingress the
// canary needs: without it an ingress controller that selects by the
// legacy annotation would not pick the canary up at all.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

// maxNameLength is the limit on an Ingress name (a DNS subdomain).
const maxNameLength = 253

// Router keeps the canary Ingresses of one Rollout.
type Router struct {
	env trafficrouting.Env
}

// New returns the NGINX router of env.Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "nginx".
func (r *Router) Type() string { return Type }

// CanaryIngressName is the name of the canary Ingress made from stableIngress
// for the Rollout rolloutName: the two names joined, cut so that the
// suffix still fits in an object name. Existing canary Ingresses keep
// working when a cluster moves to this controller because the name is the
// one Argo Rollouts uses.
func CanaryIngressName(rolloutName, stableIngress string) string {
	base := rolloutName + "-" + stableIngress
	if limit := maxNameLength - len(CanarySuffix); len(base) > limit {
		base = base[:limit]
	}
	return base + CanarySuffix
}

// AnnotationPrefix is the prefix of the annotations the Rollout's NGINX
// routing writes on its canary Ingresses.
func AnnotationPrefix(n *v1alpha1.NginxTrafficRouting) string {
	if n.AnnotationPrefix == "" {
		return DefaultAnnotationPrefix
	}
	return n.AnnotationPrefix
}

// WeightAnnotation is the canary Ingress annotation that holds the canary's
// share of traffic, under prefix.
func WeightAnnotation(prefix string) string { return prefix + "/canary-weight" }

// StableIngresses are the stable Ingresses the Rollout's NGINX routing
// names, each once, with empty names dropped. stableIngresses wins over
// stableIngress, as in Argo Rollouts, so a Rollout that (wrongly) sets both
// behaves the same here.
func StableIngresses(n *v1alpha1.NginxTrafficRouting) []string {
	names := n.StableIngresses
	if len(names) == 0 && n.StableIngress != "" {
		names = []string{n.StableIngress}
	}
	var out []string
	seen := map[string]bool{}
	for _, name := range names {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// config is the part of the Rollout the router reads, checked once.
type config struct {
	ns, rollout     string
	stable, canary  string
	prefix          string
	stableIngresses []string
	additional      map[string]string
	extra           map[string]string
}

func (r *Router) config() (*config, error) {
	ro := r.env.Rollout
	c := r.env.Canary()
	if c == nil || c.TrafficRouting == nil || c.TrafficRouting.Nginx == nil {
		return nil, trafficrouting.Errorf(Type, "spec.strategy.canary.trafficRouting.nginx is not set")
	}
	n := c.TrafficRouting.Nginx
	cfg := &config{
		ns: ro.Namespace, rollout: ro.Name,
		stable: c.StableService, canary: c.CanaryService,
		prefix:          AnnotationPrefix(n),
		stableIngresses: StableIngresses(n),
		additional:      n.AdditionalIngressAnnotations,
		extra:           n.CanaryIngressAnnotations,
	}
	var errs []error
	if len(cfg.stableIngresses) == 0 {
		errs = append(errs, trafficrouting.Errorf(Type, "set trafficRouting.nginx.stableIngress or stableIngresses"))
	}
	if cfg.stable == "" || cfg.canary == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "canary.stableService and canary.canaryService must both be set"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// Check reports a stable Ingress that is missing or does not route to the
// stable Service, and a canary-named Ingress this Rollout does not control.
func (r *Router) Check(ctx context.Context) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	var problems []error
	for _, name := range cfg.stableIngresses {
		stable, err := r.get(ctx, cfg.ns, name)
		if err != nil {
			return err
		}
		if stable == nil {
			problems = append(problems, trafficrouting.Errorf(Type, "stable Ingress %s/%s does not exist", cfg.ns, name))
		} else if !routesTo(stable, cfg.stable) {
			problems = append(problems, noStableBackend(cfg, name))
		}
		canaryName := CanaryIngressName(cfg.rollout, name)
		canary, err := r.get(ctx, cfg.ns, canaryName)
		if err != nil {
			return err
		}
		if canary != nil && !metav1.IsControlledBy(canary, r.env.Rollout) {
			problems = append(problems, notOurs(cfg, canaryName))
		}
	}
	return errors.Join(problems...)
}

// Sync creates or corrects the canary Ingress of every stable Ingress, and
// deletes them once the update is over.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	// Header and mirror routes are not this router's to make: a canary
	// Ingress has one weight for every request, and validation rejects
	// such steps before they reach here.
	done := d.CanaryWeight == 0 && d.CanaryHash == d.StableHash
	for _, name := range cfg.stableIngresses {
		if done {
			err = r.deleteCanary(ctx, cfg, name)
		} else {
			err = r.syncCanary(ctx, cfg, name, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) syncCanary(ctx context.Context, cfg *config, stableName string, d trafficrouting.Desired) error {
	stable, err := r.get(ctx, cfg.ns, stableName)
	if err != nil {
		return err
	}
	if stable == nil {
		return trafficrouting.Errorf(Type, "stable Ingress %s/%s does not exist", cfg.ns, stableName)
	}
	rules := canaryRules(stable, cfg.stable, cfg.canary)
	if len(rules) == 0 {
		return noStableBackend(cfg, stableName)
	}
	copied := stable.Spec.DeepCopy()
	spec := networkingv1.IngressSpec{
		IngressClassName: copied.IngressClassName,
		TLS:              copied.TLS,
		Rules:            rules,
	}
	annotations := r.annotations(cfg, stable, d)

	canaryName := CanaryIngressName(cfg.rollout, stableName)
	canary, err := r.get(ctx, cfg.ns, canaryName)
	if err != nil {
		return err
	}
	if canary == nil {
		created := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{
				Namespace:       cfg.ns,
				Name:            canaryName,
				Annotations:     annotations,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(r.env.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))},
			},
			Spec: spec,
		}
		err := r.env.Writer.Create(ctx, created)
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating canary Ingress %s/%s: %w", cfg.ns, canaryName, err)
		}
		// Someone created it between our read and our write (another
		// worker, or a user): read it and treat it like any existing one,
		// which also refuses it when it is not ours.
		if canary, err = r.get(ctx, cfg.ns, canaryName); err != nil {
			return err
		}
		if canary == nil {
			return fmt.Errorf("canary Ingress %s/%s was created and deleted while syncing it", cfg.ns, canaryName)
		}
	}
	if !metav1.IsControlledBy(canary, r.env.Rollout) {
		return notOurs(cfg, canaryName)
	}
	// The whole spec and annotation set of the canary are derived: an
	// annotation left over from an earlier additionalIngressAnnotations,
	// or one a user added by hand, would change how NGINX routes the
	// canary, so it goes. Labels and other metadata are left alone.
	after := canary.DeepCopy()
	after.Annotations = annotations
	after.Spec = spec
	if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, canary, after); err != nil {
		return fmt.Errorf("syncing canary Ingress of %s/%s: %w", cfg.ns, stableName, err)
	}
	return nil
}

// deleteCanary removes the canary Ingress of stableName if this Rollout
// controls it. One controlled by someone else is left alone: it was never
// ours to delete, and Check reports it.
func (r *Router) deleteCanary(ctx context.Context, cfg *config, stableName string) error {
	name := CanaryIngressName(cfg.rollout, stableName)
	canary, err := r.get(ctx, cfg.ns, name)
	if err != nil || canary == nil {
		return err
	}
	if !metav1.IsControlledBy(canary, r.env.Rollout) {
		return nil
	}
	// The preconditions make sure the object deleted is the one just
	// judged to be ours, not a newer one created under the same name.
	uid, rv := canary.UID, canary.ResourceVersion
	err = r.env.Writer.Delete(ctx, canary, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting canary Ingress %s/%s: %w", cfg.ns, name, err)
	}
	return nil
}

// annotations are the canary Ingress's whole annotation set. The stable
// Ingress's own annotations are not copied (NGINX reads them from the
// stable Ingress, and things like snippets must not apply twice), except
// the legacy class annotation that decides which controller serves it.
func (r *Router) annotations(cfg *config, stable *networkingv1.Ingress, d trafficrouting.Desired) map[string]string {
	out := map[string]string{}
	if class, ok := stable.Annotations[ingressClassAnnotation]; ok {
		out[ingressClassAnnotation] = class
	}
	for k, v := range cfg.additional {
		// A key already written with the prefix is taken as it is, as
		// Argo Rollouts does, rather than prefixed twice.
		if !strings.HasPrefix(k, cfg.prefix+"/") {
			k = cfg.prefix + "/" + k
		}
		out[k] = v
	}
	for k, v := range cfg.extra {
		out[k] = v
	}
	// Set last so that no extra annotation can switch the canary off or
	// change its weight behind the controller's back.
	maxWeight := d.MaxWeight
	if maxWeight == 0 {
		maxWeight = trafficrouting.DefaultMaxWeight
	}
	out[cfg.prefix+"/canary"] = "true"
	out[WeightAnnotation(cfg.prefix)] = strconv.Itoa(int(d.CanaryWeight))
	if maxWeight != trafficrouting.DefaultMaxWeight {
		out[cfg.prefix+"/canary-weight-total"] = strconv.Itoa(int(maxWeight))
	} else {
		delete(out, cfg.prefix+"/canary-weight-total")
	}
	return out
}

// canaryRules copies the rules of stable that route to the stable Service,
// each with only those paths and each pointed at the canary Service. Paths
// to other Services stay out: the canary weight must not reach traffic
// that is no part of this Rollout.
func canaryRules(stable *networkingv1.Ingress, stableSvc, canarySvc string) []networkingv1.IngressRule {
	var out []networkingv1.IngressRule
	for _, rule := range stable.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != stableSvc {
				continue
			}
			p = *p.DeepCopy()
			p.Backend.Service.Name = canarySvc
			paths = append(paths, p)
		}
		if len(paths) == 0 {
			continue
		}
		out = append(out, networkingv1.IngressRule{
			Host:             rule.Host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
		})
	}
	return out
}

// routesTo reports whether a rule path of ing has svc as its backend.
func routesTo(ing *networkingv1.Ingress, svc string) bool {
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == svc {
				return true
			}
		}
	}
	return false
}

// get reads an Ingress; a missing one is (nil, nil) since callers differ
// on whether that is a problem.
func (r *Router) get(ctx context.Context, ns, name string) (*networkingv1.Ingress, error) {
	ing := &networkingv1.Ingress{}
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ing)
	switch {
	case err == nil:
		return ing, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("reading Ingress %s/%s: %w", ns, name, err)
	}
}

func noStableBackend(cfg *config, ingress string) error {
	return trafficrouting.Errorf(Type, "stable Ingress %s/%s has no rule path whose backend is the stable Service %q; the canary Ingress is made from those paths",
		cfg.ns, ingress, cfg.stable)
}

func notOurs(cfg *config, name string) error {
	return trafficrouting.Errorf(Type, "Ingress %s/%s exists but is not controlled by Rollout %s; delete or rename it so the canary Ingress can be created",
		cfg.ns, name, cfg.rollout)
}
