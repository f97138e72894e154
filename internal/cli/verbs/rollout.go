package verbs

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// The patches of the rollout verbs, byte for byte what the plugin sends.
const (
	clearPauseConditionsPatch = `{"status":{"pauseConditions":null}}`
	// The controller reads status.currentStepIndex, so moving it is how a
	// canary that waits on an analysis or experiment step is promoted.
	clearPauseConditionsWithStepPatch = `{"status":{"pauseConditions":null,"currentStepIndex":%d}}`
	unpausePatch                      = `{"spec":{"paused":false}}`
	promoteFullPatch                  = `{"status":{"promoteFull":true}}`
	abortPatch                        = `{"status":{"abort":true}}`
	retryRolloutPatch                 = `{"status":{"abort":false}}`
	pausePatch                        = `{"spec":{"paused":true}}`
	restartPatch                      = `{"spec":{"restartAt":%q}}`
)

func (e *env) promoteCommand() *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "promote ROLLOUT",
		Short: "Promote a Rollout past its current pause or step",
		Long: `Promote a Rollout paused at a canary step, a blue-green Rollout waiting for
promotion, or a manually paused Rollout.

promote clears status.pauseConditions and, for a Rollout paused with
spec.paused (kanaria pause), sets spec.paused back to false. A canary that is
not paused but waits on a step (an analysis or an experiment) moves on to the
next step. With --full the Rollout skips every remaining step, pause and
analysis and goes straight to the new version.`,
		Example: `  # Go on past the current pause
  kanaria promote guestbook

  # Skip the remaining steps, pauses and analyses
  kanaria promote guestbook --full -n shop`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.promote(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], full)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "skip every remaining step, pause and analysis")
	return cmd
}

func (e *env) promote(ctx context.Context, out, errOut io.Writer, name string, full bool) error {
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	t := rolloutTarget(name, ns)
	ro := &v1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		return apiError(err, "get", "", t)
	}
	p, err := promotePatches(ro, full)
	if err != nil {
		return err
	}
	// Status first, as the plugin does: if the status write is refused,
	// nothing has changed yet, and a rerun starts from the same state.
	if p.status != "" {
		if err := c.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(p.status))); err != nil {
			return apiError(err, "patch", "status", t)
		}
	}
	if p.spec != "" {
		if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(p.spec))); err != nil {
			return apiError(err, "patch", "", t)
		}
	}
	if full {
		if ro.Spec.Paused {
			// The plugin leaves spec.paused alone on --full; say so, because
			// the Rollout will not move until it is resumed.
			fmt.Fprintf(errOut, "warning: rollout %q is still paused by spec.paused; run `kanaria promote %s` to resume it\n", name, name)
		}
		fmt.Fprintf(out, "rollout '%s' fully promoted\n", name)
		return nil
	}
	fmt.Fprintf(out, "rollout '%s' promoted\n", name)
	return nil
}

// patches are the merge patches of one verb: one for the status subresource,
// one for the main resource; empty means not sent.
type patches struct {
	status, spec string
}

// promotePatches decides what promote sends, following the plugin:
//
//   - --full sets status.promoteFull, only while an update is under way;
//   - spec.paused is set back to false;
//   - pause conditions are cleared;
//   - a canary with no pause condition moves to the next step instead (the
//     plugin does this for a Rollout that waits on an analysis or
//     experiment step); clearing and moving are never done together, so one
//     promote never skips two things.
//
// Where the plugin would send a patch that changes nothing (a canary past its
// last step, a Rollout that is not updating), the user is told instead.
func promotePatches(ro *v1alpha1.Rollout, full bool) (patches, error) {
	var p patches
	updating := ro.Status.CurrentPodHash != ro.Status.StableRS
	if full {
		if !updating {
			return p, fmt.Errorf("nothing to promote: rollout %q already runs its desired version (status.currentPodHash equals status.stableRS)", ro.Name)
		}
		p.status = promoteFullPatch
		return p, nil
	}
	if ro.Spec.Paused {
		p.spec = unpausePatch
	}
	canary := ro.Spec.Strategy.Canary
	switch {
	case len(ro.Status.PauseConditions) > 0:
		p.status = clearPauseConditionsPatch
	case canary != nil && updating && len(canary.Steps) > 0:
		// The step the controller acts on, also when a client wrote an
		// index out of range.
		idx, _ := rolloutview.StepIndex(ro.Status.CurrentStepIndex, len(canary.Steps))
		if idx < len(canary.Steps) {
			p.status = fmt.Sprintf(clearPauseConditionsWithStepPatch, idx+1)
		}
	}
	if p.status != "" || p.spec != "" {
		return p, nil
	}
	phase := describePhase(ro)
	switch {
	case !updating:
		return p, fmt.Errorf("nothing to promote: rollout %q is not paused and not in the middle of an update (%s)", ro.Name, phase)
	case canary == nil:
		return p, fmt.Errorf("nothing to promote: rollout %q is a blue-green, not a canary, so it has no step to skip, and it is not paused (%s); use --full to switch to the new version now", ro.Name, phase)
	case len(canary.Steps) == 0:
		return p, fmt.Errorf("nothing to promote: rollout %q is not paused and its canary has no steps (%s); use --full to finish the update now", ro.Name, phase)
	default:
		return p, fmt.Errorf("nothing to promote: rollout %q is past its last step and not paused (%s); use --full to finish the update now", ro.Name, phase)
	}
}

