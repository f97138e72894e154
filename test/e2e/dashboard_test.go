package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/dashboard"
)

// envRequireBrowser, when "1", turns a missing browser, node or
// playwright-core into a failure instead of a skip. CI sets it.
const envRequireBrowser = "KANARIA_REQUIRE_BROWSER"

// chromiumPath is Debian's Chromium, the only browser the machines have.
const chromiumPath = "/usr/bin/chromium"

// browserTools returns node and the browser test directory, or skips the
// test (fails it under KANARIA_REQUIRE_BROWSER=1) saying what is missing.
func browserTools(t *testing.T) (node, dir string) {
	t.Helper()
	dir = filepath.Join(repoRoot(t), "test", "browser")
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install -y chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (cd test/browser && npm ci)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ")
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatalf("%s; %s=1 requires them", msg, envRequireBrowser)
		}
		t.Skip(msg + "; set " + envRequireBrowser + "=1 to fail instead of skipping")
	}
	return node, dir
}

// startDashboard serves the dashboard in this process against the test
// cluster on a free port and returns its URL.
func startDashboard(t *testing.T, opts dashboard.Options) string {
	t.Helper()
	srv, err := dashboard.NewServerForConfig(cluster.RESTConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dashboard: %v", err)
		}
	})
	url := "http://" + l.Addr().String()
	eventually(t, 30*time.Second, "the dashboard to answer", func() (bool, error) {
		resp, err := http.Get(url + "/api/info")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	})
	return url
}

// runBrowserScript runs a script of test/browser with node against
// Chromium and returns what it wrote to stdout and stderr.
func runBrowserScript(node, dir, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

const dashboardRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: shop
spec:
  replicas: 4
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
      - name: app
        image: registry.example/shop:1.0
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 60
      - pause: {}
`

// TestDashboardPromoteInBrowser pauses a canary at its first pause, opens
// the dashboard in Chromium, clicks Promote and checks that the page shows
// the next step without a reload and that the cluster moved on.
func TestDashboardPromoteInBrowser(t *testing.T) {
	needCluster(t)
	node, browserDir := browserTools(t)
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "dashboard")
	runController(t, ns)

	manifest := filepath.Join(t.TempDir(), "rollout.yaml")
	if err := os.WriteFile(manifest, []byte(dashboardRollout), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", manifest)
	waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	waitRollout(t, c, ns, "shop", "paused at step 1", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})

	url := startDashboard(t, dashboard.Options{})
	shots := filepath.Join(repoRoot(t), "test", "output", "dashboard")
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	out, err := runBrowserScript(node, browserDir, "promote.mjs", url, ns, "shop", shots)
	t.Logf("node promote.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the browser test failed (%v); screenshots in %s", err, shots)
	}

	ro := waitRollout(t, c, ns, "shop", "past step 1", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return derefOr(ro.Status.CurrentStepIndex, -1) > 1
	})
	t.Logf("after the click: phase %s, step %d", ro.Status.Phase, derefOr(ro.Status.CurrentStepIndex, -1))
	for _, name := range []string{"1-paused.png", "2-promoted.png"} {
		fi, err := os.Stat(filepath.Join(shots, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}
