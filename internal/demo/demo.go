// Package demo runs Kanaria's demo on the embedded local cluster: it starts
// the cluster, installs the CRDs, runs the controller in-process, applies the
// example canary, starts a release and shows the Rollout walking its steps.
package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/config/crd"
	"github.com/kanaria-rollouts/kanaria/examples"
	"github.com/kanaria-rollouts/kanaria/internal/cli/view"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
	"github.com/kanaria-rollouts/kanaria/internal/kubeapply"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// Options configure the demo.
type Options struct {
	// ClusterName names the local cluster; a second demo needs another name.
	ClusterName string
	// Out receives the demo's narration.
	Out io.Writer
	// NewImage is the image the demo releases after the first version is up.
	NewImage string
}

// Run runs the demo until ctx ends, then stops the cluster.
func Run(ctx context.Context, opts Options) error {
	out := opts.Out
	say := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	say("starting the local cluster %q (the first run builds it: several minutes)", opts.ClusterName)
	cluster, err := devcluster.Start(ctx, devcluster.Options{Name: opts.ClusterName, Log: prefixed(out, "    ")})
	if err != nil {
		return fmt.Errorf("starting the local cluster: %w", err)
	}
	defer func() {
		say("stopping the local cluster")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(out, "stopping the local cluster: %v\n", err)
		}
	}()
	cfg := cluster.RESTConfig()

	say("installing the argoproj.io/v1alpha1 CRDs")
	// The CRDs must be served before the controller's informers start.
	if err := crd.Install(ctx, cfg, "kanaria-demo"); err != nil {
		return err
	}

	say("starting the controller")
	opt := controller.DefaultOptions()
	opt.LeaderElection.Enabled = false
	opt.MetricsAddr, opt.ProbeAddr = "0", "0"
	mgr, err := controller.NewManager(cfg, opt)
	if err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() { stopMgr(); <-mgrDone }()

	health, err := startHealthEndpoint()
	if err != nil {
		return err
	}
	defer health.Close()
	applier, err := kubeapply.New(cfg, "kanaria-demo")
	if err != nil {
		return err
	}
	say("applying examples/canary-demo.yaml (the analysis asks %s)", health.url)
	objs, err := kubeapply.Decode(examples.CanaryDemo)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if obj.GetKind() == "Rollout" {
			// The health endpoint listens on a free port; point the
			// analysis argument at it.
			args := []any{map[string]any{"name": "url", "value": health.url}}
			if err := unstructured.SetNestedSlice(obj.Object, args, "spec", "strategy", "canary", "analysis", "args"); err != nil {
				return fmt.Errorf("setting the analysis address: %w", err)
			}
		}
		if err := applier.ApplyObject(ctx, "default", obj); err != nil {
			return err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	key := types.NamespacedName{Namespace: "default", Name: "demo"}

	fmt.Fprintf(out, `
The local cluster is up. In another terminal:

  export KUBECONFIG=%s
  %s get rollouts,replicasets,pods
  bin/kanaria get rollout demo -w

Promote past the indefinite pause, or abort the release:
  bin/kanaria promote demo
  bin/kanaria abort demo
Or open the dashboard (then http://127.0.0.1:3100/):
  bin/kanaria dashboard
The same with kubectl, as the kubectl plugin does it:
  %s patch rollout demo --subresource status --type merge -p '{"status":{"pauseConditions":null}}'
  %s patch rollout demo --subresource status --type merge -p '{"status":{"abort":true}}'
Make the health check fail (the background analysis then aborts the release), and heal it:
  curl -X POST %s/break
  curl -X POST %s/heal

Press Ctrl-C to stop the demo and remove the cluster.

`, cluster.KubeconfigPath(), cluster.Binaries().Kubectl, cluster.Binaries().Kubectl, cluster.Binaries().Kubectl, health.base, health.base)

	say("waiting for the first version to become Healthy")
	if err := waitPhase(ctx, c, key, v1alpha1.RolloutPhaseHealthy, out); err != nil {
		return err
	}
	say("releasing %s", opts.NewImage)
	// Custom resources take no strategic merge patch; a JSON patch of the
	// one container's image is what `kubectl set image` amounts to.
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	jp := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, opts.NewImage)
	if err := c.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, []byte(jp))); err != nil {
		return fmt.Errorf("changing the image: %w", err)
	}
	return watch(ctx, cluster.KubeconfigPath(), key, out)
}

