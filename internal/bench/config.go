package bench

import (
	"fmt"
	"net"
	"slices"
	"time"
)

// Scenario is one of the release patterns the benchmark measures.
type Scenario string

// The scenarios.
const (
	// ScenarioCanary is a canary without a traffic router: 25%, 1s pause,
	// 75%, 1s pause.
	ScenarioCanary Scenario = "canary"
	// ScenarioBlueGreen is a blue-green pair with automatic promotion and
	// no scale-down delays.
	ScenarioBlueGreen Scenario = "bluegreen"
	// ScenarioAbort is a canary at 50% held by an indefinite pause, then
	// aborted.
	ScenarioAbort Scenario = "abort"
	// ScenarioAnalysis is ScenarioCanary with a background web analysis
	// measuring every second.
	ScenarioAnalysis Scenario = "analysis"
	// ScenarioAbortUnderLoad aborts Config.Aborts Rollouts of ScenarioAbort
	// while the others release as in ScenarioCanary, so the aborts arrive
	// in the middle of routine work.
	ScenarioAbortUnderLoad Scenario = "abort-under-load"
)

// Scenarios lists every scenario, in the order help shows them.
var Scenarios = []Scenario{ScenarioCanary, ScenarioBlueGreen, ScenarioAbort, ScenarioAnalysis, ScenarioAbortUnderLoad}

// LoadLead is how long the abort-under-load scenario lets the routine
// releases run before it sends the aborts: long enough that their
// reconciles and writes are under way, short of the first timed pause.
const LoadLead = 500 * time.Millisecond

// RouterNginx puts each canary behind an NGINX canary Ingress: the router
// whose objects are plain Ingresses, so the benchmark needs nothing but
// core APIs and no ingress controller has to run for the weights to be
// written and read back.
const RouterNginx = "nginx"

// Routers lists the traffic routers the canary scenarios can use.
var Routers = []string{RouterNginx}

// Defaults of Config's optional fields.
const (
	DefaultNamespace        = "bench"
	DefaultTimeout          = 30 * time.Minute
	DefaultPollInterval     = 100 * time.Millisecond
	DefaultProgressInterval = 5 * time.Second
	DefaultConcurrency      = 50
	// DefaultWatchPartSize is how many objects of a kind one of the
	// benchmark's watches holds at most (see LabelPart).
	DefaultWatchPartSize   = 1000
	DefaultImage           = "registry.k8s.io/pause:3.10"
	DefaultUpdateImage     = "registry.k8s.io/pause:3.9"
	DefaultAnalysisAddress = "127.0.0.1:0"
)

// defaultPollInterval is DefaultPollInterval for every started 1,000
// Rollouts: each check reads every object of the phase, and at 10,000 ten
// checks a second would cost this machine, shared with the cluster under
// test, a noticeable part of a core.
func defaultPollInterval(rollouts int) time.Duration {
	return DefaultPollInterval * time.Duration(max(1, (rollouts+999)/1000))
}

// Config is what to run. Zero optional fields take the defaults above.
type Config struct {
	// Scenario to run.
	Scenario Scenario
	// NoUpdate stops the run after the create phase: what is measured is
	// the controller holding N idle Rollouts.
	NoUpdate bool
	// Rollouts is N, how many Rollouts (and baseline Deployments) to run at once.
	Rollouts int
	// Replicas is R, the replicas of each.
	Replicas int32
	// Namespace holds every object; it is created when missing.
	Namespace string
	// Baseline runs the same N×R with Deployments first.
	Baseline bool
	// Cleanup deletes the benchmark's objects at the end, and leftovers of
	// an earlier run at the start.
	Cleanup bool
	// Timeout bounds the whole run.
	Timeout time.Duration
	// PollInterval is how often a waiting phase checks what it has seen of
	// the cluster; it is the resolution of the latencies. Zero means
	// DefaultPollInterval per started 1,000 Rollouts.
	PollInterval time.Duration
	// ProgressInterval is how often progress is written while waiting.
	ProgressInterval time.Duration
	// Concurrency is how many create or patch requests are in flight at
	// once when changing all objects "at once".
	Concurrency int
	// Image is the container image of the first revision and UpdateImage
	// that of the second. The defaults exist in every registry mirror of
	// Kubernetes, so real clusters can run them; the local cluster's fake
	// nodes run anything.
	Image, UpdateImage string
	// AnalysisAddress is where the analysis scenario serves its endpoint;
	// the controller must be able to reach it.
	AnalysisAddress string
	// Churn, when positive, keeps releasing all Rollouts after the update,
	// round after round, until this long has passed, to show how the
	// controller's memory and CPU develop over many revisions. Zero is off.
	Churn time.Duration
	// Settle, when positive, leaves the Rollouts idle this long after the
	// create phase and reads the controller's memory every minute of it,
	// for the memory an idle Rollout keeps once the collector has caught
	// up with the creation burst. Zero is off.
	Settle time.Duration
	// Router, when set, routes the canary scenarios' traffic through that
	// router (one of Routers) instead of by Pod counts. The abort scenario
	// then waits for the router's canary weight to reach 0, since that is
	// when requests are back on the stable version.
	Router string
	// Aborts is how many of the Rollouts the abort-under-load scenario
	// aborts; the others release meanwhile. Zero means half of them.
	Aborts int
	// FakeReplicaSets, when positive, has the benchmark give every
	// ReplicaSet of its namespace its desired replicas as available this
	// long after each change, on a cluster that runs without the
	// ReplicaSet controller, so that no Pod exists (see ReplicaSetFaker).
	FakeReplicaSets time.Duration
	// RevisionHistoryLimit, when not nil, is the revisionHistoryLimit of
	// every Rollout and baseline Deployment: how many old ReplicaSets each
	// keeps. Nil leaves the field unset, so the API's default (10) applies
	// and a churn needs ten rounds before the history stops growing.
	RevisionHistoryLimit *int32
	// WatchPartSize is how many Rollouts (and Deployments, and ReplicaSets)
	// one of the benchmark's watches holds at most: above it they are
	// labelled with LabelPart and watched in groups. Zero means
	// DefaultWatchPartSize.
	WatchPartSize int
}

