package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
	"github.com/kanaria-rollouts/kanaria/internal/simulate"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/promserver"
)

// The faithfulness tests play one scenario twice, in the simulator and on
// the local cluster with a real controller, and compare the Rollout's
// decisions: every Event the decision made (routine ones included, as the
// controller logs them), in order, with its message. The message carries the
// step, the weights and counts, the Service switches, the hashes and the
// AnalysisRun verdicts, so equal sequences mean equal decisions.
//
// What is tolerated, and why: a decision repeated right after itself counts
// once (the controller reads from an informer cache, which may not have seen
// its own last write, say a Service selector, when the next reconcile runs;
// the repeated write changes nothing); the times (the cluster's reactions take
// milliseconds to seconds of jitter, the simulator's one second), and the
// user's actions, which on the cluster are taken when the cluster reaches the
// state the simulation was in just before the action's time rather than at
// the same clock time; a scenario for these tests therefore acts only while
// the Rollout waits (paused, or settled).

// faithCase is a scenario the local cluster can play: Pods that become ready
// at once or never, test Jobs that pass or fail by their labels, metric
// values a test Prometheus serves, and user actions through the kanaria CLI.
type faithCase struct {
	// seed is the fixture file the manifests come from.
	seed string
	// change edits the objects before both plays (a test-only change).
	change func(*simulate.Manifests)
	// scenario is the scenario text; its actions must be updates of the
	// first container's image, promote, abort or retry.
	scenario string
}

func TestSimulateFaithfulBlueGreenTestFails(t *testing.T) {
	playBoth(t, faithCase{
		seed: "bluegreen-integration-test-job.yaml",
		change: func(m *simulate.Manifests) {
			// The scenario test's Job Pods fail on the local cluster; the
			// simulator reads the same label.
			tmpl := &m.AnalysisTemplates[0].Spec.Metrics[0].Provider.Job.Spec.Template
			tmpl.Labels = map[string]string{devcluster.SimulateLabel: devcluster.SimulateFail}
		},
		scenario: `
name: the pre-promotion test Job fails
duration: 3m
actions:
  - at: 20s
    update: {image: registry.example/ecl-api:1.1.0}
expect:
  - end: true
    phase: Degraded
    aborted: true
    services: {ecl-api-active: 1}
    replicas: {1: 3, 2: 0}
`,
	})
}

func TestSimulateFaithfulBlueGreenNeverReady(t *testing.T) {
	playBoth(t, faithCase{
		seed: "bluegreen-integration-test-job.yaml",
		change: func(m *simulate.Manifests) {
			// A shorter progress deadline than the default 600 s, as the
			// fixtures README allows, so the test waits seconds.
			d := int32(20)
			m.Rollouts[0].Spec.ProgressDeadlineSeconds = &d
		},
		scenario: `
name: the new Pods never become ready
duration: 2m
actions:
  - at: 20s
    update: {image: registry.example/ecl-api:never-ready}
expect:
  - always: true
    from: 10s
    services: {ecl-api-active: 1}
  - end: true
    phase: Degraded
    stableRevision: 1
`,
	})
}

func TestSimulateFaithfulCanaryManualGates(t *testing.T) {
	playBoth(t, faithCase{
		seed: "canary-manual-gates.yaml",
		scenario: `
name: manual gates, promoted
duration: 4m
actions:
  - at: 20s
    update: {image: rails:6.1}
  - at: 1m
    promote: true
expect:
  - at: 50s
    phase: Paused
    replicas: {1: 5, 2: 1}
  - end: true
    phase: Healthy
    stableRevision: 2
    replicas: {1: 0, 2: 5}
`,
	})
}

