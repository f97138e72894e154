package view

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// now is the fixed clock of every test, so ages are stable in golden files.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func i32(n int32) *int32 { return &n }

// readyPods returns n running, ready Pods of the ReplicaSet rs.
func readyPods(rs string, n int, age time.Duration, suffixes ...string) []Pod {
	pods := make([]Pod, 0, n)
	for i := range n {
		pods = append(pods, Pod{Name: rs + "-" + suffixes[i], Status: "Running", Ready: 1, Total: 1, CreatedAt: ago(age)})
	}
	return pods
}

// canaryMidStep is a canary paused at step 1 of 4 after setting 20%: one
// canary Pod next to five stable ones (17% of the Pods), with a step
// analysis running a Job.
func canaryMidStep() Tree {
	return Tree{
		RolloutSummary: RolloutSummary{
			Name: "checkout", Namespace: "shop",
			Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
			Strategy: StrategyCanary, Step: &Step{Current: 1, Total: 4},
			SetWeight: i32(20), ActualWeight: i32(17),
			Replicas: Replicas{Desired: 5, Current: 6, Updated: 1, Ready: 6, Available: 6},
		},
		Images: []Image{
			{Name: "registry.example/checkout:2.4.0", Roles: []string{RoleCanary}},
			{Name: "registry.example/checkout:2.3.1", Roles: []string{RoleStable}},
		},
		Revisions: []Revision{
			{
				Number: 2,
				ReplicaSets: []ReplicaSet{{
					Name: "checkout-7c5d9f6b8", Hash: "7c5d9f6b8", Status: RSHealthy, Roles: []string{RoleCanary},
					Desired: 1, Ready: 1, CreatedAt: ago(4 * time.Minute),
					Pods: readyPods("checkout-7c5d9f6b8", 1, 4*time.Minute, "qx7lm"),
				}},
				AnalysisRuns: []AnalysisRun{{
					Name: "checkout-7c5d9f6b8-2-1", Phase: v1alpha1.AnalysisPhaseRunning,
					Successful: 2, CreatedAt: ago(3 * time.Minute),
					Jobs: []Job{{Name: "5e1f3a2c-smoke-test.1", Status: JobRunning, CreatedAt: ago(40 * time.Second)}},
				}},
			},
			{
				Number: 1,
				ReplicaSets: []ReplicaSet{{
					Name: "checkout-5f8b4d7c9", Hash: "5f8b4d7c9", Status: RSHealthy, Roles: []string{RoleStable},
					Desired: 5, Ready: 5, CreatedAt: ago(26 * time.Hour),
					Pods: readyPods("checkout-5f8b4d7c9", 5, 26*time.Hour, "2bzkd", "8hvqn", "9wq4r", "fj6tp", "xm2ld"),
				}},
			},
		},
	}
}

// pausedBlueGreen waits for promotion: revision 2 is up behind the preview
// Service while revision 1 is still active.
func pausedBlueGreen() Tree {
	return Tree{
		RolloutSummary: RolloutSummary{
			Name: "payments", Namespace: "billing",
			Phase: v1alpha1.RolloutPhasePaused, Message: "BlueGreenPause",
			Strategy: StrategyBlueGreen,
			Replicas: Replicas{Desired: 3, Current: 6, Updated: 3, Ready: 6, Available: 6},
		},
		Images: []Image{
			{Name: "registry.example/payments:1.9.0", Roles: []string{RolePreview}},
			{Name: "registry.example/payments:1.8.2", Roles: []string{RoleStable, RoleActive}},
		},
		Revisions: []Revision{
			{
				Number: 2,
				ReplicaSets: []ReplicaSet{{
					Name: "payments-6f9c8d7b5", Hash: "6f9c8d7b5", Status: RSHealthy, Roles: []string{RolePreview},
					Desired: 3, Ready: 3, CreatedAt: ago(90 * time.Second),
					Pods: readyPods("payments-6f9c8d7b5", 3, 90*time.Second, "4lq8z", "c7n2w", "t9xk5"),
				}},
			},
			{
				Number: 1,
				ReplicaSets: []ReplicaSet{{
					Name: "payments-84d6c5f9b", Hash: "84d6c5f9b", Status: RSHealthy, Roles: []string{RoleStable, RoleActive},
					Desired: 3, Ready: 3, CreatedAt: ago(72 * time.Hour),
					Pods: readyPods("payments-84d6c5f9b", 3, 72*time.Hour, "hb3rm", "pw6js", "zr8vd"),
				}},
			},
		},
	}
}

