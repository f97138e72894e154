// Package verbs holds the user commands of the kanaria CLI that act on
// Rollouts, AnalysisRuns and Experiments: promote, abort, retry, pause,
// restart, set image, undo, status, terminate, create analysisrun and lint.
//
// Every verb that changes an object sends the same request the public
// `kubectl argo rollouts` plugin sends, so the controller cannot tell the two
// clients apart and people can switch between them freely. The few places
// where a verb refuses what the plugin would silently send (a promote with
// nothing to promote, an undo to a revision that does not exist) are noted
// at the verb.
package verbs

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// Exit codes that scripts can tell apart. Any other error exits with 1.
const (
	// ExitProblems means lint found problems in the files.
	ExitProblems = 1
	// ExitDegraded means the Rollout is Degraded or aborted.
	ExitDegraded = 2
	// ExitTimeout means status --timeout passed before the Rollout became
	// Healthy or Degraded.
	ExitTimeout = 3
)

// ExitError is an error that asks the process to exit with Code. The message
// of Err is what the user reads; the code is what a script branches on.
type ExitError struct {
	Code int
	Err  error
}

// Error returns the message of the wrapped error.
func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// ClientFunc returns the client the verbs talk to the cluster through.
// config is the kubeconfig the kubectl flags (--kubeconfig, --context, ...)
// select; tests ignore it and return a fake client.
type ClientFunc func(config clientcmd.ClientConfig) (client.WithWatch, error)

// KubeClient is the ClientFunc of the real command: a client for the cluster
// config points at, knowing the built-in types and the argoproj.io API.
func KubeClient(config clientcmd.ClientConfig) (client.WithWatch, error) {
	rc, err := config.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client configuration (set --kubeconfig or $KUBECONFIG, or pick a --context): %w", err)
	}
	rc.UserAgent = "kanaria-cli/" + version.Version
	scheme, err := controller.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	return c, nil
}

// Commands returns the verbs, talking to the cluster of the kubeconfig.
func Commands() []*cobra.Command {
	return NewCommands(KubeClient)
}

// NewCommands returns the verbs with newClient making their client, so tests
// can run them against a fake. The verbs share one set of kubectl flags.
func NewCommands(newClient ClientFunc) []*cobra.Command {
	e := &env{flags: &kubeFlags{}, newClient: newClient}
	online := []*cobra.Command{
		e.promoteCommand(),
		e.abortCommand(),
		e.retryCommand(),
		e.pauseCommand(),
		e.restartCommand(),
		e.setCommand(),
		e.undoCommand(),
		e.statusCommand(),
		e.terminateCommand(),
		e.createCommand(),
	}
	for _, c := range online {
		// Persistent, so that subcommands such as `retry rollout` take them too.
		e.flags.addTo(c)
	}
	// lint never connects, so it offers no cluster flags that would suggest otherwise.
	return append(online, lintCommand())
}

// kubeFlags are kubectl's connection flags. They are bound with client-go's
// clientcmd, which is what kubectl's own flags are built on, so names,
// shorthands and meanings are kubectl's.
type kubeFlags struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
}

// addTo binds the flags to cmd and its subcommands. Binding one kubeFlags to
// several commands is what makes them share one set of values.
func (f *kubeFlags) addTo(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file to use for CLI requests")
	clientcmd.BindOverrideFlags(&f.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	// kubectl no longer offers basic authentication; hiding the flags keeps
	// the help the same as kubectl's without breaking old scripts.
	for _, name := range []string{clientcmd.FlagUsername, clientcmd.FlagPassword} {
		_ = fs.MarkHidden(name)
	}
}

// clientConfig resolves the kubeconfig the way kubectl does: --kubeconfig,
// then $KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
func (f *kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &f.overrides)
}

// env is what every verb needs: the flags and the way to a client.
type env struct {
	flags     *kubeFlags
	newClient ClientFunc
}

// connect returns a client and the namespace the verb acts in.
func (e *env) connect() (client.WithWatch, string, error) {
	cfg := e.flags.clientConfig()
	ns, _, err := cfg.Namespace()
	if clientcmd.IsEmptyConfig(err) {
		// With no kubeconfig at all kubectl works in "default"; whether the
		// cluster can be reached is for the client to report, with its own
		// advice, rather than for the namespace look-up.
		ns, err = metav1.NamespaceDefault, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig (check --kubeconfig, $KUBECONFIG and --context): %w", err)
	}
	c, err := e.newClient(cfg)
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// target is the object a request is about, named the way messages show it.
type target struct {
	kind      string // lower-case kind as users type it, e.g. "rollout"
	resource  string // plural resource as RBAC names it, e.g. "rollouts"
	name      string
	namespace string // empty for cluster-scoped objects
}

func rolloutTarget(name, ns string) target {
	return target{kind: "rollout", resource: "rollouts", name: name, namespace: ns}
}

// userError carries a message written for people while keeping the API
// error underneath, so callers can still test it with apierrors.IsNotFound
// and friends.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// apiError turns an API error into a message that says what to do. verb is
// the RBAC verb and sub the subresource ("status") of the request that failed.
func apiError(err error, verb, sub string, t target) error {
	if err == nil {
		return nil
	}
	resource := t.resource
	if sub != "" {
		resource += "/" + sub
	}
	where := ""
	if t.namespace != "" {
		where = fmt.Sprintf(" in namespace %q", t.namespace)
	}
	switch {
	case apierrors.IsNotFound(err):
		return &userError{msg: fmt.Sprintf("%s %q not found%s", t.kind, t.name, where), err: err}
	case apierrors.IsForbidden(err):
		return &userError{msg: fmt.Sprintf("not allowed to %s %s%s: ask a cluster administrator for RBAC permission to %q %q in API group %q (%s)",
			verb, resource, where, verb, resource, groupOf(t.resource), err.Error()), err: err}
	case apierrors.IsConflict(err):
		return &userError{msg: fmt.Sprintf("%s %q%s changed while this command ran; run it again (%s)", t.kind, t.name, where, err.Error()), err: err}
	}
	return fmt.Errorf("%s %s %q%s: %w", verb, t.kind, t.name, where, err)
}

// groupOf names the API group of a resource for RBAC advice.
func groupOf(resource string) string {
	if resource == "replicasets" {
		return "apps"
	}
	return "argoproj.io"
}

// rfc3339 formats t the way the plugin writes times into specs: RFC 3339 in
// UTC, to the second, as metav1.Time serialises.
func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
