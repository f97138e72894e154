package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

// fakeClock is virtual time: every wait advances it at once and lets the
// fake controller act, so a run is deterministic and takes no real time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	onTick func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	if c.onTick != nil {
		c.onTick()
	}
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// fakeController plays a controller serving the Rollout API and the
// Deployment controller, finishing one object per tick (in name order) so
// that latencies are spread and known in advance.
type fakeController struct {
	// mu keeps ticks apart: abort-under-load's act waits on the clock
	// while the phase's polls do.
	mu      sync.Mutex
	t       *testing.T
	c       client.Client
	ns      string
	idle    bool
	ticks   int
	httpGet func(url string)
}

func hashOf(image string) string { return "h" + image[strings.LastIndexByte(image, ':')+1:] }

func (f *fakeController) tick() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks++
	if f.idle {
		return
	}
	ctx := context.Background()
	var deps appsv1.DeploymentList
	f.must(f.c.List(ctx, &deps, client.InNamespace(f.ns)))
	for i := range sortedByName(deps.Items, func(d appsv1.Deployment) string { return d.Name }) {
		d := &deps.Items[i]
		if d.Status.ObservedGeneration == d.Generation {
			continue
		}
		r := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, AvailableReplicas: r}
		f.must(f.c.Status().Update(ctx, d))
		return
	}
	var ros v1alpha1.RolloutList
	f.must(f.c.List(ctx, &ros, client.InNamespace(f.ns)))
	for i := range sortedByName(ros.Items, func(r v1alpha1.Rollout) string { return r.Name }) {
		ro := &ros.Items[i]
		gen := strconv.FormatInt(ro.Generation, 10)
		// Like a real controller's, the hash covers the whole template, so
		// a churn round's annotation makes a new one.
		hash := hashOf(ro.Spec.Template.Spec.Containers[0].Image) + ro.Spec.Template.Annotations[AnnotationRound]
		switch {
		case ro.Status.Abort && ro.Status.Phase != v1alpha1.RolloutPhaseDegraded:
			if routedByNginx(ro) {
				// A router takes the traffic back first and keeps the
				// canary Pods for the abort's scale-down delay.
				f.setCanaryWeight(ro, "0")
			} else {
				f.scaleCanary(ro, 0)
			}
			ro.Status.Phase = v1alpha1.RolloutPhaseDegraded
			ro.Status.Message = "RolloutAborted"
		case ro.Status.ObservedGeneration == gen:
			continue
		case ro.Status.StableRS == "":
			ro.Status = v1alpha1.RolloutStatus{ObservedGeneration: gen, Phase: v1alpha1.RolloutPhaseHealthy, StableRS: hash, CurrentPodHash: hash}
			if c := ro.Spec.Strategy.Canary; c != nil && c.StableService != "" {
				f.selectHash(c.StableService, hash)
			}
		case ro.Spec.Strategy.Canary != nil && len(ro.Spec.Strategy.Canary.Steps) == 2:
			ro.Status.ObservedGeneration, ro.Status.Phase, ro.Status.CurrentPodHash = gen, v1alpha1.RolloutPhasePaused, hash
			ro.Status.CurrentStepIndex = ptr(int32(1))
			f.createCanary(ro, hash)
			if routedByNginx(ro) {
				f.setCanaryWeight(ro, "50")
			}
		default:
			if c := ro.Spec.Strategy.Canary; c != nil && c.Analysis != nil {
				var at v1alpha1.AnalysisTemplate
				f.must(f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: c.Analysis.Templates[0].TemplateName}, &at))
				f.httpGet(at.Spec.Metrics[0].Provider.Web.URL)
			}
			ro.Status.ObservedGeneration, ro.Status.Phase, ro.Status.StableRS, ro.Status.CurrentPodHash = gen, v1alpha1.RolloutPhaseHealthy, hash, hash
		}
		// The benchmark may change a Rollout between this list and this
		// write (abort-under-load patches releases while it polls); a
		// controller then decides again on the next tick.
		if err := f.c.Status().Update(ctx, ro); !apierrors.IsConflict(err) {
			f.must(err)
		}
		return
	}
}

func (f *fakeController) selectHash(svc, hash string) {
	var s corev1.Service
	f.must(f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: svc}, &s))
	s.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] = hash
	f.must(f.c.Update(context.Background(), &s))
}

