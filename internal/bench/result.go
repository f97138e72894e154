package bench

import "time"

// Result is everything one benchmark run measured. It is what --json writes.
type Result struct {
	// Scenario is the scenario that ran.
	Scenario Scenario `json:"scenario"`
	// Router is the traffic router of the canary scenarios, empty for
	// none (weights by Pod counts).
	Router string `json:"router,omitempty"`
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
	// Memory is how much the controller's memory grew per Rollout created;
	// nil without --controller-pid.
	Memory *MemoryPerRollout `json:"memoryPerRollout,omitempty"`
	// Churn is the repeated releases after the update; nil without --churn.
	Churn *Churn `json:"churn,omitempty"`
	// Notes are caveats about the numbers: what could not be measured, and
	// what a number includes.
	Notes []string `json:"notes,omitempty"`
	// FailOver is what a run that killed a controller replica found
	// afterwards.
	FailOver *FailOver `json:"failOver,omitempty"`
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
	// seen done, or until it was interrupted.
	Seconds float64 `json:"seconds"`
	// Interrupted is set when the run's timeout or a signal ended the phase
	// before every object was done: its figures are those measured until
	// then, and Latency covers only the objects seen done.
	Interrupted bool `json:"interrupted,omitempty"`
	// Completions is how many objects were seen done.
	Completions int `json:"completions"`
	// Objects is how many objects the phase changed and waited for: all
	// the Rollouts, or in abort-under-load the aborted or the releasing
	// ones.
	Objects int `json:"objects,omitempty"`
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
	// ControllerCPUSeconds is the growth of the controller's own
	// process_cpu_seconds_total during the phase; nil when not exposed.
	ControllerCPUSeconds *float64 `json:"controllerCPUSecondsFromMetrics,omitempty"`
	// FirstWrite is each Rollout's time from its change to the
	// controller's first write for it; nil for phases that change no
	// generation or when not measured.
	FirstWrite *FirstWriteStats `json:"firstWrite,omitempty"`
	// Milestones is when the Rollouts' status first showed each step
	// and Healthy, from each one's change; nil where FirstWrite is.
	Milestones []Milestone `json:"milestones,omitempty"`
	// AbortRequests is each abort request of an abort phase, for joining
	// with the times a controller or the floor handler logs; nil in other
	// phases.
	AbortRequests []AbortRequest `json:"abortRequests,omitempty"`
	// QueueDepth is the controller's Rollout work queue depth sampled
	// during the phase; nil when its metrics were not scraped.
	QueueDepth *QueueDepth `json:"rolloutQueueDepth,omitempty"`
}

// AbortRequest is when the benchmark sent one Rollout's abort request and
// when the API server answered it.
type AbortRequest struct {
	// Rollout is the aborted Rollout's name.
	Rollout string `json:"rollout"`
	// Sent is when the request left; the abort's latency counts from it.
	Sent time.Time `json:"sent"`
	// Answered is when the API server's answer came back.
	Answered time.Time `json:"answered"`
}

// Milestone is the distribution, over a phase's Rollouts, of the time from
// each one's change until its status first showed a step index or Healthy.
type Milestone struct {
	// Name is "step K" or "Healthy".
	Name string `json:"name"`
	// Latency is over the Rollouts that reached it.
	Latency Summary `json:"latency"`
}

// FirstWriteStats is the distribution of the time from each Rollout's
// change (its new generation seen by a watch) to the controller's first
// write for it (seen by a watch of the Rollout or its ReplicaSets).
type FirstWriteStats struct {
	// Latency is over the Rollouts for which both were seen.
	Latency Summary `json:"latency"`
	// Missing is how many Rollouts of the phase had no such pair.
	Missing int `json:"missing"`
}

// QueueDepth is the Rollout work queue of the controller over a phase: a
// queue that stays short while Rollouts wait means the controller is not
// what they wait for.
type QueueDepth struct {
	// IntervalSeconds is the time between samples.
	IntervalSeconds float64 `json:"intervalSeconds"`
	// Max is the deepest sample.
	Max float64 `json:"max"`
	// Samples are the depths in order, the first at the phase's start.
	Samples []QueueSample `json:"samples"`
}