// parts is how many groups the run's objects of a kind are watched in.
func (c Config) parts() int {
	return partCount(c.Rollouts, c.WatchPartSize)
}

// withDefaults fills the optional fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if !slices.Contains(Scenarios, c.Scenario) {
		return c, fmt.Errorf("unknown scenario %q: use one of %v", c.Scenario, Scenarios)
	}
	if c.Rollouts < 1 {
		return c, fmt.Errorf("the number of Rollouts must be at least 1, not %d", c.Rollouts)
	}
	if c.Replicas < 1 {
		return c, fmt.Errorf("the number of replicas must be at least 1, not %d", c.Replicas)
	}
	if c.Rollouts > MaxRollouts {
		return c, fmt.Errorf("at most %d Rollouts, not %d", MaxRollouts, c.Rollouts)
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = defaultPollInterval(c.Rollouts)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.WatchPartSize < 0 {
		return c, fmt.Errorf("--watch-part-size must not be negative, got %d", c.WatchPartSize)
	}
	if c.WatchPartSize == 0 {
		c.WatchPartSize = DefaultWatchPartSize
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.UpdateImage == "" {
		c.UpdateImage = DefaultUpdateImage
	}
	if c.Image == c.UpdateImage {
		return c, fmt.Errorf("the update image must differ from the first image (both %q), or nothing changes", c.Image)
	}
	if c.FakeReplicaSets < 0 {
		return c, fmt.Errorf("--fake-replicasets must not be negative, got %s", c.FakeReplicaSets)
	}
	if l := c.RevisionHistoryLimit; l != nil && *l < 0 {
		return c, fmt.Errorf("--revision-history-limit must not be negative, got %d", *l)
	}
	if c.AnalysisAddress == "" {
		c.AnalysisAddress = DefaultAnalysisAddress
	}
	if _, _, err := net.SplitHostPort(c.AnalysisAddress); err != nil {
		return c, fmt.Errorf("analysis address %q: %w", c.AnalysisAddress, err)
	}
	if c.Scenario == ScenarioAbortUnderLoad {
		if c.Aborts == 0 {
			c.Aborts = max(1, c.Rollouts/2)
		}
		if c.Aborts < 1 || c.Aborts >= c.Rollouts {
			return c, fmt.Errorf("--aborts must be between 1 and %d (one fewer than the Rollouts, so some release meanwhile), not %d", c.Rollouts-1, c.Aborts)
		}
	} else if c.Aborts != 0 {
		return c, fmt.Errorf("--aborts applies to the %s scenario, not %s", ScenarioAbortUnderLoad, c.Scenario)
	}
	if c.Router != "" {
		if !slices.Contains(Routers, c.Router) {
			return c, fmt.Errorf("unknown traffic router %q: use one of %v", c.Router, Routers)
		}
		if c.Scenario == ScenarioBlueGreen {
			return c, fmt.Errorf("a traffic router applies to the canary scenarios, not %s", c.Scenario)
		}
	}
	if err := c.checkChurn(); err != nil {
		return c, err
	}
	if c.Settle < 0 {
		return c, fmt.Errorf("the settle duration must not be negative, not %s (0 turns it off)", c.Settle)
	}
	return c, nil
}

// checkChurn rejects a churn that could never finish, before the run
// spends minutes creating objects.
func (c Config) checkChurn() error {
	switch {
	case c.Churn < 0:
		return fmt.Errorf("the churn duration must not be negative, not %s (0 turns churn off)", c.Churn)
	case c.Churn == 0:
		return nil
	case c.Scenario == ScenarioAbort || c.Scenario == ScenarioAbortUnderLoad:
		// Every release of the abort scenario stops at an indefinite
		// pause, so no round would ever become Healthy.
		return fmt.Errorf("churn needs releases that finish on their own; scenario %s holds each at an indefinite pause", c.Scenario)
	case c.Churn >= c.Timeout:
		return fmt.Errorf("the churn (%s) must be shorter than the timeout (%s), which bounds the whole run: raise --timeout", c.Churn, c.Timeout)
	}
	return nil
}

// Clock is the runner's time source, so tests can run it on virtual time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After fires once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
