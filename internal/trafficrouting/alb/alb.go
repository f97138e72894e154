// Package alb splits traffic with the AWS Load Balancer Controller. The
// user's Ingress has a rule path whose backend is the action name (the root
// or stable Service) with port name "use-annotation"; the controller writes
// the forward action that path means into an annotation, with the canary
// and stable Services (and a running experiment step's Services) as
// weighted target groups. Header routes add one
// annotation-backed path each, with a condition annotation, ahead of it.
package alb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs and messages.
const Type = "alb"

// DefaultAnnotationPrefix is the load balancer controller's annotation
// prefix when trafficRouting.alb.annotationPrefix is unset.
const DefaultAnnotationPrefix = "alb.ingress.kubernetes.io"

// ManagedAnnotationsKey records, per Rollout name, the annotation keys the
// Rollout wrote on the Ingress, as a JSON object of string lists. It is the
// record Argo Rollouts keeps, so that whoever cleans up after a deleted
// Rollout knows which annotations were its.
const ManagedAnnotationsKey = "rollouts.argoproj.io/managed-alb-annotations"

// UseAnnotation is the backend port name that tells the load balancer
// controller to take the path's action from the actions annotation.
const UseAnnotation = "use-annotation"

// headerRoutePath is the path of a header route's rule entry. It matches
// every path of the host; the route's conditions do the selecting.
const headerRoutePath = "/*"

// Stickiness durations the load balancer accepts, in seconds (1 s to 7 days).
const (
	minStickiness = 1
	maxStickiness = 7 * 24 * 60 * 60
)

// maxTargetGroupWeight is the largest weight a forward action's target
// group may have.
const maxTargetGroupWeight = 999

// Router keeps the action annotations of one Rollout's Ingresses.
type Router struct {
	env trafficrouting.Env
}

var (
	_ trafficrouting.Router                 = (*Router)(nil)
	_ trafficrouting.AdditionalDestinations = (*Router)(nil)
)

// New returns the ALB router of env.Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "alb".
func (r *Router) Type() string { return Type }

// CarriesAdditionalDestinations reports that a forward action can send to
// an experiment's Services: each is one more target group.
func (r *Router) CarriesAdditionalDestinations() bool { return true }

// The JSON the load balancer controller reads. Field order and names are
// those Argo Rollouts writes, so an Ingress it managed does not change
// when this controller takes over at the same weights.
type action struct {
	Type          string        `json:"Type"`
	ForwardConfig forwardConfig `json:"ForwardConfig"`
}

type forwardConfig struct {
	TargetGroups                []targetGroup `json:"TargetGroups"`
	TargetGroupStickinessConfig *stickiness   `json:"TargetGroupStickinessConfig,omitempty"`
}

type targetGroup struct {
	ServiceName string `json:"ServiceName,omitempty"`
	ServicePort string `json:"ServicePort,omitempty"`
	Weight      *int64 `json:"Weight,omitempty"`
}

type stickiness struct {
	Enabled         bool  `json:"Enabled"`
	DurationSeconds int64 `json:"DurationSeconds"`
}

type condition struct {
	Field            string           `json:"field"`
	HTTPHeaderConfig httpHeaderConfig `json:"httpHeaderConfig"`
}

type httpHeaderConfig struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
}

// config is the part of the Rollout the router reads, checked once.
type config struct {
	ns, rollout    string
	stable, canary string
	actionName     string
	prefix         string
	port           string
	stickiness     *stickiness
	ingresses      []string
}