// QueueSample is one reading of the queue depth.
type QueueSample struct {
	// Seconds is since the phase started.
	Seconds float64 `json:"seconds"`
	// Depth is the number of Rollouts waiting for a worker.
	Depth float64 `json:"depth"`
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

// MemoryPerRollout is the controller's resident memory just before the N
// Rollouts were created and just after all were Healthy. Each point is the
// median of a few readings, since Go's garbage collector makes a single
// reading noisy.
type MemoryPerRollout struct {
	// RSSBeforeBytes is the resident memory just before the create phase.
	RSSBeforeBytes int64 `json:"rssBeforeCreateBytes"`
	// RSSAfterBytes is the resident memory just after all N were Healthy.
	RSSAfterBytes int64 `json:"rssAfterHealthyBytes"`
	// DeltaBytes is RSSAfterBytes minus RSSBeforeBytes; it can be negative
	// when the garbage collector returned more than the Rollouts took.
	DeltaBytes int64 `json:"deltaBytes"`
	// BytesPerRollout is DeltaBytes divided by N.
	BytesPerRollout float64 `json:"bytesPerRollout"`
	// AnonBeforeBytes and AnonAfterBytes are the anonymous part of the
	// same readings (RssAnon): RSS without the executable's pages, which
	// grow as more of the program runs, not with the Rollouts; 0 when the
	// kernel does not report it.
	AnonBeforeBytes int64 `json:"rssAnonBeforeCreateBytes,omitempty"`
	AnonAfterBytes  int64 `json:"rssAnonAfterHealthyBytes,omitempty"`
	// AnonBytesPerRollout is the growth of RssAnon divided by N.
	AnonBytesPerRollout float64 `json:"rssAnonBytesPerRollout,omitempty"`
	// SamplesPerPoint is how many readings each point is the median of.
	SamplesPerPoint int `json:"samplesPerPoint"`
	// SampleIntervalSeconds is the time between those readings.
	SampleIntervalSeconds float64 `json:"sampleIntervalSeconds"`
	// Settled is the memory over an idle wait after the create (--settle);
	// nil without one.
	Settled *SettledMemory `json:"settled,omitempty"`
}

// Churn is what --churn measured: all Rollouts released again and again,
// each round waiting until every one is Healthy on the new revision.
type Churn struct {
	// RequestedSeconds is --churn: no round starts after this long.
	RequestedSeconds float64 `json:"requestedSeconds"`
	// Seconds is from the first round's start to the last round's end,
	// including the memory readings after each round.
	Seconds float64 `json:"seconds"`
	// Change is what each round changed in the Rollouts' template.
	Change string `json:"change"`
	// Rounds holds every finished round, in order, and the one an
	// interruption ended, if any.
	Rounds []ChurnRound `json:"rounds"`
	// Controller is the controller's memory and CPU over the churn; nil
	// without --controller-pid.
	Controller *ChurnUsage `json:"controller,omitempty"`
}

// ChurnRound is one round of the churn.
type ChurnRound struct {
	// Round counts from 1.
	Round int `json:"round"`
	// Seconds is from the round's first change until all were Healthy.
	Seconds float64 `json:"seconds"`
	// Completions is how many Rollouts became Healthy on the round's revision.
	Completions int `json:"completions"`
	// Interrupted is set on a round the run's timeout or a signal ended
	// before every Rollout was Healthy; its figures are those until then.
	Interrupted bool `json:"interrupted,omitempty"`
	// Latency is the distribution of each Rollout's time to Healthy.
	Latency Summary `json:"latency"`
	// Controller is the controller's memory and CPU after the round; nil
	// when not measured.
	Controller *RoundUsage `json:"controller,omitempty"`
}

// RoundUsage is the controller's memory and CPU right after a churn round.
type RoundUsage struct {
	// RSSBytes is the median resident memory after the round.
	RSSBytes int64 `json:"rssBytes"`
	// AnonBytes is the median RssAnon after the round: the resident
	// memory less mapped files (the binary), which RSS counts too; 0 when
	// the kernel does not report it.
	AnonBytes int64 `json:"rssAnonBytes,omitempty"`
	// HeapLiveBytes is what the controller's last garbage collection
	// before the reading kept (go_gc_heap_live_bytes): the memory it holds
	// on to, without the collector's margin that RSS includes; 0 without
	// its /metrics.
	HeapLiveBytes int64 `json:"heapLiveBytes,omitempty"`
	// CPUSeconds is the CPU time used since the churn started.
	CPUSeconds float64 `json:"cpuSecondsSinceChurnStart"`
}

// ChurnUsage is how the controller's memory developed over the churn.
type ChurnUsage struct {
	// RSSStartBytes is the median resident memory before the first round.
	RSSStartBytes int64 `json:"rssStartBytes"`
	// RSSEndBytes is the median resident memory after the last round.
	RSSEndBytes int64 `json:"rssEndBytes"`
	// HWMBytes is the kernel's peak resident memory since the process
	// started (VmHWM), read at the end of the churn.
	HWMBytes int64 `json:"hwmBytes"`
	// GrowthBytes is RSSEndBytes minus RSSStartBytes.
	GrowthBytes int64 `json:"growthBytes"`
	// GrowthPercent is GrowthBytes as a percentage of RSSStartBytes.
	GrowthPercent float64 `json:"growthPercent"`
	// AnonStartBytes and AnonEndBytes are RssAnon before the first round
	// and after the last; 0 when the kernel does not report it.
	AnonStartBytes int64 `json:"rssAnonStartBytes,omitempty"`
	AnonEndBytes   int64 `json:"rssAnonEndBytes,omitempty"`
	// HeapLiveStartBytes and HeapLiveEndBytes are the heap the
	// controller's last collection kept before the first round and after
	// the last; 0 without its /metrics.
	HeapLiveStartBytes int64 `json:"heapLiveStartBytes,omitempty"`
	HeapLiveEndBytes   int64 `json:"heapLiveEndBytes,omitempty"`
	// CPUSeconds is the CPU time used during the whole churn.
	CPUSeconds float64 `json:"cpuSeconds"`
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

// FailOver is the outcome of killing a controller replica mid-release: how
// many Rollouts ended with each number of ReplicaSets and AnalysisRuns.
type FailOver struct {
	// Replica is the index of the killed replica.
	Replica int `json:"replica"`
	// AfterSeconds is when it was killed, from the update phase's start.
	AfterSeconds float64 `json:"afterSeconds"`
	// ReplicaSetsPerRollout maps a count of ReplicaSets to how many
	// Rollouts have that many.
	ReplicaSetsPerRollout map[int]int `json:"replicaSetsPerRollout"`
	// AnalysisRunsPerRollout does the same for AnalysisRuns.
	AnalysisRunsPerRollout map[int]int `json:"analysisRunsPerRollout"`
}
