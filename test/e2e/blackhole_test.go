package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// blackhole is a TCP endpoint that accepts connections and never answers,
// as a backend behind a dropped route does.
type blackhole struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, conn)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			_ = c.Close()
		}
	})
	return b
}

// blackholeRun is an AnalysisRun of one web metric measured count times,
// interval apart.
const blackholeRun = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
spec:
  metrics:
  - name: check
    interval: %s
    count: %d
    successCondition: result.ok == true
    provider:
      web:
        url: %s
        timeoutSeconds: %d
`

// TestBlackholedProviderStarvesNoOtherRun starts 100 AnalysisRuns whose web
// endpoint accepts connections and never answers, then a few against a
// healthy endpoint. Each healthy measurement starts within a few seconds of
// when it is due, by the run's own timestamps: the first after the run
// started, each later one an interval after the previous one finished.
// The bound is on starvation, not speed: without a limit per endpoint, the
// blackholed runs would hold every analysis worker for their whole
// timeout.
func TestBlackholedProviderStarvesNoOtherRun(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "blackhole")
	hole := newBlackhole(t)
	target := newWebTarget(t)
	runController(t, ns)

	const holes, healthy, count = 100, 4, 4
	const interval = 2 * time.Second
	var docs []string
	for i := 0; i < holes; i++ {
		docs = append(docs, fmt.Sprintf(blackholeRun, fmt.Sprintf("hole-%03d", i), "10s", 3, "http://"+hole.ln.Addr().String()+"/check", 25))
	}
	applyYAML(t, ns, strings.Join(docs, "---\n"))
	eventually(t, time.Minute, "the blackhole to hold connections", func() (bool, error) {
		n := hole.accepted.Load()
		return n >= 2, fmt.Errorf("%d connections", n)
	})

	docs = nil
	for i := 0; i < healthy; i++ {
		docs = append(docs, fmt.Sprintf(blackholeRun, fmt.Sprintf("healthy-%d", i), interval, count, target.URL+"/ok", 5))
	}
	applyYAML(t, ns, strings.Join(docs, "---\n"))

	// Timestamps are stored to the second, so a measurement that started
	// on time may read up to a second late; the rest of the bound is for
	// a busy machine.
	const lateness = 4 * time.Second
	for i := 0; i < healthy; i++ {
		name := fmt.Sprintf("healthy-%d", i)
		run := waitRun(t, c, ns, name, 2*time.Minute)
		if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || len(run.Status.MetricResults) != 1 {
			t.Fatalf("%s ended %s (%s)", name, run.Status.Phase, run.Status.Message)
		}
		ms := run.Status.MetricResults[0].Measurements
		if len(ms) != count {
			t.Fatalf("%s took %d measurements, want %d", name, len(ms), count)
		}
		dueAt := run.CreationTimestamp.Time
		for j, m := range ms {
			if m.StartedAt == nil || m.FinishedAt == nil {
				t.Fatalf("%s measurement %d has no start or finish: %+v", name, j, m)
			}
			if late := m.StartedAt.Sub(dueAt); late > lateness {
				t.Errorf("%s measurement %d started %s after it was due at %s", name, j, late, dueAt.UTC().Format(time.RFC3339))
			}
			dueAt = m.FinishedAt.Add(interval)
		}
	}

	// The blackholed runs were still waiting the whole time: the bound
	// above was measured under the load it is about.
	var runs v1alpha1.AnalysisRunList
	if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	waiting := 0
	for _, r := range runs.Items {
		if strings.HasPrefix(r.Name, "hole-") && !r.Status.Phase.Completed() {
			waiting++
		}
	}
	if waiting < holes/2 {
		t.Errorf("only %d of %d blackholed runs were still waiting when the healthy ones ended", waiting, holes)
	}
}