func TestSimulateFaithfulCanaryPrometheus(t *testing.T) {
	// A real Prometheus scrapes a counter that stays at 7: the query
	// answers [7] on the cluster, as the scenario's value does offline.
	target := promserver.NewTarget(t)
	prom := promserver.Start(t, []string{target.HostPort()}, time.Second)
	target.Add("sim_error_percent", map[string]string{"service": "rails"}, 7)
	prom.WaitForSeries(t, `sim_error_percent{service="rails"}`, time.Minute)
	playBoth(t, faithCase{
		seed: "canary-manual-gates.yaml",
		change: func(m *simulate.Manifests) {
			m.AnalysisTemplates = append(m.AnalysisTemplates, &v1alpha1.AnalysisTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: "errors"},
				Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
					Name: "errors", Interval: "5s", SuccessCondition: "result[0] < 5",
					Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
						Address: prom.URL, Query: `max(sim_error_percent{service="rails"})`,
					}},
				}}},
			})
			one := int32(1)
			m.Rollouts[0].Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "errors"}}},
				StartingStep:    &one,
			}
		},
		scenario: `
name: the error rate is too high at the manual gate
duration: 3m
actions:
  - at: 20s
    update: {image: rails:6.1}
metrics:
  errors:
    - value: [7]
expect:
  - end: true
    phase: Degraded
    aborted: true
    analysis: Failed
    replicas: {1: 5, 2: 0}
`,
	})
}

