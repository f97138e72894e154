package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/internal/helmchart"
)

// TestHelmChartInstalls renders charts/kanaria as `helm template` would,
// with the dashboard and a namespace-scoped controller, installs the result
// on the local cluster, and runs the controller with the installed
// ServiceAccount's own token: the chart's Role and leader-election Role
// must be enough for it to start, elect itself and serve.
func TestHelmChartInstalls(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "helm")
	dir := filepath.Join(repoRoot(t), "charts", "kanaria")
	values := map[string]any{
		"controller": map[string]any{"namespaceScoped": true, "replicas": 1},
		"dashboard":  map[string]any{"enabled": true, "readOnly": true},
	}
	if msgs := helmchart.Lint(dir, values); len(msgs) != 0 {
		t.Fatalf("helm lint: %s", strings.Join(msgs, "\n"))
	}
	r, err := helmchart.Render(dir, "e2e", ns, values)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, o := range r.Objects {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	manifest := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(manifest, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-f", manifest)
	t.Cleanup(func() {
		kubectl(t, "delete", "clusterrole,clusterrolebinding", "e2e-kanaria-dashboard", "--ignore-not-found")
	})
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/e2e-kanaria-controller", "--timeout=120s")
	mustKubectl(t, "-n", ns, "rollout", "status", "deployment/e2e-kanaria-dashboard", "--timeout=120s")

	tok, err := c.kube.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), "e2e-kanaria-controller",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for the chart's ServiceAccount: %v", err)
	}
	p := startController(t, "helm", kubeconfigWithToken(t, tok.Status.Token),
		"--namespace", ns, "--leader-election-namespace", ns, "--leader-election-id", "e2e-kanaria-controller")
	p.waitServing(t)
	eventually(t, time.Minute, "the controller to take its Lease with the chart's credentials", func() (bool, error) { return p.isLeader(), nil })
	// Every watch the controllers start after the election must be allowed
	// by the Role: a watch it may not list never syncs, and its controller
	// never starts its workers.
	eventually(t, time.Minute, "the controllers to start their workers with the chart's credentials", func() (bool, error) {
		return strings.Count(p.log.String(), "Starting workers") >= 3, nil
	})
	if strings.Contains(p.log.String(), "forbidden: User \"system:serviceaccount:"+ns) {
		t.Errorf("the chart's Role refused the controller something it needs:\n%s", p.log.String())
	}

	sa := "system:serviceaccount:" + ns + ":e2e-kanaria-controller"
	for _, check := range []struct {
		verb, resource, namespace string
		allowed                   bool
	}{
		{"patch", "rollouts.argoproj.io/status", ns, true},
		{"create", "replicasets.apps", ns, true},
		{"create", "replicasets.apps", "default", false},
		{"list", "secrets", ns, false},
	} {
		got := strings.TrimSpace(kubectl(t, "auth", "can-i", check.verb, check.resource, "--as", sa, "-n", check.namespace).stdout) == "yes"
		if got != check.allowed {
			t.Errorf("can %s %s in %s: %v, want %v", check.verb, check.resource, check.namespace, got, check.allowed)
		}
	}
	dash := "system:serviceaccount:" + ns + ":e2e-kanaria-dashboard"
	if got := strings.TrimSpace(kubectl(t, "auth", "can-i", "patch", "rollouts.argoproj.io", "--as", dash, "-n", ns).stdout); got == "yes" {
		t.Error("the read-only dashboard may patch Rollouts")
	}
	if got := strings.TrimSpace(kubectl(t, "auth", "can-i", "watch", "pods", "--as", dash, "-n", ns).stdout); got != "yes" {
		t.Error("the dashboard may not watch Pods")
	}
}
