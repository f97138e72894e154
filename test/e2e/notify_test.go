package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// slackMessage is one chat.postMessage call the fake Slack received.
type slackMessage struct {
	Path, Auth, Token, Channel, Text, Attachments string
}

// webhookCall is one request the fake webhook received.
type webhookCall struct {
	Method, Path, Token, ContentType, Body string
}

// fakeSlack speaks enough of Slack's Web API for the notifications
// engine's slack service: chat.postMessage, answered ok.
type fakeSlack struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []slackMessage
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		f.msgs = append(f.msgs, slackMessage{
			Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Token: form.Get("token"),
			Channel: form.Get("channel"), Text: form.Get("text"), Attachments: form.Get("attachments"),
		})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.000100"}`, form.Get("channel"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) messages() []slackMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackMessage(nil), f.msgs...)
}

type fakeWebhook struct {
	*httptest.Server
	mu    sync.Mutex
	calls []webhookCall
}

func newFakeWebhook(t *testing.T) *fakeWebhook {
	f := &fakeWebhook{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, webhookCall{
			Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Audit-Token"),
			ContentType: r.Header.Get("Content-Type"), Body: string(b),
		})
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeWebhook) received() []webhookCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]webhookCall(nil), f.calls...)
}

// notifyTriggers are the reference's built-in triggers the tests configure,
// each sending the template of the same name without "on-".
var notifyTriggers = []string{
	"on-rollout-updated", "on-rollout-step-completed", "on-rollout-paused", "on-rollout-completed",
	"on-rollout-aborted", "on-scaling-replica-set", "on-analysis-run-running", "on-analysis-run-error",
	"on-analysis-run-failed",
}

