package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

const examplesDir = "../../examples/simulate"

// TestExamples plays every shipped example; each must pass its own
// expectations and the invariants.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(examplesDir, "*", "scenario.yaml"))
	if err != nil || len(dirs) < 9 {
		t.Fatalf("found %d example scenarios (%v), want at least the nine blue-green cases", len(dirs), err)
	}
	for _, sc := range dirs {
		dir := filepath.Dir(sc)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, s, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Run(context.Background(), m, s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Passed() {
				var b bytes.Buffer
				_ = WriteText(&b, r, false)
				t.Fatalf("scenario failed:\n%s", b.String())
			}
			if len(s.Expect) == 0 {
				t.Fatal("an example without expectations checks only the invariants")
			}
		})
	}
}

// TestSeedsCovered makes sure every seed fixture has a scenario that uses it
// unchanged.
func TestSeedsCovered(t *testing.T) {
	seeds, _ := filepath.Glob("../../../../shared/fixtures/seeds/*.yaml")
	if len(seeds) == 0 {
		seeds, _ = filepath.Glob("/work/shared/fixtures/seeds/*.yaml")
	}
	if len(seeds) == 0 {
		t.Skip("the seed fixtures are not on this machine")
	}
	for _, seed := range seeds {
		want, err := os.ReadFile(seed)
		if err != nil {
			t.Fatal(err)
		}
		copies, _ := filepath.Glob(filepath.Join(examplesDir, "*", filepath.Base(seed)))
		found := false
		for _, c := range copies {
			got, err := os.ReadFile(c)
			if err == nil && bytes.Equal(got, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no example scenario runs %s unchanged", filepath.Base(seed))
		}
	}
}

func load(t *testing.T, dir string) (*Manifests, *Scenario) {
	t.Helper()
	m, s, err := LoadDir(filepath.Join(examplesDir, dir))
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestFailingExpectation shows the diff of an expectation that does not
// hold: the scenario line, what was wanted and what happened.
func TestFailingExpectation(t *testing.T) {
	m, _ := load(t, "bluegreen-test-fails")
	sc, err := ParseScenario("wrong.yaml", []byte(`
actions:
  - at: 1m
    update: {image: registry.example/ecl-api:1.1.0}
jobs:
  newman:
    - result: fail
expect:
  - end: true
    phase: Healthy
    services: {ecl-api-active: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), m, sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed() || len(r.Failures) != 1 {
		t.Fatalf("failures = %+v, want one", r.Failures)
	}
	f := r.Failures[0]
	if f.Where != "wrong.yaml:9" || !strings.Contains(f.Got, "phase: want Healthy, got Degraded") || !strings.Contains(f.Got, "services.ecl-api-active: want revision 2, got 1") {
		t.Fatalf("failure = %+v", f)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "FAIL: 1 expectation") || !strings.Contains(b.String(), "+ got:") {
		t.Fatalf("text output lacks the verdict:\n%s", b.String())
	}
}

// TestTimeline checks the timeline of the normal blue-green case entry by
// entry where it matters: the order of the decisions.
func TestTimeline(t *testing.T) {
	m, s := load(t, "bluegreen-success")
	r, err := Run(context.Background(), m, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range r.Entries {
		if e.Kind == KindEvent && !e.Routine && strings.HasPrefix(e.Object, "Rollout/") || e.Kind == KindMeasurement || e.Kind == KindAction {
			got = append(got, fmtOffset(e.At)+" "+e.Reason)
		}
	}
	want := []string{
		"1m00s update",
		"1m00s RolloutUpdated",
		"1m02s AnalysisRunCreated",
		"1m13s Successful",
		"1m13s RolloutCompleted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLongPauseIsCheap: two hours of virtual time take a handful of steps,
// not one per second.
func TestLongPauseIsCheap(t *testing.T) {
	m, s := load(t, "seed-canary-versioned-secret")
	r, err := Run(context.Background(), m, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.End.Hours() != 3 || len(r.states) > 100 {
		t.Fatalf("ended at %s after %d states", r.End, len(r.states))
	}
}

func TestJSONOutput(t *testing.T) {
	m, s := load(t, "bluegreen-test-fails")
	r, err := Run(context.Background(), m, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Passed   bool `json:"passed"`
		Timeline []struct {
			AtSeconds float64 `json:"atSeconds"`
			Kind      string  `json:"kind"`
			State     *State  `json:"state"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	last := out.Timeline[len(out.Timeline)-1]
	if !out.Passed || last.Kind != KindState || last.State.Phase != "Degraded" {
		t.Fatalf("passed %v, last entry %+v", out.Passed, last)
	}
}

func TestWatchDrawsFrames(t *testing.T) {
	m, s := load(t, "bluegreen-success")
	r, err := Run(context.Background(), m, s, Options{Frames: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	slept := 0
	if err := Watch(&b, r, 60, 0, false, func(time.Duration) { slept++ }); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if len(r.Frames) < 5 || slept != len(r.Frames)-1 || !strings.Contains(out, "Status:     ✔ Healthy") || !strings.Contains(out, "AnalysisRun ecl-api-") {
		t.Fatalf("%d frames, %d pauses:\n%s", len(r.Frames), slept, out)
	}
}

// TestInvariantCatchesTrafficToUnavailable feeds the plan check a plan that
// points the active Service at a version with no available Pods.
func TestInvariantCatchesTrafficToUnavailable(t *testing.T) {
	rs := func(name, hash string, avail int32) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3))}, Status: appsv1.ReplicaSetStatus{AvailableReplicas: avail}}
	}
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Replicas: ptr(int32(3))}}
	ro.Status.StableRS, ro.Status.CurrentPodHash = "old", "new"
	snap := decide.Snapshot{Rollout: ro, ReplicaSets: []*appsv1.ReplicaSet{rs("r-old", "old", 3), rs("r-new", "new", 0)}}
	ru := &runner{w: &world{now: Start}, r: &Result{}, violations: map[string]bool{}}
	ru.checkPlan(snap, decide.Plan{Actions: []decide.Action{decide.SetServiceSelector{Service: "active", Hash: "new"}}, Status: ro.Status})
	ru.checkPlan(snap, decide.Plan{Actions: []decide.Action{decide.ScaleReplicaSet{Name: "r-old", From: 3, To: 0}}, Status: ro.Status})
	if len(ru.r.Failures) != 2 {
		t.Fatalf("failures = %+v, want the Service switch and the stable scale-down", ru.r.Failures)
	}
	ok := &runner{w: &world{now: Start}, r: &Result{}, violations: map[string]bool{}}
	snap.ReplicaSets[1].Status.AvailableReplicas = 3
	ok.checkPlan(snap, decide.Plan{Actions: []decide.Action{decide.SetServiceSelector{Service: "active", Hash: "new"}, decide.ScaleReplicaSet{Name: "r-old", From: 3, To: 0}}, Status: ro.Status})
	if len(ok.r.Failures) != 0 {
		t.Fatalf("failures = %+v with the new version available", ok.r.Failures)
	}
}

func TestScenarioErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown top-level field", "name: x\nduraton: 5m\n", "bad.yaml:2: unknown field duraton"},
		{"unknown nested field", "actions:\n  - at: 1m\n    promte: true\n", `bad.yaml:3: unknown field "promte"`},
		{"unknown field in update", "actions:\n  - at: 1m\n    update:\n      imag: x\n", `bad.yaml:4: unknown field "imag"`},
		{"bad duration", "duration: soon\n", `bad.yaml:1: "soon" is not a duration`},
		{"two verbs", "actions:\n  - at: 1m\n    promote: true\n    abort: true\n", "bad.yaml:2: actions: give exactly one of"},
		{"no timing", "expect:\n  - phase: Healthy\n", "bad.yaml:2: expect: give exactly one of at, before, end, always, never"},
		{"bad phase", "expect:\n  - end: true\n    phase: Done\n", `bad.yaml:2: expect: phase "Done"`},
		{"bad job result", "jobs:\n  test:\n    - result: maybe\n", `bad.yaml:3: jobs.test: result "maybe"`},
		{"two metric kinds", "metrics:\n  m:\n    - value: 1\n      error: boom\n", "bad.yaml:3: metrics.m: give exactly one of"},
		{"wrong type", "duration: [1]\n", "bad.yaml:1: a duration such as 30s"},
		{"empty", "", "bad.yaml: the scenario is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseScenario("bad.yaml", []byte(c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestManifestErrors(t *testing.T) {
	m := &Manifests{}
	err := m.add("ro.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  replicas: 1\n  strategy:\n    blueGren: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "ro.yaml:5: Rollout r: unknown field spec.strategy.blueGren") {
		t.Fatalf("error = %v", err)
	}
	if _, err := Run(context.Background(), &Manifests{}, &Scenario{}, Options{}); err == nil || !strings.Contains(err.Error(), "no Rollout") {
		t.Fatalf("error = %v", err)
	}
}

