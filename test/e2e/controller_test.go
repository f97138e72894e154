package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/internal/testutil/freeaddr"
)

var kanariaBinary struct {
	sync.Once
	path string
	err  error
}

// buildKanaria builds the kanaria binary once per package, so the tests run
// the same program a user runs.
func buildKanaria(t *testing.T) string {
	t.Helper()
	kanariaBinary.Do(func() {
		out := filepath.Join(cluster.Dir(), "bin", "kanaria")
		// An attached cluster has no directory of its own: the binary goes
		// under the repository, named absolutely so it runs from any cwd.
		if !filepath.IsAbs(out) {
			out = filepath.Join(repoRoot(t), out)
		}
		cmd := exec.Command("go", "build", "-o", out, "./cmd/kanaria")
		cmd.Dir = repoRoot(t)
		if b, err := cmd.CombinedOutput(); err != nil {
			kanariaBinary.err = fmt.Errorf("go build ./cmd/kanaria: %w\n%s", err, b)
			return
		}
		kanariaBinary.path = out
	})
	if kanariaBinary.err != nil {
		t.Fatal(kanariaBinary.err)
	}
	return kanariaBinary.path
}

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// controllerProcess is one running `kanaria controller`.
type controllerProcess struct {
	name       string
	cmd        *exec.Cmd
	log        *syncBuffer
	probeAddr  string
	metricAddr string
	exited     chan struct{}
	exitErr    error
}

// startController runs the kanaria binary's controller against the test
// cluster with its probes and metrics on free local ports.
func startController(t *testing.T, name, kubeconfig string, args ...string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{name: name, log: &syncBuffer{}, probeAddr: freeaddr.Loopback(t), metricAddr: freeaddr.Loopback(t), exited: make(chan struct{})}
	all := append([]string{"controller", "--kubeconfig", kubeconfig,
		"--health-probe-bind-address", p.probeAddr, "--metrics-bind-address", p.metricAddr}, args...)
	p.cmd = exec.Command(buildKanaria(t), all...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting controller %s: %v", name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("log of controller %s:\n%s", name, p.log.String())
		}
	})
	return p
}

func (p *controllerProcess) get(path string) (int, string, error) {
	resp, err := http.Get("http://" + p.addrFor(path) + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (p *controllerProcess) addrFor(path string) string {
	if path == "/metrics" {
		return p.metricAddr
	}
	return p.probeAddr
}

func (p *controllerProcess) isLeader() bool {
	return strings.Contains(p.log.String(), "elected leader")
}

// waitServing waits until the controller answers /healthz and /readyz with 200.
func (p *controllerProcess) waitServing(t *testing.T) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		eventually(t, time.Minute, p.name+" "+path, func() (bool, error) {
			code, body, err := p.get(path)
			if err != nil {
				return false, err
			}
			return code == http.StatusOK, fmt.Errorf("status %d: %s", code, body)
		})
	}
}

// TestControllerServesProbesAndMetricsAndFailsOver runs two controllers with
// leader election, checks their probes and metrics, kills the leader with
// SIGKILL and checks that the standby takes the Lease within the lease
// duration; then stops the new leader with SIGTERM and checks that it exits
// cleanly and hands the Lease back.
func TestControllerServesProbesAndMetricsAndFailsOver(t *testing.T) {
	needCluster(t)
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "leader")
	const (
		leaseName     = "kanaria-e2e"
		leaseDuration = 8 * time.Second
		retryPeriod   = 500 * time.Millisecond
	)
	args := []string{"--leader-election-namespace", ns, "--leader-election-id", leaseName,
		"--leader-elect-lease-duration", leaseDuration.String(), "--leader-elect-renew-deadline", "6s",
		"--leader-elect-retry-period", retryPeriod.String()}
	a := startController(t, "a", cluster.KubeconfigPath(), args...)
	b := startController(t, "b", cluster.KubeconfigPath(), args...)
	a.waitServing(t)
	b.waitServing(t)

	for _, p := range []*controllerProcess{a, b} {
		code, body, err := p.get("/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s /metrics: %d %v", p.name, code, err)
		}
		for _, metric := range []string{"kanaria_build_info{", "rest_client_requests_total{", "leader_election_master_status{"} {
			if !strings.Contains(body, metric) {
				t.Errorf("%s /metrics lacks %s", p.name, metric)
			}
		}
	}

	var leader, standby *controllerProcess
	eventually(t, time.Minute, "one controller to take the Lease", func() (bool, error) {
		switch {
		case a.isLeader() && b.isLeader():
			return false, fmt.Errorf("both controllers claim leadership")
		case a.isLeader():
			leader, standby = a, b
		case b.isLeader():
			leader, standby = b, a
		}
		return leader != nil, nil
	})
	before, err := c.kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the Lease: %v", err)
	}
	if before.Spec.HolderIdentity == nil || *before.Spec.HolderIdentity == "" {
		t.Fatalf("Lease has no holder while %s leads", leader.name)
	}
	time.Sleep(2 * retryPeriod) // let the standby observe at least one renewal
	if standby.isLeader() {
		t.Fatalf("standby %s claims leadership while %s holds the Lease", standby.name, leader.name)
	}

	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leader.exited
	// The dead leader's last renewal, read after it died.
	last, err := c.kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the standby to take over", func() (bool, error) { return standby.isLeader(), nil })
	after, err := c.kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *after.Spec.HolderIdentity == *before.Spec.HolderIdentity {
		t.Fatalf("Lease still held by the killed leader %q", *after.Spec.HolderIdentity)
	}
	// Judged from the Lease's own timestamps. client-go's elector polls every
	// retry period stretched by a random jitter of up to 120%: it notices the
	// last renewal up to one poll late and tries to acquire up to one poll
	// after the lease ran out, so the bound is the lease duration plus two
	// such polls, plus a second for API latency on a loaded machine. Waiting
	// a second lease duration would break it.
	gap := after.Spec.AcquireTime.Sub(last.Spec.RenewTime.Time)
	if limit := leaseDuration + 2*retryPeriod*22/10 + time.Second; gap > limit {
		t.Errorf("standby took over %s after the last renewal, more than %s", gap, limit)
	}
	t.Logf("takeover %s after the killed leader's last renewal (lease duration %s)", gap.Round(time.Millisecond), leaseDuration)
	if after.Spec.LeaseTransitions == nil || before.Spec.LeaseTransitions == nil || *after.Spec.LeaseTransitions != *before.Spec.LeaseTransitions+1 {
		t.Errorf("lease transitions %v -> %v, want one more", before.Spec.LeaseTransitions, after.Spec.LeaseTransitions)
	}

	// Graceful shutdown: SIGTERM ends the process with status 0 and releases
	// the Lease at once, so a replacement need not wait a lease duration.
	if err := standby.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-standby.exited:
	case <-time.After(time.Minute):
		t.Fatal("controller did not exit after SIGTERM")
	}
	if standby.exitErr != nil {
		t.Errorf("controller exited with %v after SIGTERM, want status 0", standby.exitErr)
	}
	released, err := c.kube.CoordinationV1().Leases(ns).Get(context.Background(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if released.Spec.HolderIdentity != nil && *released.Spec.HolderIdentity != "" {
		t.Errorf("Lease still held by %q after a graceful shutdown", *released.Spec.HolderIdentity)
	}
}
