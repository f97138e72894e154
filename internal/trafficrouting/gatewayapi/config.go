package gatewayapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// PluginName is the key of trafficRouting.plugins that holds the
// configuration, the name the Argo Rollouts Gateway API plugin is
// registered under, so Rollouts written for that plugin work unchanged.
const PluginName = "argoproj-labs/gatewayAPI"

// config is the plugin's published configuration. Fields the plugin has
// and Kanaria does not need (configMap, the in-progress label settings,
// ...) are accepted and ignored, as the plugin ignores unknown fields.
type config struct {
	HTTPRoute  string       `json:"httpRoute,omitempty"`
	GRPCRoute  string       `json:"grpcRoute,omitempty"`
	TCPRoute   string       `json:"tcpRoute,omitempty"`
	TLSRoute   string       `json:"tlsRoute,omitempty"`
	HTTPRoutes []namedRoute `json:"httpRoutes,omitempty"`
	GRPCRoutes []namedRoute `json:"grpcRoutes,omitempty"`
	TCPRoutes  []namedRoute `json:"tcpRoutes,omitempty"`
	TLSRoutes  []namedRoute `json:"tlsRoutes,omitempty"`
	Namespace  string       `json:"namespace,omitempty"`
	// ConfigMap is where the plugin records the rules it added. Kanaria
	// records them on the route itself (see the package comment), so the
	// field is read only so that existing configurations still parse.
	ConfigMap string `json:"configMap,omitempty"`

	// The plugin can also find routes by label. Kanaria does not; the
	// fields are read only to refuse them, because ignoring them would
	// leave the routes a user expects to be weighted untouched.
	HTTPRouteSelector json.RawMessage `json:"httpRouteSelector,omitempty"`
	GRPCRouteSelector json.RawMessage `json:"grpcRouteSelector,omitempty"`
	TCPRouteSelector  json.RawMessage `json:"tcpRouteSelector,omitempty"`
	TLSRouteSelector  json.RawMessage `json:"tlsRouteSelector,omitempty"`
}

// namedRoute is one entry of httpRoutes, grpcRoutes, tcpRoutes or
// tlsRoutes.
type namedRoute struct {
	Name            string `json:"name"`
	UseHeaderRoutes bool   `json:"useHeaderRoutes,omitempty"`
}

// routeKind is one Gateway API route kind the router edits.
type routeKind struct {
	gvk schema.GroupVersionKind
	// field is the configuration list naming routes of this kind, for
	// messages.
	field string
	// headers says whether the kind can match on request headers, so that
	// header routes can be added to it.
	headers bool
}

const gatewayGroup = "gateway.networking.k8s.io"

var (
	httpRouteKind = routeKind{gvk: schema.GroupVersionKind{Group: gatewayGroup, Version: "v1", Kind: "HTTPRoute"}, field: "httpRoutes", headers: true}
	grpcRouteKind = routeKind{gvk: schema.GroupVersionKind{Group: gatewayGroup, Version: "v1", Kind: "GRPCRoute"}, field: "grpcRoutes", headers: true}
	tcpRouteKind  = routeKind{gvk: schema.GroupVersionKind{Group: gatewayGroup, Version: "v1alpha2", Kind: "TCPRoute"}, field: "tcpRoutes"}
	tlsRouteKind  = routeKind{gvk: schema.GroupVersionKind{Group: gatewayGroup, Version: "v1alpha2", Kind: "TLSRoute"}, field: "tlsRoutes"}
)

// route is one route object the router edits.
type route struct {
	kind routeKind
	name string
	// headerRoutes says whether managed header routes are added to it.
	headerRoutes bool
}

// parseConfig reads the plugin configuration into the list of routes to
// edit and their namespace ("" when unset).
func parseConfig(raw json.RawMessage) ([]route, string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, "", trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q] is not set", PluginName)
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, "", trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q]: %s", PluginName, describeJSONError(err))
	}
	for field, sel := range map[string]json.RawMessage{
		"httpRouteSelector": c.HTTPRouteSelector, "grpcRouteSelector": c.GRPCRouteSelector,
		"tcpRouteSelector": c.TCPRouteSelector, "tlsRouteSelector": c.TLSRouteSelector,
	} {
		if len(sel) > 0 && !bytes.Equal(sel, []byte("null")) {
			return nil, "", trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q].%s is not supported; name the routes instead", PluginName, field)
		}
	}

	var routes []route
	var errs []error
	add := func(kind routeKind, list []namedRoute, single, singleField string) {
		// The plugin appends the single-route field to the list and lets
		// it carry header routes, so the same is done here.
		if single != "" {
			list = append(list, namedRoute{Name: single, UseHeaderRoutes: true})
		}
		seen := map[string]bool{}
		for i, nr := range list {
			switch {
			case nr.Name == "":
				errs = append(errs, trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q].%s[%d].name is required", PluginName, kind.field, i))
			case seen[nr.Name]:
				errs = append(errs, trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q]: %s %q is named twice (in %s or %s)", PluginName, kind.gvk.Kind, nr.Name, singleField, kind.field))
			default:
				seen[nr.Name] = true
				routes = append(routes, route{kind: kind, name: nr.Name, headerRoutes: kind.headers && nr.UseHeaderRoutes})
			}
		}
	}
	add(httpRouteKind, c.HTTPRoutes, c.HTTPRoute, "httpRoute")
	add(grpcRouteKind, c.GRPCRoutes, c.GRPCRoute, "grpcRoute")
	add(tcpRouteKind, c.TCPRoutes, c.TCPRoute, "tcpRoute")
	add(tlsRouteKind, c.TLSRoutes, c.TLSRoute, "tlsRoute")
	if len(errs) > 0 {
		return nil, "", errors.Join(errs...)
	}
	if len(routes) == 0 {
		return nil, "", trafficrouting.Errorf(routerType, "trafficRouting.plugins[%q] names no route; set httpRoute(s), grpcRoute(s), tcpRoute(s) or tlsRoute(s)", PluginName)
	}
	return routes, c.Namespace, nil
}

// describeJSONError names the field that did not parse, where encoding/json
// knows it.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("the configuration must be a JSON object, not %s", te.Value)
		}
		return fmt.Sprintf("field %s must be %s, not %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)
	}
	return err.Error()
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return goKind
}
