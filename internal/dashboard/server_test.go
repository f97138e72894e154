package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	testNS   = "shop"
	stableH  = "5b8d6c9f7"
	canaryH  = "7f4c8b6d5"
	roUID    = types.UID("uid-rollout-web")
	stableID = types.UID("uid-rs-stable")
	canaryID = types.UID("uid-rs-canary")
)

var created = metav1.NewTime(time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC))

func ptr[T any](v T) *T { return &v }

func controllerRef(kind, name string, uid types.UID) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: kind, Name: name, UID: uid, Controller: ptr(true)}}
}

// webRollout is a canary paused at its second step (index 1) with one of
// six Pods on the new version.
func webRollout() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "web", UID: roUID, Generation: 2, CreationTimestamp: created},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr(int32(5)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:2"}},
					Containers: []corev1.Container{
						{Name: "proxy", Image: "registry.example/proxy:1"},
						{Name: "app", Image: "registry.example/web:2"},
					},
				},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr(int32(20))},
				{Pause: &v1alpha1.RolloutPause{}},
				{SetWeight: ptr(int32(60))},
				{Pause: &v1alpha1.RolloutPause{Duration: ptr(intstr.FromInt32(10))}},
				{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "success-rate"}}}},
			}}},
		},
		Status: v1alpha1.RolloutStatus{
			ObservedGeneration: "2",
			Phase:              v1alpha1.RolloutPhasePaused,
			Message:            "CanaryPauseStep",
			CurrentStepIndex:   ptr(int32(1)),
			CurrentPodHash:     canaryH,
			StableRS:           stableH,
			PauseConditions:    []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: created}},
			ControllerPause:    true,
			Replicas:           6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6,
			Canary: v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{
				Canary: v1alpha1.WeightDestination{Weight: 17, PodTemplateHash: canaryH},
				Stable: v1alpha1.WeightDestination{Weight: 83, PodTemplateHash: stableH},
			}},
		},
	}
}

func replicaSet(name, hash, revision, image string, uid types.UID, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: testNS, Name: name, UID: uid, CreationTimestamp: created,
			Labels:          map[string]string{"app": "web", v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: revision},
			OwnerReferences: controllerRef("Rollout", "web", roUID),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(replicas),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}},
		},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

func pod(name, rs string, rsUID types.UID, ready bool) *corev1.Pod {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: rsUID, Controller: ptr(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ready, RestartCount: 2}},
		},
	}
}

func analysisRun() *v1alpha1.AnalysisRun {
	at := func(sec int) *metav1.Time {
		t := metav1.NewTime(created.Add(time.Duration(sec) * time.Second))
		return &t
	}
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: testNS, Name: "web-" + canaryH + "-2", CreationTimestamp: created,
			Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: canaryH, v1alpha1.RolloutTypeLabel: v1alpha1.RolloutTypeStepLabel,
				v1alpha1.RolloutCanaryStepIndexLabel: "4"},
			OwnerReferences: controllerRef("Rollout", "web", roUID),
		},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "success-rate"}}},
		Status: v1alpha1.AnalysisRunStatus{
			Phase: v1alpha1.AnalysisPhaseRunning,
			MetricResults: []v1alpha1.MetricResult{{
				Name: "success-rate", Phase: v1alpha1.AnalysisPhaseRunning, Successful: 2, Error: 1,
				Measurements: []v1alpha1.Measurement{
					{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: "[0.99]", StartedAt: at(0), FinishedAt: at(1)},
					{Phase: v1alpha1.AnalysisPhaseError, Message: "connection refused", StartedAt: at(10), FinishedAt: at(11)},
					{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: "0.5", StartedAt: at(20), FinishedAt: at(21)},
				},
			}},
		},
	}
}

func fixtures() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		webRollout(),
		replicaSet("web-"+stableH, stableH, "1", "registry.example/web:1", stableID, 5),
		replicaSet("web-"+canaryH, canaryH, "2", "registry.example/web:2", canaryID, 1),
		pod("web-"+canaryH+"-aaaaa", "web-"+canaryH, canaryID, true),
		pod("web-"+stableH+"-bbbbb", "web-"+stableH, stableID, false),
		analysisRun(),
	}
}

