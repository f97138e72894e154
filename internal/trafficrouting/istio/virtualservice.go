package istio

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// The three route lists of a VirtualService spec.
const (
	httpKey = "http"
	tlsKey  = "tls"
	tcpKey  = "tcp"
)

// weighted is one route whose canary and stable destinations get weights.
// The maps point into the object being edited, so setting a weight on them
// edits it in place.
type weighted struct {
	kind           string
	route          map[string]any
	canary, stable map[string]any
}

// editVirtualService checks the routes ref names in obj and, when d is set,
// weights them and rewrites the managed http routes. Anything not weighted
// or managed is left as it was read. What the Rollout names but obj gives
// no section for is added to ignored, as Argo Rollouts passes over it.
func (r *Router) editVirtualService(obj *unstructured.Unstructured, ref vsRef, cfg *v1alpha1.IstioTrafficRouting, d *trafficrouting.Desired, ignored *[]string) []error {
	spec, ok := obj.Object["spec"].(map[string]any)
	if !ok {
		return []error{vsErrorf(ref, "it has no spec")}
	}
	lists := map[string][]any{}
	var problems []error
	for _, key := range []string{httpKey, tlsKey, tcpKey} {
		v, present := spec[key]
		if !present || v == nil {
			continue
		}
		l, ok := v.([]any)
		if !ok {
			problems = append(problems, vsErrorf(ref, "spec.%s is not a list", key))
			continue
		}
		for i, e := range l {
			if _, ok := e.(map[string]any); !ok {
				problems = append(problems, vsErrorf(ref, "spec.%s[%d] is not an object", key, i))
			}
		}
		lists[key] = l
	}
	if len(problems) > 0 {
		return problems
	}

	managed := r.env.ManagedRouteNames()
	var routes []weighted
	add := func(kind string, idx []int, ps []error) {
		problems = append(problems, ps...)
		for _, i := range idx {
			route := lists[kind][i].(map[string]any)
			w, err := r.findDestinations(ref, cfg, kind, i, route)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			routes = append(routes, w)
		}
	}
	sendsToBoth := func(kind string, i int, route map[string]any) bool {
		_, err := r.findDestinations(ref, cfg, kind, i, route)
		return err == nil
	}
	sel := r.selectRoutes(ref, sendsToBoth, lists, managed, ignored)
	add(httpKey, sel.http, sel.httpProblems)
	add(tlsKey, sel.tls, sel.tlsProblems)
	add(tcpKey, sel.tcp, sel.tcpProblems)
	if len(problems) > 0 || d == nil {
		return problems
	}

	for _, w := range routes {
		setWeight(w.canary, d.CanaryWeight)
		setWeight(w.stable, d.StableWeight())
	}
	if err := syncExperimentDestinations(obj, routes, d.Additional); err != nil {
		return []error{vsErrorf(ref, "%v", err)}
	}
	var primary *weighted
	for i := range routes {
		if routes[i].kind == httpKey {
			primary = &routes[i]
			break
		}
	}
	http, ps := r.withManagedRoutes(ref, lists[httpKey], managed, primary, d)
	if len(ps) > 0 {
		return ps
	}
	if spec[httpKey] != nil || len(http) > 0 {
		spec[httpKey] = http
	}
	return nil
}