// applyNotificationConfig writes the notification ConfigMap and Secret
// into ns, the controller's namespace in these tests.
func applyNotificationConfig(t *testing.T, ns string, slack *fakeSlack, hook *fakeWebhook, extra string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Secret
metadata:
  name: argo-rollouts-notification-secret
stringData:
  slack-token: xoxb-test-token
  audit-token: s3cret
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argo-rollouts-notification-configmap
data:
  service.slack: |
    token: $slack-token
    apiURL: %s/api/
  service.webhook.audit: |
    url: %s
    headers:
    - name: X-Audit-Token
      value: $audit-token
    - name: Content-Type
      value: application/json
`, slack.URL, hook.URL)
	for _, tr := range notifyTriggers {
		name := strings.TrimPrefix(tr, "on-")
		fmt.Fprintf(&b, `  trigger.%s: |
    - send: [%s]
  template.%s: |
    message: '%s {{.rollout.metadata.name}} step {{.rollout.status.currentStepIndex}}'
    slack:
      attachments: '[{"title":"{{.rollout.metadata.name}}","text":"%s"}]'
    webhook:
      audit:
        method: POST
        path: /events
        body: '{"event":"%s","name":"{{.rollout.metadata.name}}","hash":"{{.rollout.status.currentPodHash}}"}'
`, tr, name, name, name, name, name)
	}
	b.WriteString(extra)
	applyYAML(t, ns, b.String())
}

// slackTexts returns the texts Slack received on channel, in order.
func slackTexts(msgs []slackMessage, channel string) []string {
	var out []string
	for _, m := range msgs {
		if m.Channel == channel {
			out = append(out, m.Text)
		}
	}
	return out
}

// waitSlack waits until channel has received want texts and then checks
// that it received exactly those, in order.
func waitSlack(t *testing.T, slack *fakeSlack, channel string, want []string) []slackMessage {
	t.Helper()
	eventually(t, time.Minute, "Slack messages on "+channel, func() (bool, error) {
		got := slackTexts(slack.messages(), channel)
		return len(got) >= len(want), fmt.Errorf("have %q", got)
	})
	// Anything late or doubled would show up shortly after.
	time.Sleep(2 * time.Second)
	got := slackTexts(slack.messages(), channel)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Slack channel %s received\n  %s\nwant\n  %s", channel, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return slack.messages()
}

// TestNotifyCanaryRelease walks canary-manual-gates.yaml through an update
// with a Slack and a webhook subscription and checks every request.
func TestNotifyCanaryRelease(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "notify")
	slack, hook := newFakeSlack(t), newFakeWebhook(t)
	applyNotificationConfig(t, ns, slack, hook, "")
	runController(t, ns, "--controller-namespace", ns)

	applySeed(t, ns, "canary-manual-gates.yaml")
	waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	mustKubectl(t, "annotate", "-n", ns, "rollout", "rails",
		"notifications.argoproj.io/subscribe.on-rollout-updated.slack=deploys",
		"notifications.argoproj.io/subscribe.on-rollout-step-completed.slack=deploys",
		"notifications.argoproj.io/subscribe.on-rollout-paused.slack=deploys",
		"notifications.argoproj.io/subscribe.on-rollout-completed.slack=deploys;releases",
		"notifications.argoproj.io/subscribe.on-rollout-completed.audit=",
	)

	setImage(t, ns, "rails", "registry.example/rails:6.1")
	waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	waitSlack(t, slack, "deploys", []string{
		"rollout-updated rails step 0",
		"rollout-step-completed rails step 1",
		"rollout-paused rails step 1",
	})
	promote(t, ns, "rails")
	waitRollout(t, c, ns, "rails", "Healthy on the new version", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	msgs := waitSlack(t, slack, "deploys", []string{
		"rollout-updated rails step 0",
		"rollout-step-completed rails step 1",
		"rollout-paused rails step 1",
		"rollout-step-completed rails step 2",
		"rollout-step-completed rails step 3",
		"rollout-paused rails step 3",
		"rollout-step-completed rails step 4",
		"rollout-completed rails step 4",
	})
	if got := slackTexts(msgs, "releases"); len(got) != 1 || got[0] != "rollout-completed rails step 4" {
		t.Fatalf("channel releases received %q", got)
	}
	for _, m := range msgs {
		name := strings.Fields(m.Text)[0]
		want := slackMessage{
			Path: "/api/chat.postMessage", Auth: m.Auth, Token: m.Token, Channel: m.Channel, Text: m.Text,
			Attachments: fmt.Sprintf(`[{"title":"rails","text":"%s","blocks":null}]`, name),
		}
		if m.Auth != "Bearer xoxb-test-token" && m.Token != "xoxb-test-token" {
			t.Errorf("Slack request carries no token: %+v", m)
		}
		if m != want {
			t.Errorf("Slack request\n  %+v\nwant\n  %+v", m, want)
		}
	}
	eventually(t, 30*time.Second, "the webhook call", func() (bool, error) {
		return len(hook.received()) >= 1, fmt.Errorf("have %d", len(hook.received()))
	})
	calls := hook.received()
	ro := getRollout(t, c, ns, "rails")
	want := webhookCall{Method: "POST", Path: "/events", Token: "s3cret", ContentType: "application/json",
		Body: fmt.Sprintf(`{"event":"rollout-completed","name":"rails","hash":"%s"}`, ro.Status.CurrentPodHash)}
	if len(calls) != 1 || calls[0] != want {
		t.Fatalf("webhook received %+v, want exactly %+v", calls, want)
	}
	if rec := ro.Annotations["notifications.kanaria.dev/sent"]; strings.Count(rec, "on-") != 8 {
		t.Fatalf("the dedupe record lists %q, want the 8 announced decisions", rec)
	}
}

// TestNotifyAnalysisFailure: a step analysis fails and the update aborts;
// Slack hears the run start, fail and the abort. A subscription to a
// service the ConfigMap cannot build is reported as a Warning Event on the
// Rollout while the others keep working.
func TestNotifyAnalysisFailure(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "notifyan")
	slack, hook := newFakeSlack(t), newFakeWebhook(t)
	target := newWebTarget(t)
	// The configuration arrives after the controller started: it is
	// watched, not read once.
	p := runController(t, ns, "--controller-namespace", ns)
	applyNotificationConfig(t, ns, slack, hook, "  service.carrier-pigeon: |\n    coop: roof\n")

	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: health
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    failureCondition: result.ok == false
    provider:
      web:
        url: %s/bad
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: api
  annotations:
    notifications.argoproj.io/subscribe.on-analysis-run-running.slack: alerts
    notifications.argoproj.io/subscribe.on-analysis-run-failed.slack: alerts
    notifications.argoproj.io/subscribe.on-rollout-aborted.slack: alerts
    notifications.argoproj.io/subscribe.on-rollout-aborted.carrier-pigeon: roof
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: registry.example/api:1
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis:
          templates:
          - templateName: health
`, target.URL))
	waitRollout(t, c, ns, "api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "api", "registry.example/api:2")
	waitRollout(t, c, ns, "api", "aborted", 2*time.Minute, func(ro *v1alpha1.Rollout) bool { return ro.Status.Abort })
	msgs := waitSlack(t, slack, "alerts", []string{
		"analysis-run-running api step 1",
		"analysis-run-failed api step 1",
		// An abort sends the Rollout back to its first step.
		"rollout-aborted api step 0",
	})
	for _, m := range msgs {
		name := strings.Fields(m.Text)[0]
		if want := fmt.Sprintf(`[{"title":"api","text":"%s","blocks":null}]`, name); m.Path != "/api/chat.postMessage" || m.Attachments != want {
			t.Errorf("Slack request %+v, want path /api/chat.postMessage and attachments %s", m, want)
		}
	}
	assertEvents(t, c, ns, "api", "AnalysisRunFailed", "RolloutAborted", "NotificationConfigError")
	if calls := hook.received(); len(calls) != 0 {
		t.Fatalf("the unsubscribed webhook received %+v", calls)
	}
	_, body, err := p.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		fmt.Sprintf(`notification_send_success{name="api",namespace="%s",reason="AnalysisRunFailed",type="Warning"} 1`, ns),
		fmt.Sprintf(`notification_send_success{name="api",namespace="%s",reason="RolloutAborted",type="Warning"} 1`, ns),
		// The subscription to the service the ConfigMap cannot build.
		fmt.Sprintf(`notification_send_error{name="api",namespace="%s",reason="RolloutAborted",type="Warning"} 1`, ns),
	} {
		if !containsLine(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestNotifyControllerCrash kills the controller at every stage of an
// update, as TestCanaryResumesAfterControllerCrash does, and checks that no
// notification arrives twice. A crash between a decision's status write
// and its send may lose that one notification (at most once); the
// completion, decided after the last crash, must arrive.
func TestNotifyControllerCrash(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "notifycrash")
	slack, hook := newFakeSlack(t), newFakeWebhook(t)
	applyNotificationConfig(t, ns, slack, hook, "")
	p := runController(t, ns, "--controller-namespace", ns)
	crash := func() {
		t.Helper()
		_ = p.cmd.Process.Kill()
		<-p.exited
		p = runController(t, ns, "--controller-namespace", ns)
	}

	applySeed(t, ns, "canary-manual-gates.yaml")
	waitRollout(t, c, ns, "rails", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	var subs []string
	for _, tr := range []string{"on-rollout-updated", "on-rollout-step-completed", "on-rollout-paused", "on-rollout-completed"} {
		subs = append(subs, "notifications.argoproj.io/subscribe."+tr+".slack=crash")
	}
	mustKubectl(t, append([]string{"annotate", "-n", ns, "rollout", "rails"}, subs...)...)

	setImage(t, ns, "rails", "registry.example/rails:6.1")
	crash() // while the update starts
	waitRollout(t, c, ns, "rails", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	crash() // during the indefinite pause
	promote(t, ns, "rails")
	crash() // while scaling to 50%
	waitRollout(t, c, ns, "rails", "the timed pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	crash() // during the timed pause
	waitRollout(t, c, ns, "rails", "Healthy on the new version", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	eventually(t, time.Minute, "the completion on Slack", func() (bool, error) {
		got := slackTexts(slack.messages(), "crash")
		for _, m := range got {
			if m == "rollout-completed rails step 4" {
				return true, nil
			}
		}
		return false, fmt.Errorf("have %q", got)
	})
	time.Sleep(3 * time.Second)
	msgs := slack.messages()
	expected := map[string]bool{
		"rollout-updated rails step 0": true, "rollout-step-completed rails step 1": true, "rollout-paused rails step 1": true,
		"rollout-step-completed rails step 2": true, "rollout-step-completed rails step 3": true, "rollout-paused rails step 3": true,
		"rollout-step-completed rails step 4": true, "rollout-completed rails step 4": true,
	}
	// The update is announced by the decision that first records the new
	// revision; a crash just after the first status write leaves that to
	// the next controller, whose decision has also reached step 1. Either
	// way it is announced once.
	expected["rollout-updated rails step 1"] = true
	seen := map[string]int{}
	updated := 0
	for _, m := range msgs {
		seen[m.Text]++
		if !expected[m.Text] {
			t.Errorf("unexpected notification %q", m.Text)
		}
		if strings.HasPrefix(m.Text, "rollout-updated ") {
			updated++
		}
	}
	if updated > 1 {
		t.Errorf("the update was announced %d times", updated)
	}
	for text, n := range seen {
		if n > 1 {
			t.Errorf("%q arrived %d times", text, n)
		}
	}
	if t.Failed() {
		t.Fatalf("Slack received:\n  %s", strings.Join(slackTexts(msgs, "crash"), "\n  "))
	}
	t.Logf("Slack received across 4 crashes:\n  %s", strings.Join(slackTexts(msgs, "crash"), "\n  "))
}
