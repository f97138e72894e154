package notify

import (
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseLeavesOutBadEntriesOnly(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: "kanaria"},
		Data: map[string]string{
			"service.webhook.hook":       "url: $hook-url\n",
			"service.carrier-pigeon":     "coop: roof\n",
			"template.good":              "message: Rollout {{.rollout.metadata.name}} updated\n",
			"template.broken":            "message: '{{.rollout.metadata.name'\n",
			"trigger.on-rollout-updated": "- send: [good]\n",
			"trigger.on-rollout-paused":  "- send: [missing]\n",
			"trigger.on-bad-when":        "- when: rollout.status.phase ==\n  send: [good]\n",
			"trigger.on-uses-broken":     "- send: [broken]\n",
			"subscriptions":              "- recipients: [hook]\n  triggers: [on-rollout-updated]\n",
			"defaultTriggers":            "- on-rollout-updated\n",
		},
	}
	secret := &corev1.Secret{Data: map[string][]byte{"hook-url": []byte("http://127.0.0.1:1/")}}
	cfg, err := Parse(cm, secret)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, p := range cfg.Problems {
		bad = append(bad, p.Key)
	}
	sort.Strings(bad)
	want := []string{"service.carrier-pigeon", "template.broken", "trigger.on-bad-when", "trigger.on-rollout-paused", "trigger.on-uses-broken"}
	if strings.Join(bad, ",") != strings.Join(want, ",") {
		t.Fatalf("problems %v, want %v", bad, want)
	}
	c := cfg.API.GetConfig()
	if _, ok := c.Triggers["on-rollout-updated"]; !ok {
		t.Fatal("the good trigger was left out")
	}
	if _, ok := cfg.API.GetNotificationServices()["hook"]; !ok {
		t.Fatal("the good service was left out")
	}
	if len(c.Subscriptions) != 1 || len(c.DefaultTriggers) != 1 {
		t.Fatalf("subscriptions %v default triggers %v", c.Subscriptions, c.DefaultTriggers)
	}
	if p := cfg.problemFor("on-rollout-paused", "hook"); len(p) != 1 || p[0].Key != "trigger.on-rollout-paused" {
		t.Fatalf("problems for on-rollout-paused: %v", p)
	}
	if p := cfg.problemFor("on-rollout-updated", "carrier-pigeon"); len(p) != 1 {
		t.Fatalf("problems for the broken service: %v", p)
	}
	if p := cfg.problemFor("on-rollout-updated", "hook"); len(p) != 0 {
		t.Fatalf("a working subscription reports %v", p)
	}
}

func TestParseWithoutSecret(t *testing.T) {
	cfg, err := Parse(&corev1.ConfigMap{Data: map[string]string{"template.x": "message: hi\n"}}, nil)
	if err != nil || len(cfg.Problems) != 0 {
		t.Fatalf("err %v problems %v", err, cfg.Problems)
	}
}

func TestConfigMasksSecretValues(t *testing.T) {
	cfg, err := Parse(&corev1.ConfigMap{Data: map[string]string{"service.webhook.hook": "url: $hook-url\n"}},
		&corev1.Secret{Data: map[string][]byte{
			"hook-url": []byte("https://hooks.example/T0/B0/abcdef"),
			"part":     []byte("abcdef"),
			"short":    []byte("no"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.mask("POST https://hooks.example/T0/B0/abcdef failed; token abcdef; no")
	if want := "POST ***** failed; token *****; no"; got != want {
		t.Fatalf("masked %q, want %q", got, want)
	}
}
