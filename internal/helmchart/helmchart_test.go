package helmchart

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func chartDir(t *testing.T) string {
	t.Helper()
	dir, err := ChartDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func render(t *testing.T, values map[string]any) *Rendered {
	t.Helper()
	r, err := Render(chartDir(t), "kanaria", "kanaria", values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustFind(t *testing.T, r *Rendered, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.Find(kind, name)
	if o == nil {
		var have []string
		for _, o := range r.Objects {
			have = append(have, o.GetKind()+"/"+o.GetName())
		}
		t.Fatalf("no %s %s among %s", kind, name, strings.Join(have, ", "))
	}
	return o
}

func args(t *testing.T, d *unstructured.Unstructured) []string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("%s has no containers", d.GetName())
	}
	raw, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
	return raw
}

func TestChartLintsClean(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"everything": {
			"controller":    map[string]any{"namespaceScoped": true, "instanceID": "blue"},
			"metrics":       map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
			"dashboard":     map[string]any{"enabled": true, "readOnly": false, "allowedHosts": []any{"dash.example"}},
			"notifications": map[string]any{"selfService": true, "configMap": map[string]any{"create": true, "data": map[string]any{"defaultTriggers": "- on-rollout-aborted"}}},
		},
	} {
		if msgs := Lint(chartDir(t), values); len(msgs) != 0 {
			t.Errorf("%s: helm lint: %s", name, strings.Join(msgs, "\n"))
		}
	}
}

func TestDefaultsMatchTheKustomizeInstall(t *testing.T) {
	r := render(t, nil)
	d := mustFind(t, r, "Deployment", "kanaria-controller")
	if n, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas"); fmt.Sprint(n) != "2" {
		t.Errorf("replicas %v, want 2 (one acting, one standing by)", n)
	}
	a := args(t, d)
	for _, want := range []string{"controller", "--leader-elect=true", "--leader-election-id=kanaria-controller", "--metrics-bind-address=:8090", "--health-probe-bind-address=:8080"} {
		if !slices.Contains(a, want) {
			t.Errorf("args %v lack %s", a, want)
		}
	}
	for _, unwanted := range []string{"--namespace=", "--instance-id="} {
		for _, x := range a {
			if strings.HasPrefix(x, unwanted) {
				t.Errorf("default args carry %s", x)
			}
		}
	}
	c, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if _, ok := c[0].(map[string]any)[probe]; !ok {
			t.Errorf("no %s", probe)
		}
	}
	mustFind(t, r, "Service", "kanaria-controller-metrics")
	mustFind(t, r, "ServiceAccount", "kanaria-controller")
	mustFind(t, r, "ClusterRoleBinding", "kanaria-controller")
	mustFind(t, r, "Role", "kanaria-leader-election")
	if r.Find("ServiceMonitor", "kanaria-controller") != nil || r.Find("Deployment", "kanaria-dashboard") != nil {
		t.Error("the ServiceMonitor and the dashboard are rendered without being asked for")
	}

	// The ClusterRole's rules are the kustomize install's, rule for rule.
	role := mustFind(t, r, "ClusterRole", "kanaria-controller")
	b, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "config", "install", "clusterrole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(role.Object["rules"], want["rules"]) {
		t.Errorf("the chart's ClusterRole rules differ from config/install/clusterrole.yaml")
	}

	// The CRDs are config/crd/bases', file for file.
	bases, err := filepath.Glob(filepath.Join(chartDir(t), "..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CRDs) != len(bases) || len(bases) != 5 {
		t.Fatalf("chart has %d CRDs, config/crd/bases %d", len(r.CRDs), len(bases))
	}
	for _, base := range bases {
		got, err := os.ReadFile(filepath.Join(chartDir(t), "crds", filepath.Base(base)))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(base)
		if string(got) != string(want) {
			t.Errorf("crds/%s differs from config/crd/bases: run make generate", filepath.Base(base))
		}
	}
}