// recorded is one patch a test server sent.
type recorded struct {
	Subresource string
	Type        types.PatchType
	Data        string
}

type testEnv struct {
	c       client.WithWatch
	srv     *Server
	mu      sync.Mutex
	patches []recorded
	lists   int // List calls that reached the client
}

func newEnv(t *testing.T, opts Options, objs ...client.Object) *testEnv {
	t.Helper()
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if objs == nil {
		objs = fixtures()
	}
	e := &testEnv{}
	record := func(sub string, patch client.Patch, obj client.Object) error {
		data, err := patch.Data(obj)
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.patches = append(e.patches, recorded{Subresource: sub, Type: patch.Type(), Data: string(data)})
		e.mu.Unlock()
		return nil
	}
	e.c = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Rollout{}, &v1alpha1.AnalysisRun{}).
		WithInterceptorFuncs(interceptor.Funcs{
			List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				e.mu.Lock()
				e.lists++
				e.mu.Unlock()
				return c.List(ctx, list, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				if err := record("", patch, obj); err != nil {
					return err
				}
				return c.Patch(ctx, obj, patch, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if err := record(sub, patch, obj); err != nil {
					return err
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2025, 6, 2, 8, 30, 15, 0, time.FixedZone("CEST", 2*3600)) }
	}
	e.srv = NewServer(e.c, opts)
	return e
}

func (e *testEnv) sent() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.patches...)
}

func (e *testEnv) do(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:3100"+path, strings.NewReader(body))
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Origin", "http://127.0.0.1:3100")
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

func (e *testEnv) rollout(t *testing.T) *v1alpha1.Rollout {
	t.Helper()
	var ro v1alpha1.Rollout
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: "web"}, &ro); err != nil {
		t.Fatal(err)
	}
	return &ro
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %s", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	return m
}

// stepOf is a decoded Rollout's step as "index/total".
func stepOf(ro map[string]any) string {
	st, ok := ro["step"].(map[string]any)
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%v/%v", st["index"], st["total"])
}

// jsonOf re-encodes part of a decoded answer, to compare it with a literal.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestListRolloutsJSON(t *testing.T) {
	e := newEnv(t, Options{})
	w := e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if m["namespace"] != "shop" || m["readOnly"] != false {
		t.Fatalf("namespace/readOnly: %s", w.Body)
	}
	ros := m["rollouts"].([]any)
	if len(ros) != 1 {
		t.Fatalf("want one rollout: %s", w.Body)
	}
	// The page gets the read model as it is, without the revisions the
	// list does not show.
	got := ros[0].(map[string]any)
	checks := map[string]string{
		"createdAt":     `"2025-05-01T10:00:00Z"`,
		"images":        `[{"name":"registry.example/web:2","roles":["canary"]},{"name":"registry.example/web:1","roles":["stable"]}]`,
		"status":        `"Paused"`,
		"statusMessage": `"CanaryPauseStep"`,
		"strategy":      `"Canary"`,
		"replicas":      `{"available":6,"current":6,"desired":5,"ready":6,"updated":1}`,
		"revisions":     `null`,
	}
	for key, want := range checks {
		if g := jsonOf(t, got[key]); g != want {
			t.Errorf("rollout summary %s\n got %s\nwant %s", key, g, want)
		}
	}
	step, weights := got["step"].(map[string]any), got["weights"].(map[string]any)
	if step["index"] != 1.0 || step["total"] != 5.0 || weights["set"] != 20.0 || weights["reached"] != 17.0 {
		t.Errorf("step %s weights %s, want step 1 of 5 at 20%% set, 17%% reached", jsonOf(t, step), jsonOf(t, weights))
	}

	// Every namespace.
	other := webRollout()
	other.Namespace, other.UID = "default", "uid-other"
	other.Status = v1alpha1.RolloutStatus{}
	e = newEnv(t, Options{}, append(fixtures(), other)...)
	m = decode(t, e.do(t, http.MethodGet, "/api/namespaces/_all/rollouts", ""))
	ros = m["rollouts"].([]any)
	if m["namespace"] != "" || len(ros) != 2 {
		t.Fatalf("all namespaces: %s", jsonOf(t, m))
	}
	first := ros[0].(map[string]any)
	if first["namespace"] != "default" || first["status"] != "Progressing" || first["statusMessage"] != "waiting for the controller to observe generation 2" {
		t.Errorf("a Rollout the controller has not seen: %s", jsonOf(t, first))
	}
	if img := jsonOf(t, first["images"]); img != `[{"name":"registry.example/proxy:1","roles":[]},{"name":"registry.example/web:2","roles":[]}]` {
		t.Errorf("images of a Rollout without ReplicaSets: %s", img)
	}
}

