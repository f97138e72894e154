package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/internal/cli/verbs"
)

func runSimulate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"simulate"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestSimulateDirectoryPasses(t *testing.T) {
	out, err := runSimulate(t, "../../examples/simulate/bluegreen-test-fails")
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "RolloutAborted") || !strings.Contains(out, "PASS:") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestSimulateFilesAndFailingExpectation(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(sc, []byte("actions:\n  - at: 1m\n    update: {image: registry.example/ecl-api:1.1.0}\nexpect:\n  - end: true\n    phase: Degraded\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runSimulate(t, "-f", "../../examples/simulate/bluegreen-success/bluegreen-integration-test-job.yaml", "--scenario", sc, "-o", "json")
	var exit *verbs.ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Fatalf("error = %v, want exit code 1\n%s", err, out)
	}
	if !strings.Contains(out, `"passed": false`) || !strings.Contains(out, "phase: want Degraded, got Healthy") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestSimulateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte("expect:\n  - end: true\n    phase: Healthy\n    colour: green\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runSimulate(t, dir); err == nil || !strings.Contains(err.Error(), "scenario.yaml:4: unknown field \"colour\"") {
		t.Fatalf("error = %v", err)
	}
	if _, err := runSimulate(t); err == nil || !strings.Contains(err.Error(), "give a directory") {
		t.Fatalf("error = %v", err)
	}
	if _, err := runSimulate(t, "../../examples/simulate/bluegreen-success", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("error = %v", err)
	}
}