func (f *fakeController) createCanary(ro *v1alpha1.Rollout, hash string) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: ro.Name + "-" + hash, Namespace: f.ns,
			Labels:          map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: ptr(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1))},
	}
	f.must(f.c.Create(context.Background(), rs))
}

func (f *fakeController) scaleCanary(ro *v1alpha1.Rollout, n int32) {
	var rs appsv1.ReplicaSet
	f.must(f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: ro.Name + "-" + ro.Status.CurrentPodHash}, &rs))
	rs.Spec.Replicas = &n
	f.must(f.c.Update(context.Background(), &rs))
}

func routedByNginx(ro *v1alpha1.Rollout) bool {
	c := ro.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil && c.TrafficRouting.Nginx != nil
}

// setCanaryWeight writes the canary Ingress as an NGINX router does: its
// own name, owned by the Rollout, the weight in an annotation.
func (f *fakeController) setCanaryWeight(ro *v1alpha1.Rollout, weight string) {
	ctx := context.Background()
	name := ro.Name + "-" + ro.Spec.Strategy.Canary.TrafficRouting.Nginx.StableIngress + "-canary"
	var ing networkingv1.Ingress
	err := f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &ing)
	if apierrors.IsNotFound(err) {
		ing = networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
			Annotations:     map[string]string{nginxCanaryWeight: weight},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: ptr(true)}}}}
		f.must(f.c.Create(ctx, &ing))
		return
	}
	f.must(err)
	ing.Annotations[nginxCanaryWeight] = weight
	f.must(f.c.Update(ctx, &ing))
}

func (f *fakeController) must(err error) {
	if err != nil {
		f.t.Errorf("fake controller: %v", err)
	}
}

func sortedByName[T any](items []T, name func(T) string) []T {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return items
}

// newFakeClient is a fake API server that, like a real one, sets
// metadata.generation on create and bumps it on every spec patch.
func newFakeClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Rollout{}, &appsv1.Deployment{}, &appsv1.ReplicaSet{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				obj.SetGeneration(1)
				return c.Create(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if err := c.Patch(ctx, obj, patch, opts...); err != nil {
					return err
				}
				obj.SetGeneration(obj.GetGeneration() + 1)
				return c.Update(ctx, obj)
			},
		}).Build()
}

// counterScraper returns a counter that grows by step at every scrape.
func counterScraper(metric, labels string, step int) Scraper {
	var mu sync.Mutex
	n := 0
	return ScraperFunc(func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		n += step
		return fmt.Appendf(nil, "# TYPE %s counter\n%s{%s} %d\n", metric, metric, labels, n), nil
	})
}

// fakeProc is a controller that uses 0.1 CPU seconds and 1 MiB per reading.
type fakeProc struct {
	mu sync.Mutex
	n  int64
}

func (p *fakeProc) Read() (ProcSample, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return ProcSample{CPUSeconds: float64(p.n) / 10, RSSBytes: (10 + p.n) << 20, HWMBytes: 100 << 20}, nil
}

type harness struct {
	c        client.WithWatch
	ctrl     *fakeController
	runner   *Runner
	progress *bytes.Buffer
}

func newHarness(t *testing.T, cfg Config, objs ...client.Object) *harness {
	t.Helper()
	c := newFakeClient(t, objs...)
	if cfg.Namespace == "" {
		cfg.Namespace = "bench"
	}
	if cfg.PollInterval == 0 {
		// The expected latencies below count in ticks of 500ms.
		cfg.PollInterval = 500 * time.Millisecond
	}
	fc := &fakeController{t: t, c: c, ns: cfg.Namespace, httpGet: func(url string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("analysis endpoint: %v", err)
			return
		}
		_ = resp.Body.Close()
	}}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), onTick: fc.tick}
	var progress bytes.Buffer
	var own int64
	return &harness{c: c, ctrl: fc, progress: &progress, runner: &Runner{
		Client: c, Config: cfg, Clock: clock, Progress: &progress,
		ControllerMetrics: counterScraper(ControllerRequestsMetric, `code="200",host="h",method="GET"`, 10),
		APIServerMetrics:  counterScraper(APIServerRequestsMetric, `code="200",resource="rollouts",verb="LIST"`, 100),
		Process:           &fakeProc{},
		OwnRequests:       func() int64 { own += 7; return own },
	}}
}

