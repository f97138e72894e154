package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// hookServer records the bodies a webhook receives; the first fail
// requests answer 500.
type hookServer struct {
	mu     sync.Mutex
	bodies []string
	fail   int
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies = append(h.bodies, string(b))
	if h.fail > 0 {
		h.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *hookServer) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

type fixture struct {
	n       *Notifier
	c       client.Client
	hook    *hookServer
	events  *record.FakeRecorder
	metrics *Metrics
	ro      *v1alpha1.Rollout
}

func newFixture(t *testing.T, data map[string]string, annotations map[string]string) *fixture {
	t.Helper()
	hook := &hookServer{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{
		Name: "web", Namespace: "shop", UID: "uid-web", Annotations: annotations,
	}}
	ro.Status.CurrentPodHash = "abc"
	c := crfake.NewClientBuilder().WithScheme(scheme).WithObjects(ro).Build()
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	events := record.NewFakeRecorder(100)
	opts := DefaultOptions("kanaria")
	opts.Backoff = time.Millisecond
	n := New(fake.NewSimpleClientset(), c, c, events, metrics, testr.New(t), opts)
	full := map[string]string{"service.webhook.hook": "url: $url\nretryMax: 1\nretryWaitMin: 1000000\nretryWaitMax: 1000000\n"}
	for k, v := range data {
		full[k] = v
	}
	cfg, err := Parse(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kanaria"}, Data: full},
		&corev1.Secret{Data: map[string][]byte{"url": []byte(srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	n.configs["kanaria"] = cfg
	return &fixture{n: n, c: c, hook: hook, events: events, metrics: metrics, ro: ro}
}

// run queues the notices and processes what was queued.
func (f *fixture) run(t *testing.T, notices ...Notice) {
	t.Helper()
	var cur v1alpha1.Rollout
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(f.ro), &cur); err != nil {
		t.Fatal(err)
	}
	f.n.Notify(&cur, rolloutview.Owned{}, notices)
	for _, q := range f.n.queues {
		for len(q) > 0 {
			f.n.process(context.Background(), <-q)
		}
	}
}

const updatedTemplate = "webhook:\n  hook:\n    method: POST\n    body: '{\"rollout\":\"{{.rollout.metadata.name}}\",\"hash\":\"{{.rollout.status.currentPodHash}}\"}'\n"

func TestNotifierSendsOnceAndRecords(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.updated":           updatedTemplate,
		"trigger.on-rollout-updated": "- send: [updated]\n",
	}, map[string]string{"notifications.argoproj.io/subscribe.on-rollout-updated.hook": ""})
	updated := Notice{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "Rollout updated to revision 2"}
	f.run(t, updated, Notice{Type: corev1.EventTypeNormal, Reason: "RolloutResumed", Message: "not subscribed"})
	if got := f.hook.got(); len(got) != 1 || got[0] != `{"rollout":"web","hash":"abc"}` {
		t.Fatalf("webhook got %q", got)
	}
	// The same decision made again (a new leader on a lagging cache) is
	// recognised from the record on the Rollout.
	f.run(t, updated)
	if got := f.hook.got(); len(got) != 1 {
		t.Fatalf("the repeated decision was sent again: %q", got)
	}
	var cur v1alpha1.Rollout
	_ = f.c.Get(context.Background(), client.ObjectKeyFromObject(f.ro), &cur)
	if keys := parseSent(cur.Annotations[SentAnnotation]); len(keys) != 1 {
		t.Fatalf("record %q", cur.Annotations[SentAnnotation])
	}
	if v := testutil.ToFloat64(f.metrics.success.WithLabelValues("shop", "web", "Normal", "RolloutUpdated")); v != 1 {
		t.Fatalf("notification_send_success %v, want 1", v)
	}
	// An abort clears the record, so a retried update is announced again.
	f.run(t, Notice{Type: corev1.EventTypeWarning, Reason: "RolloutAborted", Message: "aborted"})
	f.run(t, updated)
	if got := f.hook.got(); len(got) != 2 {
		t.Fatalf("after an abort the retried update was not announced: %q", got)
	}
}

func TestNotifierRetriesThenCountsFailure(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.updated":           updatedTemplate,
		"trigger.on-rollout-updated": "- send: [updated]\n",
	}, map[string]string{"notifications.argoproj.io/subscribe.on-rollout-updated.hook": ""})
	// The webhook service retries once itself; the notifier tries 5 times.
	f.hook.fail = 3
	f.run(t, Notice{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "r2"})
	if v := testutil.ToFloat64(f.metrics.success.WithLabelValues("shop", "web", "Normal", "RolloutUpdated")); v != 1 {
		t.Fatalf("success %v after transient failures, want 1", v)
	}
	f.hook.fail = 1000
	f.run(t, Notice{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "r3"})
	if v := testutil.ToFloat64(f.metrics.failure.WithLabelValues("shop", "web", "Normal", "RolloutUpdated")); v != 1 {
		t.Fatalf("notification_send_error %v, want 1", v)
	}
}

func TestNotifierWhenConditionAndConfigWarnings(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.updated": updatedTemplate,
		"trigger.on-rollout-updated": "- when: rollout.status.currentPodHash == 'zzz'\n  send: [updated]\n" +
			"- when: rollout.status.currentPodHash == 'abc'\n  send: [updated]\n",
		"trigger.on-rollout-paused": "- send: [nowhere]\n",
	}, map[string]string{
		"notifications.argoproj.io/subscribe.on-rollout-updated.hook": "",
		"notifications.argoproj.io/subscribe.on-rollout-paused.hook":  "",
	})
	f.run(t, Notice{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "r2"},
		Notice{Type: corev1.EventTypeNormal, Reason: "RolloutPaused", Message: "p1"},
		Notice{Type: corev1.EventTypeNormal, Reason: "RolloutPaused", Message: "p2"})
	if got := f.hook.got(); len(got) != 1 {
		t.Fatalf("webhook got %q, want only the condition that holds", got)
	}
	var warnings []string
	for len(f.events.Events) > 0 {
		warnings = append(warnings, <-f.events.Events)
	}
	want := "Warning NotificationConfigError notification configuration in namespace kanaria: trigger.on-rollout-paused: trigger cannot be used: template \"nowhere\" is not defined (trigger on-rollout-paused)"
	if len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("warnings %q, want one: %q", warnings, want)
	}
}

