package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestCommandNameAsKubectlPlugin(t *testing.T) {
	cases := map[string]string{
		"/usr/local/bin/kanaria":         "kanaria",
		"/usr/local/bin/kubectl-kanaria": "kubectl kanaria",
		"./bin/kanaria":                  "kanaria",
	}
	for arg0, want := range cases {
		if got := commandName(arg0); got != want {
			t.Errorf("commandName(%q) = %q, want %q", arg0, got, want)
		}
	}
}

func TestControllerFlagsValidate(t *testing.T) {
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"controller", "--rollout-workers", "0", "--kubeconfig", "/nonexistent"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "worker counts must be at least 1") {
		t.Fatalf("a controller with 0 workers gave %v", err)
	}
	root = NewRootCommand()
	root.SetArgs([]string{"controller", "--log-format", "xml"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("an unknown log format gave %v", err)
	}
}

func TestVersionCommand(t *testing.T) {
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "kanaria ") {
		t.Fatalf("version printed %q", out.String())
	}
}

// TestEveryCommandHasHelpAndAnExample walks the whole command tree: every
// command a user can run says what it does and shows an example.
func TestEveryCommandHasHelpAndAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		if c.Short == "" {
			t.Errorf("%q has no short help", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" {
			t.Errorf("%q has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand())
}
