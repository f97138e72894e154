// Package apisix splits traffic through an Apache APISIX ApisixRoute. In the
// HTTP rules the Rollout names, the backends of the canary and stable
// Services carry the weights. A header route is its own ApisixRoute, named
// after the managed route and owned by the Rollout: a copy of the named
// rules that sends only to the canary, matches the headers, and outranks
// the rules it copies. That is how Argo Rollouts does it, and it keeps the
// user's ApisixRoute free of rules the controller adds and removes.
package apisix

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs and messages.
const Type = "apisix"

// GVK is the ApisixRoute kind, in the version Argo Rollouts uses.
var GVK = schema.GroupVersionKind{Group: "apisix.apache.org", Version: "v2", Kind: "ApisixRoute"}

// lastApplied would describe the user's route, not the copy, and make
// kubectl apply compute a wrong patch against the header route.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Router sets backend weights in an ApisixRoute and keeps the header-route
// ApisixRoutes of the managed routes.
type Router struct {
	env trafficrouting.Env
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the APISIX router of env's Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "apisix".
func (r *Router) Type() string { return Type }

// Check reports a missing ApisixRoute, a named rule it lacks, a rule without
// a canary or stable backend, and a managed route whose name is taken by an
// ApisixRoute this Rollout does not control.
func (r *Router) Check(ctx context.Context) error {
	route, err := r.read(ctx)
	if err != nil {
		return err
	}
	var errs []error
	if _, err := r.rules(route); err != nil {
		errs = append(errs, err)
	}
	for _, name := range r.env.ManagedRouteNames() {
		if name == route.GetName() {
			errs = append(errs, trafficrouting.Errorf(Type, "managed route %q has the name of the ApisixRoute the Rollout splits; header routes are ApisixRoutes of their own and need another name", name))
			continue
		}
		if _, err := r.owned(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sync sets the weights in the named rules, then makes the header-route
// ApisixRoutes match d.HeaderRoutes: it creates or updates those listed and
// deletes the managed ones that are not. APISIX has no mirror routes here.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if len(d.MirrorRoutes) > 0 {
		return trafficrouting.Errorf(Type, "APISIX does not support setMirrorRoute; remove those steps")
	}
	before, err := r.read(ctx)
	if err != nil {
		return err
	}
	after := before.DeepCopy()
	rules, err := r.rules(after)
	if err != nil {
		return err
	}
	for _, rl := range rules {
		rl.canary["weight"] = int64(d.CanaryWeight)
		rl.stable["weight"] = int64(d.StableWeight())
	}
	if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, before, after); err != nil {
		return err
	}
	return r.syncHeaderRoutes(ctx, after, rules, d)
}

// read fetches the ApisixRoute the Rollout names.
func (r *Router) read(ctx context.Context) (*unstructured.Unstructured, error) {
	cfg := r.env.Routing().Apisix
	if cfg == nil || cfg.Route == nil || cfg.Route.Name == "" {
		return nil, trafficrouting.Errorf(Type, "trafficRouting.apisix.route.name is required")
	}
	return trafficrouting.GetObject(ctx, r.env.Reader, Type, GVK, r.env.Rollout.Namespace, cfg.Route.Name)
}

// rule is one HTTP rule the Rollout names, as maps inside the route object
// so that setting a weight edits the object.
type rule struct {
	name           string
	body           map[string]any
	canary, stable map[string]any
}

// ruleNames lists route.rules; Argo Rollouts takes the route's own name
// when the list is empty, the rule name of a one-rule route made by hand.
func (r *Router) ruleNames() []string {
	cfg := r.env.Routing().Apisix.Route
	if len(cfg.Rules) == 0 {
		return []string{cfg.Name}
	}
	return cfg.Rules
}

// rules finds every named rule of route and its two backends, reporting
// everything missing at once.
func (r *Router) rules(route *unstructured.Unstructured) ([]rule, error) {
	c := r.env.Canary()
	where := fmt.Sprintf("ApisixRoute %s/%s", route.GetNamespace(), route.GetName())
	var errs []error
	if c.CanaryService == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "canaryService is required"))
	}
	if c.StableService == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "stableService is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	http, ok := nestedSlice(route.Object, "spec", "http")
	if !ok {
		return nil, trafficrouting.Errorf(Type, "%s has no spec.http rules", where)
	}
	var out []rule
	for _, name := range r.ruleNames() {
		body := findRule(http, name)
		if body == nil {
			errs = append(errs, trafficrouting.Errorf(Type, "%s has no HTTP rule named %q", where, name))
			continue
		}
		backends, _ := nestedSlice(body, "backends")
		rl := rule{
			name:   name,
			body:   body,
			canary: findBackend(backends, c.CanaryService),
			stable: findBackend(backends, c.StableService),
		}
		if rl.canary == nil {
			errs = append(errs, trafficrouting.Errorf(Type, "HTTP rule %q of %s has no backend for the canary Service %q", name, where, c.CanaryService))
		}
		if rl.stable == nil {
			errs = append(errs, trafficrouting.Errorf(Type, "HTTP rule %q of %s has no backend for the stable Service %q", name, where, c.StableService))
		}
		out = append(out, rl)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func findRule(http []any, name string) map[string]any {
	for _, h := range http {
		if m, ok := h.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

func findBackend(backends []any, service string) map[string]any {
	for _, b := range backends {
		if m, ok := b.(map[string]any); ok && m["serviceName"] == service {
			return m
		}
	}
	return nil
}

// owned reads the ApisixRoute name. It returns nil when there is none, and
// a *trafficrouting.ConfigError when one exists that this Rollout does not
// control: the controller must never edit or delete someone else's route.
func (r *Router) owned(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: r.env.Rollout.Namespace, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading ApisixRoute %s/%s: %w", r.env.Rollout.Namespace, name, err)
	case !metav1.IsControlledBy(u, r.env.Rollout):
		return nil, trafficrouting.Errorf(Type, "ApisixRoute %s/%s, the name of managed route %q, exists and is not controlled by this Rollout; rename the managed route or delete the ApisixRoute", u.GetNamespace(), name, name)
	}
	return u, nil
}

// syncHeaderRoutes creates, updates and deletes the header-route
// ApisixRoutes. It carries on past a route it cannot touch so one bad name
// does not hold back the others, and reports all problems together.
func (r *Router) syncHeaderRoutes(ctx context.Context, main *unstructured.Unstructured, rules []rule, d trafficrouting.Desired) error {
	managed := r.env.ManagedRouteNames()
	want := map[string]bool{}
	var errs []error
	for _, h := range d.HeaderRoutes {
		want[h.Name] = true
		desired, err := r.headerRoute(main, rules, h, priorityBoost(managed, h.Name), d.MaxWeight)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := r.apply(ctx, desired); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range managed {
		if want[name] {
			continue
		}
		if err := r.remove(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// priorityBoost is how far a header route's rules outrank the rules they
// copy. The first managed route wins over later ones, as managedRoutes is
// in precedence order; with a single managed route the boost is 1, as in
// Argo Rollouts.
func priorityBoost(managed []string, name string) int64 {
	for i, m := range managed {
		if m == name {
			return int64(len(managed) - i)
		}
	}
	return 1
}

// headerRoute builds the ApisixRoute of h from the split route main. Only
// the named rules are copied: other HTTP rules and stream routes already
// serve their traffic from main, and a second copy of a stream route would
// claim the same port twice.
func (r *Router) headerRoute(main *unstructured.Unstructured, rules []rule, h trafficrouting.HeaderRoute, boost int64, maxWeight int32) (*unstructured.Unstructured, error) {
	exprs, err := matchExprs(h)
	if err != nil {
		return nil, err
	}
	spec := runtime.DeepCopyJSONValue(main.Object["spec"]).(map[string]any)
	delete(spec, "stream")
	var http []any
	for _, rl := range rules {
		body := runtime.DeepCopyJSONValue(rl.body).(map[string]any)
		canary := runtime.DeepCopyJSONValue(rl.canary).(map[string]any)
		canary["weight"] = int64(maxWeight)
		body["backends"] = []any{canary}
		prio, _ := asInt64(body["priority"])
		body["priority"] = prio + boost
		// APISIX ANDs a rule's exprs, so the header conditions narrow the
		// copied rule instead of widening it to requests it never matched.
		match, _ := body["match"].(map[string]any)
		if match == nil {
			match = map[string]any{}
			body["match"] = match
		}
		old, _ := match["exprs"].([]any)
		match["exprs"] = append(append([]any{}, old...), runtime.DeepCopyJSONValue(exprs).([]any)...)
		http = append(http, body)
	}
	spec["http"] = http

	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(GVK)
	u.SetNamespace(main.GetNamespace())
	u.SetName(h.Name)
	u.SetLabels(main.GetLabels())
	// Annotations may select the ingress class on older controllers, so
	// they travel with the copy.
	if a := main.GetAnnotations(); len(a) > 0 {
		c := map[string]string{}
		for k, v := range a {
			if k != lastApplied {
				c[k] = v
			}
		}
		u.SetAnnotations(c)
	}
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.env.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))})
	return u, nil
}

// apply creates desired, or brings an existing header route this Rollout
// controls to its spec and owner, leaving its other metadata alone.
func (r *Router) apply(ctx context.Context, desired *unstructured.Unstructured) error {
	before, err := r.owned(ctx, desired.GetName())
	if err != nil {
		return err
	}
	if before == nil {
		if err := r.env.Writer.Create(ctx, desired); err != nil {
			return fmt.Errorf("creating ApisixRoute %s/%s: %w", desired.GetNamespace(), desired.GetName(), err)
		}
		return nil
	}
	after := before.DeepCopy()
	after.Object["spec"] = desired.Object["spec"]
	_, err = trafficrouting.UpdateIfChanged(ctx, r.env.Writer, before, after)
	return err
}

// remove deletes the header route name if this Rollout controls it.
func (r *Router) remove(ctx context.Context, name string) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: r.env.Rollout.Namespace, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading ApisixRoute %s/%s: %w", r.env.Rollout.Namespace, name, err)
	case !metav1.IsControlledBy(u, r.env.Rollout):
		// Not ours: Check reports the clash; removing a route that was
		// never created must not fail the Sync that removes the others.
		return nil
	}
	err = r.env.Writer.Delete(ctx, u, client.Preconditions{UID: ptr(u.GetUID()), ResourceVersion: ptr(u.GetResourceVersion())})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ApisixRoute %s/%s: %w", u.GetNamespace(), name, err)
	}
	return nil
}