// describePhase gives the phase and message for an error message.
func describePhase(ro *v1alpha1.Rollout) string {
	if ro.Status.Phase == "" {
		return "no phase reported yet"
	}
	if ro.Status.Message == "" {
		return "phase " + string(ro.Status.Phase)
	}
	return fmt.Sprintf("phase %s: %s", ro.Status.Phase, ro.Status.Message)
}

func (e *env) abortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "abort ROLLOUT...",
		Short: "Abort a Rollout and go back to the stable version",
		Long: `Abort the update of a Rollout: traffic and Pods go back to the stable version
and the Rollout becomes Degraded.

spec.template still holds the new version, so the Rollout tries it again
after kanaria retry rollout. To stay on the stable version, change
spec.template back too (kanaria undo).`,
		Example: `  # Abort an update
  kanaria abort guestbook -n shop`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.patchRollouts(cmd.Context(), cmd.OutOrStdout(), args, "status", abortPatch, "aborted")
		},
	}
}

func (e *env) retryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retry (rollout|experiment) NAME...",
		Short: "Retry an aborted Rollout or a failed Experiment",
		Example: `  # Run the steps of an aborted Rollout again
  kanaria retry rollout guestbook

  # Run a failed Experiment again
  kanaria retry experiment my-experiment`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "rollout ROLLOUT...",
		Aliases: []string{"ro", "rollouts"},
		Short:   "Retry an aborted Rollout",
		Long:    "Clear status.abort, so the Rollout runs its steps again from the first.",
		Example: `  kanaria retry rollout guestbook -n shop`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.patchRollouts(cmd.Context(), cmd.OutOrStdout(), args, "status", retryRolloutPatch, "retried")
		},
	}, &cobra.Command{
		Use:     "experiment EXPERIMENT...",
		Aliases: []string{"exp", "experiments"},
		Short:   "Retry a failed Experiment",
		Long: `Clear the whole status of the Experiment, so the controller starts it again
from the beginning.`,
		Example: `  kanaria retry experiment my-experiment -n shop`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.retryExperiments(cmd.Context(), cmd.OutOrStdout(), args)
		},
	})
	return cmd
}

func (e *env) pauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause ROLLOUT...",
		Short: "Pause a Rollout",
		Long: `Set spec.paused: the Rollout holds every Pod count where it is until it is
promoted (kanaria promote).`,
		Example: `  # Hold an update where it is
  kanaria pause guestbook -n shop`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.patchRollouts(cmd.Context(), cmd.OutOrStdout(), args, "", pausePatch, "paused")
		},
	}
}

// patchRollouts sends one merge patch to each named Rollout, to the status
// subresource when sub is "status". It stops at the first failure, so the
// message names the Rollout that failed and the ones before it are reported
// done.
func (e *env) patchRollouts(ctx context.Context, out io.Writer, names []string, sub, patch, done string) error {
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	for _, name := range names {
		ro := &v1alpha1.Rollout{}
		ro.Name, ro.Namespace = name, ns
		p := client.RawPatch(types.MergePatchType, []byte(patch))
		if sub == "status" {
			err = c.Status().Patch(ctx, ro, p)
		} else {
			err = c.Patch(ctx, ro, p)
		}
		if err != nil {
			return apiError(err, "patch", sub, rolloutTarget(name, ns))
		}
		fmt.Fprintf(out, "rollout '%s' %s\n", name, done)
	}
	return nil
}

func (e *env) restartCommand() *cobra.Command {
	var in time.Duration
	cmd := &cobra.Command{
		Use:   "restart ROLLOUT",
		Short: "Restart the Pods of a Rollout",
		Long: `Set spec.restartAt: the controller restarts every Pod created before that
time, a few at a time within maxUnavailable.`,
		Example: `  # Restart the Pods now
  kanaria restart guestbook

  # Restart them in an hour
  kanaria restart guestbook --in 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if in < 0 {
				return fmt.Errorf("--in must not be negative, got %s", in)
			}
			c, ns, err := e.connect()
			if err != nil {
				return err
			}
			name := args[0]
			ro := &v1alpha1.Rollout{}
			ro.Name, ro.Namespace = name, ns
			patch := fmt.Sprintf(restartPatch, rfc3339(time.Now().Add(in)))
			if err := c.Patch(cmd.Context(), ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return apiError(err, "patch", "", rolloutTarget(name, ns))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout '%s' restarts in %s\n", name, in)
			return nil
		},
	}
	cmd.Flags().DurationVarP(&in, "in", "i", 0, "how long to wait before the restart, e.g. 30s, 5m or 1h")
	return cmd
}
