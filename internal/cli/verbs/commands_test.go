package verbs

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryVerbHasHelpWithExample walks every command: each has a short
// description and an example, and --help prints the example.
func TestEveryVerbHasHelpWithExample(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		path = append(path, c.Name())
		if c.Short == "" || c.Example == "" {
			t.Errorf("%s: Short %q, Example %q", strings.Join(path, " "), c.Short, c.Example)
		}
		out, _, err := run(t, nil, append(path[1:], "--help")...)
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, strings.TrimSpace(strings.SplitN(c.Example, "\n", 2)[0])) {
			t.Errorf("%s --help: %v\n%s", strings.Join(path, " "), err, out)
		}
		for _, sub := range c.Commands() {
			walk(sub, path)
		}
	}
	r := &cobra.Command{Use: "kanaria"}
	r.AddCommand(Commands()...)
	for _, c := range r.Commands() {
		walk(c, []string{"kanaria"})
	}
}

// TestKubectlFlags checks that the verbs that talk to a cluster take
// kubectl's connection flags, subcommands included, and lint none.
func TestKubectlFlags(t *testing.T) {
	r := &cobra.Command{Use: "kanaria"}
	r.AddCommand(Commands()...)
	for _, args := range [][]string{{"promote"}, {"status"}, {"retry", "rollout"}, {"terminate", "experiment"}, {"create", "analysisrun"}, {"set", "image"}} {
		c, _, err := r.Find(args)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kubeconfig", "context", "namespace", "cluster", "user", "server", "token", "as", "as-group", "request-timeout", "insecure-skip-tls-verify"} {
			if c.LocalFlags().Lookup(name) == nil && c.InheritedFlags().Lookup(name) == nil {
				t.Errorf("%v has no --%s", args, name)
			}
		}
		if c.LocalFlags().ShorthandLookup("n") == nil && c.InheritedFlags().ShorthandLookup("n") == nil {
			t.Errorf("%v has no -n", args)
		}
	}
	lint, _, _ := r.Find([]string{"lint"})
	if lint.LocalFlags().Lookup("kubeconfig") != nil || lint.InheritedFlags().Lookup("kubeconfig") != nil {
		t.Error("lint, which never connects, takes --kubeconfig")
	}
}

// TestVerbsShareFlags checks that one set of kubectl flags is shared: the
// namespace given to one verb's parse is what every verb then reads.
func TestVerbsShareFlags(t *testing.T) {
	e := &env{flags: &kubeFlags{}}
	a, b := &cobra.Command{Use: "a"}, &cobra.Command{Use: "b"}
	e.flags.addTo(a)
	e.flags.addTo(b)
	if err := a.PersistentFlags().Parse([]string{"-n", "shop", "--context", "prod"}); err != nil {
		t.Fatal(err)
	}
	if e.flags.overrides.Context.Namespace != "shop" || e.flags.overrides.CurrentContext != "prod" {
		t.Fatalf("overrides %+v", e.flags.overrides)
	}
}