func TestGetRolloutJSON(t *testing.T) {
	e := newEnv(t, Options{})
	w := e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/web", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	m := decode(t, w)
	for _, key := range []string{"namespace", "name", "status", "statusMessage", "strategy", "step", "weights", "images", "replicas", "createdAt",
		"readOnly", "pauseReasons", "containers", "revisions"} {
		if _, ok := m[key]; !ok {
			t.Errorf("detail lacks %q", key)
		}
	}
	checks := map[string]string{
		"pauseReasons": `["CanaryPauseStep"]`,
		"containers": `[{"image":"registry.example/proxy:1","name":"proxy"},{"image":"registry.example/web:2","name":"app"},` +
			`{"image":"registry.example/migrate:2","init":true,"name":"migrate"}]`,
		"steps": `[{"description":"setWeight 20","index":0,"state":"done"},` +
			`{"description":"pause (until promoted)","index":1,"state":"current"},` +
			`{"description":"setWeight 60","index":2,"state":"pending"},` +
			`{"description":"pause 10s","index":3,"state":"pending"},` +
			`{"description":"analysis: success-rate","index":4,"state":"pending"}]`,
	}
	for key, want := range checks {
		from := m
		if key == "steps" {
			from = m["step"].(map[string]any)
		}
		if got := jsonOf(t, from[key]); got != want {
			t.Errorf("%s\n got %s\nwant %s", key, got, want)
		}
	}
	revs := m["revisions"].([]any)
	if len(revs) != 2 {
		t.Fatalf("revisions: %s", jsonOf(t, revs))
	}
	newest := revs[0].(map[string]any)
	if newest["number"] != 2.0 || jsonOf(t, newest["roles"]) != `["canary"]` {
		t.Errorf("newest revision: %s", jsonOf(t, newest))
	}
	rss := newest["replicaSets"].([]any)
	if len(rss) != 1 {
		t.Fatalf("replica sets of revision 2: %s", jsonOf(t, rss))
	}
	rs := rss[0].(map[string]any)
	wantPods := `[{"containers":1,"createdAt":"2025-05-01T10:00:00Z","name":"web-` + canaryH + `-aaaaa","ready":true,"readyContainers":1,"restarts":2,"state":"Ready","status":"Running"}]`
	if rs["name"] != "web-"+canaryH || rs["hash"] != canaryH || rs["status"] != "Healthy" || jsonOf(t, rs["images"]) != `["registry.example/web:2"]` ||
		rs["desired"] != 1.0 || rs["available"] != 1.0 || jsonOf(t, rs["pods"]) != wantPods {
		t.Errorf("replica set of revision 2: %s", jsonOf(t, rs))
	}
	runs := newest["analysisRuns"].([]any)
	if len(runs) != 1 {
		t.Fatalf("runs of revision 2: %s", jsonOf(t, runs))
	}
	run := runs[0].(map[string]any)
	wantMetrics := `[{"error":1,"failed":0,"inconclusive":0,"measurements":[` +
		`{"finishedAt":"2025-05-01T10:00:01Z","number":0.99,"phase":"Successful","startedAt":"2025-05-01T10:00:00Z","value":"[0.99]"},` +
		`{"finishedAt":"2025-05-01T10:00:11Z","message":"connection refused","phase":"Error","startedAt":"2025-05-01T10:00:10Z"},` +
		`{"finishedAt":"2025-05-01T10:00:21Z","number":0.5,"phase":"Successful","startedAt":"2025-05-01T10:00:20Z","value":"0.5"}],` +
		`"name":"success-rate","phase":"Running","successful":2}]`
	if run["name"] != "web-"+canaryH+"-2" || run["phase"] != "Running" || run["kind"] != "Step" || run["stepIndex"] != 4.0 ||
		run["hash"] != canaryH || run["createdAt"] != "2025-05-01T10:00:00Z" || jsonOf(t, run["metrics"]) != wantMetrics {
		t.Errorf("analysis run\n got %s\nwant metrics %s", jsonOf(t, run), wantMetrics)
	}
	oldest := revs[1].(map[string]any)
	p := oldest["replicaSets"].([]any)[0].(map[string]any)["pods"].([]any)[0].(map[string]any)
	if oldest["number"] != 1.0 || jsonOf(t, oldest["roles"]) != `["stable"]` || p["ready"] != false || p["readyContainers"] != 0.0 || p["containers"] != 1.0 {
		t.Errorf("stable revision: %s", jsonOf(t, oldest))
	}

	if w := e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/nope", ""); w.Code != http.StatusNotFound {
		t.Errorf("missing rollout: %d %s", w.Code, w.Body)
	}
	if w := e.do(t, http.MethodGet, "/api/namespaces/_all/rollouts/web", ""); w.Code != http.StatusBadRequest {
		t.Errorf("a rollout in all namespaces: %d %s", w.Code, w.Body)
	}
}