func wantPhases(t *testing.T, phases []Phase, workload string, names ...string) {
	t.Helper()
	var got []string
	for _, p := range phases {
		got = append(got, p.Name)
		if p.Workload != workload {
			t.Errorf("phase %s: workload %q, want %q", p.Name, p.Workload, workload)
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("phases %v, want %v", got, names)
	}
}

// With one object finished per 500ms tick, three objects are seen done at
// 0.5s, 1s and 1.5s after the phase started.
var threeTicks = Summary{Count: 3, P50: 1, P90: 1.5, P99: 1.5, Max: 1.5}

func TestRunCanaryWithBaseline(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 3, Replicas: 2, Baseline: true})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	wantPhases(t, res.Baseline, "Deployment", "create", "update")
	wantPhases(t, res.Phases, "Rollout", "create", "update")
	for _, p := range append(res.Baseline, res.Phases...) {
		if p.Completions != 3 || p.Latency != threeTicks || p.Seconds != 1.5 {
			t.Errorf("%s %s: %d completions in %vs, latency %+v; want 3 in 1.5s, %+v", p.Workload, p.Name, p.Completions, p.Seconds, p.Latency, threeTicks)
		}
		if p.ControllerRequests == nil || p.ControllerRequests.Total != 10 || p.ControllerRequests.PerRevision != 10.0/3 {
			t.Errorf("%s: controller requests %+v, want 10 (one scrape step)", p.Name, p.ControllerRequests)
		}
		if p.APIServerRequests == nil || p.APIServerRequests.ByVerbResource["LIST rollouts"] != 100 {
			t.Errorf("%s: API server requests %+v", p.Name, p.APIServerRequests)
		}
		if p.BenchRequests != 7 {
			t.Errorf("%s: bench requests %d, want 7", p.Name, p.BenchRequests)
		}
		if u := p.Controller; u == nil || u.CPUSeconds <= 0 || u.RSSPeakMiB < u.RSSEndMiB || u.RSSEndMiB <= u.RSSStartMiB || u.HWMMiB != 100 {
			t.Errorf("%s: controller usage %+v", p.Name, u)
		}
	}
	if res.Ratios["create"] != 1 || res.Ratios["update"] != 1 {
		t.Errorf("ratios %v, want 1 for create and update", res.Ratios)
	}
	// The baseline's Deployments are gone before the Rollouts start.
	var deps appsv1.DeploymentList
	if err := h.c.List(context.Background(), &deps); err != nil || len(deps.Items) != 0 {
		t.Errorf("%d Deployments left after the baseline (%v)", len(deps.Items), err)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil {
		t.Fatal(err)
	}
	for _, ro := range ros.Items {
		if ro.Spec.Template.Spec.Containers[0].Image != DefaultUpdateImage || ro.Status.StableRS != hashOf(DefaultUpdateImage) {
			t.Errorf("rollout %s: image %s stable %s", ro.Name, ro.Spec.Template.Spec.Containers[0].Image, ro.Status.StableRS)
		}
		if s := ro.Spec.Strategy.Canary; s == nil || len(s.Steps) != 4 || *s.Steps[0].SetWeight != 25 || s.Steps[1].Pause.Duration.StrVal != "1s" {
			t.Errorf("rollout %s: canary strategy %+v", ro.Name, s)
		}
	}
	for _, want := range []string{"baseline create: 3 Deployments", "update: all 3 Healthy after 1.5s"} {
		if !strings.Contains(h.progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, h.progress)
		}
	}
}

