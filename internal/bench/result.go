package bench

import "time"

// Result is everything one benchmark run measured. It is what --json writes.
type Result struct {
	// Scenario is the scenario that ran.
	Scenario Scenario `json:"scenario"`
	// Rollouts is N, the number of Rollouts (and baseline Deployments).
	Rollouts int `json:"rollouts"`
	// Replicas is R, the replicas of each.
	Replicas int32 `json:"replicas"`
	// Namespace is where the objects lived.
	Namespace string `json:"namespace"`
	// StartedAt is when the run began.
	StartedAt time.Time `json:"startedAt"`
	// PollIntervalSeconds is how often the cluster was read while waiting:
	// the resolution of every latency below.
	PollIntervalSeconds float64 `json:"pollIntervalSeconds"`
	// Baseline holds the phases of the plain Deployments, empty with
	// --baseline=false.
	Baseline []Phase `json:"baseline,omitempty"`
	// Phases holds the phases of the Rollouts, in the order they ran.
	Phases []Phase `json:"phases"`
	// Ratios is each Rollout phase's time divided by the same phase of the
	// Deployments, by phase name.
	Ratios map[string]float64 `json:"ratiosToDeployment,omitempty"`
	// Analysis is what the analysis scenario's web endpoint saw.
	Analysis *AnalysisStats `json:"analysis,omitempty"`
	// Notes are caveats about the numbers: what could not be measured, and
	// what a number includes.
	Notes []string `json:"notes,omitempty"`
}

// Phase is one measured step: N objects changed and waited for.
type Phase struct {
	// Name is create, update, pause or abort.
	Name string `json:"name"`
	// Workload is Rollout or Deployment.
	Workload string `json:"workload"`
	// Waited says what every object had to reach, e.g. "Healthy".
	Waited string `json:"waited"`
	// Seconds is from the first request of the phase until every object was
	// seen done.
	Seconds float64 `json:"seconds"`
	// Completions is how many objects were seen done.
	Completions int `json:"completions"`
	// Latency is the distribution of each object's time to done, from the
	// phase's start or, for an abort, from its own abort request.
	Latency Summary `json:"latency"`
	// ControllerRequests is what the controller's own client counted;
	// nil when its metrics were not scraped.
	ControllerRequests *RequestCounts `json:"controllerRequests,omitempty"`
	// APIServerRequests is what the API server served to all clients,
	// including this benchmark and other controllers; nil when not scraped.
	APIServerRequests *RequestCounts `json:"apiServerRequestsAllClients,omitempty"`
	// BenchRequests is how many of the API server's requests this benchmark
	// sent itself (its changes, its polling and its scrapes).
	BenchRequests int64 `json:"benchRequests"`
	// Controller is the controller's CPU and memory; nil without --controller-pid.
	Controller *ProcessUsage `json:"controller,omitempty"`
}

// ProcessUsage is the controller's resource use during a phase.
type ProcessUsage struct {
	// CPUSeconds is the CPU time used during the phase.
	CPUSeconds float64 `json:"cpuSeconds"`
	// CPUCores is CPUSeconds divided by the phase's duration.
	CPUCores float64 `json:"cpuCores"`
	// RSSStartMiB is the resident memory when the phase started.
	RSSStartMiB float64 `json:"rssStartMiB"`
	// RSSEndMiB is the resident memory when the phase ended.
	RSSEndMiB float64 `json:"rssEndMiB"`
	// RSSPeakMiB is the highest resident memory sampled during the phase
	// (sampled at every poll).
	RSSPeakMiB float64 `json:"rssPeakMiB"`
	// HWMMiB is the kernel's peak resident memory since the process
	// started, read at the end of the phase.
	HWMMiB float64 `json:"hwmMiB"`
}

// AnalysisStats is what the analysis scenario's endpoint measured.
type AnalysisStats struct {
	// URL is the endpoint the AnalysisTemplate called.
	URL string `json:"url"`
	// Measurements is how many requests the endpoint served during the update.
	Measurements int64 `json:"measurements"`
	// Seconds is the length of the update phase.
	Seconds float64 `json:"seconds"`
	// PerSecond is Measurements divided by Seconds.
	PerSecond float64 `json:"perSecond"`
	// Total is how many requests the endpoint served during the whole run.
	Total int64 `json:"total"`
}

// Phase returns the Rollout phase called name, or nil.
func (r *Result) Phase(name string) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