func TestNamespaceScopedAndInstanceID(t *testing.T) {
	r := render(t, map[string]any{"controller": map[string]any{"namespaceScoped": true, "instanceID": "blue", "replicas": 1}})
	a := args(t, mustFind(t, r, "Deployment", "kanaria-controller"))
	for _, want := range []string{"--namespace=kanaria", "--instance-id=blue"} {
		if !slices.Contains(a, want) {
			t.Errorf("args %v lack %s", a, want)
		}
	}
	if r.Find("ClusterRole", "kanaria-controller") != nil || r.Find("ClusterRoleBinding", "kanaria-controller") != nil {
		t.Error("a namespace-scoped controller gets cluster-wide rights")
	}
	role := mustFind(t, r, "Role", "kanaria-controller")
	if role.GetNamespace() != "kanaria" {
		t.Errorf("Role in %q", role.GetNamespace())
	}
	mustFind(t, r, "RoleBinding", "kanaria-controller")
	if !strings.Contains(r.Notes, "namespace kanaria only") || !strings.Contains(r.Notes, "controller-instance-id=blue") {
		t.Errorf("NOTES do not say what the controller handles:\n%s", r.Notes)
	}
}

func TestServiceMonitorAndDashboard(t *testing.T) {
	r := render(t, map[string]any{
		"metrics":   map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}},
		"dashboard": map[string]any{"enabled": true, "readOnly": true, "allowedHosts": []any{"dash.example"}},
	})
	sm := mustFind(t, r, "ServiceMonitor", "kanaria-controller")
	if sm.GetLabels()["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v", sm.GetLabels())
	}
	d := mustFind(t, r, "Deployment", "kanaria-dashboard")
	a := args(t, d)
	for _, want := range []string{"dashboard", "--address=0.0.0.0", "--read-only", "--allowed-host=dash.example"} {
		if !slices.Contains(a, want) {
			t.Errorf("dashboard args %v lack %s", a, want)
		}
	}
	sec := mustFind(t, r, "Secret", "kanaria-dashboard")
	if tok, _, _ := unstructured.NestedString(sec.Object, "data", "token"); tok == "" {
		t.Error("the dashboard's token Secret has no token")
	}
	role := mustFind(t, r, "ClusterRole", "kanaria-dashboard")
	if strings.Contains(toYAML(t, role.Object["rules"]), "patch") {
		t.Error("a read-only dashboard may patch")
	}
	mustFind(t, r, "Service", "kanaria-dashboard")

	rw := render(t, map[string]any{"dashboard": map[string]any{"enabled": true, "readOnly": false, "tokenSecret": "mine"}})
	if rw.Find("Secret", "kanaria-dashboard") != nil {
		t.Error("a Secret is made although dashboard.tokenSecret names one")
	}
	if !strings.Contains(toYAML(t, mustFind(t, rw, "ClusterRole", "kanaria-dashboard").Object["rules"]), "patch") {
		t.Error("a dashboard with actions cannot patch Rollouts")
	}
	if !strings.Contains(toYAML(t, mustFind(t, rw, "Deployment", "kanaria-dashboard").Object), "name: mine") {
		t.Error("the dashboard does not read its token from dashboard.tokenSecret")
	}
}