func TestRunAbort(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAbort, Rollouts: 3, Replicas: 2})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if len(res.Baseline) != 0 || res.Ratios != nil {
		t.Errorf("baseline ran although disabled: %+v %v", res.Baseline, res.Ratios)
	}
	wantPhases(t, res.Phases, "Rollout", "create", "pause", "abort")
	// The aborts are sent while the fake controller already works, so
	// the exact ticks vary; each latency lies within the phase.
	if a := res.Phase("abort"); a.Completions != 3 || a.Latency.Max <= 0 || a.Latency.Max > a.Seconds {
		t.Errorf("abort: %+v", a)
	}
	var rss appsv1.ReplicaSetList
	if err := h.c.List(context.Background(), &rss); err != nil || len(rss.Items) != 3 {
		t.Fatalf("want 3 canary ReplicaSets, have %d (%v)", len(rss.Items), err)
	}
	for _, rs := range rss.Items {
		if *rs.Spec.Replicas != 0 {
			t.Errorf("canary %s still has %d replicas", rs.Name, *rs.Spec.Replicas)
		}
	}
	var svc corev1.Service
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: "bench-ro-00000-canary"}, &svc); err != nil {
		t.Errorf("the canary Service was not created: %v", err)
	}
}

// TestRunAbortRouted: behind a router an abort is done when the weight is
// 0, while the canary Pods may stay for the scale-down delay.
func TestRunAbortRouted(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAbort, Rollouts: 3, Replicas: 2, Router: RouterNginx})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if res.Router != RouterNginx {
		t.Errorf("result router = %q", res.Router)
	}
	a := res.Phase("abort")
	if a.Completions != 3 || a.Latency.Max <= 0 || a.Latency.Max > a.Seconds || !strings.Contains(a.Waited, "weight 0") {
		t.Errorf("abort: %+v", a)
	}
	var ing networkingv1.Ingress
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: "bench-ro-00001"}, &ing); err != nil {
		t.Fatalf("the stable Ingress was not created: %v", err)
	}
	if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; b.Name != "bench-ro-00001-stable" || b.Port.Number != 80 {
		t.Errorf("stable Ingress backend = %+v", b)
	}
	var ro v1alpha1.Rollout
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: "bench-ro-00001"}, &ro); err != nil {
		t.Fatal(err)
	}
	if c := ro.Spec.Strategy.Canary; c.TrafficRouting.Nginx.StableIngress != "bench-ro-00001" || c.StableService != "bench-ro-00001-stable" || c.CanaryService != "bench-ro-00001-canary" {
		t.Errorf("routed canary = %+v", c)
	}
	var rss appsv1.ReplicaSetList
	if err := h.c.List(context.Background(), &rss); err != nil || len(rss.Items) != 3 {
		t.Fatalf("want 3 canary ReplicaSets, have %d (%v)", len(rss.Items), err)
	}
	for _, rs := range rss.Items {
		if *rs.Spec.Replicas != 1 {
			t.Errorf("canary %s has %d replicas; the weight alone should have ended the wait", rs.Name, *rs.Spec.Replicas)
		}
	}
}

// TestRunAbortUnderLoad: the first Aborts Rollouts pause and are aborted,
// the others release meanwhile and are only updated, never aborted.
func TestRunAbortUnderLoad(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAbortUnderLoad, Rollouts: 5, Aborts: 2, Replicas: 1, Router: RouterNginx})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	wantPhases(t, res.Phases, "Rollout", "create", "pause", "abort", "update")
	if a := res.Phase("abort"); a.Completions != 2 || a.Latency.Max <= 0 || a.Latency.Max > a.Seconds {
		t.Errorf("abort: %+v", a)
	}
	if u := res.Phase("update"); u.Completions != 3 {
		t.Errorf("update of the load: %+v", u)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil {
		t.Fatal(err)
	}
	aborted := 0
	for _, ro := range ros.Items {
		steps := len(ro.Spec.Strategy.Canary.Steps)
		switch {
		case ro.Status.Abort && steps != 2:
			t.Errorf("%s was aborted but is a routine release (%d steps)", ro.Name, steps)
		case ro.Status.Abort:
			aborted++
		case steps != 4 || ro.Status.Phase != v1alpha1.RolloutPhaseHealthy:
			t.Errorf("%s: %d steps, phase %s; want a routine release, Healthy", ro.Name, steps, ro.Status.Phase)
		}
	}
	if aborted != 2 {
		t.Errorf("%d Rollouts aborted, want 2", aborted)
	}
}

