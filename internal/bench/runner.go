package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Runner runs one benchmark against the cluster behind Client. It only
// creates, changes and reads objects of the argoproj.io/v1alpha1 API and
// core Kubernetes objects, so it measures whichever controller serves that
// API there; it never starts one itself.
type Runner struct {
	// Client talks to the cluster. It must know the built-in types and the
	// argoproj.io/v1alpha1 types.
	Client client.Client
	// Config is what to run.
	Config Config
	// Clock times the phases; nil means the wall clock.
	Clock Clock
	// ControllerMetrics scrapes the controller's /metrics; nil skips the
	// controller's request counts.
	ControllerMetrics Scraper
	// APIServerMetrics scrapes the API server's /metrics; nil skips them.
	APIServerMetrics Scraper
	// Process reads the controller's CPU and memory; nil skips them.
	Process ProcReader
	// OwnRequests returns how many requests the benchmark itself has sent
	// so far, to tell them apart from the API server's total; nil skips it.
	OwnRequests func() int64
	// Progress receives a line now and then while the runner waits; nil
	// discards it.
	Progress io.Writer
	// Observer is what a phase reads while it waits: a cache of the
	// benchmark's namespace that the API server's watches keep current, so
	// waiting costs the API server only the watch events of what changed,
	// and a change is seen as soon as its event arrives. Nil lists through
	// Client from the API server's watch cache at every poll.
	Observer client.Reader
	// FirstWrites, fed by watches of the benchmark's namespace, times each
	// Rollout's change to the controller's first write for it; nil skips it.
	FirstWrites *FirstWrites
	// QueueSampleInterval is how often a phase reads the controller's work
	// queue depth from its metrics; 0 never does.
	QueueSampleInterval time.Duration
	// AfterCreate, when set, runs once every Rollout is Healthy after the
	// create phase, before the memory reading; its lines become notes.
	AfterCreate func(ctx context.Context) []string
	// DuringUpdate, when set, runs in its own goroutine from the start of
	// the update phase; its lines become notes once the phase has ended.
	// The benchmark's fail-over mode kills a replica from it.
	DuringUpdate func(ctx context.Context) []string
	// HoldController, when set, keeps the controller under test from
	// acting until the release it returns is called: the abort scenarios
	// call it just before their abort requests and release it once the
	// abort phase has ended, so that another process (the floor handler of
	// `kanaria bench abort-floor`) alone answers the aborts of Rollouts the
	// controller walked to their pause.
	HoldController func(ctx context.Context) (release func(), err error)
	// BeforeCleanup, when set, receives the result once the measuring has
	// ended and before --cleanup starts deleting, which can take minutes
	// at thousands of objects: a run stopped for good during that time
	// has its figures written already.
	BeforeCleanup func(*Result)
}

// run is the state of one Run.
type run struct {
	*Runner
	cfg      Config
	clock    Clock
	progress io.Writer
	res      *Result
	noted    map[string]bool

	rollouts []string
	// aborting are the Rollouts the abort scenarios abort, and loading
	// the ones abort-under-load releases meanwhile.
	aborting, loading []string
	// oldHash is each Rollout's stable pod-template-hash after creation.
	oldHash map[string]string
	// stableHash and canaryHash are each Rollout's hashes while paused
	// before the abort.
	stableHash, canaryHash map[string]string
	// revHash is the hash each Rollout was last seen Healthy on after the
	// update, so that a churn round can tell its own revision from that.
	revHash map[string]string

	hits atomic.Int64
	// loadSent is when abort-under-load started sending its releases.
	loadSent time.Time
}