// selectHTTP returns the indexes of the http routes ref names. Without
// any named route, tls route or tcp route the VirtualService must have a
// single http route of its own (managed routes do not count), since
// guessing among several could shift traffic nobody meant to shift.
func selectHTTP(ref vsRef, http []any, onlyHTTP bool, managed []string) (string, []int, []error) {
	var idx []int
	var problems []error
	if len(ref.spec.Routes) == 0 {
		if !onlyHTTP {
			return httpKey, nil, nil
		}
		for i, e := range http {
			if !slices.Contains(managed, routeName(e)) {
				idx = append(idx, i)
			}
		}
		if len(idx) != 1 {
			return httpKey, nil, []error{vsErrorf(ref, "it has %d http routes besides the managed ones; with no routes, tlsRoutes or tcpRoutes listed it must have exactly one (or list the routes to weight)", len(idx))}
		}
		return httpKey, idx, nil
	}
	for _, name := range ref.spec.Routes {
		if slices.Contains(managed, name) {
			problems = append(problems, vsErrorf(ref, "http route %q is listed in routes and in trafficRouting.managedRoutes; a weighted route cannot be a managed one", name))
			continue
		}
		i := slices.IndexFunc(http, func(e any) bool { return routeName(e) == name })
		if i < 0 {
			problems = append(problems, vsErrorf(ref, "it has no http route named %q", name))
			continue
		}
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	return httpKey, idx, problems
}

// selectTLS returns the indexes of the tls routes the tlsRoutes selectors
// pick. A selector may pick several routes; one picking none is an error.
func selectTLS(ref vsRef, tls []any) (string, []int, []error) {
	var idx []int
	var problems []error
	for _, sel := range ref.spec.TLSRoutes {
		found := false
		for i, e := range tls {
			port, ok := singlePort(e)
			if ok && port == sel.Port && sameSet(sniHosts(e), sel.SNIHosts) {
				found = true
				if !slices.Contains(idx, i) {
					idx = append(idx, i)
				}
			}
		}
		if !found {
			problems = append(problems, vsErrorf(ref, "it has no tls route matching port %d and sniHosts %v", sel.Port, sel.SNIHosts))
		}
	}
	return tlsKey, idx, problems
}

// selectTCP returns the indexes of the tcp routes the tcpRoutes selectors
// pick, by port.
func selectTCP(ref vsRef, tcp []any) (string, []int, []error) {
	var idx []int
	var problems []error
	for _, sel := range ref.spec.TCPRoutes {
		found := false
		for i, e := range tcp {
			if port, ok := singlePort(e); ok && port == sel.Port {
				found = true
				if !slices.Contains(idx, i) {
					idx = append(idx, i)
				}
			}
		}
		if !found {
			problems = append(problems, vsErrorf(ref, "it has no tcp route matching port %d", sel.Port))
		}
	}
	return tcpKey, idx, problems
}

// singlePort returns the port all match entries of a tls or tcp route
// share (0 when none names one). A route whose entries name different
// ports has no single port, so no selector can stand for it; Argo Rollouts
// treats such routes the same way.
func singlePort(route any) (int64, bool) {
	ports := map[int64]bool{}
	for _, m := range matches(route) {
		p, _ := number(m["port"])
		ports[p] = true
	}
	if len(ports) > 1 {
		return 0, false
	}
	for p := range ports {
		return p, true
	}
	return 0, true
}

// sniHosts returns the SNI hosts of all match entries of a tls route.
func sniHosts(route any) []string {
	var out []string
	for _, m := range matches(route) {
		hosts, _ := m["sniHosts"].([]any)
		for _, h := range hosts {
			if s, ok := h.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// matches returns the match entries of a route.
func matches(route any) []map[string]any {
	m, _ := route.(map[string]any)
	l, _ := m["match"].([]any)
	var out []map[string]any
	for _, e := range l {
		if em, ok := e.(map[string]any); ok {
			out = append(out, em)
		}
	}
	return out
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	as, bs := map[string]bool{}, map[string]bool{}
	for _, s := range a {
		as[s] = true
	}
	for _, s := range b {
		bs[s] = true
	}
	return reflect.DeepEqual(as, bs)
}

// findDestinations finds the canary and stable entries of route's weighted
// destinations: by subset when a DestinationRule is configured, by Service
// host otherwise.
func (r *Router) findDestinations(ref vsRef, cfg *v1alpha1.IstioTrafficRouting, kind string, i int, route map[string]any) (weighted, error) {
	w := weighted{kind: kind, route: route}
	dests, _ := route["route"].([]any)
	canaryOf, stableOf := r.matchers(cfg)
	for _, e := range dests {
		entry, ok := e.(map[string]any)
		if !ok {
			continue
		}
		dest, _ := entry["destination"].(map[string]any)
		switch {
		case w.canary == nil && canaryOf(dest):
			w.canary = entry
		case w.stable == nil && stableOf(dest):
			w.stable = entry
		}
	}
	label := routeLabel(kind, i, route)
	var missing []string
	if dr := cfg.DestinationRule; dr != nil {
		if w.canary == nil {
			missing = append(missing, fmt.Sprintf("the canary subset %q", dr.CanarySubsetName))
		}
		if w.stable == nil {
			missing = append(missing, fmt.Sprintf("the stable subset %q", dr.StableSubsetName))
		}
	} else {
		stable, canary := r.env.Services(false)
		if w.canary == nil {
			missing = append(missing, fmt.Sprintf("the canary Service %q", canary))
		}
		if w.stable == nil {
			missing = append(missing, fmt.Sprintf("the stable Service %q", stable))
		}
	}
	if len(missing) > 0 {
		return w, vsErrorf(ref, "%s has no destination for %s", label, strings.Join(missing, " or "))
	}
	return w, nil
}

// matchers returns the tests that tell a canary and a stable destination.
func (r *Router) matchers(cfg *v1alpha1.IstioTrafficRouting) (canary, stable func(dest map[string]any) bool) {
	if dr := cfg.DestinationRule; dr != nil {
		bySubset := func(name string) func(map[string]any) bool {
			return func(dest map[string]any) bool { return dest["subset"] == name }
		}
		return bySubset(dr.CanarySubsetName), bySubset(dr.StableSubsetName)
	}
	ns := r.env.Rollout.Namespace
	byHost := func(svc string) func(map[string]any) bool {
		return func(dest map[string]any) bool {
			host, _ := dest["host"].(string)
			return hostIsService(host, svc, ns)
		}
	}
	// With pingPong (and no canaryService or stableService) the hosts are
	// the ping and pong Services, in their current roles.
	stableSvc, canarySvc := r.env.Services(false)
	return byHost(canarySvc), byHost(stableSvc)
}

// hostIsService reports whether host names Service svc of namespace ns in
// any of the forms Istio accepts: svc, svc.ns, svc.ns.svc or the full name
// with any cluster domain. A short name carries no namespace, so it is
// taken to mean the Rollout's Service as Argo Rollouts does; a written
// namespace must be the Rollout's, since another namespace's Service of the
// same name is a different workload.
func hostIsService(host, svc, ns string) bool {
	parts := strings.Split(host, ".")
	switch {
	case parts[0] != svc:
		return false
	case len(parts) == 1:
		return true
	case parts[1] != ns:
		return false
	case len(parts) == 2:
		return true
	default:
		return parts[2] == "svc"
	}
}

// routeName is the name of a route, or "" when it has none.
func routeName(route any) string {
	m, _ := route.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

// routeLabel names a route in messages: by name when it has one, else by
// its place in the list.
func routeLabel(kind string, i int, route map[string]any) string {
	if n := routeName(route); n != "" {
		return fmt.Sprintf("%s route %q", kind, n)
	}
	return fmt.Sprintf("%s route %s[%d]", kind, kind, i)
}

// setWeight sets a destination's weight, leaving it untouched when it
// already has that value so a number decoded as another Go type does not
// count as a change.
func setWeight(entry map[string]any, w int32) {
	if cur, ok := number(entry["weight"]); ok && cur == int64(w) {
		return
	}
	entry["weight"] = int64(w)
}

// number reads a JSON number as decoded by either the API machinery (int64)
// or encoding/json (float64).
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	return 0, false
}

// withManagedRoutes returns the http list with the routes d asks for at the
// top, in managedRoutes order, followed by every route that is not managed
// in its old order. Managed routes d does not ask for are dropped. The
// header and mirror routes send to the canary destination of primary, the
// first weighted http route, so they reach the same port and subset.
func (r *Router) withManagedRoutes(ref vsRef, http []any, managed []string, primary *weighted, d *trafficrouting.Desired) ([]any, []error) {
	want := map[string]map[string]any{}
	var problems []error
	ask := func(name string, build func() map[string]any) {
		switch {
		case !slices.Contains(managed, name):
			problems = append(problems, vsErrorf(ref, "route %q is not listed in trafficRouting.managedRoutes", name))
		case want[name] != nil:
			problems = append(problems, vsErrorf(ref, "route %q is asked for twice", name))
		case primary == nil:
			// A VirtualService weighted only through tls or tcp routes has
			// no http traffic to match on; the route belongs elsewhere.
		default:
			want[name] = build()
		}
	}
	for _, h := range d.HeaderRoutes {
		// An empty match would send every request to the canary; like
		// Argo Rollouts, it means the route is to be removed.
		if len(h.Match) == 0 {
			continue
		}
		ask(h.Name, func() map[string]any { return headerRoute(h, primary) })
	}
	for _, m := range d.MirrorRoutes {
		if len(m.Match) == 0 {
			continue
		}
		ask(m.Name, func() map[string]any { return mirrorRoute(m, primary) })
	}
	if len(problems) > 0 {
		return nil, problems
	}

	existing := map[string]any{}
	for _, e := range http {
		if n := routeName(e); n != "" && existing[n] == nil {
			existing[n] = e
		}
	}
	out := []any{}
	for _, name := range managed {
		route := want[name]
		if route == nil {
			continue
		}
		delete(want, name) // managedRoutes may repeat a name
		if old := existing[name]; old != nil && sameJSON(old, route) {
			// Keeping the object as read keeps its number types, so an
			// unchanged route never makes a write.
			out = append(out, old)
			continue
		}
		out = append(out, route)
	}
	for _, e := range http {
		if !slices.Contains(managed, routeName(e)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// headerRoute builds the managed route sending requests with any of h's
// headers to the canary: each condition is its own match entry, which
// Istio ORs, as Argo Rollouts writes them, so a manifest written for it
// routes the same requests here.
func headerRoute(h trafficrouting.HeaderRoute, primary *weighted) map[string]any {
	match := make([]any, 0, len(h.Match))
	for _, m := range h.Match {
		match = append(match, map[string]any{"headers": map[string]any{m.HeaderName: stringMatch(m.HeaderValue)}})
	}
	return map[string]any{
		"name":  h.Name,
		"match": match,
		"route": []any{map[string]any{
			"destination": runtime.DeepCopyJSONValue(primary.canary["destination"]),
			"weight":      int64(100),
		}},
	}
}

// mirrorRoute builds the managed route that answers matching requests from
// the weighted destinations, as the primary route would, and copies them to
// the canary.
func mirrorRoute(m trafficrouting.MirrorRoute, primary *weighted) map[string]any {
	var match []any
	for _, rm := range m.Match {
		e := map[string]any{}
		if rm.Method != nil {
			e["method"] = stringMatch(rm.Method)
		}
		if rm.Path != nil {
			e["uri"] = stringMatch(rm.Path)
		}
		if len(rm.Headers) > 0 {
			headers := map[string]any{}
			for name, v := range rm.Headers {
				headers[name] = stringMatch(&v)
			}
			e["headers"] = headers
		}
		match = append(match, e)
	}
	percent := int64(100)
	if m.Percentage != nil {
		percent = int64(*m.Percentage)
	}
	return map[string]any{
		"name":             m.Name,
		"match":            match,
		"route":            runtime.DeepCopyJSONValue(primary.route["route"]),
		"mirror":           runtime.DeepCopyJSONValue(primary.canary["destination"]),
		"mirrorPercentage": map[string]any{"value": percent},
	}
}

// stringMatch converts a StringMatch to Istio's. Istio's is a oneof, so
// only the first of exact, prefix and regex that is set is kept; none set
// gives an empty match, which Istio reads as "the header is present".
func stringMatch(s *v1alpha1.StringMatch) map[string]any {
	switch {
	case s == nil:
		return map[string]any{}
	case s.Exact != "":
		return map[string]any{"exact": s.Exact}
	case s.Prefix != "":
		return map[string]any{"prefix": s.Prefix}
	case s.Regex != "":
		return map[string]any{"regex": s.Regex}
	}
	return map[string]any{}
}

// sameJSON reports whether a and b encode to the same JSON, which compares
// numbers by value whatever their Go type.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