// TestPollAbortedRoutedWaitsForTheWeight: a canary Ingress still at 50, or
// none yet, is not an abort done.
func TestPollAbortedRoutedWaitsForTheWeight(t *testing.T) {
	svc := func(name, hash string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Labels: benchLabels(workloadRollout)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}}}
	}
	canaryIng := func(owner, weight string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: owner + "-x-canary", Namespace: "bench",
			Annotations:     map[string]string{nginxCanaryWeight: weight},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Rollout", Name: owner, Controller: ptr(true)}}}}
	}
	c := newFakeClient(t, svc("a-stable", "s"), svc("b-stable", "s"), svc("c-stable", "s"), svc("d-stable", "other"),
		canaryIng("a", "0"), canaryIng("b", "50"), canaryIng("d", "0"))
	// Polls read the Observer when there is one, and never the API server
	// through Client then.
	noLists := interceptor.NewClient(newFakeClient(t), interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("a poll listed from the API server despite an Observer")
		},
	})
	for name, runner := range map[string]*Runner{
		"from the API server's watch cache": {Client: c},
		"from the Observer":                 {Client: noLists, Observer: c},
	} {
		t.Run(name, func(t *testing.T) {
			x := &run{Runner: runner, cfg: Config{Namespace: "bench", Router: RouterNginx},
				rollouts: []string{"a", "b", "c", "d"}, aborting: []string{"a", "b", "c", "d"}, stableHash: map[string]string{"a": "s", "b": "s", "c": "s", "d": "s"}, canaryHash: map[string]string{}}
			got, err := x.pollAborted(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{"a": true, "b": false, "c": false, "d": false}
			for name, done := range want {
				if got[name].done != done {
					t.Errorf("%s: done = %v, want %v (%s)", name, got[name].done, done, got[name].state)
				}
			}
		})
	}
}

// TestMeasurePollsWhileActing: with pollWhileActing an object done right
// after its own change is seen then, not after the changes of all the
// others went out.
func TestMeasurePollsWhileActing(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	x := &run{Runner: &Runner{}, cfg: Config{PollInterval: time.Second, ProgressInterval: time.Hour},
		clock: clock, progress: io.Discard, res: &Result{}, noted: map[string]bool{}}
	aSent, polled := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var bSent atomic.Bool
	var sentAt time.Time
	p, err := x.measure(context.Background(), phaseSpec{
		name: "abort", workload: "Rollout", names: []string{"a", "b"}, pollWhileActing: true,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			sentAt = clock.Now()
			close(aSent)
			// "b" takes until the first poll to send.
			select {
			case <-polled:
			case <-time.After(10 * time.Second):
				return nil, errors.New("no poll while the changes were still being sent")
			}
			bSent.Store(true)
			return map[string]time.Time{"a": sentAt, "b": sentAt}, nil
		},
		poll: func(ctx context.Context) (map[string]observation, error) {
			select {
			case <-aSent:
			case <-time.After(10 * time.Second):
				return nil, errors.New("a was never sent")
			}
			b := bSent.Load()
			once.Do(func() { close(polled) })
			return map[string]observation{"a": {done: true}, "b": {done: b}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Completions != 2 || p.Latency.P50 != 0 || p.Latency.Max < 1 {
		t.Errorf("latencies %+v: want a at 0 (seen by the first poll), b after at least one interval", p.Latency)
	}
}

func TestRunAnalysis(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAnalysis, Rollouts: 3, Replicas: 1})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	a := res.Analysis
	if a == nil || a.Measurements != 3 || a.Total != 3 || a.Seconds != 1.5 || a.PerSecond != 2 || !strings.HasPrefix(a.URL, "http://127.0.0.1:") {
		t.Fatalf("analysis stats %+v, want 3 measurements in 1.5s", a)
	}
	var at v1alpha1.AnalysisTemplate
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: analysisTemplateName}, &at); err != nil {
		t.Fatal(err)
	}
	if m := at.Spec.Metrics[0]; m.Interval != "1s" || m.Count != nil || m.Provider.Web.URL != a.URL {
		t.Errorf("metric %+v", m)
	}
}

func TestRunBlueGreen(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioBlueGreen, Rollouts: 3, Replicas: 1})
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	wantPhases(t, res.Phases, "Rollout", "create", "update")
	var svcs corev1.ServiceList
	if err := h.c.List(context.Background(), &svcs); err != nil || len(svcs.Items) != 6 {
		t.Errorf("want an active and a preview Service per Rollout, have %d (%v)", len(svcs.Items), err)
	}
	var ro v1alpha1.Rollout
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "bench", Name: "bench-ro-00002"}, &ro); err != nil {
		t.Fatal(err)
	}
	bg := ro.Spec.Strategy.BlueGreen
	if bg == nil || !*bg.AutoPromotionEnabled || *bg.ScaleDownDelaySeconds != 0 || *bg.AbortScaleDownDelaySeconds != 0 || bg.PreviewService != "bench-ro-00002-preview" {
		t.Errorf("blue-green strategy %+v", bg)
	}
}