// Run runs the benchmark and returns what it measured. On an error the
// result so far is returned with it, so a run that timed out still shows
// the phases it finished.
func (r *Runner) Run(ctx context.Context) (*Result, error) {
	cfg, err := r.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	if r.Client == nil {
		return nil, errors.New("bench: the runner has no client")
	}
	x := &run{
		Runner:     r,
		cfg:        cfg,
		clock:      r.Clock,
		progress:   r.Progress,
		noted:      map[string]bool{},
		rollouts:   names(cfg.Rollouts, rolloutName),
		oldHash:    map[string]string{},
		stableHash: map[string]string{},
		canaryHash: map[string]string{},
		revHash:    map[string]string{},
	}
	x.aborting = x.rollouts
	if cfg.Scenario == ScenarioAbortUnderLoad {
		x.aborting, x.loading = x.rollouts[:cfg.Aborts], x.rollouts[cfg.Aborts:]
	}
	if x.clock == nil {
		x.clock = realClock{}
	}
	if x.progress == nil {
		x.progress = io.Discard
	}
	x.res = &Result{
		Scenario:            cfg.Scenario,
		Router:              cfg.Router,
		Rollouts:            cfg.Rollouts,
		Replicas:            cfg.Replicas,
		Namespace:           cfg.Namespace,
		StartedAt:           x.clock.Now(),
		PollIntervalSeconds: cfg.PollInterval.Seconds(),
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	err = x.run(ctx)
	x.res.Ratios = Ratios(x.res.Baseline, x.res.Phases)
	if len(x.res.Ratios) == 0 {
		x.res.Ratios = nil
	}
	if cfg.Cleanup {
		if r.BeforeCleanup != nil {
			r.BeforeCleanup(x.res)
		}
		// The run's context may be what ended it; cleanup still deserves
		// its own few minutes.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer ccancel()
		x.logf("cleanup: deleting the benchmark's objects in %s", cfg.Namespace)
		if cerr := x.deleteObjects(cctx, ""); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}
	return x.res, err
}

func (x *run) run(ctx context.Context) error {
	if err := x.prepareNamespace(ctx); err != nil {
		return err
	}
	x.note("API server requests count every client (apiserver_request_total has no user or user-agent label): " +
		"the controller, this benchmark (its changes, reads and scrapes, shown as \"bench\"), kube-controller-manager and any other")
	if x.Observer != nil {
		x.note(fmt.Sprintf("latencies are observed through watches of the namespace, checked every %s, which is their resolution", x.cfg.PollInterval))
	} else {
		x.note(fmt.Sprintf("latencies are observed by polling every %s, which is their resolution", x.cfg.PollInterval))
	}
	if x.cfg.Baseline {
		if err := x.baseline(ctx); err != nil {
			return fmt.Errorf("baseline with Deployments: %w", err)
		}
	}
	if err := x.setUpScenario(ctx); err != nil {
		return err
	}
	if err := x.createMeasuringMemory(ctx); err != nil {
		return err
	}
	switch x.cfg.Scenario {
	case ScenarioAbort:
		if err := x.pauseRollouts(ctx); err != nil {
			return err
		}
		return x.abortRollouts(ctx, nil)
	case ScenarioAbortUnderLoad:
		if err := x.pauseRollouts(ctx); err != nil {
			return err
		}
		if err := x.abortRollouts(ctx, x.loading); err != nil {
			return err
		}
		return x.waitForLoad(ctx)
	}
	if x.cfg.NoUpdate {
		return nil
	}
	if err := x.updateRollouts(ctx); err != nil {
		return err
	}
	if x.cfg.Churn == 0 {
		return nil
	}
	err := x.churn(ctx)
	if a := x.res.Analysis; a != nil {
		// The churn's rounds run analyses too; Total covers the whole run.
		a.Total = x.hits.Load()
	}
	return err
}

// createMeasuringMemory runs the create phase between two memory readings
// of the controller, for its memory per Rollout. The readings stay outside
// the timed phase so they never count as the controller's time.
func (x *run) createMeasuringMemory(ctx context.Context) error {
	before, ok := x.sampleProc(ctx)
	var rtBefore *RuntimeMemory
	if x.cfg.Settle > 0 {
		rtBefore = x.readRuntimeMemory(ctx)
	}
	if err := x.createRollouts(ctx); err != nil {
		return err
	}
	if x.AfterCreate != nil {
		for _, n := range x.AfterCreate(ctx) {
			x.note(n)
		}
	}
	if !ok {
		return nil
	}
	if after, ok := x.sampleProc(ctx); ok {
		x.res.Memory = memoryPerRollout(before, after, x.cfg.Rollouts)
		x.note(memoryNote())
		x.settleMemory(ctx, before, rtBefore, after)
	}
	return nil
}

// prepareNamespace creates the namespace when missing and makes sure no
// objects of an earlier run are in the way.
func (x *run) prepareNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{}
	err := x.Client.Get(ctx, client.ObjectKey{Name: x.cfg.Namespace}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: x.cfg.Namespace}}
		if err := x.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", x.cfg.Namespace, err)
		}
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", x.cfg.Namespace, err)
	case ns.DeletionTimestamp != nil:
		return fmt.Errorf("namespace %s is being deleted; wait until it is gone or pick another --namespace", x.cfg.Namespace)
	}
	left, err := x.countObjects(ctx, "")
	if err != nil {
		return err
	}
	if left == 0 {
		return nil
	}
	if !x.cfg.Cleanup {
		return fmt.Errorf("namespace %s holds %d objects of an earlier benchmark run (label %s): run with --cleanup to delete them first, or pick another --namespace",
			x.cfg.Namespace, left, LabelBench)
	}
	x.logf("cleanup: deleting %d objects of an earlier run", left)
	if err := x.deleteObjects(ctx, ""); err != nil {
		return err
	}
	return x.waitGone(ctx, "", "objects of an earlier run")
}

// benchSelector selects the benchmark's objects of one workload, or of
// both when workload is empty.
func benchSelector(workload string) client.MatchingLabels {
	sel := client.MatchingLabels{LabelBench: "true"}
	if workload != "" {
		sel[LabelWorkload] = workload
	}
	return sel
}

// countObjects counts the benchmark's Rollouts, Deployments, Services and
// Pods, the objects that would be in the way or skew the numbers.
func (x *run) countObjects(ctx context.Context, workload string) (int, error) {
	lists := []client.ObjectList{&v1alpha1.RolloutList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PodList{}}
	if x.cfg.Router != "" && workload != workloadDeployment {
		lists = append(lists, &networkingv1.IngressList{})
	}
	n := 0
	for _, l := range lists {
		if err := x.Client.List(ctx, l, client.InNamespace(x.cfg.Namespace), benchSelector(workload)); err != nil {
			return 0, fmt.Errorf("listing earlier benchmark objects: %w", err)
		}
		switch l := l.(type) {
		case *v1alpha1.RolloutList:
			n += len(l.Items)
		case *appsv1.DeploymentList:
			n += len(l.Items)
		case *corev1.ServiceList:
			n += len(l.Items)
		case *corev1.PodList:
			n += len(l.Items)
		case *networkingv1.IngressList:
			n += len(l.Items)
		}
	}
	return n, nil
}

// rolloutsGoneWait bounds how long the clean-up waits for the deleted
// Rollouts to be gone before it deletes what they route through.
const rolloutsGoneWait = 2 * time.Minute