// matchExprs turns h's header conditions into APISIX exprs. A condition
// without a value to compare would match every request and send all of the
// rule's traffic to the canary, so it is refused.
func matchExprs(h trafficrouting.HeaderRoute) ([]any, error) {
	if len(h.Match) == 0 {
		return nil, trafficrouting.Errorf(Type, "header route %q has no match", h.Name)
	}
	var exprs []any
	for _, m := range h.Match {
		subject := map[string]any{"scope": "Header", "name": m.HeaderName}
		add := func(op, value string) {
			exprs = append(exprs, map[string]any{"subject": runtime.DeepCopyJSONValue(subject), "op": op, "value": value})
		}
		v := m.HeaderValue
		if m.HeaderName == "" || v == nil || (v.Exact == "" && v.Prefix == "" && v.Regex == "") {
			return nil, trafficrouting.Errorf(Type, "header route %q: every match needs a headerName and an exact, prefix or regex headerValue", h.Name)
		}
		if v.Exact != "" {
			add("Equal", v.Exact)
		}
		if v.Regex != "" {
			add("RegexMatch", v.Regex)
		}
		if v.Prefix != "" {
			// APISIX has no prefix operator; a prefix with regex
			// metacharacters must still be taken literally.
			add("RegexMatch", "^"+regexp.QuoteMeta(v.Prefix)+".*")
		}
	}
	return exprs, nil
}

// nestedSlice returns the slice at path in obj itself, unlike
// unstructured.NestedSlice, which copies it: the router edits the maps in
// place so that nothing outside them can change.
func nestedSlice(obj map[string]any, path ...string) ([]any, bool) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	s, ok := cur.([]any)
	return s, ok
}

// asInt64 reads a JSON number, which decodes as int64 or float64.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

func ptr[T any](v T) *T { return &v }
