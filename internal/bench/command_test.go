package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCommandFlags(t *testing.T) {
	cmd := NewCommand()
	err := cmd.ParseFlags([]string{"--scenario", "abort", "-n", "7", "-r", "3", "--namespace", "perf",
		"--controller-pid", "42", "--json", "out.json", "--cleanup", "--timeout", "5m", "--baseline=false",
		"--kubeconfig", "/tmp/kc", "--context", "kind"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"scenario": "abort", "rollouts": "7", "replicas": "3", "namespace": "perf", "controller-pid": "42",
		"json": "out.json", "cleanup": "true", "timeout": (5 * time.Minute).String(), "baseline": "false",
		"kubeconfig": "/tmp/kc", "context": "kind", "controller-metrics-url": "http://127.0.0.1:8090/metrics",
	} {
		if got := cmd.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	// -n is the number of Rollouts here, not kubectl's namespace.
	if f := cmd.Flags().ShorthandLookup("n"); f == nil || f.Name != "rollouts" {
		t.Errorf("-n is %v, want --rollouts", f)
	}
}

func TestCommandRejectsUnknownScenario(t *testing.T) {
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--scenario", "rolling", "--kubeconfig", "/nonexistent"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Fatalf("err = %v, want an unknown scenario", err)
	}
}