func TestRunRefusesLeftoversUnlessCleanup(t *testing.T) {
	left := rollout(Config{Scenario: ScenarioCanary, Namespace: "bench", Image: DefaultImage, Replicas: 1}, rolloutName(0))
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1}, left.DeepCopy())
	if _, err := h.runner.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--cleanup") {
		t.Fatalf("err = %v, want advice to use --cleanup", err)
	}

	h = newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 2, Replicas: 1, Cleanup: true}, left.DeepCopy())
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "not-ours", Namespace: "bench"}}
	if err := h.c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if p := res.Phase("update"); p == nil || p.Completions != 2 {
		t.Fatalf("update phase %+v", p)
	}
	var ros v1alpha1.RolloutList
	if err := h.c.List(context.Background(), &ros); err != nil || len(ros.Items) != 0 {
		t.Errorf("%d Rollouts left after --cleanup (%v)", len(ros.Items), err)
	}
	if err := h.c.Get(context.Background(), client.ObjectKeyFromObject(other), &corev1.Service{}); err != nil {
		t.Errorf("cleanup deleted an object that is not the benchmark's: %v", err)
	}
}

func TestRunTimesOutWithPartialResult(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 3, Replicas: 1, Timeout: 200 * time.Millisecond})
	h.ctrl.idle = true
	res, err := h.runner.Run(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	for _, want := range []string{"create: 0 of 3 Rollouts Healthy", "bench-ro-00000 (-, step -"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if res == nil || len(res.Phases) != 1 || res.Phases[0].Completions != 0 {
		t.Errorf("partial result %+v", res)
	}
}

func TestRunWithoutMeasurementsNotes(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1})
	h.runner.ControllerMetrics = ScraperFunc(func(context.Context) ([]byte, error) { return nil, errors.New("connection refused") })
	h.runner.APIServerMetrics = nil
	h.runner.Process = nil
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := res.Phase("update")
	if p.ControllerRequests != nil || p.APIServerRequests != nil || p.Controller != nil {
		t.Errorf("unmeasured numbers reported: %+v", p)
	}
	n := 0
	for _, note := range res.Notes {
		if strings.Contains(note, "connection refused") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("want the scrape failure noted once, notes: %q", res.Notes)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scenario: "rolling", Rollouts: 1, Replicas: 1}, "unknown scenario"},
		{Config{Scenario: ScenarioCanary, Rollouts: 0, Replicas: 1}, "at least 1"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 0}, "at least 1"},
		{Config{Scenario: ScenarioCanary, Rollouts: MaxRollouts + 1, Replicas: 1}, "at most 1000000"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Image: "a:1", UpdateImage: "a:1"}, "must differ"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, AnalysisAddress: "nope"}, "analysis address"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Churn: -time.Second}, "must not be negative"},
		{Config{Scenario: ScenarioAbort, Rollouts: 1, Replicas: 1, Churn: time.Minute}, "indefinite pause"},
		{Config{Scenario: ScenarioAbort, Rollouts: 1, Replicas: 1, Router: "istio"}, "unknown traffic router"},
		{Config{Scenario: ScenarioBlueGreen, Rollouts: 1, Replicas: 1, Router: RouterNginx}, "canary scenarios"},
		{Config{Scenario: ScenarioAbortUnderLoad, Rollouts: 4, Aborts: 4, Replicas: 1}, "--aborts must be between 1 and 3"},
		{Config{Scenario: ScenarioAbortUnderLoad, Rollouts: 1, Replicas: 1}, "--aborts must be between"},
		{Config{Scenario: ScenarioCanary, Rollouts: 4, Aborts: 2, Replicas: 1}, "applies to the abort-under-load"},
		{Config{Scenario: ScenarioAbortUnderLoad, Rollouts: 4, Replicas: 1, Churn: time.Minute}, "indefinite pause"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Churn: time.Hour, Timeout: time.Hour}, "raise --timeout"},
		{Config{Scenario: ScenarioCanary, Rollouts: 1, Replicas: 1, Churn: time.Hour}, "raise --timeout"},
	} {
		_, err := (&Runner{Client: newFakeClient(t), Config: tc.cfg}).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestDefaultPollIntervalGrowsWithN: every check reads every object, so
// the default slows down by 100ms per started 1,000 Rollouts, and a given
// interval is kept.
func TestDefaultPollIntervalGrowsWithN(t *testing.T) {
	for _, tc := range []struct {
		rollouts int
		given    time.Duration
		want     time.Duration
	}{
		{rollouts: 1, want: 100 * time.Millisecond},
		{rollouts: 1000, want: 100 * time.Millisecond},
		{rollouts: 1001, want: 200 * time.Millisecond},
		{rollouts: 10000, want: time.Second},
		{rollouts: 10000, given: 50 * time.Millisecond, want: 50 * time.Millisecond},
	} {
		cfg, err := Config{Scenario: ScenarioCanary, Rollouts: tc.rollouts, Replicas: 1, PollInterval: tc.given}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.PollInterval != tc.want {
			t.Errorf("N=%d, given %s: poll interval %s, want %s", tc.rollouts, tc.given, cfg.PollInterval, tc.want)
		}
	}
}

// TestRunAbortHoldsTheController: with HoldController the controller is
// held from just before the first abort request until the abort phase has
// ended, so that another handler alone answers the aborts, and the phase
// is measured as without it.
func TestRunAbortHoldsTheController(t *testing.T) {
	h := newHarness(t, Config{Scenario: ScenarioAbort, Rollouts: 3, Replicas: 2, Router: RouterNginx})
	clock := h.runner.Clock.(*fakeClock)
	var held atomic.Bool
	controllerTick := clock.onTick
	clock.onTick = func() {
		if !held.Load() {
			controllerTick()
			return
		}
		// The floor handler's stand-in: only the weight of each aborted
		// Rollout, nothing else.
		var ros v1alpha1.RolloutList
		h.ctrl.must(h.c.List(context.Background(), &ros, client.InNamespace("bench")))
		for i := range ros.Items {
			if ros.Items[i].Status.Abort {
				h.ctrl.setCanaryWeight(&ros.Items[i], "0")
			}
		}
	}
	var holds, releases atomic.Int32
	var aborted atomic.Int32
	h.runner.HoldController = func(ctx context.Context) (func(), error) {
		holds.Add(1)
		aborted.Store(int32(countAborted(t, h.c)))
		held.Store(true)
		return func() {
			releases.Add(1)
			held.Store(false)
			var ros v1alpha1.RolloutList
			h.ctrl.must(h.c.List(context.Background(), &ros, client.InNamespace("bench")))
			for _, ro := range ros.Items {
				if ro.Status.Phase == v1alpha1.RolloutPhaseDegraded {
					t.Errorf("%s was taken to Degraded while the controller was held", ro.Name)
				}
			}
		}, nil
	}
	res, err := h.runner.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, h.progress)
	}
	if holds.Load() != 1 || releases.Load() != 1 {
		t.Errorf("held %d times and released %d, want once each", holds.Load(), releases.Load())
	}
	if n := aborted.Load(); n != 0 {
		t.Errorf("%d Rollouts were aborted before the controller was held", n)
	}
	a := res.Phase("abort")
	if a.Completions != 3 || a.Latency.Max <= 0 || a.Latency.Max > a.Seconds {
		t.Errorf("abort: %+v", a)
	}
	if len(a.AbortRequests) != 3 {
		t.Fatalf("abort requests %+v, want one per Rollout", a.AbortRequests)
	}
	for _, r := range a.AbortRequests {
		if r.Rollout == "" || r.Answered.Before(r.Sent) {
			t.Errorf("abort request %+v", r)
		}
	}
}

func countAborted(t *testing.T, c client.Client) int {
	t.Helper()
	var ros v1alpha1.RolloutList
	if err := c.List(context.Background(), &ros, client.InNamespace("bench")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ro := range ros.Items {
		if ro.Status.Abort {
			n++
		}
	}
	return n
}