func TestNotifierSkipsUnsubscribedObjects(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.updated":           updatedTemplate,
		"trigger.on-rollout-updated": "- send: [updated]\n",
	}, nil)
	var cur v1alpha1.Rollout
	_ = f.c.Get(context.Background(), client.ObjectKeyFromObject(f.ro), &cur)
	f.n.Notify(&cur, rolloutview.Owned{}, []Notice{{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "r2"}})
	for _, q := range f.n.queues {
		if len(q) != 0 {
			t.Fatal("a Rollout nobody subscribed was queued")
		}
	}
	_ = f.c.Get(context.Background(), client.ObjectKeyFromObject(f.ro), &cur)
	if _, ok := cur.Annotations[SentAnnotation]; ok {
		t.Fatal("a Rollout nobody subscribed got a record")
	}
}

func TestNotifierReadsTheSubscriptionsAnnotation(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.updated":           updatedTemplate,
		"trigger.on-rollout-updated": "- send: [updated]\n",
	}, map[string]string{"notifications.argoproj.io/subscriptions": "- trigger: [on-rollout-updated]\n  destinations:\n  - service: hook\n    recipients: ['']\n"})
	f.run(t, Notice{Type: corev1.EventTypeNormal, Reason: "RolloutUpdated", Message: "r2"})
	if got := f.hook.got(); len(got) != 1 {
		t.Fatalf("webhook got %q", got)
	}
}

func TestSelfServiceConfigurations(t *testing.T) {
	f := newFixture(t, nil, nil)
	own, err := Parse(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.n.configs["shop"] = own
	if got := f.n.configsFor("shop"); len(got) != 1 || got[0].Namespace != "kanaria" {
		t.Fatalf("without self-service: %d configurations", len(got))
	}
	f.n.opts.SelfService = true
	if got := f.n.configsFor("shop"); len(got) != 2 || got[0].Namespace != "kanaria" || got[1].Namespace != "shop" {
		t.Fatalf("with self-service: %d configurations", len(got))
	}
	if got := f.n.configsFor("kanaria"); len(got) != 1 {
		t.Fatalf("the controller's own namespace counted %d times", len(got))
	}
}

// TestTemplatesSeeTheReadModelAndCurrentRuns renders a template and runs a
// condition over a Rollout's read model (view) and the AnalysisRuns of its
// current revision (analysisRuns); runs of older revisions are left out.
func TestTemplatesSeeTheReadModelAndCurrentRuns(t *testing.T) {
	f := newFixture(t, map[string]string{
		"template.stepped": "webhook:\n  hook:\n    method: POST\n    body: '{\"step\":\"{{.view.step.index}}/{{.view.step.total}} {{.view.step.description}}\"," +
			"\"set\":\"{{.view.weights.set}}\",\"runs\":\"{{range .analysisRuns}}{{.metadata.name}} {{end}}\"," +
			"\"images\":\"{{range .view.images}}{{.name}}({{range .roles}}{{.}}{{end}}) {{end}}\"}'\n",
		"trigger.on-rollout-step-completed": "- send: [stepped]\n  when: view.step.index == 1 && len(analysisRuns) == 1\n",
	}, map[string]string{"notifications.argoproj.io/subscribe.on-rollout-step-completed.hook": ""})
	var cur v1alpha1.Rollout
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(f.ro), &cur); err != nil {
		t.Fatal(err)
	}
	weight := int32(20)
	cur.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{SetWeight: &weight}, {Pause: &v1alpha1.RolloutPause{}}}}
	index := int32(1)
	cur.Status.CurrentStepIndex, cur.Status.StableRS = &index, "old"
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(&cur, v1alpha1.GroupVersion.WithKind("Rollout"))}
	rs := func(hash, revision, image string) *appsv1.ReplicaSet {
		r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "shop", UID: types.UID("rs-" + hash), OwnerReferences: owner,
			Labels:      map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: revision}}}
		one := int32(1)
		r.Spec.Replicas = &one
		r.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: image}}
		return r
	}
	run := func(name, hash string) *v1alpha1.AnalysisRun {
		return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", OwnerReferences: owner,
			Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash}}}
	}
	owned := rolloutview.Owned{
		ReplicaSets:  []*appsv1.ReplicaSet{rs("old", "1", "web:1"), rs("abc", "2", "web:2")},
		AnalysisRuns: []*v1alpha1.AnalysisRun{run("web-old-1", "old"), run("web-abc-2", "abc")},
	}
	f.n.Notify(&cur, owned, []Notice{{Type: corev1.EventTypeNormal, Reason: "RolloutStepCompleted", Message: "step 1 completed"}})
	for _, q := range f.n.queues {
		for len(q) > 0 {
			f.n.process(context.Background(), <-q)
		}
	}
	want := `{"step":"1/2 pause (until promoted)","set":"20","runs":"web-abc-2 ","images":"web:2(canary) web:1(stable) "}`
	if got := f.hook.got(); len(got) != 1 || got[0] != want {
		t.Fatalf("webhook got %q, want %q", got, want)
	}
}