// TestDocumentedScenarioParses keeps the full example of docs/simulate.md
// valid.
func TestDocumentedScenarioParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/simulate.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "## The scenario file")
	block := text[start:]
	block = block[strings.Index(block, "```yaml\n")+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	sc, err := ParseScenario("docs/simulate.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Actions) != 8 || len(sc.Expect) != 5 || len(sc.Metrics["error-rate"]) != 4 || len(sc.Pods.Revisions) != 1 {
		t.Fatalf("parsed %d actions, %d expectations, %d segments", len(sc.Actions), len(sc.Expect), len(sc.Metrics["error-rate"]))
	}
}

// TestPodBehaviour checks the simulated kubelet: a slow start, Pods that
// crash after becoming ready, and the local cluster's never-ready label.
func TestPodBehaviour(t *testing.T) {
	m, _ := load(t, "seed-canary-manual-gates")
	play := func(text string) *Result {
		t.Helper()
		sc, err := ParseScenario("pods.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(context.Background(), m, sc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	canary := func(st State) RevisionState {
		for _, r := range st.Revisions {
			if r.Revision == 2 {
				return r
			}
		}
		return RevisionState{}
	}

	slow := play("duration: 5m\nactions:\n  - at: 1m\n    update: {image: rails:6.1}\npods:\n  revisions:\n    - revision: 2\n      readyAfter: 2m\n")
	if c := canary(slow.StateAt(2*time.Minute + 30*time.Second)); c.Pods != 1 || c.Ready != 0 {
		t.Fatalf("a slow canary Pod 90s after it started: %+v", c)
	}
	if st := slow.StateAt(3*time.Minute + 10*time.Second); canary(st).Ready != 1 || st.Phase != "Paused" {
		t.Fatalf("a slow canary Pod after its 2m start: %s", st.Line())
	}

	crash := play("duration: 5m\nactions:\n  - at: 1m\n    update: {image: rails:6.1}\npods:\n  revisions:\n    - revision: 2\n      crashAfter: 1m\n")
	if c := canary(crash.StateAt(1*time.Minute + 30*time.Second)); c.Ready != 1 {
		t.Fatalf("the canary before its crash: %+v", c)
	}
	if c := canary(crash.StateAt(3 * time.Minute)); c.Ready != 0 || c.Pods != 1 {
		t.Fatalf("the canary after its crash: %+v", c)
	}

	never := play("duration: 5m\nactions:\n  - at: 1m\n    update:\n      image: rails:6.1\n      labels: {kanaria.dev/simulate: never-ready}\n")
	for _, st := range never.States() {
		if canary(st).Ready != 0 {
			t.Fatalf("a never-ready Pod became ready: %s", st.Line())
		}
	}
	if st := never.StateAt(5 * time.Minute); st.Phase != "Progressing" || st.Available < 5 {
		t.Fatalf("with a never-ready canary: %s", st.Line())
	}
}

func TestUnknownMetricNameRefused(t *testing.T) {
	m, _ := load(t, "bluegreen-success")
	sc, err := ParseScenario("typo.yaml", []byte("jobs:\n  newmann:\n    - result: fail\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), m, sc, Options{})
	if err == nil || !strings.Contains(err.Error(), "typo.yaml:3: jobs.newmann: the manifests' analysis templates have no metric of that name (they have: newman)") {
		t.Fatalf("error = %v", err)
	}
}

// TestUserActions plays pause, scale, promote --full and promote on the
// blue-green seed: the paused Rollout does not start the update, the scale
// reaches the stable version, and the full promotion skips the test.
func TestUserActions(t *testing.T) {
	m, _ := load(t, "bluegreen-success")
	sc, err := ParseScenario("actions.yaml", []byte(`
duration: 6m
actions:
  - at: 30s
    pause: true
  - at: 1m
    update: {image: registry.example/ecl-api:1.1.0}
  - at: 2m
    scale: 5
  - at: 3m
    promoteFull: true
  - at: 3m30s
    promote: true
expect:
  - at: 3m29s
    phase: Paused
    replicas: {1: 5, 2: 0}
    services: {ecl-api-active: 1}
  - end: true
    phase: Healthy
    stableRevision: 2
    replicas: {1: 0, 2: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), m, sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Passed() {
		t.Fatalf("failures: %+v", r.Failures)
	}
	var actions []string
	for _, e := range r.Entries {
		if e.Kind == KindAction {
			actions = append(actions, e.Reason)
		}
		if e.Reason == "AnalysisRunCreated" {
			t.Errorf("a full promotion still ran the test: %s", e.Message)
		}
	}
	if strings.Join(actions, ",") != "pause,update,scale,promoteFull,promote" {
		t.Fatalf("actions on the timeline: %v", actions)
	}
}

const batchedManifests = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: ok
spec:
  metrics:
    - name: ok
      interval: 1s
      count: 30
      successCondition: result[0] > 0
      provider:
        prometheus:
          address: http://prometheus.monitoring:9090
          query: up
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example/web:1
  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis:
            templates:
              - templateName: ok
`

const batchedScenario = `name: thirty successful measurements a second apart
actions:
  - at: 10s
    update: {image: registry.example/web:2}
metrics:
  ok:
    - value: [1]
expect:
  - end: true
    phase: Healthy
    analysis: Successful
`

// TestAnalysisStatusBatch checks that the simulated analysis controller
// batches routine successful measurements as the real controller does by
// default, and writes each one on its own when the window is zero.
func TestAnalysisStatusBatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rollout.yaml")
	if err := os.WriteFile(path, []byte(batchedManifests), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(opts Options) *Result {
		t.Helper()
		m, err := LoadManifests(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseScenario("scenario.yaml", []byte(batchedScenario))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(context.Background(), m, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Passed() {
			t.Fatalf("failures: %+v", r.Failures)
		}
		return r
	}
	measured := func(r *Result) int {
		n := 0
		for _, e := range r.Entries {
			if e.Kind == KindMeasurement {
				n++
			}
		}
		return n
	}
	const count, perWindow = 30, 5 // 1 s apart, 5 s window

	// The default window: the first measurement is written at once (the
	// run starts), then the successes one window's worth per write, the
	// last with the verdict.
	r := run(Options{})
	if got := measured(r); got != count {
		t.Fatalf("default window: %d measurements on the timeline, want %d", got, count)
	}
	if lo, hi := 1+(count-1)/perWindow, 1+(count-1+perWindow-1)/perWindow; r.AnalysisRunStatusWrites < lo || r.AnalysisRunStatusWrites > hi {
		t.Errorf("default window: %d status writes for %d measurements, want %d to %d", r.AnalysisRunStatusWrites, count, lo, hi)
	}
	// The same window given explicitly writes the same.
	window := analysis.DefaultStatusBatch
	if again := run(Options{AnalysisStatusBatch: &window}); again.AnalysisRunStatusWrites != r.AnalysisRunStatusWrites {
		t.Errorf("explicit %s window: %d writes, the default made %d", window, again.AnalysisRunStatusWrites, r.AnalysisRunStatusWrites)
	}

	// No window: one write per measurement.
	off := time.Duration(0)
	r = run(Options{AnalysisStatusBatch: &off})
	if got := measured(r); got != count {
		t.Fatalf("no window: %d measurements on the timeline, want %d", got, count)
	}
	if r.AnalysisRunStatusWrites != count {
		t.Errorf("no window: %d status writes, want one per measurement (%d)", r.AnalysisRunStatusWrites, count)
	}
}
