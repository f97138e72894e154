package faults

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteReport prints a Result for people: the counts, the recovery times
// per fault and every violation.
func WriteReport(w io.Writer, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("releases", fmt.Sprintf("%d (%d Healthy, %d Degraded) in %d rounds of %d Rollouts", res.Releases, res.Healthy, res.Degraded, res.Rounds, res.Config.Rollouts))
	row("controller kills (SIGKILL)", res.Kills)
	row("leader kills (SIGKILL, two replicas)", res.LeaderKills)
	row("API server restarts", res.APIServerRestarts)
	row("controller exits on their own", res.ControllerExits)
	row("metrics backend windows", fmt.Sprintf("%d erroring, %d hanging", res.BackendErrorWindows, res.BackendHangWindows))
	for _, k := range []string{FaultKill, FaultLeaderKill, FaultAPIServerRestart} {
		d, ok := res.Recovery[k]
		if !ok || d.Count+d.Unmeasured == 0 {
			continue
		}
		row("recovery after "+k, fmt.Sprintf("p50 %s, max %s (%d measured, %d without a write before the round ended)",
			d.P50.Round(time.Millisecond), d.Max.Round(time.Millisecond), d.Count, d.Unmeasured))
	}
	row("invariant violations", len(res.Violations))
	row("pod removals not judged (seen late or missed)", res.UnobservedDeletions)
	row("events beyond the reorder window", res.LateEvents)
	row("duration", res.Duration.Round(time.Second))
	row("seed", res.Config.Seed)
	if res.LogDir != "" {
		row("controller logs", res.LogDir)
	}
	_ = tw.Flush()
	for _, v := range res.Violations {
		fmt.Fprintf(w, "VIOLATION %s\n", v)
	}
}