// TestGetRolloutShowsJudgement checks that a kanaria.dev/compare
// measurement reaches the page with its per-metric table read from the
// metadata, and that other measurements carry none.
func TestGetRolloutShowsJudgement(t *testing.T) {
	run := analysisRun()
	run.Status.MetricResults[0].Measurements[2].Phase = v1alpha1.AnalysisPhaseFailed
	run.Status.MetricResults[0].Measurements[2].Value = "0"
	run.Status.MetricResults[0].Measurements[2].Metadata = map[string]string{
		"score":              "0",
		"metric/error-ratio": "class=High p=3.7e-12 u=441 n=21/21 interval=[0.036,0.044] estimate=0.04 effect=3 confidence=0.95 method=exact critical=true",
		"metric/latency":     "class=Pass p=0.9 u=210 n=20/21 interval=[-0.1,0.1] estimate=0 effect=NaN confidence=0.95 method=exact removed=1",
	}
	objs := fixtures()
	objs[len(objs)-1] = run
	e := newEnv(t, Options{}, objs...)
	m := decode(t, e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/web", ""))
	runs := m["revisions"].([]any)[0].(map[string]any)["analysisRuns"].([]any)
	ms := runs[0].(map[string]any)["metrics"].([]any)[0].(map[string]any)["measurements"].([]any)
	want := `{"metrics":[` +
		`{"class":"High","confidence":"0.95","critical":true,"effect":"3","estimate":"0.04","interval":"[0.036,0.044]","method":"exact","n":"21/21","name":"error-ratio","p":"3.7e-12","u":"441"},` +
		`{"class":"Pass","confidence":"0.95","effect":"NaN","estimate":"0","interval":"[-0.1,0.1]","method":"exact","n":"20/21","name":"latency","p":"0.9","removed":"1","u":"210"}],` +
		`"score":"0"}`
	if got := jsonOf(t, ms[2].(map[string]any)["judgement"]); got != want {
		t.Errorf("judgement\n got %s\nwant %s", got, want)
	}
	if _, ok := ms[0].(map[string]any)["judgement"]; ok {
		t.Errorf("a prometheus measurement carries a judgement: %s", jsonOf(t, ms[0]))
	}
	js := e.do(t, http.MethodGet, "/assets/app.js", "").Body.String()
	if !strings.Contains(js, "function judgementRow") || !strings.Contains(js, "last.judgement") {
		t.Error("app.js does not render judgements")
	}
}

func TestActionsPatchExactlyWhatThePluginSends(t *testing.T) {
	unpaused := func(ro *v1alpha1.Rollout) { ro.Spec.Paused = true }
	aborted := func(ro *v1alpha1.Rollout) { ro.Status.Abort = true }
	done := func(ro *v1alpha1.Rollout) { ro.Status.StableRS = ro.Status.CurrentPodHash }
	for _, tc := range []struct {
		name, action, body string
		setup              func(*v1alpha1.Rollout)
		wantCode           int
		want               []recorded
		check              func(t *testing.T, ro *v1alpha1.Rollout)
	}{
		{
			name: "promote", action: "promote", wantCode: http.StatusOK,
			want: []recorded{{"status", types.MergePatchType, `{"status":{"pauseConditions":null}}`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) {
				if len(ro.Status.PauseConditions) != 0 || !ro.Status.ControllerPause || ro.Spec.Paused {
					t.Errorf("after promote: pauseConditions %v controllerPause %v paused %v", ro.Status.PauseConditions, ro.Status.ControllerPause, ro.Spec.Paused)
				}
			},
		},
		{
			name: "promote a paused spec", action: "promote", setup: unpaused, wantCode: http.StatusOK,
			want: []recorded{
				{"status", types.MergePatchType, `{"status":{"pauseConditions":null}}`},
				{"", types.MergePatchType, `{"spec":{"paused":false}}`},
			},
			check: func(t *testing.T, ro *v1alpha1.Rollout) {
				if len(ro.Status.PauseConditions) != 0 || ro.Spec.Paused {
					t.Errorf("after promote: pauseConditions %v paused %v", ro.Status.PauseConditions, ro.Spec.Paused)
				}
			},
		},
		{
			name: "promote full", action: "promote-full", wantCode: http.StatusOK,
			want: []recorded{{"status", types.MergePatchType, `{"status":{"promoteFull":true}}`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) {
				if !ro.Status.PromoteFull || len(ro.Status.PauseConditions) != 1 {
					t.Errorf("after promote full: promoteFull %v pauseConditions %v", ro.Status.PromoteFull, ro.Status.PauseConditions)
				}
			},
		},
		{name: "promote full when done sends nothing", action: "promote-full", setup: done, wantCode: http.StatusOK},
		{
			name: "abort", action: "abort", wantCode: http.StatusOK,
			want:  []recorded{{"status", types.MergePatchType, `{"status":{"abort":true}}`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) { assertAbort(t, ro, true) },
		},
		{
			name: "retry", action: "retry", setup: aborted, wantCode: http.StatusOK,
			want:  []recorded{{"status", types.MergePatchType, `{"status":{"abort":false}}`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) { assertAbort(t, ro, false) },
		},
		{
			name: "restart", action: "restart", wantCode: http.StatusOK,
			want: []recorded{{"", types.MergePatchType, `{"spec":{"restartAt":"2025-06-02T06:30:15Z"}}`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) {
				if ro.Spec.RestartAt == nil || !ro.Spec.RestartAt.Equal(ptr(metav1.NewTime(time.Date(2025, 6, 2, 6, 30, 15, 0, time.UTC)))) {
					t.Errorf("restartAt %v", ro.Spec.RestartAt)
				}
			},
		},
		{
			name: "set image", action: "set-image", body: `{"container":"app","image":"registry.example/web:3"}`, wantCode: http.StatusOK,
			want: []recorded{{"", types.JSONPatchType, `[{"op":"test","path":"/spec/template/spec/containers/1/name","value":"app"},` +
				`{"op":"replace","path":"/spec/template/spec/containers/1/image","value":"registry.example/web:3"}]`}},
			check: func(t *testing.T, ro *v1alpha1.Rollout) {
				cs := ro.Spec.Template.Spec.Containers
				if cs[1].Image != "registry.example/web:3" || cs[0].Image != "registry.example/proxy:1" || ro.Spec.Template.Spec.InitContainers[0].Image != "registry.example/migrate:2" {
					t.Errorf("containers after set image: %+v", cs)
				}
			},
		},
		{
			name: "set image of an init container", action: "set-image", body: `{"container":"migrate","image":"registry.example/migrate:3"}`, wantCode: http.StatusOK,
			want: []recorded{{"", types.JSONPatchType, `[{"op":"test","path":"/spec/template/spec/initContainers/0/name","value":"migrate"},` +
				`{"op":"replace","path":"/spec/template/spec/initContainers/0/image","value":"registry.example/migrate:3"}]`}},
		},
		{name: "set image of no such container", action: "set-image", body: `{"container":"db","image":"x:1"}`, wantCode: http.StatusNotFound},
		{name: "set image without an image", action: "set-image", body: `{"container":"app","image":" "}`, wantCode: http.StatusBadRequest},
		{name: "set image of a workloadRef", action: "set-image", body: `{"container":"app","image":"x:1"}`, wantCode: http.StatusConflict,
			setup: func(ro *v1alpha1.Rollout) { ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{Kind: "Deployment", Name: "web"} }},
		{name: "unknown action", action: "scale", wantCode: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := fixtures()
			if tc.setup != nil {
				tc.setup(objs[2].(*v1alpha1.Rollout))
			}
			e := newEnv(t, Options{}, objs...)
			before := e.rollout(t)
			w := e.do(t, http.MethodPost, "/api/namespaces/shop/rollouts/web/"+tc.action, tc.body)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.wantCode, w.Body)
			}
			m := decode(t, w)
			if tc.wantCode == http.StatusOK && (m["action"] != tc.action || m["message"] == "") {
				t.Errorf("answer %s", w.Body)
			}
			if tc.wantCode != http.StatusOK && m["error"] == "" {
				t.Errorf("error answer %s", w.Body)
			}
			if got := e.sent(); !reflect.DeepEqual(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
				t.Errorf("patches\n got %+v\nwant %+v", got, tc.want)
			}
			after := e.rollout(t)
			if tc.check != nil {
				tc.check(t, after)
			}
			if len(tc.want) == 0 && after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the Rollout changed without a patch")
			}
		})
	}
}

func assertAbort(t *testing.T, ro *v1alpha1.Rollout, want bool) {
	t.Helper()
	if ro.Status.Abort != want || len(ro.Status.PauseConditions) != 1 || ro.Spec.Paused {
		t.Errorf("abort %v (want %v), pauseConditions %v, paused %v", ro.Status.Abort, want, ro.Status.PauseConditions, ro.Spec.Paused)
	}
}

func TestReadOnlyRefusesActions(t *testing.T) {
	e := newEnv(t, Options{ReadOnly: true})
	for _, action := range []string{"promote", "promote-full", "abort", "retry", "restart", "set-image", "anything"} {
		w := e.do(t, http.MethodPost, "/api/namespaces/shop/rollouts/web/"+action, `{"container":"app","image":"x:1"}`)
		if w.Code != http.StatusForbidden || !strings.Contains(decode(t, w)["error"].(string), "read-only") {
			t.Errorf("%s: status %d %s, want 403", action, w.Code, w.Body)
		}
	}
	if p := e.sent(); len(p) != 0 {
		t.Errorf("read-only server patched: %+v", p)
	}
	if m := decode(t, e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/web", "")); m["readOnly"] != true {
		t.Errorf("detail readOnly %v", m["readOnly"])
	}
	if m := decode(t, e.do(t, http.MethodGet, "/api/info", "")); m["readOnly"] != true || m["defaultNamespace"] != "default" {
		t.Errorf("info %v", m)
	}
}

func TestActionsRefuseOtherSites(t *testing.T) {
	e := newEnv(t, Options{})
	post := func(mutate func(r *http.Request)) int {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3100/api/namespaces/shop/rollouts/web/abort", strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		mutate(r)
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w.Code
	}
	if code := post(func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); code != http.StatusForbidden {
		t.Errorf("foreign Origin: %d", code)
	}
	if code := post(func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }); code != http.StatusUnsupportedMediaType {
		t.Errorf("form-like content type: %d", code)
	}
	if code := post(func(r *http.Request) { r.Host = "rebound.evil.example:3100" }); code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d", code)
	}
	if p := e.sent(); len(p) != 0 {
		t.Errorf("patched: %+v", p)
	}
	if code := post(func(r *http.Request) { r.Host = "localhost:3100"; r.Header.Set("Origin", "http://localhost:3100") }); code != http.StatusOK {
		t.Errorf("localhost: %d", code)
	}
	if w := e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/web/abort", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d", w.Code)
	}
}