// abortedCanary was aborted after its analysis failed: the canary is scaled
// to zero and all traffic is back on the stable version.
func abortedCanary() Tree {
	return Tree{
		RolloutSummary: RolloutSummary{
			Name: "search", Namespace: "shop",
			Phase:    v1alpha1.RolloutPhaseDegraded,
			Message:  `RolloutAborted: Rollout aborted update to revision 3: metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)`,
			Strategy: StrategyCanary, Step: &Step{Current: 0, Total: 4},
			SetWeight: i32(0), ActualWeight: i32(0),
			Replicas: Replicas{Desired: 4, Current: 4, Updated: 0, Ready: 4, Available: 4},
		},
		Images: []Image{{Name: "registry.example/search:5.2.0", Roles: []string{RoleStable}}},
		Revisions: []Revision{
			{
				Number: 3,
				ReplicaSets: []ReplicaSet{{
					Name: "search-9b7f5c6d4", Hash: "9b7f5c6d4", Status: RSScaledDown, Roles: []string{RoleCanary},
					Desired: 0, CreatedAt: ago(12 * time.Minute),
				}},
				AnalysisRuns: []AnalysisRun{{
					Name: "search-9b7f5c6d4-3-1", Phase: v1alpha1.AnalysisPhaseFailed,
					Successful: 1, Failed: 2, CreatedAt: ago(11 * time.Minute),
				}},
			},
			{
				Number: 2,
				ReplicaSets: []ReplicaSet{{
					Name: "search-66c8d9f7b", Hash: "66c8d9f7b", Status: RSHealthy, Roles: []string{RoleStable},
					Desired: 4, Ready: 4, CreatedAt: ago(9 * 24 * time.Hour),
					Pods: readyPods("search-66c8d9f7b", 4, 9*24*time.Hour, "4kfz2", "bq9mx", "k2w7p", "r5hcn"),
				}},
			},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		tree Tree
	}{
		{"canary-mid-step", canaryMidStep()},
		{"bluegreen-paused", pausedBlueGreen()},
		{"canary-aborted", abortedCanary()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, tc.tree, RenderOptions{Now: now}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name, b.Bytes())
		})
	}
}

func TestRenderColor(t *testing.T) {
	var plain, colored bytes.Buffer
	if err := Render(&plain, canaryMidStep(), RenderOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := Render(&colored, canaryMidStep(), RenderOptions{Now: now, Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("output without colour has ANSI codes:\n%q", plain.String())
	}
	out := colored.String()
	for _, want := range []string{
		"\x1b[33m॥ Paused\x1b[0m",      // rollout status
		"\x1b[32m✔ Healthy\x1b[0m",     // ReplicaSet status
		"\x1b[32m✔ Running\x1b[0m",     // ready Pod
		"\x1b[33m◌ Running\x1b[0m",     // running AnalysisRun
		"\x1b[1mcanary\x1b[0m",         // role
		"\x1b[1mrevision 2\x1b[0m",     // revision heading
		"\x1b[90m├─ \x1b[0mReplicaSet", // muted tree lines
	} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured output lacks %q:\n%s", want, out)
		}
	}
	// Colour must not shift the columns: without the codes both are equal.
	if got := ansiCodes.ReplaceAllString(out, ""); got != plain.String() {
		t.Errorf("coloured output differs from the plain one once codes are removed:\n%s\nvs\n%s", got, plain.String())
	}
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestRenderConfigCopies: a revision with config snapshots names the copies
// its ReplicaSet's Pods run on the ReplicaSet's line.
func TestRenderConfigCopies(t *testing.T) {
	tree := canaryMidStep()
	rs := &tree.Revisions[0].ReplicaSets[0]
	rs.Config = []string{"ConfigMap/app-config-0a1b2c3d4e", "Secret/api-secret-5f6a7b8c9d"}
	var b bytes.Buffer
	if err := Render(&b, tree, RenderOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "ReplicaSet "+rs.Name) {
			line = l
		}
	}
	if !strings.Contains(line, "config ConfigMap/app-config-0a1b2c3d4e, Secret/api-secret-5f6a7b8c9d") {
		t.Errorf("the ReplicaSet's line does not name its copies: %q\n%s", line, b.String())
	}
}
