package istio

import (
	"reflect"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

func TestType(t *testing.T) {
	var r trafficrouting.Router = New(trafficrouting.Env{Rollout: newRollout()})
	if r.Type() != "istio" {
		t.Fatalf("Type() = %q", r.Type())
	}
}

func TestHostIsService(t *testing.T) {
	cases := []struct {
		host string
		want bool
	}{
		{"web", true},
		{"web.shop", true},
		{"web.shop.svc", true},
		{"web.shop.svc.cluster.local", true},
		{"web.shop.svc.corp.example", true},
		{"web.other", false},
		{"web.other.svc.cluster.local", false},
		{"web.shop.example.com", false},
		{"web2", false},
		{"web-canary.shop", false},
		{"", false},
	}
	for _, c := range cases {
		if got := hostIsService(c.host, "web", "shop"); got != c.want {
			t.Errorf("hostIsService(%q) = %v, want %v", c.host, got, c.want)
		}
	}
}

func TestStringMatch(t *testing.T) {
	cases := []struct {
		name string
		in   *v1alpha1.StringMatch
		want map[string]any
	}{
		{"nil checks presence", nil, map[string]any{}},
		{"empty checks presence", &v1alpha1.StringMatch{}, map[string]any{}},
		{"exact", &v1alpha1.StringMatch{Exact: "a"}, map[string]any{"exact": "a"}},
		{"prefix", &v1alpha1.StringMatch{Prefix: "a"}, map[string]any{"prefix": "a"}},
		{"regex", &v1alpha1.StringMatch{Regex: "a.*"}, map[string]any{"regex": "a.*"}},
		// Istio's StringMatch is a oneof; writing two would be rejected.
		{"first set wins", &v1alpha1.StringMatch{Prefix: "a", Regex: "b"}, map[string]any{"prefix": "a"}},
	}
	for _, c := range cases {
		if got := stringMatch(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: stringMatch = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSetWeightKeepsEqualNumbers(t *testing.T) {
	// encoding/json decodes numbers as float64; an equal weight must not
	// count as a change.
	entry := map[string]any{"weight": float64(30)}
	setWeight(entry, 30)
	if _, ok := entry["weight"].(float64); !ok {
		t.Fatalf("equal weight rewritten as %T", entry["weight"])
	}
	setWeight(entry, 31)
	if entry["weight"] != int64(31) {
		t.Fatalf("weight = %v (%T), want int64 31", entry["weight"], entry["weight"])
	}
	entry = map[string]any{"weight": 12.5}
	setWeight(entry, 12)
	if entry["weight"] != int64(12) {
		t.Fatalf("fractional weight not replaced: %v", entry["weight"])
	}
}

func TestSetHashLabel(t *testing.T) {
	subset := map[string]any{"name": "canary"}
	setHashLabel(subset, "")
	if _, ok := subset["labels"]; ok {
		t.Fatalf("empty hash created labels: %v", subset)
	}
	setHashLabel(subset, "abc")
	want := map[string]any{"name": "canary", "labels": map[string]any{PodTemplateHashLabel: "abc"}}
	if !reflect.DeepEqual(subset, want) {
		t.Fatalf("subset = %v, want %v", subset, want)
	}
}

func TestSinglePort(t *testing.T) {
	route := func(ports ...any) map[string]any {
		var m []any
		for _, p := range ports {
			m = append(m, map[string]any{"port": p})
		}
		return map[string]any{"match": m}
	}
	cases := []struct {
		name  string
		route map[string]any
		port  int64
		ok    bool
	}{
		{"no match", map[string]any{}, 0, true},
		{"one port", route(int64(443)), 443, true},
		{"same port twice", route(int64(443), int64(443)), 443, true},
		{"two ports", route(int64(443), int64(8443)), 0, false},
	}
	for _, c := range cases {
		port, ok := singlePort(c.route)
		if port != c.port || ok != c.ok {
			t.Errorf("%s: singlePort = %d, %v; want %d, %v", c.name, port, ok, c.port, c.ok)
		}
	}
}
