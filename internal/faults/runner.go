package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

// Config is the size and shape of a fault run. Zero optional fields take
// the defaults of withDefaults.
type Config struct {
	// Namespace holds the suite's objects; it must not exist yet, so no
	// other object can disturb the invariants.
	Namespace string
	// Rollouts run side by side, canaries and blue-greens alternating.
	Rollouts int
	// Releases in all; each round releases every Rollout once (the last
	// round fewer), so there are ceil(Releases/Rollouts) rounds.
	Releases int
	// Replicas of each Rollout.
	Replicas int32
	// FailEvery scripts every FailEvery-th release to fail its analysis
	// and end Degraded; the others must end Healthy. 0 means 4.
	FailEvery int
	// KillMin and KillMax bound the random wait between two controller
	// kills within a round.
	KillMin, KillMax time.Duration
	// APIServerRestarts spread over the rounds, each at a random moment
	// of its round after the round's first controller kill; needs
	// Env.RestartAPIServer.
	APIServerRestarts int
	// APIServerDown is how long the API server stays away per restart.
	APIServerDown time.Duration
	// BackendFaultFor is how long the metrics backend errors (even rounds)
	// or hangs (odd rounds) once per round.
	BackendFaultFor time.Duration
	// ReleaseTimeout bounds one round; a release not ended by then is a
	// violation.
	ReleaseTimeout time.Duration
	// Seed makes the schedule of faults and failures repeatable.
	Seed uint64
}

// Defaults of Config.
const (
	DefaultNamespace      = "faults"
	DefaultRollouts       = 20
	DefaultReleases       = 200
	DefaultReplicas       = 2
	DefaultFailEvery      = 4
	DefaultKillMin        = 3 * time.Second
	DefaultKillMax        = 8 * time.Second
	DefaultAPIServerDown  = 2 * time.Second
	DefaultBackendFault   = 4 * time.Second
	DefaultReleaseTimeout = 4 * time.Minute
)

