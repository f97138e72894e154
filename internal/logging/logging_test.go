package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A burst of the same decision is written line for line: a sampling logger
// would keep the first 100 of a second and then one in 100.
func TestBurstIsNotSampled(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		log.Info("applied", "action", "sync traffic", "i", i)
	}
	if got := strings.Count(buf.String(), "\n"); got != n {
		t.Fatalf("wrote %d lines for %d decisions", got, n)
	}
}

func TestLevelsFormatsAndObjects(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.V(1).Info("debug line")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}}
	log.Info("decided", "pod", pod)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON line without the debug line, got %q: %v", buf.String(), err)
	}
	if line["msg"] != "decided" || line["level"] != "info" {
		t.Errorf("line = %v", line)
	}
	if p, ok := line["pod"].(map[string]any); !ok || p["name"] != "web-1" || p["namespace"] != "shop" {
		t.Errorf("a Kubernetes object is logged by namespace and name, got %v", line["pod"])
	}

	buf.Reset()
	log, err = New(&buf, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.V(1).Info("debug line", "k", "v")
	if !strings.Contains(buf.String(), "DEBUG\tdebug line") {
		t.Errorf("debug level in text: %q", buf.String())
	}
	if _, err := New(&buf, "loud", "text"); err == nil {
		t.Error("an unknown level is refused")
	}
	if _, err := New(&buf, "info", "xml"); err == nil {
		t.Error("an unknown format is refused")
	}
}
