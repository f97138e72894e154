package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

// needCluster skips a test in -short mode, where no cluster runs.
func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("end-to-end test: needs the local cluster (not started in -short mode)")
	}
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// seedsDir holds the manifests from real users that must apply unchanged.
func seedsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "fixtures", "seeds")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("fixtures from real users not found at %s: %v", dir, err)
	}
	return dir
}

// kubectlResult is what one kubectl invocation printed and returned.
type kubectlResult struct {
	stdout, stderr string
	err            error
}

// kubectl runs the control plane's own kubectl against the test cluster, as a
// user would, and returns what it printed.
func kubectl(t *testing.T, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cluster.Binaries().Kubectl, append([]string{"--kubeconfig", cluster.KubeconfigPath()}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return kubectlResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// mustKubectl runs kubectl and fails the test when it fails.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := kubectl(t, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

var crdsOnce struct {
	sync.Once
	err error
}

// ensureCRDs installs Kanaria's CRDs the way README.md tells users to, once
// per package, and waits until the API server serves them.
func ensureCRDs(t *testing.T) {
	t.Helper()
	needCluster(t)
	crdsOnce.Do(func() {
		r := kubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "config", "crd", "bases"))
		if r.err != nil {
			crdsOnce.err = fmt.Errorf("kubectl apply of the CRDs: %w\n%s", r.err, r.stderr)
			return
		}
		crdsOnce.err = waitCRDsEstablished(newClients(t), "rollouts.argoproj.io", "analysistemplates.argoproj.io",
			"clusteranalysistemplates.argoproj.io", "analysisruns.argoproj.io", "experiments.argoproj.io")
	})
	if crdsOnce.err != nil {
		t.Fatal(crdsOnce.err)
	}
}

// clients bundles the API clients a test uses.
type clients struct {
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	ctrl    client.Client
}

func newClients(t *testing.T) clients {
	t.Helper()
	cfg := cluster.RESTConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("controller-runtime client: %v", err)
	}
	return clients{kube: kube, dynamic: dyn, ctrl: c}
}

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(t *testing.T, c clients, prefix string) string {
	t.Helper()
	name := prefix + "-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = c.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// eventually polls cond every interval until it returns true or the timeout
// passes; the last error explains a failure. Timeouts here are generous
// bounds for a busy 2-core machine, not speed assertions.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// containsLine reports whether text has a line equal to want, ignoring
// surrounding spaces.
func containsLine(text, want string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}

func yamlMarshal(v any) ([]byte, error) { return sigsyaml.Marshal(v) }

// waitCRDsEstablished waits until the API server serves every named CRD.
// It polls the conditions because kubectl wait fails outright on a CRD that
// has no status yet.
func waitCRDsEstablished(c clients, names ...string) error {
	deadline := time.Now().Add(time.Minute)
	for _, name := range names {
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			err := c.ctrl.Get(context.Background(), client.ObjectKey{Name: name}, &crd)
			if err == nil && crdEstablished(&crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after a minute (last error: %v)", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}