func (c Config) withDefaults() (Config, error) {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Rollouts == 0 {
		c.Rollouts = DefaultRollouts
	}
	if c.Releases == 0 {
		c.Releases = DefaultReleases
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.FailEvery == 0 {
		c.FailEvery = DefaultFailEvery
	}
	if c.KillMin == 0 {
		c.KillMin = DefaultKillMin
	}
	if c.KillMax == 0 {
		c.KillMax = DefaultKillMax
	}
	if c.APIServerDown == 0 {
		c.APIServerDown = DefaultAPIServerDown
	}
	if c.BackendFaultFor == 0 {
		c.BackendFaultFor = DefaultBackendFault
	}
	if c.ReleaseTimeout == 0 {
		c.ReleaseTimeout = DefaultReleaseTimeout
	}
	switch {
	case c.Rollouts < 1 || c.Rollouts > 999:
		return c, fmt.Errorf("rollouts must be between 1 and 999, not %d", c.Rollouts)
	case c.Releases < 1:
		return c, fmt.Errorf("releases must be at least 1, not %d", c.Releases)
	case c.Replicas < 1:
		return c, fmt.Errorf("replicas must be at least 1, not %d", c.Replicas)
	case c.FailEvery < 1:
		return c, fmt.Errorf("fail-every must be at least 1, not %d", c.FailEvery)
	case c.KillMin <= 0 || c.KillMax < c.KillMin:
		return c, fmt.Errorf("kill interval %s..%s: need 0 < min <= max", c.KillMin, c.KillMax)
	case c.APIServerRestarts < 0:
		return c, fmt.Errorf("api-server restarts must not be negative, not %d", c.APIServerRestarts)
	}
	return c, nil
}

func (c Config) rounds() int { return (c.Releases + c.Rollouts - 1) / c.Rollouts }

// Env is where a run happens and what it may do to it.
type Env struct {
	// RESTConfig reaches the cluster.
	RESTConfig *rest.Config
	// Kubeconfig is the same cluster as a file, for the controller
	// processes.
	Kubeconfig string
	// ControllerBinary is a kanaria binary; the suite runs its
	// `controller` command.
	ControllerBinary string
	// RestartAPIServer kills the API server and brings it back after
	// down; nil when the cluster's API server cannot be restarted.
	RestartAPIServer func(ctx context.Context, down time.Duration) error
	// LogDir receives the controllers' logs; empty makes a temporary one
	// that is removed unless the run finds a violation.
	LogDir string
	// Progress receives a line per round and per fault; nil discards.
	Progress io.Writer
}

// Result is what a run measured.
type Result struct {
	Config Config `json:"config"`
	// Releases ended, by outcome; each as scripted unless a violation
	// says otherwise.
	Releases int `json:"releases"`
	Healthy  int `json:"healthy"`
	Degraded int `json:"degraded"`
	Rounds   int `json:"rounds"`
	// Kills are SIGKILLs of the only controller; LeaderKills of the
	// leader of two replicas.
	Kills             int `json:"kills"`
	LeaderKills       int `json:"leaderKills"`
	APIServerRestarts int `json:"apiServerRestarts"`
	// ControllerExits are controller processes that ended on their own
	// (a leader that lost its Lease while the API server was away) and
	// were restarted.
	ControllerExits     int `json:"controllerExits"`
	BackendErrorWindows int `json:"backendErrorWindows"`
	BackendHangWindows  int `json:"backendHangWindows"`
	// Recovery is the time from a fault to the controller's first write
	// after it, per fault kind.
	Recovery map[string]Durations `json:"recovery"`
	// Violations of the invariants; the run passes only with none.
	Violations []Violation `json:"violations"`
	// UnobservedDeletions are Pod deletions the watches missed while the
	// API server was away, which the checker could not place in time.
	UnobservedDeletions int `json:"unobservedDeletions"`
	// LateEvents arrived after the reorder window; their order may be off.
	LateEvents int           `json:"lateEvents"`
	Duration   time.Duration `json:"duration"`
	LogDir     string        `json:"logDir,omitempty"`
}

// Durations summarises a set of recovery times.
type Durations struct {
	Count int `json:"count"`
	// Unmeasured faults saw no controller write before their round ended.
	Unmeasured int           `json:"unmeasured"`
	P50        time.Duration `json:"p50"`
	Max        time.Duration `json:"max"`
	all        []time.Duration
}

func (d *Durations) add(v time.Duration) { d.all = append(d.all, v) }

func (d *Durations) finish() {
	sort.Slice(d.all, func(i, j int) bool { return d.all[i] < d.all[j] })
	d.Count = len(d.all)
	if d.Count > 0 {
		d.P50 = d.all[(d.Count-1)/2]
		d.Max = d.all[d.Count-1]
	}
}

// Fault kinds in Result.Recovery.
const (
	FaultKill             = "kill"
	FaultLeaderKill       = "leader-kill"
	FaultAPIServerRestart = "apiserver-restart"
)

// reconnectAllowance is how long after an API server restart the watcher
// does not judge what it receives: client-go's reflectors back off up to
// about ten seconds between attempts while the server is away.
const reconnectAllowance = 15 * time.Second

// Run creates the suite's Rollouts, releases them round after round while
// injecting faults, and returns what it measured. A run that completes
// with violations returns them in the Result and a nil error; the error
// is for a run that could not be carried out.
func Run(ctx context.Context, env Env, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.APIServerRestarts > 0 && env.RestartAPIServer == nil {
		return nil, errors.New("API server restarts asked for, but this cluster's API server cannot be restarted")
	}
	if env.Progress == nil {
		env.Progress = io.Discard
	}
	logDir, removeLogs := env.LogDir, false
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "kanaria-faults-"); err != nil {
			return nil, fmt.Errorf("controller log directory: %w", err)
		}
		removeLogs = true
	}
	scheme, err := controller.NewScheme()
	if err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	rc := rest.CopyConfig(env.RESTConfig)
	rc.QPS, rc.Burst = 200, 400
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	backend, err := NewBackend("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer func() { _ = backend.Close() }()

	r := &run{env: env, cfg: cfg, c: c, backend: backend, logDir: logDir,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		res: &Result{Config: cfg, LogDir: logDir, Recovery: map[string]Durations{}}}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = r.run(ctx)
	r.res.Duration = time.Since(start).Round(time.Millisecond)
	if r.fleet != nil {
		r.fleet.stop()
		r.res.ControllerExits += r.fleet.exits()
	}
	if r.watcher != nil {
		r.watcher.flush(ctx)
		r.watcher.stop()
		r.res.Violations = append(r.res.Violations, r.outcomes...)
		v, unobserved, late := r.watcher.violations()
		r.res.Violations = append(r.res.Violations, v...)
		r.res.UnobservedDeletions, r.res.LateEvents = unobserved, late
	}
	for k, d := range r.recovery {
		d.finish()
		r.res.Recovery[k] = *d
	}
	if removeLogs && err == nil && len(r.res.Violations) == 0 {
		_ = os.RemoveAll(logDir)
		r.res.LogDir = ""
	}
	return r.res, err
}