func TestPagesAndAssetsAreEmbedded(t *testing.T) {
	e := newEnv(t, Options{})
	for _, path := range []string{"/", "/rollouts/shop/web"} {
		w := e.do(t, http.MethodGet, path, "")
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<script src="/assets/app.js"`) {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "://") {
			t.Errorf("%s refers to another site", path)
		}
	}
	for path, ctype := range map[string]string{"/assets/app.js": "javascript", "/assets/app.css": "text/css", "/assets/favicon.svg": "image/svg+xml"} {
		w := e.do(t, http.MethodGet, path, "")
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := e.do(t, http.MethodGet, "/nothing-here", ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown page: %d", w.Code)
	}
	m := decode(t, e.do(t, http.MethodGet, "/api/namespaces", ""))
	if jsonOf(t, m) != `{"namespaces":["default","shop"]}` {
		t.Errorf("namespaces %s", jsonOf(t, m))
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data map[string]any
}

// readEvents parses a stream of server-sent events into a channel.
func readEvents(t *testing.T, body io.Reader) <-chan sseEvent {
	t.Helper()
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
					t.Errorf("event data: %v", err)
				}
			case line == "" && ev.name != "":
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return ch
}

func next(t *testing.T, events <-chan sseEvent, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return sseEvent{}
}

func openStream(t *testing.T, ts *httptest.Server, query string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return readEvents(t, resp.Body), func() { cancel(); resp.Body.Close() }
}

func TestEventsPushSnapshotsOnChange(t *testing.T) {
	e := newEnv(t, Options{Debounce: 50 * time.Millisecond})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()

	events, stop := openStream(t, ts, "namespace=shop&rollout=web")
	ev := next(t, events, 5*time.Second)
	if ev.name != "snapshot" || stepOf(ev.data) != "1/5" {
		t.Fatalf("first event %s %s", ev.name, jsonOf(t, ev.data))
	}
	// The first snapshot equals the page's GET.
	get := decode(t, e.do(t, http.MethodGet, "/api/namespaces/shop/rollouts/web", ""))
	if !reflect.DeepEqual(get, ev.data) {
		t.Errorf("snapshot differs from GET\nsnapshot %s\nGET      %s", jsonOf(t, ev.data), jsonOf(t, get))
	}

	// A promote through the API, then the controller's step write, each
	// reach the stream.
	if w := e.do(t, http.MethodPost, "/api/namespaces/shop/rollouts/web/promote", "{}"); w.Code != http.StatusOK {
		t.Fatalf("promote: %d %s", w.Code, w.Body)
	}
	ev = next(t, events, 5*time.Second)
	if ev.data["pauseReasons"] != nil {
		t.Fatalf("after promote: %s", jsonOf(t, ev.data))
	}
	ro := e.rollout(t)
	ro.Status.CurrentStepIndex = ptr(int32(3))
	ro.Status.Phase = v1alpha1.RolloutPhaseProgressing
	start := time.Now()
	if err := e.c.Status().Update(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events, 5*time.Second)
	if ev.data["status"] != "Progressing" || stepOf(ev.data) != "3/5" {
		t.Fatalf("after the step moved: %s", jsonOf(t, ev.data))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the change took %s to arrive", d)
	}

	// A Pod change in the namespace reaches the rollout page too.
	p := pod("web-"+canaryH+"-ccccc", "web-"+canaryH, canaryID, true)
	if err := e.c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events, 5*time.Second)
	if !strings.Contains(jsonOf(t, ev.data["revisions"]), "web-"+canaryH+"-ccccc") {
		t.Fatalf("new Pod not shown: %s", jsonOf(t, ev.data["revisions"]))
	}

	// Deleting the Rollout turns into a problem event.
	if err := e.c.Delete(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events, 5*time.Second)
	if ev.name != "problem" || ev.data["code"] != 404.0 {
		t.Fatalf("after delete: %s %s", ev.name, jsonOf(t, ev.data))
	}

	stop()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.hub.activeWatchSets() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("watches still running after the last stream closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEventsOfTheRolloutsPage(t *testing.T) {
	e := newEnv(t, Options{Debounce: 50 * time.Millisecond})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	events, stop := openStream(t, ts, "namespace=_all")
	defer stop()
	ev := next(t, events, 5*time.Second)
	if ev.name != "snapshot" || len(ev.data["rollouts"].([]any)) != 1 {
		t.Fatalf("first event %s %s", ev.name, jsonOf(t, ev.data))
	}
	other := webRollout()
	other.Namespace, other.UID, other.ResourceVersion = "default", "uid-other", ""
	if err := e.c.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events, 5*time.Second)
	if len(ev.data["rollouts"].([]any)) != 2 {
		t.Fatalf("after a create: %s", jsonOf(t, ev.data))
	}

	for _, q := range []string{"namespace=_all&rollout=web", "", "namespace=a%2Fb"} {
		resp, err := ts.Client().Get(ts.URL + "/api/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("events?%s: %d", q, resp.StatusCode)
		}
	}
}

func TestNewCommandFlags(t *testing.T) {
	cmd := NewCommand()
	if cmd.Use != "dashboard" {
		t.Errorf("use %q", cmd.Use)
	}
	for flag, def := range map[string]string{"port": "3100", "address": "127.0.0.1", "read-only": "false", "kubeconfig": "", "context": ""} {
		f := cmd.Flags().Lookup(flag)
		if f == nil || f.DefValue != def {
			t.Errorf("flag --%s: %+v, want default %q", flag, f, def)
		}
	}
	cmd.SetArgs([]string{"--port", "70000"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--port") {
		t.Errorf("bad port: %v", err)
	}
}

// TestOpenTabsShareOneCache opens many streams of the same rollout page and
// changes what it shows: the API server sees one list per kind, however
// many tabs are open and however often the page is rebuilt.
func TestOpenTabsShareOneCache(t *testing.T) {
	e := newEnv(t, Options{Debounce: 20 * time.Millisecond})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()

	const tabs = 25
	var streams []<-chan sseEvent
	for range tabs {
		events, stop := openStream(t, ts, "namespace=shop&rollout=web")
		defer stop()
		streams = append(streams, events)
	}
	for i, events := range streams {
		if ev := next(t, events, 10*time.Second); ev.name != "snapshot" {
			t.Fatalf("tab %d: first event %s %s", i, ev.name, jsonOf(t, ev.data))
		}
	}
	for round := range 3 {
		name := fmt.Sprintf("web-%s-new%d", canaryH, round)
		if err := e.c.Create(context.Background(), pod(name, "web-"+canaryH, canaryID, true)); err != nil {
			t.Fatal(err)
		}
		for _, events := range streams {
			for !strings.Contains(jsonOf(t, next(t, events, 10*time.Second).data["revisions"]), name) {
			}
		}
	}
	e.mu.Lock()
	lists := e.lists
	e.mu.Unlock()
	if kinds := len(kindsFor(true)); lists != kinds {
		t.Errorf("%d tabs and 3 changes cost %d lists, want %d (one per kind of the shared cache)", tabs, lists, kinds)
	}
}