// deleteObjects deletes the benchmark's objects of one workload (both when
// empty). ReplicaSets, Pods and AnalysisRuns go with their owners. A
// request that fails transiently is sent again (retryTransient), so that a
// big run does not leave objects behind for one reset stream. The Rollouts
// go first, and the Ingresses and Services they route through only once
// the Rollouts are gone (or rolloutsGoneWait has passed): a controller
// still reconciling a Rollout would otherwise recreate its canary Ingress
// behind the delete and find its Services missing.
func (x *run) deleteObjects(ctx context.Context, workload string) error {
	opts := []client.DeleteAllOfOption{client.InNamespace(x.cfg.Namespace), benchSelector(workload),
		client.PropagationPolicy(metav1.DeletePropagationBackground)}
	var errs []error
	deleteAll := func(kinds ...client.Object) {
		for _, obj := range kinds {
			what := fmt.Sprintf("deleting %T", obj)
			err := x.retryTransient(ctx, what, func(ctx context.Context) error {
				return x.Client.DeleteAllOf(ctx, obj, opts...)
			})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
			}
		}
	}
	deleteAll(&appsv1.Deployment{})
	if workload != workloadDeployment {
		deleteAll(&v1alpha1.Rollout{}, &v1alpha1.AnalysisTemplate{})
		if err := x.waitRolloutsGone(ctx, workload); err != nil {
			// Bounded: what is left is deleted all the same, and a canary
			// Ingress recreated meanwhile goes with its Rollout.
			x.logf("cleanup: %v; deleting the Services and Ingresses anyway", err)
		}
		if x.cfg.Router != "" {
			deleteAll(&networkingv1.Ingress{})
		}
	}
	// Services have no deletecollection on older API servers, so one by one.
	var svcs corev1.ServiceList
	err := x.retryTransient(ctx, "listing Services", func(ctx context.Context) error {
		return x.Client.List(ctx, &svcs, client.InNamespace(x.cfg.Namespace), benchSelector(workload))
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing Services: %w", err))
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		what := "deleting Service " + svc.Name
		err := x.retryTransient(ctx, what, func(ctx context.Context) error { return x.Client.Delete(ctx, svc) })
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	return errors.Join(errs...)
}

// waitRolloutsGone waits, at most rolloutsGoneWait, until the API server
// no longer has the benchmark's Rollouts of workload.
func (x *run) waitRolloutsGone(ctx context.Context, workload string) error {
	deadline := x.clock.Now().Add(rolloutsGoneWait)
	for {
		var ros v1alpha1.RolloutList
		err := x.retryTransient(ctx, "listing Rollouts", func(ctx context.Context) error {
			return x.Client.List(ctx, &ros, client.InNamespace(x.cfg.Namespace), benchSelector(workload))
		})
		if err != nil {
			return fmt.Errorf("listing Rollouts: %w", err)
		}
		if len(ros.Items) == 0 {
			return nil
		}
		if !x.clock.Now().Before(deadline) {
			return fmt.Errorf("%d Rollouts still there after %s", len(ros.Items), rolloutsGoneWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d Rollouts to be deleted: %w", len(ros.Items), ctx.Err())
		case <-x.clock.After(x.cfg.PollInterval):
		}
	}
}

// waitGone waits until the benchmark's objects of a workload and their
// Pods are gone, so that they neither collide with nor load the next phase.
func (x *run) waitGone(ctx context.Context, workload, what string) error {
	start := x.clock.Now()
	lastLog := start
	for {
		n, err := x.countObjects(ctx, workload)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		now := x.clock.Now()
		if now.Sub(lastLog) >= x.cfg.ProgressInterval {
			x.logf("cleanup: %d %s left, %s", n, what, now.Sub(start).Round(time.Second))
			lastLog = now
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d %s to be deleted: %w", n, what, ctx.Err())
		case <-x.clock.After(x.cfg.PollInterval):
		}
	}
}

// baseline runs the same N×R with plain Deployments: create, then the same
// template change, then deletes them so they do not load the Rollouts' run.
func (x *run) baseline(ctx context.Context) error {
	deps := names(x.cfg.Rollouts, deploymentName)
	poll := func(image string) func(ctx context.Context) (map[string]observation, error) {
		return func(ctx context.Context) (map[string]observation, error) {
			var list appsv1.DeploymentList
			if err := x.observe(ctx, &list, client.InNamespace(x.cfg.Namespace), benchSelector(workloadDeployment)); err != nil {
				return nil, fmt.Errorf("listing Deployments: %w", err)
			}
			out := make(map[string]observation, len(list.Items))
			for i := range list.Items {
				d := &list.Items[i]
				out[d.Name] = observation{done: deploymentDone(d, image), state: deploymentState(d)}
			}
			return out, nil
		}
	}
	create, err := x.measure(ctx, phaseSpec{
		name: "create", workload: "Deployment", waited: "available", names: deps,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, deps, func(ctx context.Context, name string) error {
				d := deployment(x.cfg, name)
				labelPart(&d.ObjectMeta, &d.Spec.Template.ObjectMeta, name, x.cfg.parts())
				if err := x.Client.Create(ctx, d); err != nil {
					return fmt.Errorf("creating Deployment %s: %w", name, err)
				}
				return nil
			})
		},
		poll: poll(x.cfg.Image),
	})
	x.res.Baseline = append(x.res.Baseline, create)
	if err != nil {
		return err
	}
	update, err := x.measure(ctx, phaseSpec{
		name: "update", workload: "Deployment", waited: "available", names: deps,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, deps, func(ctx context.Context, name string) error {
				return x.patchImage(ctx, &appsv1.Deployment{}, name)
			})
		},
		poll: poll(x.cfg.UpdateImage),
	})
	x.res.Baseline = append(x.res.Baseline, update)
	if err != nil {
		return err
	}
	x.logf("baseline: deleting the Deployments before the Rollouts")
	if err := x.deleteObjects(ctx, workloadDeployment); err != nil {
		return err
	}
	return x.waitGone(ctx, workloadDeployment, "Deployments and their Pods")
}

// deploymentDone is what `kubectl rollout status` waits for: the controller
// saw the change, every replica runs the new template and is available, and
// no old Pod is left.
func deploymentDone(d *appsv1.Deployment, image string) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation &&
		len(d.Spec.Template.Spec.Containers) > 0 && d.Spec.Template.Spec.Containers[0].Image == image &&
		d.Status.UpdatedReplicas == want && d.Status.Replicas == want && d.Status.AvailableReplicas == want
}

