package istio

import (
	"fmt"
	"slices"
)

// selection holds the routes of one VirtualService to weight, by list,
// and the problems met choosing them.
type selection struct {
	http, tls, tcp                         []int
	httpProblems, tlsProblems, tcpProblems []error
}

// selectRoutes picks the routes of a VirtualService to weight, as Argo
// Rollouts does: a list the VirtualService lacks (no spec.http, say) is
// passed over with whatever the Rollout names in it, so a Rollout naming
// `routes: [primary]` and `tlsRoutes` walks a VirtualService that has only
// a tls section. A list the Rollout names selectors for must have a route
// for each. A list present but not named is weighted when it has exactly
// one route of its own that sends to both the canary and the stable (Argo
// Rollouts weights its first route and fails on anything else; here
// anything else is left alone). What is passed over is added to ignored.
func (r *Router) selectRoutes(ref vsRef, cfgDests destinationFinder, lists map[string][]any, managed []string, ignored *[]string) selection {
	var s selection
	_, hasHTTP := lists[httpKey]
	_, hasTLS := lists[tlsKey]
	_, hasTCP := lists[tcpKey]
	listed := len(ref.spec.Routes) > 0 || len(ref.spec.TLSRoutes) > 0 || len(ref.spec.TCPRoutes) > 0
	note := func(format string, args ...any) {
		*ignored = append(*ignored, fmt.Sprintf("VirtualService %s: %s", ref, fmt.Sprintf(format, args...)))
	}

	switch {
	case !hasHTTP:
		if len(ref.spec.Routes) > 0 {
			note("routes %v ignored: it has no http section", ref.spec.Routes)
		}
	case len(ref.spec.Routes) > 0 || !listed:
		_, s.http, s.httpProblems = selectHTTP(ref, lists[httpKey], !listed, managed)
	default:
		s.http = implicitRoute(ref, cfgDests, httpKey, lists[httpKey], managed, note)
	}

	switch {
	case !hasTLS:
		if len(ref.spec.TLSRoutes) > 0 {
			note("tlsRoutes ignored: it has no tls section")
		}
	case len(ref.spec.TLSRoutes) > 0:
		_, s.tls, s.tlsProblems = selectTLS(ref, lists[tlsKey])
	default:
		s.tls = implicitRoute(ref, cfgDests, tlsKey, lists[tlsKey], nil, note)
	}

	switch {
	case !hasTCP:
		if len(ref.spec.TCPRoutes) > 0 {
			note("tcpRoutes ignored: it has no tcp section")
		}
	case len(ref.spec.TCPRoutes) > 0:
		_, s.tcp, s.tcpProblems = selectTCP(ref, lists[tcpKey])
	default:
		s.tcp = implicitRoute(ref, cfgDests, tcpKey, lists[tcpKey], nil, note)
	}

	// With nothing named and no http section, a VirtualService whose tls
	// and tcp lists give no single route to weight would never move
	// traffic; Argo Rollouts fails on it too.
	if !listed && !hasHTTP && len(s.tls) == 0 && len(s.tcp) == 0 {
		s.httpProblems = append(s.httpProblems, vsErrorf(ref,
			"it has no http route, and no single tls or tcp route that sends to both the canary and the stable; list the routes to weight (routes, tlsRoutes or tcpRoutes)"))
	}
	return s
}

// destinationFinder tells whether a route sends to both the canary and
// the stable.
type destinationFinder func(kind string, i int, route map[string]any) bool

// implicitRoute returns the one route of list (managed routes aside) when
// it sends to both the canary and the stable; otherwise nothing, with a
// note saying why the list is left alone.
func implicitRoute(ref vsRef, sendsToBoth destinationFinder, kind string, list []any, managed []string, note func(string, ...any)) []int {
	var idx []int
	for i, e := range list {
		if !slices.Contains(managed, routeName(e)) {
			idx = append(idx, i)
		}
	}
	switch {
	case len(idx) == 0:
		return nil
	case len(idx) > 1:
		note("its %d %s routes are not weighted: the Rollout lists none of them", len(idx), kind)
		return nil
	}
	route, _ := list[idx[0]].(map[string]any)
	if !sendsToBoth(kind, idx[0], route) {
		note("%s is not weighted: it does not send to both the canary and the stable", routeLabel(kind, idx[0], route))
		return nil
	}
	return idx
}
