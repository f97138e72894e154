package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
	"github.com/kanaria-rollouts/kanaria/internal/notify"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// EventSource is the component name on the Events of AnalysisRuns.
const EventSource = "analysis-controller"

// CacheObjects limits the cache of Jobs to the ones analysis runs created
// and, with shards, to those of the held shards' buckets, which a Job
// carries as its run's label.
func CacheObjects(shardSel *labels.Requirement) (map[client.Object]cache.ByObject, error) {
	req, err := labels.NewRequirement(job.LabelRunUID, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("building the Job cache selector: %w", err)
	}
	sel := labels.NewSelector().Add(*req)
	if shardSel != nil {
		sel = sel.Add(*shardSel)
	}
	return map[client.Object]cache.ByObject{&batchv1.Job{}: {Label: sel}}, nil
}

// staleCacheRetry is when a reconcile that found the cache behind our own
// last status write, with no copy of that write to go on from, looks again.
// The write's watch event brings the run back as soon as the cache has it,
// so this is only a safety net, kept long so that runs do not poll their
// cache while a busy API server is slow to send that event.
const staleCacheRetry = 2 * time.Second

// Reconciler reconciles AnalysisRuns.
type Reconciler struct {
	// fresh tells a cached run that predates our own last status write, so
	// a measurement is never taken twice, and keeps the run as that write
	// returned it, to go on from while the cache lags.
	fresh cachefresh.Tracker
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// Secrets reads Secret keys directly from the API server: Secrets are
	// read one by one and never cached.
	Secrets metricproviders.SecretReader
	// Recorder records the Events of every verdict.
	Recorder record.EventRecorder
	// Notifier announces verdicts to the notification services users
	// subscribed to; nil sends none.
	Notifier notify.Sink
	// Queriers are the synchronous providers by name (prometheus, web, ...).
	Queriers map[string]metricproviders.Querier
	// Jobs runs Job measurements.
	Jobs *job.Provider
	// Conditions evaluates success and failure conditions.
	Conditions *condition.Evaluator
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Wrap, when set, wraps the reconciler the controller runs, so the
	// manager can time each reconcile without this package knowing how.
	Wrap func(reconcile.Reconciler) reconcile.Reconciler
	// EndpointConcurrency is how many measurements may wait on one
	// provider endpoint at once; zero means DefaultEndpointConcurrency.
	EndpointConcurrency int

	// StatusBatch is how long routine successful measurements of a metric
	// measured more often than that may wait in memory to be written
	// together (see planStatusWrite). Zero writes every measurement at
	// once, as the reference does.
	StatusBatch time.Duration
	// MeasurementWrites paces the writes of batches whose window is over,
	// so that under load they leave the client's requests to the writes a
	// release waits for: a batch the pace refuses grows on, up to its
	// metric's measurementRetention, which is then written regardless, as
	// is every verdict and every measurement other than a routine success.
	// Nil paces nothing; SetupWithManager derives it from the client's
	// limit. Without a StatusBatch nothing is held, so nothing is paced.
	MeasurementWrites flowcontrol.RateLimiter

	held          heldBatches
	endpoints     bulkhead
	endpointsOnce sync.Once
}

// measurementShare is the part of the client's request rate and burst that
// routine measurement writes may take. Each measurement is one status
// write, so at a 1 s interval a few hundred runs alone would use every
// request the client may send and delay the Rollouts' scale and status
// writes behind them.
const measurementShare = 0.5

// measurementPace is the MeasurementWrites of a client bound by cfg: a
// token bucket holding measurementShare of its rate and burst, or nil when
// the client has no limit.
func measurementPace(cfg *rest.Config) flowcontrol.RateLimiter {
	if cfg == nil || cfg.QPS <= 0 {
		return nil
	}
	qps := cfg.QPS * measurementShare
	burst := max(int(float32(cfg.Burst)*measurementShare), 1)
	return flowcontrol.NewTokenBucketRateLimiter(qps, burst)
}