func (r *Router) config() (*config, error) {
	ro := r.env.Rollout
	c := r.env.Canary()
	if c == nil || c.TrafficRouting == nil || c.TrafficRouting.ALB == nil {
		return nil, trafficrouting.Errorf(Type, "spec.strategy.canary.trafficRouting.alb is not set")
	}
	a := c.TrafficRouting.ALB
	// With pingPong the two target groups are the ping and pong Services,
	// in the roles status.canary.stablePingPong gives them.
	stable, canary := r.env.Services(true)
	cfg := &config{
		ns: ro.Namespace, rollout: ro.Name,
		stable: stable, canary: canary,
		actionName: a.RootService,
		prefix:     a.AnnotationPrefix,
		port:       strconv.Itoa(int(a.ServicePort)),
	}
	if cfg.actionName == "" {
		cfg.actionName = cfg.stable
	}
	if cfg.prefix == "" {
		cfg.prefix = DefaultAnnotationPrefix
	}
	// ingresses wins over ingress, as in Argo Rollouts.
	names := a.Ingresses
	if len(names) == 0 && a.Ingress != "" {
		names = []string{a.Ingress}
	}
	for _, n := range names {
		if n != "" && !slices.Contains(cfg.ingresses, n) {
			cfg.ingresses = append(cfg.ingresses, n)
		}
	}
	var errs []error
	if len(cfg.ingresses) == 0 {
		errs = append(errs, trafficrouting.Errorf(Type, "set trafficRouting.alb.ingress or ingresses"))
	}
	if cfg.stable == "" || cfg.canary == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "canary.stableService and canary.canaryService (or canary.pingPong) must both be set"))
	}
	if a.ServicePort <= 0 {
		errs = append(errs, trafficrouting.Errorf(Type, "trafficRouting.alb.servicePort must be set to the Services' port"))
	}
	if m := c.TrafficRouting.MaxTrafficWeight; m != nil && *m > maxTargetGroupWeight {
		errs = append(errs, trafficrouting.Errorf(Type, "trafficRouting.maxTrafficWeight is %d; ALB target group weights go up to %d",
			*m, maxTargetGroupWeight))
	}
	if s := a.StickinessConfig; s != nil && s.Enabled {
		if s.DurationSeconds < minStickiness || s.DurationSeconds > maxStickiness {
			errs = append(errs, trafficrouting.Errorf(Type, "trafficRouting.alb.stickinessConfig.durationSeconds is %d; the load balancer accepts %d to %d",
				s.DurationSeconds, minStickiness, maxStickiness))
		}
		cfg.stickiness = &stickiness{Enabled: true, DurationSeconds: s.DurationSeconds}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func (c *config) actionKey(name string) string    { return c.prefix + "/actions." + name }
func (c *config) conditionKey(name string) string { return c.prefix + "/conditions." + name }

// Check reports an Ingress that is missing or has no path for the action,
// and a managed-annotations record that cannot be read.
func (r *Router) Check(ctx context.Context) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	var problems []error
	for _, name := range cfg.ingresses {
		ing, err := r.get(ctx, cfg.ns, name)
		if err != nil {
			if len(trafficrouting.ConfigErrors(err)) == 0 {
				return err
			}
			problems = append(problems, err)
			continue
		}
		if !hasActionPath(ing, cfg.actionName) {
			problems = append(problems, noActionPath(cfg, name))
		}
		if _, err := readManaged(ing); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// Sync writes the weights, the desired header routes and the record of
// managed annotations to every Ingress, and removes the managed header
// routes that are not desired.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	if d.MaxWeight == 0 {
		d.MaxWeight = trafficrouting.DefaultMaxWeight
	}
	// Everything derived from d alone is built before the first write, so
	// a header route ALB cannot express leaves every Ingress as it was.
	groups := []targetGroup{
		{ServiceName: cfg.canary, ServicePort: cfg.port, Weight: weight(d.CanaryWeight)},
		{ServiceName: cfg.stable, ServicePort: cfg.port, Weight: weight(d.StableWeight())},
	}
	// An experiment's Services are further target groups on the same
	// port, as the reference writes them; their weights come out of the
	// stable's.
	for _, a := range d.Additional {
		groups = append(groups, targetGroup{ServiceName: a.ServiceName, ServicePort: cfg.port, Weight: weight(a.Weight)})
	}
	weighted, err := forwardJSON(cfg, groups)
	if err != nil {
		return err
	}
	// A header route sends all its requests to the canary; with one target
	// group the weight only has to be positive.
	toCanary, err := forwardJSON(cfg, []targetGroup{{ServiceName: cfg.canary, ServicePort: cfg.port, Weight: weight(100)}})
	if err != nil {
		return err
	}
	routes := map[string]string{}
	for _, hr := range d.HeaderRoutes {
		if hr.Name == cfg.actionName {
			return trafficrouting.Errorf(Type, "header route %q has the name of the weighted action; rename the managed route", hr.Name)
		}
		cond, err := conditionsJSON(hr)
		if err != nil {
			return err
		}
		routes[hr.Name] = cond
	}
	// Mirror routes are ignored: ALB cannot copy requests, and validation
	// rejects such steps before they reach here.
	for _, name := range cfg.ingresses {
		ing, err := r.get(ctx, cfg.ns, name)
		if err != nil {
			return err
		}
		after, err := desiredIngress(cfg, ing, weighted, toCanary, routes, d.HeaderRoutes, r.env.ManagedRouteNames())
		if err != nil {
			return err
		}
		if _, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, ing, after); err != nil {
			return fmt.Errorf("syncing ALB Ingress %s/%s: %w", cfg.ns, name, err)
		}
	}
	return nil
}

