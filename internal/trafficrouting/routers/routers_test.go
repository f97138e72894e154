package routers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

func envWith(tr *v1alpha1.RolloutTrafficRouting) trafficrouting.Env {
	ro := &v1alpha1.Rollout{}
	ro.Name, ro.Namespace = "shop", "default"
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{CanaryService: "shop-canary", StableService: "shop-stable", TrafficRouting: tr}
	return trafficrouting.Env{Rollout: ro}
}

func TestForPicksEveryConfiguredRouter(t *testing.T) {
	tr := &v1alpha1.RolloutTrafficRouting{
		Istio:      &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "shop"}},
		Nginx:      &v1alpha1.NginxTrafficRouting{StableIngress: "shop"},
		ALB:        &v1alpha1.ALBTrafficRouting{Ingress: "shop", ServicePort: 80},
		SMI:        &v1alpha1.SMITrafficRouting{},
		Traefik:    &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "shop"},
		Apisix:     &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "shop"}},
		Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"shop"}},
		Plugins:    map[string]json.RawMessage{"argoproj-labs/gatewayAPI": json.RawMessage(`{"httpRoute":"shop"}`)},
	}
	rs, err := For(envWith(tr), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range rs {
		types = append(types, r.Type())
	}
	if got, want := strings.Join(types, ","), "istio,nginx,alb,smi,traefik,apisix,ambassador,gatewayapi"; got != want {
		t.Fatalf("routers = %s, want %s", got, want)
	}
}

func TestForRefusesWhatNoRouterRuns(t *testing.T) {
	tr := &v1alpha1.RolloutTrafficRouting{
		AppMesh: &v1alpha1.AppMeshTrafficRouting{},
		Plugins: map[string]json.RawMessage{"acme/router": json.RawMessage(`{}`)},
	}
	rs, err := For(envWith(tr), Options{})
	ces := trafficrouting.ConfigErrors(err)
	if len(rs) != 0 || len(ces) != 2 {
		t.Fatalf("routers %v, config errors %v (err %v)", rs, ces, err)
	}
	if !strings.Contains(ces[1].Error(), `"acme/router" is not built into Kanaria`) {
		t.Fatalf("plugin error = %q", ces[1].Error())
	}
}

func TestForWithoutTrafficRouting(t *testing.T) {
	rs, err := For(envWith(nil), Options{})
	if rs != nil || err != nil {
		t.Fatalf("got %v, %v", rs, err)
	}
}