// run is the state of one Run.
type run struct {
	env     Env
	cfg     Config
	c       client.Client
	backend *Backend
	watcher *Watcher
	fleet   *fleet
	logDir  string
	rng     *rand.Rand
	res     *Result

	names      []string
	strategies []Strategy
	revision   []int
	releaseNo  int
	outcomes   []Violation
	recovery   map[string]*Durations
	// faults are this round's faults, timed once the round ends.
	faults []faultAt
}

type faultAt struct {
	kind string
	at   time.Time
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.env.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *run) run(ctx context.Context) error {
	r.recovery = map[string]*Durations{FaultKill: {}, FaultLeaderKill: {}, FaultAPIServerRestart: {}}
	if err := r.setUp(ctx); err != nil {
		return err
	}
	rounds := r.cfg.rounds()
	restartRounds := map[int]int{}
	for k := range r.cfg.APIServerRestarts {
		restartRounds[(2*k+1)*rounds/(2*r.cfg.APIServerRestarts)]++
	}
	for round := range rounds {
		r.res.Rounds = round + 1
		pair := round%2 == 1
		if err := r.switchFleet(ctx, pair); err != nil {
			return err
		}
		if err := r.round(ctx, round, pair, restartRounds[round]); err != nil {
			return err
		}
	}
	return nil
}

// setUp creates the namespace, templates, Services, Ingresses and
// Rollouts, starts the watcher and a controller, and waits until every
// Rollout is Healthy on its first revision.
func (r *run) setUp(ctx context.Context) error {
	ns := r.cfg.Namespace
	if err := r.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: suiteLabels()}}); err != nil {
		return fmt.Errorf("create namespace %s (it must not exist yet): %w", ns, err)
	}
	w, err := newWatcher(ctx, r.env.RESTConfig, r.c.Scheme(), ns, int(r.cfg.Replicas))
	if err != nil {
		return err
	}
	r.watcher = w
	for _, t := range analysisTemplates(ns, r.backend.URL()) {
		if err := r.c.Create(ctx, t); err != nil {
			return fmt.Errorf("create analysis template: %w", err)
		}
	}
	for i := range r.cfg.Rollouts {
		name, s := rolloutName(i), strategyOf(i)
		r.names, r.strategies, r.revision = append(r.names, name), append(r.strategies, s), append(r.revision, 0)
		var objs []client.Object
		for _, svc := range servicesFor(ns, name, s) {
			objs = append(objs, svc)
		}
		if s == StrategyCanary {
			objs = append(objs, stableIngress(ns, name))
		}
		w.expectTemplate(name)
		objs = append(objs, rolloutObject(ns, name, s, r.cfg.Replicas))
		for _, o := range objs {
			if err := r.c.Create(ctx, o); err != nil {
				return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
			}
		}
	}
	if err := r.switchFleet(ctx, false); err != nil {
		return err
	}
	r.logf("created %d rollouts in %s; waiting until all are Healthy", r.cfg.Rollouts, ns)
	deadline := time.Now().Add(r.cfg.ReleaseTimeout)
	for {
		healthy := 0
		for _, name := range r.names {
			ro, err := r.get(ctx, name)
			if err == nil && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != "" &&
				ro.Status.ObservedGeneration == strconv.FormatInt(ro.Generation, 10) {
				healthy++
			}
		}
		if healthy == len(r.names) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d rollouts became Healthy on their first revision within %s", healthy, len(r.names), r.cfg.ReleaseTimeout)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	w.arm()
	r.logf("all %d rollouts Healthy; invariant checks armed", len(r.names))
	return nil
}