func TestReleaseNamesPrefixObjects(t *testing.T) {
	r, err := Render(chartDir(t), "team-a", "tools", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mustFind(t, r, "Deployment", "team-a-kanaria-controller")
	if d.GetNamespace() != "tools" {
		t.Errorf("namespace %q", d.GetNamespace())
	}
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNotificationSettings(t *testing.T) {
	r := render(t, nil)
	role := mustFind(t, r, "Role", "kanaria-notifications")
	if role.GetNamespace() != "kanaria" {
		t.Errorf("notification Role in %q, want the controller's namespace", role.GetNamespace())
	}
	rules := toYAML(t, role.Object["rules"])
	for _, want := range []string{"argo-rollouts-notification-configmap", "argo-rollouts-notification-secret"} {
		if !strings.Contains(rules, want) {
			t.Errorf("notification Role does not name %s:\n%s", want, rules)
		}
	}
	mustFind(t, r, "RoleBinding", "kanaria-notifications")
	if r.Find("ConfigMap", "argo-rollouts-notification-configmap") != nil {
		t.Error("a notification ConfigMap is rendered without being asked for")
	}
	for _, x := range args(t, mustFind(t, r, "Deployment", "kanaria-controller")) {
		if x == "--self-service-notification-enabled" {
			t.Error("self-service notifications are on by default")
		}
	}

	// The controller's namespace elsewhere moves the Role with it.
	elsewhere := render(t, map[string]any{"controller": map[string]any{"controllerNamespace": "ops"}})
	if ns := mustFind(t, elsewhere, "Role", "kanaria-notifications").GetNamespace(); ns != "ops" {
		t.Errorf("notification Role in %q, want ops", ns)
	}

	self := render(t, map[string]any{"notifications": map[string]any{
		"selfService": true,
		"configMap":   map[string]any{"create": true, "data": map[string]any{"service.webhook.hook": "url: http://hook"}},
	}})
	if self.Find("Role", "kanaria-notifications") != nil {
		t.Error("self-service keeps a namespaced Role: other namespaces' configuration cannot be read")
	}
	if !strings.Contains(toYAML(t, mustFind(t, self, "ClusterRole", "kanaria-notifications").Object["rules"]), "resourceNames") {
		t.Error("the self-service ClusterRole is not limited to the two names")
	}
	mustFind(t, self, "ClusterRoleBinding", "kanaria-notifications")
	if !slices.Contains(args(t, mustFind(t, self, "Deployment", "kanaria-controller")), "--self-service-notification-enabled") {
		t.Error("selfService does not turn on --self-service-notification-enabled")
	}
	cm := mustFind(t, self, "ConfigMap", "argo-rollouts-notification-configmap")
	if v, _, _ := unstructured.NestedString(cm.Object, "data", "service.webhook.hook"); v != "url: http://hook" {
		t.Errorf("ConfigMap data %v", cm.Object["data"])
	}
}

func TestShardsAndStatefulSet(t *testing.T) {
	d := mustFind(t, render(t, nil), "Deployment", "kanaria-controller")
	for _, x := range args(t, d) {
		if strings.HasPrefix(x, "--shards") {
			t.Errorf("the default (one shard) passes %s", x)
		}
	}
	values := map[string]any{"controller": map[string]any{"shards": 4, "replicas": 4, "statefulSet": true}}
	if msgs := Lint(chartDir(t), values); len(msgs) > 0 {
		t.Fatalf("lint with shards: %v", msgs)
	}
	r := render(t, values)
	if r.Find("Deployment", "kanaria-controller") != nil {
		t.Error("a Deployment is rendered besides the StatefulSet")
	}
	s := mustFind(t, r, "StatefulSet", "kanaria-controller")
	if a := args(t, s); !slices.Contains(a, "--shards=4") || !slices.Contains(a, "--leader-elect=true") {
		t.Errorf("args %v lack --shards=4 with leader election on", a)
	}
	if svc, _, _ := unstructured.NestedString(s.Object, "spec", "serviceName"); svc != "kanaria-controller-metrics" {
		t.Errorf("serviceName %q", svc)
	}
	rules, _, _ := unstructured.NestedSlice(mustFind(t, r, "Role", "kanaria-leader-election").Object, "rules")
	verbs := fmt.Sprint(rules[0].(map[string]any)["verbs"])
	for _, v := range []string{"list", "delete"} {
		if !strings.Contains(verbs, v) {
			t.Errorf("the Lease rule %s lacks %s, which the shard Leases need", verbs, v)
		}
	}
}