// desiredIngress is ing with the weighted action, the header routes and
// the managed-annotations record as wanted, and the managed routes not
// wanted gone; nothing else changes.
func desiredIngress(cfg *config, ing *networkingv1.Ingress, weighted, toCanary string, conds map[string]string,
	routes []trafficrouting.HeaderRoute, managed []string) (*networkingv1.Ingress, error) {
	if !hasActionPath(ing, cfg.actionName) {
		return nil, noActionPath(cfg, ing.Name)
	}
	record, err := readManaged(ing)
	if err != nil {
		return nil, err
	}
	after := ing.DeepCopy()
	if after.Annotations == nil {
		after.Annotations = map[string]string{}
	}
	var keep, drop []string

	after.Annotations[cfg.actionKey(cfg.actionName)] = weighted
	keep = append(keep, cfg.actionKey(cfg.actionName))

	var wanted []string
	for _, hr := range routes {
		wanted = append(wanted, hr.Name)
		after.Annotations[cfg.actionKey(hr.Name)] = toCanary
		after.Annotations[cfg.conditionKey(hr.Name)] = conds[hr.Name]
		keep = append(keep, cfg.actionKey(hr.Name), cfg.conditionKey(hr.Name))
	}
	for _, name := range managed {
		// A route sharing the action's name would take the weights with it.
		if slices.Contains(wanted, name) || name == cfg.actionName {
			continue
		}
		delete(after.Annotations, cfg.actionKey(name))
		delete(after.Annotations, cfg.conditionKey(name))
		drop = append(drop, cfg.actionKey(name), cfg.conditionKey(name))
		removeRoutePaths(after, name)
	}
	// A desired route missing from managedRoutes (validation should stop
	// that) still goes ahead of the action, after the listed ones.
	order := slices.Clone(managed)
	for _, name := range wanted {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	for i := range after.Spec.Rules {
		placeRoutePaths(&after.Spec.Rules[i], cfg.actionName, wanted, order)
	}

	if mine, changed := updateEntry(record[cfg.rollout], keep, drop); changed {
		record[cfg.rollout] = mine
		b, err := json.Marshal(record)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", ManagedAnnotationsKey, err)
		}
		after.Annotations[ManagedAnnotationsKey] = string(b)
	}
	return after, nil
}

// updateEntry adds keep and removes drop from a Rollout's list of managed
// keys. Entries already there keep their place, so a list another writer
// ordered differently is not rewritten for nothing.
func updateEntry(list, keep, drop []string) ([]string, bool) {
	out := make([]string, 0, len(list)+len(keep))
	changed := false
	for _, k := range list {
		if slices.Contains(drop, k) && !slices.Contains(keep, k) {
			changed = true
			continue
		}
		out = append(out, k)
	}
	for _, k := range keep {
		if !slices.Contains(out, k) {
			out = append(out, k)
			changed = true
		}
	}
	return out, changed
}

// readManaged parses the managed-annotations record of ing; an absent one
// is empty.
func readManaged(ing *networkingv1.Ingress) (map[string][]string, error) {
	record := map[string][]string{}
	s, ok := ing.Annotations[ManagedAnnotationsKey]
	if !ok || s == "" {
		return record, nil
	}
	if err := json.Unmarshal([]byte(s), &record); err != nil {
		return nil, trafficrouting.Errorf(Type, "annotation %s of Ingress %s/%s is not a JSON object of string lists (%v); fix or remove it",
			ManagedAnnotationsKey, ing.Namespace, ing.Name, err)
	}
	return record, nil
}