// waitPhase prints the Rollout's state as it changes until it reaches phase.
func waitPhase(ctx context.Context, c client.Client, key types.NamespacedName, phase v1alpha1.RolloutPhase, out io.Writer) error {
	last := ""
	return wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var ro v1alpha1.Rollout
		if err := c.Get(ctx, key, &ro); err != nil {
			return false, nil
		}
		if line := describe(&ro); line != last {
			fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), line)
			last = line
		}
		return ro.Status.Phase == phase && ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation), nil
	})
}

// watch shows `kanaria get rollout NAME -w` until ctx ends: the same view a
// user gets in another terminal, redrawn on every change.
func watch(ctx context.Context, kubeconfig string, key types.NamespacedName, out io.Writer) error {
	var get *cobra.Command
	for _, c := range view.Commands() {
		if c.Name() == "get" {
			get = c
		}
	}
	if get == nil {
		return fmt.Errorf("the get command is missing")
	}
	get.SetArgs([]string{"rollout", key.Name, "-n", key.Namespace, "-w", "--kubeconfig", kubeconfig})
	get.SetOut(out)
	get.SetErr(out)
	if err := get.ExecuteContext(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("watching the rollout: %w", err)
	}
	return nil
}

// describe is one line of the Rollout's state, without a time so that an
// unchanged state prints once. The step and weight are the read model's,
// as kanaria get rollout shows them.
func describe(ro *v1alpha1.Rollout) string {
	st := ro.Status
	v := rolloutview.Build(ro, rolloutview.Owned{}, time.Time{})
	step := "-"
	if v.Step != nil {
		step = fmt.Sprintf("%d/%d", v.Step.Index, v.Step.Total)
	}
	weight := "-"
	if v.Weights != nil && v.Weights.Reached != nil {
		weight = fmt.Sprintf("%d%%", *v.Weights.Reached)
	}
	msg := st.Message
	if msg != "" {
		msg = " (" + msg + ")"
	}
	return fmt.Sprintf("%-11s step %-5s canary weight %-4s replicas %d updated %d available %d%s",
		st.Phase, step, weight, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, msg)
}

// healthEndpoint is the demo's stand-in for an application's health check:
// healthy until told to break.
type healthEndpoint struct {
	srv       *http.Server
	url, base string
	broken    atomic.Bool
}

func startHealthEndpoint() (*healthEndpoint, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the demo health endpoint: %w", err)
	}
	h := &healthEndpoint{base: "http://" + l.Addr().String()}
	h.url = h.base + "/health"
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"healthy": %v}`, !h.broken.Load())
	})
	mux.HandleFunc("/break", func(w http.ResponseWriter, _ *http.Request) { h.broken.Store(true); fmt.Fprintln(w, "broken") })
	mux.HandleFunc("/heal", func(w http.ResponseWriter, _ *http.Request) { h.broken.Store(false); fmt.Fprintln(w, "healthy") })
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = h.srv.Serve(l) }()
	return h, nil
}

// Close stops the endpoint.
func (h *healthEndpoint) Close() { _ = h.srv.Close() }

// prefixed indents the cluster's progress lines under the demo's narration.
func prefixed(w io.Writer, prefix string) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		lines := strings.SplitAfter(string(b), "\n")
		var sb strings.Builder
		for _, l := range lines {
			if l != "" {
				sb.WriteString(prefix + l)
			}
		}
		if _, err := io.WriteString(w, sb.String()); err != nil {
			return 0, err
		}
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