// switchFleet runs the controllers of the mode: one without leader
// election, or two electing a leader.
func (r *run) switchFleet(ctx context.Context, pair bool) error {
	if r.fleet != nil && r.fleet.pair == pair {
		return nil
	}
	if r.fleet != nil {
		r.fleet.stop()
		r.res.ControllerExits += r.fleet.exits()
	}
	firstID := 0
	if r.fleet != nil {
		firstID = r.fleet.nextID
	}
	f, err := newFleet(r.env.ControllerBinary, r.env.Kubeconfig, r.cfg.Namespace, r.logDir, pair, firstID)
	if err != nil {
		return err
	}
	r.fleet = f
	if pair {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := f.leader(lctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) get(ctx context.Context, name string) (*v1alpha1.Rollout, error) {
	var ro v1alpha1.Rollout
	err := r.c.Get(ctx, types.NamespacedName{Namespace: r.cfg.Namespace, Name: name}, &ro)
	return &ro, err
}

// release is one scripted release in flight.
type release struct {
	idx      int
	n        int
	fail     bool
	from     string // the stable hash before it
	gen      int64
	ended    bool
	outcome  v1alpha1.RolloutPhase
	rollout  string
	strategy Strategy
}

// round releases the Rollouts once each (the last round fewer), injects
// its faults while they run, and waits until every release ended.
func (r *run) round(ctx context.Context, round int, pair bool, apiRestarts int) error {
	count := min(r.cfg.Rollouts, r.cfg.Releases-round*r.cfg.Rollouts)
	mode := "one controller, killed"
	if pair {
		mode = "two controllers, leader killed"
	}
	r.logf("round %d: %d releases; %s; %d API server restarts", round+1, count, mode, apiRestarts)
	rels := make([]*release, 0, count)
	for i := range count {
		r.releaseNo++
		r.revision[i]++
		rel := &release{idx: i, n: r.revision[i], fail: r.releaseNo%r.cfg.FailEvery == 0, rollout: r.names[i], strategy: r.strategies[i]}
		ro, err := r.retryGet(ctx, rel.rollout)
		if err != nil {
			return err
		}
		rel.from = ro.Status.StableRS
		if rel.fail {
			r.backend.Fail(releaseName(rel.rollout, rel.n))
		}
		patch, err := releasePatch(rel.rollout, rel.strategy, rel.n)
		if err != nil {
			return err
		}
		r.watcher.expectTemplate(rel.rollout)
		if err := r.retry(ctx, func() error {
			return r.c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch))
		}); err != nil {
			return fmt.Errorf("release %s: %w", rel.rollout, err)
		}
		rel.gen = ro.Generation
		rels = append(rels, rel)
	}

	// The random draws happen here, on one goroutine: the generator is
	// not safe for concurrent use.
	backendAfter := time.Duration(500+r.rng.IntN(2500)) * time.Millisecond
	waits := make([]time.Duration, 0, 64)
	for range cap(waits) {
		waits = append(waits, r.cfg.KillMin+time.Duration(r.rng.Int64N(int64(r.cfg.KillMax-r.cfg.KillMin)+1)))
	}
	fctx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	var faultErr error
	go func() {
		defer wg.Done()
		faultErr = r.injectFaults(fctx, round, pair, apiRestarts, waits)
	}()
	go func() {
		defer wg.Done()
		r.backendFault(fctx, round, backendAfter)
	}()
	waitErr := r.waitReleases(ctx, rels)
	stopFaults()
	wg.Wait()
	r.timeRecoveries()
	if waitErr != nil {
		return waitErr
	}
	if faultErr != nil && ctx.Err() == nil {
		return faultErr
	}
	v, _, _ := r.watcher.violations()
	r.logf("round %d done: %d healthy, %d degraded so far; %d kills, %d leader kills, %d API server restarts; %d violations",
		round+1, r.res.Healthy, r.res.Degraded, r.res.Kills, r.res.LeaderKills, r.res.APIServerRestarts, len(v)+len(r.outcomes))
	return nil
}

