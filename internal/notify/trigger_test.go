package notify

import "testing"

func TestTriggerFor(t *testing.T) {
	for reason, want := range map[string]string{
		"RolloutUpdated":       "on-rollout-updated",
		"RolloutStepCompleted": "on-rollout-step-completed",
		"RolloutPaused":        "on-rollout-paused",
		"RolloutCompleted":     "on-rollout-completed",
		"RolloutAborted":       "on-rollout-aborted",
		"ScalingReplicaSet":    "on-scaling-replica-set",
		"AnalysisRunRunning":   "on-analysis-run-running",
		"AnalysisRunCreated":   "on-analysis-run-running",
		"AnalysisRunError":     "on-analysis-run-error",
		"AnalysisRunFailed":    "on-analysis-run-failed",
		"RolloutResumed":       "on-rollout-resumed",
		"HTTPError":            "on-http-error",
		"Step2Done":            "on-step2-done",
	} {
		if got := TriggerFor(reason); got != want {
			t.Errorf("TriggerFor(%q) = %q, want %q", reason, got, want)
		}
	}
}