func deploymentState(d *appsv1.Deployment) string {
	return fmt.Sprintf("generation %d observed %d, %d replicas, %d updated, %d available",
		d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
}

// setUpScenario creates what the Rollouts refer to: their Services, and for
// the analysis scenario the web endpoint and its AnalysisTemplate.
func (x *run) setUpScenario(ctx context.Context) error {
	if x.cfg.Scenario == ScenarioAnalysis {
		url, err := x.serveAnalysis(ctx)
		if err != nil {
			return err
		}
		x.res.Analysis = &AnalysisStats{URL: url}
		if err := x.Client.Create(ctx, analysisTemplate(x.cfg.Namespace, url)); err != nil {
			return fmt.Errorf("creating AnalysisTemplate %s: %w", analysisTemplateName, err)
		}
	}
	return x.forEach(ctx, x.rollouts, func(ctx context.Context, name string) error {
		for _, svc := range servicesFor(x.cfg, name) {
			if err := x.Client.Create(ctx, svc); err != nil {
				return fmt.Errorf("creating Service %s: %w", svc.Name, err)
			}
		}
		if x.cfg.Router == RouterNginx {
			if err := x.Client.Create(ctx, stableIngress(x.cfg.Namespace, name)); err != nil {
				return fmt.Errorf("creating Ingress %s: %w", name, err)
			}
		}
		return nil
	})
}

// serveAnalysis serves the analysis endpoint until ctx ends and returns its
// URL. Every request counts as one measurement.
func (x *run) serveAnalysis(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", x.cfg.AnalysisAddress)
	if err != nil {
		return "", fmt.Errorf("serving the analysis endpoint: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			x.hits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok": true}`)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return "", fmt.Errorf("analysis endpoint address: %w", err)
	}
	// A wildcard listener is reachable on loopback; the URL needs a real address.
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/", nil
}

// rolloutObserved is true when the status describes the current spec.
func rolloutObserved(ro *v1alpha1.Rollout) bool {
	return ro.Status.ObservedGeneration == strconv.FormatInt(ro.Generation, 10)
}

// rolloutHealthy is the Healthy phase of the current spec with the desired
// revision as the stable one.
func rolloutHealthy(ro *v1alpha1.Rollout) bool {
	return rolloutObserved(ro) && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy &&
		ro.Status.CurrentPodHash != "" && ro.Status.StableRS == ro.Status.CurrentPodHash
}

func rolloutState(ro *v1alpha1.Rollout) string {
	step := "-"
	if ro.Status.CurrentStepIndex != nil {
		step = strconv.Itoa(int(*ro.Status.CurrentStepIndex))
	}
	s := fmt.Sprintf("%s, step %s, stable %q, current %q, generation %d observed %q",
		orDash(string(ro.Status.Phase)), step, ro.Status.StableRS, ro.Status.CurrentPodHash, ro.Generation, ro.Status.ObservedGeneration)
	if ro.Status.Message != "" {
		s += ": " + ro.Status.Message
	}
	return s
}

// pollRollouts lists the Rollouts and judges each with done.
func (x *run) pollRollouts(done func(ro *v1alpha1.Rollout) bool) func(ctx context.Context) (map[string]observation, error) {
	return func(ctx context.Context) (map[string]observation, error) {
		var list v1alpha1.RolloutList
		if err := x.observe(ctx, &list, client.InNamespace(x.cfg.Namespace), benchSelector(workloadRollout)); err != nil {
			return nil, fmt.Errorf("listing Rollouts: %w", err)
		}
		out := make(map[string]observation, len(list.Items))
		for i := range list.Items {
			ro := &list.Items[i]
			out[ro.Name] = observation{done: done(ro), state: rolloutState(ro)}
		}
		return out, nil
	}
}

func (x *run) createRollouts(ctx context.Context) error {
	p, err := x.measure(ctx, phaseSpec{
		name: "create", workload: "Rollout", waited: "Healthy", names: x.rollouts,
		firstWrite: true,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, x.rollouts, func(ctx context.Context, name string) error {
				ro := rollout(x.cfgFor(name), name)
				labelPart(&ro.ObjectMeta, &ro.Spec.Template.ObjectMeta, name, x.cfg.parts())
				if err := x.Client.Create(ctx, ro); err != nil {
					return fmt.Errorf("creating Rollout %s: %w", name, err)
				}
				return nil
			})
		},
		poll: x.pollRollouts(func(ro *v1alpha1.Rollout) bool {
			if !rolloutHealthy(ro) {
				return false
			}
			x.oldHash[ro.Name] = ro.Status.StableRS
			return true
		}),
	})
	x.res.Phases = append(x.res.Phases, p)
	return err
}

// updated is true once the Rollout's desired revision is no longer the
// first one.
func (x *run) updated(ro *v1alpha1.Rollout) bool {
	return ro.Status.CurrentPodHash != x.oldHash[ro.Name] &&
		len(ro.Spec.Template.Spec.Containers) > 0 && ro.Spec.Template.Spec.Containers[0].Image == x.cfg.UpdateImage
}

func (x *run) updateRollouts(ctx context.Context) error {
	var hits0 int64
	during, started := make(chan []string, 1), false
	duringCtx, stopDuring := context.WithCancel(ctx)
	defer stopDuring()
	p, err := x.measure(ctx, phaseSpec{
		name: "update", workload: "Rollout", waited: "Healthy", names: x.rollouts,
		firstWrite: true,
		onStart: func() {
			hits0 = x.hits.Load()
			if x.DuringUpdate != nil {
				started = true
				go func() { during <- x.DuringUpdate(duringCtx) }()
			}
		},
		onEnd: func(d time.Duration) {
			if a := x.res.Analysis; a != nil {
				a.Measurements = x.hits.Load() - hits0
				a.Seconds = d.Seconds()
				if d > 0 {
					a.PerSecond = float64(a.Measurements) / d.Seconds()
				}
			}
		},
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, x.rollouts, func(ctx context.Context, name string) error {
				return x.patchImage(ctx, &v1alpha1.Rollout{}, name)
			})
		},
		poll: x.pollRollouts(func(ro *v1alpha1.Rollout) bool {
			ok := x.updated(ro) && rolloutHealthy(ro)
			if ok {
				x.revHash[ro.Name] = ro.Status.StableRS
			}
			return ok
		}),
	})
	x.res.Phases = append(x.res.Phases, p)
	if a := x.res.Analysis; a != nil {
		a.Total = x.hits.Load()
	}
	if started {
		stopDuring()
		for _, n := range <-during {
			x.note(n)
		}
	}
	return err
}

// waitForLoad times the releases abort-under-load started under the
// aborts, from when their first change was sent until each is Healthy.
func (x *run) waitForLoad(ctx context.Context) error {
	p, err := x.measure(ctx, phaseSpec{
		name: "update", workload: "Rollout", waited: "Healthy", names: x.loading,
		act: func(context.Context) (map[string]time.Time, error) {
			starts := make(map[string]time.Time, len(x.loading))
			for _, name := range x.loading {
				starts[name] = x.loadSent
			}
			return starts, nil
		},
		poll: x.pollRollouts(func(ro *v1alpha1.Rollout) bool {
			return x.updated(ro) && rolloutHealthy(ro)
		}),
	})
	x.res.Phases = append(x.res.Phases, p)
	return err
}

// cfgFor is the configuration Rollout name is built from: in
// abort-under-load, the abort scenario's for the ones it aborts and the
// canary scenario's for the others.
func (x *run) cfgFor(name string) Config {
	cfg := x.cfg
	if cfg.Scenario != ScenarioAbortUnderLoad {
		return cfg
	}
	cfg.Scenario = ScenarioCanary
	if slices.Contains(x.aborting, name) {
		cfg.Scenario = ScenarioAbort
	}
	return cfg
}

// pauseRollouts updates every Rollout the scenario aborts and waits until
// each holds at its indefinite pause with the canary at 50%.
func (x *run) pauseRollouts(ctx context.Context) error {
	p, err := x.measure(ctx, phaseSpec{
		name: "pause", workload: "Rollout", waited: "Paused at 50%", names: x.aborting,
		firstWrite: true,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, x.aborting, func(ctx context.Context, name string) error {
				return x.patchImage(ctx, &v1alpha1.Rollout{}, name)
			})
		},
		poll: x.pollRollouts(func(ro *v1alpha1.Rollout) bool {
			ok := x.updated(ro) && rolloutObserved(ro) && ro.Status.Phase == v1alpha1.RolloutPhasePaused &&
				ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1 && ro.Status.StableRS != ""
			if ok {
				// Polls run one at a time, so no lock is needed.
				x.stableHash[ro.Name], x.canaryHash[ro.Name] = ro.Status.StableRS, ro.Status.CurrentPodHash
			}
			return ok
		}),
	})
	x.res.Phases = append(x.res.Phases, p)
	return err
}

// abortRollouts aborts every paused Rollout at once, the way `kubectl argo
// rollouts abort` does, and times each until traffic and Pods are back on
// the stable revision. When load names Rollouts, their template changes
// go out first and the aborts LoadLead later, in the midst of the
// releases they start.
func (x *run) abortRollouts(ctx context.Context, load []string) error {
	var mu sync.Mutex
	sent := map[string]time.Time{}
	// answered is each abort request's round trip: the part of its latency
	// the API server spends before any controller can see the abort.
	var answered []time.Duration
	var lastAnswer time.Time
	var requests []AbortRequest
	// release lets a held controller act again once the phase is over,
	// however it ended; over tells a hold that comes after a phase ended
	// by the timeout to let go at once.
	var release func()
	over := false
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		over = true
		if release != nil {
			release()
		}
	}()
	waited := "stable Service on stable, canary scaled to 0"
	if x.cfg.Router != "" {
		waited = "stable Service on stable, canary weight 0 in the " + x.cfg.Router + " router"
	}
	p, err := x.measure(ctx, phaseSpec{
		name: "abort", workload: "Rollout", waited: waited, names: x.aborting,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			if len(load) > 0 {
				x.loadSent = x.clock.Now()
				if err := x.forEach(ctx, load, func(ctx context.Context, name string) error {
					return x.patchImage(ctx, &v1alpha1.Rollout{}, name)
				}); err != nil {
					return nil, err
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-x.clock.After(LoadLead):
				}
			}
			if x.HoldController != nil {
				r, err := x.HoldController(ctx)
				if err != nil {
					return nil, fmt.Errorf("holding the controller before the aborts: %w", err)
				}
				mu.Lock()
				if over {
					r()
				} else {
					release = r
				}
				mu.Unlock()
			}
			err := x.forEach(ctx, x.aborting, func(ctx context.Context, name string) error {
				mu.Lock()
				sent[name] = x.clock.Now()
				mu.Unlock()
				ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: x.cfg.Namespace}}
				start := x.clock.Now()
				if err := x.Client.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`))); err != nil {
					return fmt.Errorf("aborting Rollout %s: %w", name, err)
				}
				mu.Lock()
				lastAnswer = x.clock.Now()
				answered = append(answered, lastAnswer.Sub(start))
				requests = append(requests, AbortRequest{Rollout: name, Sent: start, Answered: lastAnswer})
				mu.Unlock()
				return nil
			})
			return sent, err
		},
		poll:            x.pollAborted,
		pollWhileActing: true,
	})
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(requests, func(a, b AbortRequest) int { return a.Sent.Compare(b.Sent) })
	p.AbortRequests = requests
	x.res.Phases = append(x.res.Phases, p)
	if first, ok := earliest(sent); ok && len(answered) == len(x.aborting) {
		rt := Summarize(answered)
		x.note(fmt.Sprintf("the benchmark's own %d abort requests (at most %d in flight): all sent and answered within %.2fs of the first; each one's round trip p50 %.3fs, p99 %.3fs, max %.3fs, part of its abort's latency",
			len(answered), x.cfg.Concurrency, lastAnswer.Sub(first).Seconds(), rt.P50, rt.P99, rt.Max))
	}
	return err
}

// earliest is the first of the times.
func earliest(times map[string]time.Time) (time.Time, bool) {
	var first time.Time
	for _, t := range times {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// pollAborted judges an abort done when the stable Service selects the
// stable hash and no request goes to the canary any more: without a router
// that is when the canary ReplicaSet is scaled to 0 (or gone), with one when
// the router's canary weight is 0 (the canary Pods then stay for the
// abort's scale-down delay, idle).
func (x *run) pollAborted(ctx context.Context) (map[string]observation, error) {
	var svcs corev1.ServiceList
	if err := x.observe(ctx, &svcs, client.InNamespace(x.cfg.Namespace), benchSelector(workloadRollout)); err != nil {
		return nil, fmt.Errorf("listing Services: %w", err)
	}
	selects := map[string]string{}
	for _, s := range svcs.Items {
		selects[s.Name] = s.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
	}
	canary, err := x.canaryShares(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]observation, len(x.aborting))
	for _, name := range x.aborting {
		sel := selects[name+"-stable"]
		// A Rollout without a share has no canary left to send to.
		share, known := canary[name]
		out[name] = observation{
			done:  sel != "" && sel == x.stableHash[name] && (!known || share.none),
			state: fmt.Sprintf("stable Service selects %q (stable %q), canary %q at %s", sel, x.stableHash[name], x.canaryHash[name], orDash(share.text)),
		}
	}
	return out, nil
}

// canaryShare is what still sends requests to a Rollout's canary.
type canaryShare struct {
	// none is true when nothing does any more.
	none bool
	// text says what it is, for progress lines: "2 replicas", "weight 50".
	text string
}

// canaryShares returns, by Rollout, what still sends requests to its
// canary: the canary ReplicaSet's replicas without a router (a Rollout
// whose canary ReplicaSet is gone is left out: nothing is sent), or the
// router's canary weight.
func (x *run) canaryShares(ctx context.Context) (map[string]canaryShare, error) {
	out := map[string]canaryShare{}
	if x.cfg.Router == RouterNginx {
		// The controller names the canary Ingress; its owner says whose it is.
		var ings networkingv1.IngressList
		if err := x.observe(ctx, &ings, client.InNamespace(x.cfg.Namespace)); err != nil {
			return nil, fmt.Errorf("listing Ingresses: %w", err)
		}
		for i := range ings.Items {
			ing := &ings.Items[i]
			owner, ok := ownerRollout(ing)
			if !ok {
				continue
			}
			w, ok := ing.Annotations[nginxCanaryWeight]
			if !ok {
				out[owner] = canaryShare{text: "weight unset"}
				continue
			}
			out[owner] = canaryShare{none: w == "0", text: "weight " + w}
		}
		// Until its canary Ingress shows up a Rollout's weight is unknown,
		// which is not 0.
		for _, name := range x.rollouts {
			if _, ok := out[name]; !ok {
				out[name] = canaryShare{text: "no canary Ingress"}
			}
		}
		return out, nil
	}
	// Every controller of this API labels its ReplicaSets with the hash the
	// Services select by, so this selects exactly the Rollouts' ReplicaSets.
	var rss appsv1.ReplicaSetList
	if err := x.observe(ctx, &rss, client.InNamespace(x.cfg.Namespace), client.HasLabels{v1alpha1.DefaultRolloutUniqueLabelKey}); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		owner, ok := ownerRollout(rs)
		if !ok {
			continue
		}
		if h := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]; h != "" && h == x.canaryHash[owner] {
			n := int32(1)
			if rs.Spec.Replicas != nil {
				n = *rs.Spec.Replicas
			}
			out[owner] = canaryShare{none: n == 0, text: fmt.Sprintf("%d replicas", n)}
		}
	}
	return out, nil
}

// observe lists what a waiting phase judges: from Observer when there is
// one, else from the API server's watch cache (resourceVersion 0) rather
// than a quorum read of etcd, as polling hundreds of objects several times
// a second would otherwise load the etcd the controller under test writes
// to. Both lag etcd by the time a watch event takes, so an observation can
// only come late, never early.
func (x *run) observe(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if x.Observer != nil {
		// The items are only read, never changed or kept past the poll.
		return x.Observer.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...)
	}
	return x.Client.List(ctx, list, append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})...)
}

// ownerRollout names the Rollout that controls obj, if one does.
func ownerRollout(obj metav1.Object) (string, bool) {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Rollout" {
		return "", false
	}
	return ref.Name, true
}

// patchImage changes the template of one object to the update image.
func (x *run) patchImage(ctx context.Context, obj client.Object, name string) error {
	obj.SetName(name)
	obj.SetNamespace(x.cfg.Namespace)
	if err := x.Client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, imagePatch(x.cfg.UpdateImage))); err != nil {
		return fmt.Errorf("changing the image of %s: %w", name, err)
	}
	return nil
}

// forEach calls fn for every name with at most Concurrency calls in
// flight, so "all at once" is as close to at once as the client allows
// without opening thousands of connections. It stops at the first error.
func (x *run) forEach(ctx context.Context, items []string, fn func(ctx context.Context, name string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan string)
	for range min(x.cfg.Concurrency, len(items)) {
		wg.Go(func() {
			for name := range work {
				if err := fn(ctx, name); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	switch {
	case len(errs) == 1:
		return errs[0]
	case len(errs) > 1:
		return fmt.Errorf("%w (and %d more failures)", errs[0], len(errs)-1)
	}
	return ctx.Err()
}

// observation is what one poll saw of one object.
type observation struct {
	done  bool
	state string
}

// phaseSpec describes one measured phase.
type phaseSpec struct {
	name, workload, waited string
	names                  []string
	// act makes the change. It may return when each object's change was
	// sent, for latencies measured per object; nil means from the start.
	act func(ctx context.Context) (map[string]time.Time, error)
	// poll reads the cluster once.
	poll func(ctx context.Context) (map[string]observation, error)
	// pollWhileActing starts polling as act starts, for per-object
	// latencies that must not include the time act takes to reach the
	// other objects (sending 200 aborts takes longer than one abort).
	pollWhileActing bool
	// firstWrite times each object's change to the controller's first
	// write for it: for phases that change every Rollout's generation.
	firstWrite bool
	// onStart and onEnd run at the phase's first and last instant.
	onStart func()
	onEnd   func(time.Duration)
}

// snapshot is the counters at one instant.
type snapshot struct {
	ctrl, api     []Sample
	ctrlOK, apiOK bool
	// ctrlKinds is the controller's controller_clientset_k8s_request_total.
	ctrlKinds []Sample
	// ctrlCPU is the controller's process_cpu_seconds_total, when exposed.
	ctrlCPU   float64
	ctrlCPUOK bool
	proc      *ProcSample
	own       int64
}

func (x *run) snapshot(ctx context.Context) snapshot {
	var s snapshot
	if x.ControllerMetrics != nil {
		text, err := x.ControllerMetrics.Scrape(ctx)
		if err == nil {
			s.ctrl, err = ParseMetric(text, ControllerRequestsMetric)
		}
		if err != nil {
			x.note(fmt.Sprintf("controller requests not measured: %v", err))
		} else {
			s.ctrlOK = true
			// Both are optional: another controller may not expose them.
			s.ctrlKinds, _ = ParseMetric(text, ControllerKindRequestsMetric)
			if cpu, cerr := ParseMetric(text, ControllerCPUMetric); cerr == nil && len(cpu) > 0 {
				s.ctrlCPU, s.ctrlCPUOK = Total(cpu), true
			}
		}
	}
	if x.APIServerMetrics != nil {
		s.api, s.apiOK = x.scrape(ctx, x.APIServerMetrics, APIServerRequestsMetric, "API server")
	}
	s.proc = x.readProc()
	if x.OwnRequests != nil {
		s.own = x.OwnRequests()
	}
	return s
}

func (x *run) scrape(ctx context.Context, sc Scraper, metric, who string) ([]Sample, bool) {
	text, err := sc.Scrape(ctx)
	if err == nil {
		var samples []Sample
		samples, err = ParseMetric(text, metric)
		if err == nil {
			return samples, true
		}
	}
	x.note(fmt.Sprintf("%s requests not measured: %v", who, err))
	return nil, false
}

func (x *run) readProc() *ProcSample {
	if x.Process == nil {
		return nil
	}
	p, err := x.Process.Read()
	if err != nil {
		x.note(fmt.Sprintf("controller CPU and memory not measured: %v", err))
		return nil
	}
	return &p
}

// measure runs one phase: counters before, the change, polling until every
// object is done, counters after. The counters are read outside the timed
// span, so scraping never counts as the controller's time.
func (x *run) measure(ctx context.Context, spec phaseSpec) (Phase, error) {
	phase := Phase{Name: spec.name, Workload: spec.workload, Waited: spec.waited, Objects: len(spec.names)}
	label := spec.name
	if spec.workload == "Deployment" {
		label = "baseline " + spec.name
	}
	before := x.snapshot(ctx)
	peakRSS := int64(0)
	if before.proc != nil {
		peakRSS = before.proc.RSSBytes
	}

	start := x.clock.Now()
	if spec.onStart != nil {
		spec.onStart()
	}
	queue := x.sampleQueue(ctx)
	defer queue.stop()
	x.logf("%s: %d %ss", label, len(spec.names), spec.workload)
	var starts map[string]time.Time
	done := make(map[string]time.Time, len(spec.names))
	// interrupted keeps what the phase measured until ctx ended (a
	// timeout, Ctrl-C), so that the figures so far are reported.
	interrupted := func(end time.Time, err error) (Phase, error) {
		x.settle(ctx, &phase, spec, before, start, end, starts, done, peakRSS, queue, true)
		return phase, err
	}
	acting := make(chan error, 1)
	if spec.pollWhileActing {
		go func() {
			s, err := spec.act(ctx)
			starts = s // read only once acting has delivered
			acting <- err
		}()
	} else {
		var err error
		if starts, err = spec.act(ctx); err != nil {
			if ctx.Err() != nil {
				return interrupted(x.clock.Now(), fmt.Errorf("%s: %w", label, err))
			}
			return phase, fmt.Errorf("%s: %w", label, err)
		}
		close(acting)
	}
	actDone := false
	last := map[string]observation{}
	lastLog := start
	end := start
	for {
		obs, err := spec.poll(ctx)
		now := x.clock.Now()
		if err != nil {
			// One failed read in a long run is no reason to lose the run;
			// the timeout bounds a cluster that stays unreachable.
			x.logf("%s: %v (retrying)", label, err)
		}
		for name, o := range obs {
			last[name] = o
			if _, seen := done[name]; o.done && !seen {
				done[name] = now
			}
		}
		if x.Process != nil {
			if p := x.readProc(); p != nil {
				peakRSS = max(peakRSS, p.RSSBytes)
			}
		}
		if !actDone {
			select {
			case err := <-acting:
				if err != nil && ctx.Err() != nil {
					return interrupted(now, fmt.Errorf("%s: %w", label, err))
				}
				if err != nil {
					return phase, fmt.Errorf("%s: %w", label, err)
				}
				actDone = true
			default:
			}
		}
		if actDone && countIn(done, spec.names) == len(spec.names) {
			end = now
			break
		}
		timedOut := func() (Phase, error) {
			err := fmt.Errorf("%s: %d of %d %ss %s after %s: %w; e.g. %s", label, countIn(done, spec.names), len(spec.names),
				spec.workload, spec.waited, now.Sub(start).Round(time.Second), ctx.Err(), notDone(spec.names, done, last))
			if !actDone {
				// The changes are still being sent; the latencies read
				// the starts they record, so wait for them.
				<-acting
			}
			return interrupted(now, err)
		}
		if ctx.Err() != nil {
			return timedOut()
		}
		if now.Sub(lastLog) >= x.cfg.ProgressInterval {
			x.logf("%s: %d/%d %s, %s", label, countIn(done, spec.names), len(spec.names), spec.waited, now.Sub(start).Round(time.Second))
			lastLog = now
		}
		select {
		case <-ctx.Done():
			return timedOut()
		case <-x.clock.After(x.cfg.PollInterval):
		}
	}
	if spec.onEnd != nil {
		spec.onEnd(end.Sub(start))
	}
	x.logf("%s: all %d %s after %s", label, len(spec.names), spec.waited, end.Sub(start).Round(10*time.Millisecond))
	x.settle(ctx, &phase, spec, before, start, end, starts, done, peakRSS, queue, false)
	return phase, nil
}

// settle fills in phase, which ran from start to end: the latencies of the
// objects seen done, and the controller's and the API server's requests,
// CPU and memory between the before snapshot and now. An interrupted
// phase (its context ended: a timeout, Ctrl-C) is marked as such and keeps
// what it measured until then; its last readings get a context of their
// own, since the run's has ended.
func (x *run) settle(ctx context.Context, phase *Phase, spec phaseSpec, before snapshot, start, end time.Time,
	starts, done map[string]time.Time, peakRSS int64, queue *queueSampler, interrupted bool) {
	if interrupted {
		phase.Interrupted = true
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), interruptedReadTimeout)
		defer cancel()
	}
	phase.Seconds = end.Sub(start).Seconds()
	lat := make([]time.Duration, 0, len(spec.names))
	for _, name := range spec.names {
		at, ok := done[name]
		if !ok {
			continue
		}
		from := start
		if t, ok := starts[name]; ok {
			from = t
		}
		lat = append(lat, at.Sub(from))
	}
	phase.Completions = len(lat)
	phase.Latency = Summarize(lat)

	phase.QueueDepth = queue.stop()
	if spec.firstWrite && x.FirstWrites != nil {
		lat, missing := x.FirstWrites.Latencies(spec.names, start)
		phase.FirstWrite = &FirstWriteStats{Latency: Summarize(lat), Missing: missing}
		phase.Milestones = x.FirstWrites.Milestones(spec.names, start)
	}
	after := x.snapshot(ctx)
	n := len(spec.names)
	if before.ctrlOK && after.ctrlOK {
		phase.ControllerRequests = ControllerRequests(before.ctrl, after.ctrl, n)
		if len(after.ctrlKinds) > 0 {
			phase.ControllerRequests.ByVerbResource = ControllerRequestsByKind(before.ctrlKinds, after.ctrlKinds)
		}
	}
	if before.ctrlCPUOK && after.ctrlCPUOK {
		cpu := after.ctrlCPU - before.ctrlCPU
		phase.ControllerCPUSeconds = &cpu
	}
	if before.apiOK && after.apiOK {
		phase.APIServerRequests = APIServerRequests(before.api, after.api, n)
	}
	phase.BenchRequests = after.own - before.own
	if before.proc != nil && after.proc != nil {
		u := &ProcessUsage{
			CPUSeconds:  after.proc.CPUSeconds - before.proc.CPUSeconds,
			RSSStartMiB: mib(before.proc.RSSBytes),
			RSSEndMiB:   mib(after.proc.RSSBytes),
			RSSPeakMiB:  mib(max(peakRSS, after.proc.RSSBytes)),
			HWMMiB:      mib(after.proc.HWMBytes),
		}
		if phase.Seconds > 0 {
			u.CPUCores = u.CPUSeconds / phase.Seconds
		}
		phase.Controller = u
	}
}

// interruptedReadTimeout bounds the last readings of an interrupted phase.
const interruptedReadTimeout = 30 * time.Second

func countIn(done map[string]time.Time, names []string) int {
	n := 0
	for _, name := range names {
		if _, ok := done[name]; ok {
			n++
		}
	}
	return n
}

// notDone describes up to three objects that are not done, for an error
// that says where things got stuck.
func notDone(names []string, done map[string]time.Time, last map[string]observation) string {
	var out []string
	for _, name := range names {
		if _, ok := done[name]; ok {
			continue
		}
		state := "not seen"
		if o, ok := last[name]; ok {
			state = o.state
		}
		out = append(out, name+" ("+state+")")
		if len(out) == 3 {
			break
		}
	}
	return strings.Join(out, "; ")
}

func (x *run) logf(format string, args ...any) {
	fmt.Fprintf(x.progress, format+"\n", args...)
}

// note adds a caveat to the result once.
func (x *run) note(s string) {
	if x.noted[s] {
		return
	}
	x.noted[s] = true
	x.res.Notes = append(x.res.Notes, s)
}