// placeRoutePaths gives a rule that holds the action's path one path per
// wanted header route and puts the managed routes' paths first, in
// the given order, so the load balancer evaluates them before the
// weighted action. A route's existing path is kept as it is (a user may
// have narrowed it); a missing one matches every path of the host.
func placeRoutePaths(rule *networkingv1.IngressRule, actionName string, wanted, order []string) {
	if rule.HTTP == nil || !slices.ContainsFunc(rule.HTTP.Paths, func(p networkingv1.HTTPIngressPath) bool {
		return isAnnotationPath(p, actionName)
	}) {
		return
	}
	for _, name := range wanted {
		if slices.ContainsFunc(rule.HTTP.Paths, func(p networkingv1.HTTPIngressPath) bool { return isAnnotationPath(p, name) }) {
			continue
		}
		pt := networkingv1.PathTypeImplementationSpecific
		rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
			Path:     headerRoutePath,
			PathType: &pt,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: name,
				Port: networkingv1.ServiceBackendPort{Name: UseAnnotation},
			}},
		})
	}
	rank := func(p networkingv1.HTTPIngressPath) int {
		if p.Backend.Service != nil && p.Backend.Service.Port.Name == UseAnnotation {
			if i := slices.Index(order, p.Backend.Service.Name); i >= 0 {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(rule.HTTP.Paths, func(i, j int) bool { return rank(rule.HTTP.Paths[i]) < rank(rule.HTTP.Paths[j]) })
}

// removeRoutePaths drops the annotation-backed paths of a header route.
// A path to a real Service that happens to share the route's name stays.
func removeRoutePaths(ing *networkingv1.Ingress, name string) {
	for i := range ing.Spec.Rules {
		h := ing.Spec.Rules[i].HTTP
		if h == nil {
			continue
		}
		h.Paths = slices.DeleteFunc(h.Paths, func(p networkingv1.HTTPIngressPath) bool { return isAnnotationPath(p, name) })
	}
}

func isAnnotationPath(p networkingv1.HTTPIngressPath, name string) bool {
	s := p.Backend.Service
	return s != nil && s.Name == name && s.Port.Name == UseAnnotation
}

// hasActionPath reports whether ing has a path whose action the
// annotation for name defines.
func hasActionPath(ing *networkingv1.Ingress, name string) bool {
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP != nil && slices.ContainsFunc(rule.HTTP.Paths, func(p networkingv1.HTTPIngressPath) bool {
			return isAnnotationPath(p, name)
		}) {
			return true
		}
	}
	return false
}

func forwardJSON(cfg *config, groups []targetGroup) (string, error) {
	a := action{Type: "forward", ForwardConfig: forwardConfig{TargetGroups: groups, TargetGroupStickinessConfig: cfg.stickiness}}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encoding the ALB forward action: %w", err)
	}
	return string(b), nil
}

// conditionsJSON turns a header route into http-header conditions. ALB
// compares header values as given (its only pattern syntax is the * and ?
// wildcards), so a prefix or regular expression cannot be expressed.
func conditionsJSON(hr trafficrouting.HeaderRoute) (string, error) {
	if len(hr.Match) == 0 {
		// An empty condition list would match every request and send all
		// traffic to the canary.
		return "", trafficrouting.Errorf(Type, "header route %q has no match", hr.Name)
	}
	conds := make([]condition, 0, len(hr.Match))
	for _, m := range hr.Match {
		if m.HeaderName == "" {
			return "", trafficrouting.Errorf(Type, "header route %q has a match without headerName", hr.Name)
		}
		v := m.HeaderValue
		switch {
		case v == nil || (v.Exact == "" && v.Prefix == "" && v.Regex == ""):
			return "", trafficrouting.Errorf(Type, "header route %q: header %q has no headerValue.exact", hr.Name, m.HeaderName)
		case v.Prefix != "" || v.Regex != "":
			return "", trafficrouting.Errorf(Type, "header route %q: header %q uses a prefix or regex match; ALB can only match header values exactly, use headerValue.exact",
				hr.Name, m.HeaderName)
		}
		conds = append(conds, condition{Field: "http-header", HTTPHeaderConfig: httpHeaderConfig{HTTPHeaderName: m.HeaderName, Values: []string{v.Exact}}})
	}
	b, err := json.Marshal(conds)
	if err != nil {
		return "", fmt.Errorf("encoding the conditions of header route %q: %w", hr.Name, err)
	}
	return string(b), nil
}

func weight(w int32) *int64 {
	v := int64(w)
	return &v
}

// get reads an Ingress; a missing one is a *ConfigError.
func (r *Router) get(ctx context.Context, ns, name string) (*networkingv1.Ingress, error) {
	ing := &networkingv1.Ingress{}
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ing)
	switch {
	case err == nil:
		return ing, nil
	case apierrors.IsNotFound(err):
		return nil, trafficrouting.Errorf(Type, "Ingress %s/%s does not exist", ns, name)
	default:
		return nil, fmt.Errorf("reading Ingress %s/%s: %w", ns, name, err)
	}
}

func noActionPath(cfg *config, ingress string) error {
	return trafficrouting.Errorf(Type, "Ingress %s/%s has no rule path with backend service name %q and port name %q; add one so the action annotation %s applies to it",
		cfg.ns, ingress, cfg.actionName, UseAnnotation, cfg.actionKey(cfg.actionName))
}
