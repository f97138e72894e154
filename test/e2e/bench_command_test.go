package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/bench"
)

// TestBenchCommandCanary runs `kanaria bench --scenario canary -n 3 -r 2
// --watch-part-size 2` in-process against a controller of this package,
// with the Deployment baseline, and checks that it measured something and
// left every Rollout Healthy on the new revision. Its watches are split in
// two parts, as a run of thousands is, so the phases can only see all three
// Rollouts and Deployments finish if the split lists and events add up. It
// asserts nothing about speed.
func TestBenchCommandCanary(t *testing.T) {
	res, c, ns := runBench(t, bench.ScenarioCanary, true, 2)
	checkBenchPhases(t, res, "create", "update")
	if len(res.Baseline) != 2 {
		t.Errorf("want the Deployment baseline's create and update, have %+v", res.Baseline)
	}
	for _, p := range res.Baseline {
		if p.Completions != 3 || p.Seconds <= 0 {
			t.Errorf("baseline %s: %d completions in %vs", p.Name, p.Completions, p.Seconds)
		}
	}
	if _, ok := res.Ratios["update"]; !ok {
		t.Errorf("no update ratio to the Deployments: %v", res.Ratios)
	}
	var list v1alpha1.RolloutList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("want 3 Rollouts, have %d", len(list.Items))
	}
	parts := map[string]bool{}
	for _, ro := range list.Items {
		part := ro.Labels[bench.LabelPart]
		parts[part] = true
		if part == "" || ro.Spec.Template.Labels[bench.LabelPart] != part {
			t.Errorf("rollout %s: part label %q, on its template %q", ro.Name, part, ro.Spec.Template.Labels[bench.LabelPart])
		}
	}
	if len(parts) != 2 {
		t.Errorf("3 Rollouts in parts %v, want both parts of 2 used (the split is not exercised)", parts)
	}
	for _, ro := range list.Items {
		if ro.Status.Phase != v1alpha1.RolloutPhaseHealthy || ro.Status.StableRS != ro.Status.CurrentPodHash ||
			ro.Spec.Template.Spec.Containers[0].Image != bench.DefaultUpdateImage {
			t.Errorf("rollout %s: %s, stable %q current %q, image %s", ro.Name, ro.Status.Phase, ro.Status.StableRS,
				ro.Status.CurrentPodHash, ro.Spec.Template.Spec.Containers[0].Image)
		}
	}
	var deps appsv1.DeploymentList
	if err := c.ctrl.List(context.Background(), &deps, client.InNamespace(ns)); err != nil || len(deps.Items) != 0 {
		t.Errorf("the baseline left %d Deployments (%v)", len(deps.Items), err)
	}
}

// TestBenchCommandAbort runs the abort scenario with N=3, R=2 and checks
// that every Rollout ended back on its stable revision: the stable Service
// selects it and the canary ReplicaSet is scaled to 0.
func TestBenchCommandAbort(t *testing.T) {
	res, c, ns := runBench(t, bench.ScenarioAbort, false, 0)
	checkBenchPhases(t, res, "create", "pause", "abort")
	if len(res.Baseline) != 0 {
		t.Errorf("the baseline ran with --baseline=false: %+v", res.Baseline)
	}
	var list v1alpha1.RolloutList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("want 3 Rollouts, have %d", len(list.Items))
	}
	for i := range list.Items {
		ro := &list.Items[i]
		if !ro.Status.Abort {
			t.Errorf("rollout %s was not aborted", ro.Name)
		}
		ro = waitRollout(t, c, ns, ro.Name, "Degraded after the abort", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
		stable, canary := ro.Status.StableRS, ro.Status.CurrentPodHash
		if stable == "" || stable == canary {
			t.Fatalf("rollout %s: stable %q, canary %q", ro.Name, stable, canary)
		}
		if got := serviceHash(t, c, ns, ro.Name+"-stable"); got != stable {
			t.Errorf("rollout %s: stable Service selects %q, want %q", ro.Name, got, stable)
		}
		if rs := replicaSetsOf(t, c, ns, ro)[canary]; rs != nil && derefOr(rs.Spec.Replicas, 1) != 0 {
			t.Errorf("rollout %s: canary ReplicaSet has %d replicas", ro.Name, derefOr(rs.Spec.Replicas, 1))
		}
	}
}

// runBench runs one scenario with N=3, R=2 against a fresh controller, the
// way `kanaria bench` does, and logs the table.
func runBench(t *testing.T, scenario bench.Scenario, baseline bool, watchPartSize int) (*bench.Result, clients, string) {
	t.Helper()
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "benchcmd")
	p := runController(t, ns, "--log-level", "info")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := bench.Run(ctx, cluster.RESTConfig(), bench.Options{
		Config: bench.Config{
			Scenario: scenario, Rollouts: 3, Replicas: 2, Namespace: ns, Baseline: baseline,
			Timeout: 10 * time.Minute, WatchPartSize: watchPartSize,
		},
		ControllerPID:        p.cmd.Process.Pid,
		ControllerMetricsURL: "http://" + p.metricAddr + "/metrics",
		Progress:             testLogWriter{t},
	})
	if err != nil {
		t.Fatalf("bench %s: %v", scenario, err)
	}
	var table strings.Builder
	if err := bench.WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("bench %s:\n%s", scenario, table.String())
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not encode as JSON: %v", err)
	}
	return res, c, ns
}

// checkBenchPhases checks the Rollout phases' names and that each measured
// three completions, positive times and the controller's requests and
// process.
func checkBenchPhases(t *testing.T, res *bench.Result, names ...string) {
	t.Helper()
	if len(res.Phases) != len(names) {
		t.Fatalf("phases %+v, want %v", res.Phases, names)
	}
	for i, p := range res.Phases {
		if p.Name != names[i] {
			t.Errorf("phase %d is %q, want %q", i, p.Name, names[i])
		}
		if p.Completions != 3 || p.Latency.Count != 3 {
			t.Errorf("%s: %d completions, %d latencies, want 3", p.Name, p.Completions, p.Latency.Count)
		}
		if p.Seconds <= 0 || p.Latency.Max <= 0 || p.Latency.P50 <= 0 {
			t.Errorf("%s: time %vs, latency %+v, want positive", p.Name, p.Seconds, p.Latency)
		}
		if p.ControllerRequests == nil || p.ControllerRequests.Total <= 0 {
			t.Errorf("%s: controller requests %+v, want some", p.Name, p.ControllerRequests)
		}
		if p.Controller == nil || p.Controller.RSSEndMiB <= 0 || p.Controller.HWMMiB <= 0 {
			t.Errorf("%s: controller process %+v, want its memory", p.Name, p.Controller)
		}
		if c := p.ControllerRequests; c != nil && c.ByVerbResource["Patch rollouts"] <= 0 {
			t.Errorf("%s: controller requests by verb and kind %v, want its Rollout patches", p.Name, c.ByVerbResource)
		}
		switch p.Name {
		case "create", "update", "pause":
			// Each of these changes every Rollout's generation, and the
			// controller answers each change with a write.
			if f := p.FirstWrite; f == nil || f.Latency.Count != 3 || f.Missing != 0 || f.Latency.Max <= 0 {
				t.Errorf("%s: first writes %+v, want one for each of the 3 Rollouts", p.Name, f)
			}
		}
	}
	if t.Failed() {
		t.Logf("notes: %q", res.Notes)
	}
}

// testLogWriter sends each write to the test log, so progress shows with -v
// and with a failure.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
