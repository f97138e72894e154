package devcmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestSubcommandsHaveHelpAndExamples(t *testing.T) {
	cmd := NewCommand()
	want := map[string][]string{
		"up":         {"name", "nodes", "detach", "dir"},
		"down":       {"name"},
		"kubeconfig": {"name"},
	}
	for _, sub := range cmd.Commands() {
		flags, ok := want[sub.Name()]
		if !ok {
			continue
		}
		delete(want, sub.Name())
		if sub.Short == "" || sub.Example == "" {
			t.Errorf("%s: missing short help or example", sub.Name())
		}
		for _, f := range flags {
			if sub.Flags().Lookup(f) == nil {
				t.Errorf("%s: missing flag --%s", sub.Name(), f)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("missing subcommands: %v", want)
	}
}

func TestNothingRunning(t *testing.T) {
	t.Setenv(devcluster.EnvCacheDir, t.TempDir())

	stdout, _, err := run(t, "kubeconfig", "--name", "absent")
	if err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("kubeconfig: want an error naming the cluster, got %v (stdout %q)", err, stdout)
	}

	_, stderr, err := run(t, "down", "--name", "absent")
	if err != nil {
		t.Errorf("down of a cluster that does not run should succeed, got %v", err)
	}
	if !strings.Contains(stderr, `no local cluster named "absent" is running`) {
		t.Errorf("down: want a clear message, got %q", stderr)
	}
}

func TestUpRejectsZeroNodes(t *testing.T) {
	if _, _, err := run(t, "up", "--nodes", "0"); err == nil {
		t.Error("want an error for --nodes 0")
	}
}
