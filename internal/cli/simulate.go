package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	"github.com/kanaria-rollouts/kanaria/internal/cli/verbs"
	"github.com/kanaria-rollouts/kanaria/internal/simulate"
)

// newSimulateCommand is `kanaria simulate`: a release played offline.
func newSimulateCommand() *cobra.Command {
	var files []string
	var scenario, output string
	var watch, verbose bool
	var speed float64
	var statusBatch time.Duration
	cmd := &cobra.Command{
		Use:   "simulate [DIR] | -f MANIFEST... --scenario SCENARIO",
		Short: "Play a release offline: the controller's decisions against a simulated cluster",
		Long: `Run the controller's own decision code and analysis controller against a
simulated cluster on a virtual clock, as a scenario file scripts the world:
a new template at a time, Pods that start slowly or never become ready,
metric values over time, test Jobs that pass or fail, and people who promote,
abort, retry, pause or scale. Print the timeline (steps, weights, Pods per
revision, Service selectors, measurements, verdicts, phase) and check the
scenario's expectations and the safety invariants.

Exit status 0 when everything held, 1 otherwise (also for a scenario or
manifest that cannot be read). The scenario format is in docs/simulate.md.`,
		Example: `  # A directory holding the manifests and scenario.yaml
  kanaria simulate examples/simulate/bluegreen-test-fails

  # Manifests and scenario named one by one
  kanaria simulate -f rollout.yaml -f analysis.yaml --scenario scenario.yaml

  # For tools
  kanaria simulate examples/simulate/canary-routed-error-rate-ramp --output json

  # Watch it as kanaria get rollout -w would draw it, 60 times faster than real time
  kanaria simulate examples/simulate/seed-canary-manual-gates --watch --speed 60`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var m *simulate.Manifests
			var sc *simulate.Scenario
			var err error
			switch {
			case len(args) == 1 && (len(files) > 0 || scenario != ""):
				return fmt.Errorf("give either a directory or -f and --scenario, not both")
			case len(args) == 1:
				m, sc, err = simulate.LoadDir(args[0])
			case len(files) == 0 || scenario == "":
				return fmt.Errorf("give a directory holding scenario.yaml, or -f MANIFEST... and --scenario FILE")
			default:
				if m, err = simulate.LoadManifests(files...); err == nil {
					sc, err = simulate.LoadScenario(scenario)
				}
			}
			if err != nil {
				return err
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			opts := simulate.Options{Frames: watch}
			if statusBatch < 0 {
				return fmt.Errorf("--analysis-status-batch must not be negative, got %s", statusBatch)
			}
			opts.AnalysisStatusBatch = &statusBatch
			res, err := simulate.Run(cmd.Context(), m, sc, opts)
			if err != nil {
				return fmt.Errorf("simulating: %w", err)
			}
			out := cmd.OutOrStdout()
			switch {
			case watch:
				err = simulate.Watch(out, res, speed, 2*time.Second, isTerminal(out), time.Sleep)
			case output == "json":
				err = simulate.WriteJSON(out, res)
			default:
				err = simulate.WriteText(out, res, verbose)
			}
			if err != nil {
				return err
			}
			if !res.Passed() {
				return &verbs.ExitError{Code: verbs.ExitProblems, Err: fmt.Errorf("%d expectation(s) or invariant(s) did not hold", len(res.Failures))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a manifest file (Rollout, AnalysisTemplate, Service, Deployment, Secret); repeat for several")
	cmd.Flags().StringVar(&scenario, "scenario", "", "the scenario file")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "draw the release as kanaria get rollout -w would, faster than real time")
	cmd.Flags().Float64Var(&speed, "speed", 600, "with --watch: how many times faster than real time (pauses are capped at 2s)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print the routine decisions the controller only logs")
	cmd.Flags().DurationVar(&statusBatch, "analysis-status-batch", analysis.DefaultStatusBatch, "the analysis controller's batch window for routine successful measurements, as kanaria controller --analysis-status-batch; 0 writes every measurement at once")
	return cmd
}

// isTerminal reports whether w is a terminal, where --watch redraws in place
// and in colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