// routineWrite reports whether the status change from prev to next only
// records measurements: the run and every metric keep their phase and
// message. A run's first write (Pending to Running) and every verdict are
// not routine; routineAddition narrows this to successes alone.
func routineWrite(prev, next *v1alpha1.AnalysisRunStatus) bool {
	if prev.Phase != v1alpha1.AnalysisPhaseRunning || next.Phase != prev.Phase || next.Message != prev.Message ||
		len(next.MetricResults) != len(prev.MetricResults) {
		return false
	}
	for i := range next.MetricResults {
		p, n := &prev.MetricResults[i], &next.MetricResults[i]
		if p.Name != n.Name || p.Phase != n.Phase || p.Message != n.Message {
			return false
		}
	}
	return true
}

// bulkhead returns the per-endpoint limit of measurements in flight.
func (r *Reconciler) bulkhead() *bulkhead {
	r.endpointsOnce.Do(func() { r.endpoints.limit = r.EndpointConcurrency })
	return &r.endpoints
}

// SetupWithManager registers the reconciler with mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.MeasurementWrites == nil {
		r.MeasurementWrites = measurementPace(mgr.GetConfig())
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("analysisrun").
		For(&v1alpha1.AnalysisRun{}).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r.runnable())
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile takes the measurements that are due and judges the run.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx).WithValues("analysisrun", req.NamespacedName.String())
	// What the tracker knows is taken before the cache is read, as
	// cachefresh asks of every reader.
	look := r.fresh.Look(req.NamespacedName)
	var orig v1alpha1.AnalysisRun
	if err := r.Client.Get(ctx, req.NamespacedName, &orig); err != nil {
		r.fresh.Forget(req.NamespacedName)
		if apierrors.IsNotFound(err) {
			r.held.drop(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if look.Stale(orig.ResourceVersion) {
		// The cache has not seen our own last status write. Deciding on
		// the older status would take its measurements again and record
		// its Events twice, so the reconcile goes on from the run as that
		// write returned it, which is newer; a busy API server can take
		// seconds to send the write's watch event, and the next
		// measurement would wait for it. Without that copy (a conflict
		// dropped it) the write's watch event brings the run back once the
		// cache has it.
		written, ok := look.Written(orig.ResourceVersion)
		if !ok {
			staleReads.WithLabelValues(staleWaited).Inc()
			logger.V(1).Info("cache behind own write", "cachedVersion", orig.ResourceVersion)
			return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
		}
		staleReads.WithLabelValues(staleWrittenCopy).Inc()
		logger.V(1).Info("deciding on own written copy", "cachedVersion", orig.ResourceVersion, "writtenVersion", written.GetResourceVersion())
		orig = *written.(*v1alpha1.AnalysisRun).DeepCopy()
	}
	// A cache that holds our last write or a later one has had Stale end
	// what fresh kept of it, copy and all.
	if !orig.DeletionTimestamp.IsZero() {
		r.held.drop(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	run := orig.DeepCopy()
	now := r.now()
	// Measurements held from earlier reconciles count as taken: the
	// limits, the count and the next due time judge them with the
	// persisted ones.
	since, dropped := r.held.resume(req.NamespacedName, &orig, run)
	if dropped > 0 {
		logger.V(1).Info("dropped held measurements: the run's status was written by someone else; they are taken again when due", "measurements", dropped)
	}
	if run.Status.Phase.Completed() {
		return r.expire(ctx, run, now)
	}
	if run.Status.StartedAt == nil {
		run.Status.StartedAt = &metav1.Time{Time: now}
	}
	wasPhase := run.Status.Phase
	keep := retentionOf(run)

	var events []event
	var deferred []string
	if err := r.check(run); err != nil {
		r.fail(run, now, err.Error())
	} else if args, err := resolveArgs(ctx, run, r.Secrets); err != nil {
		r.fail(run, now, err.Error())
	} else {
		deferred = r.measure(ctx, run, args, keep, now)
		for _, m := range assessRun(run, now) {
			res := findResult(&run.Status, m)
			if res.Phase.Completed() {
				typ := corev1.EventTypeNormal
				if res.Phase != v1alpha1.AnalysisPhaseSuccessful {
					typ = corev1.EventTypeWarning
				}
				msg := fmt.Sprintf("metric %q completed %s", m, res.Phase)
				if res.Message != "" && res.Phase != v1alpha1.AnalysisPhaseSuccessful {
					msg += ": " + res.Message
				}
				events = append(events, event{typ, "Metric" + string(res.Phase), args.mask(msg)})
			}
		}
	}
	if run.Status.Phase.Completed() && !wasPhase.Completed() {
		typ := corev1.EventTypeNormal
		if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
			typ = corev1.EventTypeWarning
		}
		msg := "AnalysisRun completed " + string(run.Status.Phase)
		if run.Status.Message != "" {
			msg += ": " + run.Status.Message
		}
		events = append(events, event{typ, "AnalysisRun" + string(run.Status.Phase), msg})
	}

	// holdUntil is when a held batch must be looked at again, zero when
	// nothing is held.
	var holdUntil time.Time
	if !equality.Semantic.DeepEqual(orig.Status, run.Status) {
		plan := planStatusWrite(batchInput{persisted: &orig.Status, next: &run.Status, metrics: run.Spec.Metrics,
			retention: keep.limit, window: r.StatusBatch, since: since, now: now})
		if !plan.hold && plan.reason == flushWindow && r.MeasurementWrites != nil && !r.MeasurementWrites.TryAccept() {
			// The client is busy: the batch grows on, until its window
			// comes round again or its retention forces the write.
			plan.hold = true
			holdUntil = now.Add(paceRetry)
		}
		if plan.hold {
			r.held.hold(req.NamespacedName, orig.UID, &orig.Status, &run.Status, plan.since)
			if holdUntil.IsZero() {
				holdUntil = plan.since.Add(r.StatusBatch)
			}
		} else {
			if err := r.Client.Status().Patch(ctx, run, client.MergeFromWithOptions(&orig, client.MergeFromWithOptimisticLock{})); err != nil {
				// A held batch stays as it was: the next reconcile
				// measures again what this one took.
				if apierrors.IsConflict(err) {
					// Someone wrote the run after the version decided on:
					// our last write's result is not the latest, so the
					// next reconcile waits for the cache instead.
					r.fresh.DropCopy(req.NamespacedName)
					return ctrl.Result{Requeue: true}, nil
				}
				return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
			}
			r.held.drop(req.NamespacedName)
			if run.ResourceVersion != orig.ResourceVersion {
				r.fresh.WroteCopy(req.NamespacedName, orig.ResourceVersion, run.DeepCopy())
			}
			if !since.IsZero() {
				logger.V(1).Info("wrote held measurements", "reason", plan.reason,
					"measurements", measurementsAdded(&orig.Status, &run.Status))
			}
		}
	}
	for _, e := range events {
		r.Recorder.Event(run, e.typ, e.reason, e.msg)
		logger.Info("decided", "reason", e.reason, "message", e.msg)
	}
	r.notify(run, wasPhase, events)
	if run.Status.Phase.Completed() {
		return r.expire(ctx, run, now)
	}
	if len(deferred) > 0 {
		retry := r.bulkhead().retryAfter(deferred)
		if !holdUntil.IsZero() {
			retry = min(retry, max(holdUntil.Sub(r.now()), time.Millisecond))
		}
		logger.V(1).Info("measurement deferred: its provider endpoint has every place taken by slower measurements", "retryIn", retry)
		return ctrl.Result{RequeueAfter: retry}, nil
	}
	next := nextDue(run, r.now())
	if !holdUntil.IsZero() && (next.IsZero() || holdUntil.Before(next)) {
		next = holdUntil
	}
	if !next.IsZero() {
		return ctrl.Result{RequeueAfter: max(next.Sub(r.now()), time.Millisecond)}, nil
	}
	return ctrl.Result{}, nil
}

type event struct{ typ, reason, msg string }

// notify hands the verdicts of a reconcile whose status write landed to the
// notifier. A run that starts measuring is announced as AnalysisRunRunning,
// the reference's reason, without a Kubernetes Event of its own.
func (r *Reconciler) notify(run *v1alpha1.AnalysisRun, wasPhase v1alpha1.AnalysisPhase, events []event) {
	if r.Notifier == nil {
		return
	}
	var notices []notify.Notice
	if run.Status.Phase == v1alpha1.AnalysisPhaseRunning && wasPhase != v1alpha1.AnalysisPhaseRunning {
		notices = append(notices, notify.Notice{Type: corev1.EventTypeNormal, Reason: "AnalysisRunRunning", Message: "AnalysisRun started running"})
	}
	for _, e := range events {
		notices = append(notices, notify.Notice{Type: e.typ, Reason: e.reason, Message: e.msg})
	}
	r.Notifier.Notify(run, rolloutview.Owned{}, notices)
}

// check refuses runs that cannot be measured: providers Kanaria lacks,
// duplicate metric names and conditions that do not compile.
func (r *Reconciler) check(run *v1alpha1.AnalysisRun) error {
	if run.DecodeError != "" {
		return fmt.Errorf("the stored run cannot be read: %s", run.DecodeError)
	}
	seen := map[string]bool{}
	var errs []error
	for _, e := range ValidateMetrics(run.Spec.Metrics, field.NewPath("spec", "metrics")) {
		errs = append(errs, e)
	}
	for _, m := range run.Spec.Metrics {
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("metric name %q is used twice", m.Name))
		}
		seen[m.Name] = true
		if c := intValue(m.Count, 0); c > 1 && m.Interval == "" {
			errs = append(errs, fmt.Errorf("metric %q: count %d needs an interval between measurements", m.Name, c))
		}
		for _, c := range []string{m.SuccessCondition, m.FailureCondition} {
			if c == "" || placeholder.MatchString(c) {
				// A condition with {{args.x}} is compiled once the
				// arguments are filled in, at measurement time.
				continue
			}
			if err := r.Conditions.Compile(c); err != nil {
				errs = append(errs, fmt.Errorf("metric %q: %w", m.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// fail ends a run that cannot be measured with phase Error.
func (r *Reconciler) fail(run *v1alpha1.AnalysisRun, now time.Time, msg string) {
	run.Status.Phase = v1alpha1.AnalysisPhaseError
	run.Status.Message = msg
	run.Status.CompletedAt = &metav1.Time{Time: now}
}

// measure takes, resumes or terminates every metric's measurement as due.
// It returns the provider endpoints of due measurements it put off because
// the endpoint already had every place taken.
func (r *Reconciler) measure(ctx context.Context, run *v1alpha1.AnalysisRun, args resolvedArgs, keep retentionRules, now time.Time) (deferred []string) {
	term := terminating(run)
	for i := range run.Spec.Metrics {
		m := run.Spec.Metrics[i]
		res := findResult(&run.Status, m.Name)
		if res == nil {
			run.Status.MetricResults = append(run.Status.MetricResults, v1alpha1.MetricResult{
				Name: m.Name, Phase: v1alpha1.AnalysisPhasePending, DryRun: isDryRun(run, m.Name),
			})
			res = &run.Status.MetricResults[len(run.Status.MetricResults)-1]
		}
		if res.Phase.Completed() {
			continue
		}
		if last := lastMeasurement(res); last != nil && !last.Phase.Completed() {
			if m.Provider.Job == nil {
				// An asynchronous provider's judgement (Kayenta): looked at
				// again at resumeAt, or ended when the run terminates.
				if !term && last.ResumeAt != nil && now.Before(last.ResumeAt.Time) {
					continue
				}
				endpoint := endpointOf(m, args)
				if !term && !r.bulkhead().acquire(endpoint) {
					deferred = append(deferred, endpoint)
					continue
				}
				began := time.Now()
				meas := r.resumeMeasurement(ctx, run, m, args, *last, term, now)
				if !term {
					r.bulkhead().release(endpoint, time.Since(began))
				}
				logMeasurement(ctx, run, m, meas)
				recordMeasurement(res, meas, true)
				continue
			}
			var meas v1alpha1.Measurement
			if term {
				meas = r.Jobs.Terminate(ctx, run, *last, now)
			} else {
				meas = r.Jobs.Check(ctx, run, *last, now)
			}
			meas.Message = args.mask(meas.Message)
			if meas.Phase != last.Phase {
				// A Job is looked at on every reconcile while it runs; only
				// its ending is news.
				logMeasurement(ctx, run, m, meas)
			}
			recordMeasurement(res, meas, true)
			continue
		}
		if term {
			continue
		}
		if ok, _ := due(run, &m, now); !ok {
			continue
		}
		index := int(res.Count + res.Error)
		var endpoint string
		if m.Provider.Job == nil {
			endpoint = endpointOf(m, args)
			if !r.bulkhead().acquire(endpoint) {
				deferred = append(deferred, endpoint)
				continue
			}
		}
		began := time.Now()
		meas := r.takeMeasurement(ctx, run, m, args, index, now)
		if endpoint != "" {
			r.bulkhead().release(endpoint, time.Since(began))
		}
		logMeasurement(ctx, run, m, meas)
		recordMeasurement(res, meas, false)
		trim(res, keep.limit(m.Name))
	}
	return deferred
}

// takeMeasurement runs one measurement of m.
func (r *Reconciler) takeMeasurement(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Metric, args resolvedArgs, index int, now time.Time) v1alpha1.Measurement {
	started := metav1.NewTime(now)
	meas := v1alpha1.Measurement{StartedAt: &started}
	done := func(phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
		t := metav1.NewTime(r.now())
		meas.Phase, meas.Message, meas.FinishedAt = phase, args.mask(msg), &t
		return meas
	}
	m, err := referenceJobSecrets(m, run)
	if err != nil {
		return done(v1alpha1.AnalysisPhaseError, err.Error())
	}
	sm, err := substitute(m, args)
	if err != nil {
		return done(v1alpha1.AnalysisPhaseError, err.Error())
	}
	if sm.Provider.Job != nil {
		out := r.Jobs.Start(ctx, run, sm, index, now)
		out.Message = args.mask(out.Message)
		return out
	}
	name := providerName(&sm.Provider)
	q := r.Queriers[name]
	if q == nil {
		return done(v1alpha1.AnalysisPhaseError, fmt.Sprintf("the %s metric provider is not supported by this version of Kanaria", name))
	}
	read := &recordingSecrets{inner: r.Secrets}
	callCtx, cancel := context.WithTimeout(ctx, MaxProviderCall)
	v, err := q.Query(callCtx, metricproviders.Request{Namespace: run.Namespace, RunName: run.Name, Metric: sm, Secrets: read})
	cancel()
	// Credentials the provider read (an API key, a token) are masked like
	// the run's secret arguments.
	args = args.withSecrets(read.values())
	return r.settle(sm, args, meas, v, err)
}

// resumeMeasurement looks again at an asynchronous provider's in-flight
// measurement, or ends it when the run is terminating: the judgement was
// never finished, so it counts as Inconclusive, as a cut-short Job does.
func (r *Reconciler) resumeMeasurement(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Metric, args resolvedArgs, meas v1alpha1.Measurement, term bool, now time.Time) v1alpha1.Measurement {
	done := func(phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
		t := metav1.NewTime(now)
		meas.Phase, meas.Message, meas.FinishedAt, meas.ResumeAt = phase, args.mask(msg), &t, nil
		return meas
	}
	if term {
		return done(v1alpha1.AnalysisPhaseInconclusive, "the run was terminated before the provider finished its judgement")
	}
	sm, err := substitute(m, args)
	if err != nil {
		return done(v1alpha1.AnalysisPhaseError, err.Error())
	}
	name := providerName(&sm.Provider)
	q, ok := r.Queriers[name].(metricproviders.Resumer)
	if !ok {
		return done(v1alpha1.AnalysisPhaseError, fmt.Sprintf("the %s metric provider cannot resume a measurement", name))
	}
	read := &recordingSecrets{inner: r.Secrets}
	callCtx, cancel := context.WithTimeout(ctx, MaxProviderCall)
	v, err := q.Resume(callCtx, metricproviders.Request{Namespace: run.Namespace, RunName: run.Name, Metric: sm, Secrets: read}, meas.Metadata)
	cancel()
	args = args.withSecrets(read.values())
	return r.settle(sm, args, meas, v, err)
}

// settle turns what a provider answered into the measurement.
func (r *Reconciler) settle(sm v1alpha1.Metric, args resolvedArgs, meas v1alpha1.Measurement, v metricproviders.Value, err error) v1alpha1.Measurement {
	finish := func(phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
		t := metav1.NewTime(r.now())
		meas.Phase, meas.Message, meas.FinishedAt, meas.ResumeAt = phase, args.mask(msg), &t, nil
		return meas
	}
	if err != nil {
		return finish(v1alpha1.AnalysisPhaseError, err.Error())
	}
	meas.Value = args.mask(v.Raw)
	meas.Metadata = args.maskMetadata(v.Metadata)
	switch v.Phase {
	case v1alpha1.AnalysisPhaseRunning:
		after := v.ResumeAfter
		if after <= 0 {
			after = errorRetryInterval
		}
		resume := metav1.NewTime(r.now().Add(after))
		meas.Phase, meas.Message, meas.ResumeAt = v1alpha1.AnalysisPhaseRunning, args.mask(v.Message), &resume
		return meas
	case "":
	default:
		return finish(v.Phase, v.Message)
	}
	phase, err := r.Conditions.Evaluate(sm.SuccessCondition, sm.FailureCondition, v.Result)
	if err != nil {
		return finish(v1alpha1.AnalysisPhaseError, err.Error())
	}
	return finish(phase, "")
}

// logMeasurement writes a measurement as one line: the run, the metric,
// its provider, the phase and the value and message, both already masked.
func logMeasurement(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Metric, meas v1alpha1.Measurement) {
	log.FromContext(ctx).Info("measured", "analysisrun", run.Namespace+"/"+run.Name, "metric", m.Name,
		"provider", providerName(&m.Provider), "phase", meas.Phase, "value", meas.Value, "message", meas.Message)
}

// providerName names the provider a metric uses.
func providerName(p *v1alpha1.MetricProvider) string {
	switch {
	case p.Prometheus != nil:
		return "prometheus"
	case p.Web != nil:
		return "web"
	case p.Datadog != nil:
		return "datadog"
	case p.CloudWatch != nil:
		return "cloudwatch"
	case p.Job != nil:
		return job.Name
	case p.NewRelic != nil:
		return "newrelic"
	case p.Wavefront != nil:
		return "wavefront"
	case p.Kayenta != nil:
		return "kayenta"
	case p.Graphite != nil:
		return "graphite"
	case p.Influxdb != nil:
		return "influxdb"
	case p.SkyWalking != nil:
		return "skywalking"
	case len(p.Plugin) == 1:
		// Kanaria's own providers live in the open plugin map, under keys
		// of its domain; any other key names a plugin binary.
		for k := range p.Plugin {
			if strings.HasPrefix(k, "kanaria.dev/") {
				return k
			}
		}
		return "plugin"
	case len(p.Plugin) > 1:
		return "plugin"
	}
	return "(none)"
}

// nextDue is the earliest time any metric needs attention again.
func nextDue(run *v1alpha1.AnalysisRun, now time.Time) time.Time {
	var next time.Time
	for i := range run.Spec.Metrics {
		ok, at := due(run, &run.Spec.Metrics[i], now)
		if ok {
			at = now
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// expire deletes a completed run once its ttlStrategy says so.
func (r *Reconciler) expire(ctx context.Context, run *v1alpha1.AnalysisRun, now time.Time) (ctrl.Result, error) {
	ttl := run.Spec.TTLStrategy
	if ttl == nil || run.Status.CompletedAt == nil {
		return ctrl.Result{}, nil
	}
	secs := ttl.SecondsAfterCompletion
	switch {
	case run.Status.Phase == v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterSuccess != nil:
		secs = ttl.SecondsAfterSuccess
	case run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterFailure != nil:
		secs = ttl.SecondsAfterFailure
	}
	if secs == nil {
		return ctrl.Result{}, nil
	}
	at := run.Status.CompletedAt.Add(time.Duration(*secs) * time.Second)
	if now.Before(at) {
		return ctrl.Result{RequeueAfter: at.Sub(now)}, nil
	}
	if err := r.Client.Delete(ctx, run); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("deleting expired run: %w", err)
	}
	r.Recorder.Event(run, corev1.EventTypeNormal, "AnalysisRunExpired", "deleted by its ttlStrategy")
	return ctrl.Result{}, nil
}

// runnable is what the controller runs: r, wrapped when Wrap is set.
func (r *Reconciler) runnable() reconcile.Reconciler {
	if r.Wrap != nil {
		return r.Wrap(r)
	}
	return r
}
