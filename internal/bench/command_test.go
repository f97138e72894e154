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
		"--kubeconfig", "/tmp/kc", "--context", "kind", "--churn", "90s"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"scenario": "abort", "rollouts": "7", "replicas": "3", "namespace": "perf", "controller-pid": "42",
		"json": "out.json", "cleanup": "true", "timeout": (5 * time.Minute).String(), "baseline": "false",
		"kubeconfig": "/tmp/kc", "context": "kind", "controller-metrics-url": "http://127.0.0.1:8090/metrics",
		"churn": (90 * time.Second).String(),
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

func TestCommandChurnFlag(t *testing.T) {
	if got := NewCommand().Flags().Lookup("churn").DefValue; got != "0s" {
		t.Errorf("--churn defaults to %s, want 0s (off)", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--churn", "-1s"}, "must not be negative"},
		{[]string{"--churn", "1m", "--scenario", "abort"}, "indefinite pause"},
		{[]string{"--churn", "1h", "--timeout", "30m"}, "raise --timeout"},
	} {
		wantRefused(t, tc.args, tc.want)
	}
}

func TestCommandHelpMentionsChurn(t *testing.T) {
	cmd := NewCommand()
	for what, text := range map[string]string{"long help": cmd.Long, "examples": cmd.Example} {
		if !strings.Contains(text, "--churn") {
			t.Errorf("the %s do not mention --churn", what)
		}
	}
}

func TestCommandRepeatFlag(t *testing.T) {
	if got := NewCommand().Flags().Lookup("repeat").DefValue; got != "1" {
		t.Errorf("--repeat defaults to %s, want 1", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--repeat", "0"}, "at least 1"},
		{[]string{"--repeat", "3", "--baseline=false"}, "Deployment baseline"},
		{[]string{"--repeat", "3", "--churn", "1m"}, "do not go together"},
		// A good --repeat gets as far as the kubeconfig.
		{[]string{"--repeat", "3"}, "kubeconfig"},
	} {
		cmd := NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(tc.args, "--kubeconfig", "/nonexistent"))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// wantRefused runs the command with args and checks that it fails with an
// error that contains want. The kubeconfig does not exist, so the flags must
// be refused before it is read.
func wantRefused(t *testing.T, args []string, want string) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--kubeconfig", "/nonexistent"))
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v: err = %v, want %q", args, err, want)
	}
}

// TestCommandHoldControllerFlag: --hold-controller is refused where it
// cannot hold the one controller during aborts.
func TestCommandHoldControllerFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hold-controller", "--scenario", "canary", "--controller-pid", "42"}, "applies to the abort"},
		{[]string{"--hold-controller", "--scenario", "abort"}, "set --controller-pid"},
		{[]string{"--hold-controller", "--scenario", "abort", "--controller-pid", "42", "--controller-replicas", "2"}, "not --controller-replicas"},
		// A good one gets as far as the kubeconfig.
		{[]string{"--hold-controller", "--scenario", "abort", "--controller-pid", "42", "--baseline=false"}, "kubeconfig"},
	} {
		wantRefused(t, tc.args, tc.want)
	}
}