// injectFaults kills controllers at random moments until ctx ends, and
// restarts the API server apiRestarts times at random moments among them.
// The round's first kill comes before its restarts: a leader that loses
// its Lease while the API server is away exits on its own, and a round
// whose releases end before its successor is found would otherwise have
// no kill of the mode at all. A killed controller stalls the releases
// until its replacement or successor runs, so the restarts that follow
// still land mid-release.
func (r *run) injectFaults(ctx context.Context, round int, pair bool, apiRestarts int, waits []time.Duration) error {
	killed := false
	for i := 0; ; i++ {
		if apiRestarts > 0 && killed {
			if err := sleep(ctx, waits[i%len(waits)]/3); err != nil {
				return nil
			}
			apiRestarts--
			r.logf("round %d: restarting the API server (down %s)", round+1, r.cfg.APIServerDown)
			at := time.Now()
			r.watcher.blindFrom(at)
			// Not cut short by the round's end: a restart half done would
			// leave the cluster without an API server.
			if err := r.env.RestartAPIServer(context.WithoutCancel(ctx), r.cfg.APIServerDown); err != nil {
				return fmt.Errorf("restart the API server: %w", err)
			}
			// Informers reconnect with a back-off of their own; until they
			// have, the order of what the watches deliver is not the order
			// of the writes.
			if err := r.watcher.refresh(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("watch again after the API server restart: %w", err)
			}
			r.watcher.blindTo(time.Now().Add(reconnectAllowance))
			r.res.APIServerRestarts++
			r.faults = append(r.faults, faultAt{kind: FaultAPIServerRestart, at: at})
			continue
		}
		if !pair {
			if err := sleep(ctx, waits[i%len(waits)]); err != nil {
				return nil
			}
		}
		if pair {
			// The wait runs from the takeover, so every leader gets its
			// share of work before it dies.
			lctx, cancel := context.WithTimeout(ctx, time.Minute)
			leader, err := r.fleet.leader(lctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := sleep(ctx, waits[(i+1)%len(waits)]); err != nil {
				return nil
			}
			if !leader.alive() {
				continue
			}
			at, err := r.fleet.kill(leader)
			if err != nil {
				return err
			}
			r.res.LeaderKills++
			killed = true
			r.faults = append(r.faults, faultAt{kind: FaultLeaderKill, at: at})
			r.logf("round %d: killed the leader (controller %d)", round+1, leader.id)
			continue
		}
		procs := r.fleet.living()
		if len(procs) == 0 {
			continue
		}
		at, err := r.fleet.kill(procs[0])
		if err != nil {
			return err
		}
		r.res.Kills++
		killed = true
		r.faults = append(r.faults, faultAt{kind: FaultKill, at: at})
		r.logf("round %d: killed controller %d", round+1, procs[0].id)
	}
}

// backendFault makes the metrics backend error (even rounds) or hang (odd
// rounds) for a while at a random moment of the round.
func (r *run) backendFault(ctx context.Context, round int, after time.Duration) {
	if err := sleep(ctx, after); err != nil {
		return
	}
	mode := BackendErroring
	if round%2 == 1 {
		mode = BackendHanging
	}
	r.backend.SetMode(mode)
	if mode == BackendErroring {
		r.res.BackendErrorWindows++
	} else {
		r.res.BackendHangWindows++
	}
	r.logf("round %d: metrics backend %s for %s", round+1, mode, r.cfg.BackendFaultFor)
	_ = sleep(ctx, r.cfg.BackendFaultFor)
	r.backend.SetMode(BackendHealthy)
}

// waitReleases polls until each release ended Healthy on its new
// revision or Degraded, and records an outcome violation for each that
// ended otherwise than scripted or not within the timeout.
func (r *run) waitReleases(ctx context.Context, rels []*release) error {
	deadline := time.Now().Add(r.cfg.ReleaseTimeout)
	for {
		open := 0
		for _, rel := range rels {
			if rel.ended {
				continue
			}
			ro, err := r.get(ctx, rel.rollout)
			if err != nil {
				open++
				continue
			}
			if ro.Status.ObservedGeneration != strconv.FormatInt(ro.Generation, 10) || ro.Generation < rel.gen {
				open++
				continue
			}
			switch {
			case ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash && ro.Status.StableRS != rel.from:
				rel.ended, rel.outcome = true, v1alpha1.RolloutPhaseHealthy
			case ro.Status.Phase == v1alpha1.RolloutPhaseDegraded:
				rel.ended, rel.outcome = true, v1alpha1.RolloutPhaseDegraded
			default:
				open++
				continue
			}
			r.res.Releases++
			want := v1alpha1.RolloutPhaseHealthy
			if rel.fail {
				want = v1alpha1.RolloutPhaseDegraded
			}
			if rel.outcome == v1alpha1.RolloutPhaseHealthy {
				r.res.Healthy++
			} else {
				r.res.Degraded++
			}
			if rel.outcome != want {
				r.outcomes = append(r.outcomes, Violation{Invariant: InvReleaseOutcome, Rollout: rel.rollout,
					Detail: fmt.Sprintf("release %d ended %s, scripted %s (%s)", rel.n, rel.outcome, want, ro.Status.Message)})
			}
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, rel := range rels {
				if !rel.ended {
					ro, _ := r.get(ctx, rel.rollout)
					r.outcomes = append(r.outcomes, Violation{Invariant: InvReleaseOutcome, Rollout: rel.rollout,
						Detail: fmt.Sprintf("release %d did not end within %s: phase %s (%s)", rel.n, r.cfg.ReleaseTimeout, ro.Status.Phase, ro.Status.Message)})
				}
			}
			return nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// timeRecoveries gives each fault of the round the time to the
// controller's first write after it.
func (r *run) timeRecoveries() {
	for _, f := range r.faults {
		d := r.recovery[f.kind]
		if w, ok := r.watcher.firstWriteAfter(f.at); ok {
			d.add(w.Sub(f.at))
		} else {
			d.Unmeasured++
		}
	}
	r.faults = nil
}

// retryGet reads a Rollout, retrying while the API server is away.
func (r *run) retryGet(ctx context.Context, name string) (*v1alpha1.Rollout, error) {
	var ro *v1alpha1.Rollout
	err := r.retry(ctx, func() error {
		var err error
		ro, err = r.get(ctx, name)
		return err
	})
	return ro, err
}

// retry runs fn until it succeeds, for up to two minutes: the API server
// may be restarting.
func (r *run) retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := fn()
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || time.Now().After(deadline) {
			return err
		}
		if serr := sleep(ctx, 500*time.Millisecond); serr != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
