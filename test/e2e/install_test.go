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
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestInstallManifestsGiveTheControllerWhatItNeeds applies config/install
// with kustomize, as README.md tells users to, then runs the controller with
// the installed ServiceAccount's own token: the least-privilege ClusterRole
// and Role must be enough for it to start, elect itself and serve, and must
// not grant what the controller has no business doing.
func TestInstallManifestsGiveTheControllerWhatItNeeds(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	mustKubectl(t, "apply", "-k", filepath.Join(repoRoot(t), "config", "install"))
	mustKubectl(t, "-n", "kanaria", "rollout", "status", "deployment/kanaria-controller", "--timeout=120s")

	tok, err := c.kube.CoreV1().ServiceAccounts("kanaria").CreateToken(context.Background(), "kanaria-controller",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for the controller's ServiceAccount: %v", err)
	}
	kubeconfig := kubeconfigWithToken(t, tok.Status.Token)

	p := startController(t, "rbac", kubeconfig, "--leader-election-namespace", "kanaria")
	p.waitServing(t)
	eventually(t, time.Minute, "the controller to take its Lease with its own credentials", func() (bool, error) { return p.isLeader(), nil })
	// An RBAC refusal names the ServiceAccount; other "forbidden" errors
	// (e.g. namespaces of earlier tests being deleted) are not about RBAC.
	if strings.Contains(p.log.String(), "forbidden: User \"system:serviceaccount:kanaria") {
		t.Errorf("the controller was refused something it needs:\n%s", p.log.String())
	}

	sa := "system:serviceaccount:kanaria:kanaria-controller"
	for _, check := range []struct {
		verb, resource string
		allowed        bool
	}{
		{"list", "rollouts.argoproj.io", true},
		{"patch", "rollouts.argoproj.io/status", true},
		{"create", "replicasets.apps", true},
		{"patch", "services", true},
		{"create", "jobs.batch", true},
		{"get", "secrets", true},
		{"list", "secrets", false},
		{"watch", "secrets", false},
		// Config snapshots read referenced ConfigMaps and Secrets one by
		// one, create their copies and hand them to ReplicaSets.
		{"create", "secrets", true},
		{"patch", "configmaps", true},
		{"list", "configmaps", false},
		{"delete", "secrets", false},
		{"update", "configmaps", false},
		{"delete", "deployments.apps", false},
		{"create", "clusterroles.rbac.authorization.k8s.io", false},
		// An Experiment template's Service is created and deleted with it.
		{"create", "services", true},
		{"delete", "services", true},
		{"update", "experiments.argoproj.io/finalizers", true},
		{"patch", "experiments.argoproj.io/status", true},
		{"delete", "analysistemplates.argoproj.io", false},
		// Restarts evict Pods through the Eviction API, as the reference
		// does; the controller never deletes or replaces a Pod itself.
		{"create", "pods/eviction", true},
		{"patch", "pods", true},
		{"delete", "pods", false},
		{"update", "pods", false},
		// Every other write is a merge patch; update is only for router
		// objects and for the finalizers of owners whose children block
		// their deletion (a job metric's Job, its AnalysisRun).
		{"update", "replicasets.apps", false},
		{"update", "rollouts.argoproj.io", false},
		{"update", "rollouts.argoproj.io/status", false},
		{"update", "rollouts.argoproj.io/finalizers", true},
		{"update", "ingresses.networking.k8s.io", true},
		{"update", "analysisruns.argoproj.io/finalizers", true},
		{"list", "horizontalpodautoscalers.autoscaling", false},
	} {
		// "kind/sub" names a subresource here; kubectl reads a slash as a
		// resource name, so the subresource goes in its own flag.
		args := []string{"auth", "can-i", check.verb, check.resource, "--as", sa, "-A"}
		if kind, sub, ok := strings.Cut(check.resource, "/"); ok {
			args = []string{"auth", "can-i", check.verb, kind, "--subresource", sub, "--as", sa, "-A"}
		}
		r := kubectl(t, args...)
		got := strings.TrimSpace(r.stdout) == "yes"
		if got != check.allowed {
			t.Errorf("can %s %s %s: %v, want %v", sa, check.verb, check.resource, got, check.allowed)
		}
	}
	// The notification ConfigMap and Secret are watched by name in the
	// controller's namespace; no other Secret there is listed.
	for _, check := range []struct {
		verb, resource string
		allowed        bool
	}{
		{"watch", "secrets/argo-rollouts-notification-secret", true},
		{"list", "configmaps/argo-rollouts-notification-configmap", true},
		{"list", "secrets", false},
		{"get", "secrets/some-other-secret", true},
		{"watch", "configmaps", false},
	} {
		r := kubectl(t, "auth", "can-i", check.verb, check.resource, "--as", sa, "-n", "kanaria")
		got := strings.TrimSpace(r.stdout) == "yes"
		if got != check.allowed {
			t.Errorf("can %s %s %s in kanaria: %v, want %v", sa, check.verb, check.resource, got, check.allowed)
		}
	}
}

// kubeconfigWithToken writes a kubeconfig for the test cluster that
// authenticates with token instead of the admin credentials.
func kubeconfigWithToken(t *testing.T, token string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		t.Fatalf("kubeconfig %s has no current context", cluster.KubeconfigPath())
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["test"] = cfg.Clusters[ctx.Cluster]
	out.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: token}
	out.Contexts["controller"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "controller"}
	out.CurrentContext = "controller"
	path := filepath.Join(t.TempDir(), "controller.kubeconfig")
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ptrTo[T any](v T) *T { return &v }