func playBoth(t *testing.T, fc faithCase) {
	ensureCRDs(t)
	c := newClients(t)
	m, err := simulate.LoadManifests(filepath.Join(seedsDir(t), fc.seed))
	if err != nil {
		t.Fatal(err)
	}
	if fc.change != nil {
		fc.change(m)
	}
	sc, err := simulate.ParseScenario("faithful.yaml", []byte(fc.scenario))
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate.Run(context.Background(), m, sc, simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	_ = simulate.WriteText(&text, res, true)
	if !res.Passed() {
		t.Fatalf("the simulation fails its own expectations:\n%s", text.String())
	}
	t.Logf("simulation:\n%s", text.String())
	name := res.Rollout
	want := simDecisions(res, name)

	ns := newNamespace(t, c, "sim-faith")
	applyManifests(t, ns, m)
	p := runController(t, ns, "--log-format", "json")
	for _, a := range sc.Actions {
		before := res.StateAt(a.At.D() - time.Second)
		waitSimState(t, c, ns, name, before, fmt.Sprintf("the state before the action at %s", a.At))
		act(t, ns, name, a)
	}
	final := res.States()[len(res.States())-1]
	waitSimState(t, c, ns, name, final, "the final state")
	// Let the controller finish writing what it decided with that state.
	time.Sleep(2 * time.Second)
	got := collapse(logDecisions(t, p.log.String(), ns+"/"+name))
	want = collapse(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the decisions differ\nsimulated:\n  %s\nlocal cluster:\n  %s", strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

// collapse drops a decision that repeats the one right before it.
func collapse(ds []string) []string {
	var out []string
	for i, d := range ds {
		if i == 0 || d != ds[i-1] {
			out = append(out, d)
		}
	}
	return out
}

// simDecisions are the simulated Rollout's decisions, as the controller
// logs them.
func simDecisions(res *simulate.Result, name string) []string {
	var out []string
	for _, e := range res.Entries {
		if e.Kind == simulate.KindEvent && e.Object == "Rollout/"+name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

// logDecisions reads the controller's "decided" log lines about one Rollout.
func logDecisions(t *testing.T, log, rollout string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// Keys are matched exactly: the line also carries a "Rollout"
		// object, which a case-insensitive decode would take for "rollout".
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "decided" || line["rollout"] != rollout {
			continue
		}
		out = append(out, fmt.Sprintf("%v: %v", line["reason"], line["message"]))
	}
	return out
}

// applyManifests applies the objects the simulation started from.
func applyManifests(t *testing.T, ns string, m *simulate.Manifests) {
	t.Helper()
	var b strings.Builder
	add := func(apiVersion, kind string, obj any) {
		y, err := yamlMarshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "---\napiVersion: %s\nkind: %s\n%s", apiVersion, kind, y)
	}
	for _, s := range m.Services {
		add("v1", "Service", stripType(s))
	}
	for _, at := range m.AnalysisTemplates {
		add(v1alpha1.GroupVersion.String(), "AnalysisTemplate", stripType(at))
	}
	for _, ro := range m.Rollouts {
		add(v1alpha1.GroupVersion.String(), "Rollout", stripType(ro))
	}
	path := filepath.Join(t.TempDir(), "manifests.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", path)
}

// stripType returns the object as a map without apiVersion and kind, which
// applyManifests writes itself.
func stripType(obj any) map[string]any {
	js, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		panic(err)
	}
	delete(out, "apiVersion")
	delete(out, "kind")
	delete(out, "status")
	if md, ok := out["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return out
}

// act takes a scenario action on the cluster as a person would.
func act(t *testing.T, ns, name string, a simulate.Action) {
	t.Helper()
	run := func(args ...string) { mustKanaria(t, append(args, "-n", ns)...) }
	switch {
	case a.Update != nil && a.Update.Image != "":
		run("set", "image", name, "*="+a.Update.Image)
	case a.Promote:
		run("promote", name)
	case a.PromoteFull:
		run("promote", name, "--full")
	case a.Abort:
		run("abort", name)
	case a.Retry:
		run("retry", "rollout", name)
	default:
		t.Fatalf("the local cluster cannot play the action at %s", a.At)
	}
}

// waitSimState waits until the cluster shows what the simulation showed:
// the phase, abort, step, stable hash, what each Service selects, and the
// desired replicas of every ReplicaSet.
func waitSimState(t *testing.T, c clients, ns, name string, want simulate.State, what string) {
	t.Helper()
	wantKey := simKey(want)
	eventually(t, 3*time.Minute, what+": "+wantKey, func() (bool, error) {
		got, err := clusterKey(c, ns, name, want)
		if err != nil {
			return false, err
		}
		return got == wantKey, fmt.Errorf("cluster shows %s", got)
	})
}

func simKey(st simulate.State) string {
	stable := ""
	var counts []string
	for _, r := range st.Revisions {
		if r.Revision == st.StableRevision {
			stable = r.Hash
		}
		counts = append(counts, fmt.Sprintf("%s=%d", r.Hash, r.Desired))
	}
	var svcs []string
	for _, s := range st.Services {
		svcs = append(svcs, s.Name+"->"+s.Hash)
	}
	step := int32(-1)
	if st.Step != nil {
		step = *st.Step
	}
	return fmt.Sprintf("phase=%s aborted=%v step=%d stable=%s services=[%s] replicas=[%s]",
		st.Phase, st.Aborted, step, stable, strings.Join(svcs, " "), strings.Join(counts, " "))
}

// clusterKey renders the cluster's state as simKey renders the simulation's,
// over the same Services and ReplicaSet hashes.
func clusterKey(c clients, ns, name string, like simulate.State) (string, error) {
	ctx := context.Background()
	var ro v1alpha1.Rollout
	if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ro); err != nil {
		return "", err
	}
	if ro.Status.ObservedGeneration != fmt.Sprint(ro.Generation) {
		return "", fmt.Errorf("status describes generation %s of %d", ro.Status.ObservedGeneration, ro.Generation)
	}
	var list appsv1.ReplicaSetList
	if err := c.ctrl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return "", err
	}
	desired := map[string]int32{}
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == ro.UID {
			desired[rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]] = derefOr(rs.Spec.Replicas, 0)
		}
	}
	st := simulate.State{Phase: string(ro.Status.Phase), Aborted: ro.Status.Abort, Step: ro.Status.CurrentStepIndex}
	if like.Step == nil {
		st.Step = nil
	}
	for _, r := range like.Revisions {
		rev := simulate.RevisionState{Hash: r.Hash, Desired: desired[r.Hash]}
		if r.Hash == ro.Status.StableRS {
			rev.Revision = -2
			st.StableRevision = -2
		}
		st.Revisions = append(st.Revisions, rev)
	}
	if ro.Status.StableRS != "" && st.StableRevision == 0 {
		st.Revisions = append(st.Revisions, simulate.RevisionState{Revision: -2, Hash: ro.Status.StableRS})
		st.StableRevision = -2
	}
	for _, s := range like.Services {
		var svc corev1.Service
		if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Name}, &svc); err != nil {
			return "", err
		}
		st.Services = append(st.Services, simulate.ServiceState{Name: s.Name, Hash: svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]})
	}
	return simKey(st), nil
}
