package v1alpha1

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRolloutDecodesWhatItCan(t *testing.T) {
	good := `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"ok","namespace":"ns"},"spec":{"replicas":2},"status":{"phase":"Healthy"}}`
	var r Rollout
	if err := json.Unmarshal([]byte(good), &r); err != nil || r.DecodeError != "" || *r.Spec.Replicas != 2 || r.Status.Phase != RolloutPhaseHealthy {
		t.Fatalf("good Rollout: err %v, %+v", err, r)
	}

	bad := `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"bad","namespace":"ns","uid":"u1"},
	  "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":99999999999}]}]}}},
	  "status":{"phase":"Healthy","stableRS":"abc"}}`
	var b Rollout
	if err := json.Unmarshal([]byte(bad), &b); err != nil {
		t.Fatalf("a Rollout with a bad template must still decode: %v", err)
	}
	if b.Name != "bad" || b.UID != "u1" || b.Status.StableRS != "abc" || b.Spec.Replicas != nil {
		t.Errorf("partial Rollout %+v", b)
	}
	if !strings.Contains(b.DecodeError, "containerPort") {
		t.Errorf("DecodeError %q does not name the field", b.DecodeError)
	}

	// One such object no longer breaks a whole list.
	list := `{"items":[` + good + `,` + bad + `]}`
	var l RolloutList
	if err := json.Unmarshal([]byte(list), &l); err != nil || len(l.Items) != 2 || l.Items[1].DecodeError == "" {
		t.Fatalf("list: err %v, %d items", err, len(l.Items))
	}

	// A status that does not decode leaves the status empty.
	badStatus := `{"metadata":{"name":"s"},"spec":{},"status":{"currentStepIndex":"one"}}`
	var s Rollout
	if err := json.Unmarshal([]byte(badStatus), &s); err != nil || s.DecodeError == "" || s.Status.CurrentStepIndex != nil {
		t.Fatalf("bad status: err %v, %+v", err, s)
	}

	// Not an object at all stays an error.
	if err := json.Unmarshal([]byte(`[1,2]`), &s); err == nil {
		t.Error("an array decoded as a Rollout")
	}
}

func TestAnalysisRunDecodesWhatItCan(t *testing.T) {
	bad := `{"metadata":{"name":"run"},"spec":{"metrics":[{"name":"m","interval":5}]},"status":{"phase":"Running"}}`
	var a AnalysisRun
	if err := json.Unmarshal([]byte(bad), &a); err != nil {
		t.Fatal(err)
	}
	if a.Name != "run" || a.Status.Phase != AnalysisPhaseRunning || !strings.Contains(a.DecodeError, "interval") {
		t.Errorf("partial run %+v", a)
	}
}

func TestExperimentDecodesWhatItCan(t *testing.T) {
	bad := `{"metadata":{"name":"exp","uid":"u2"},"spec":{"templates":[{"name":"a","replicas":"two"}]},"status":{"phase":"Running"}}`
	var e Experiment
	if err := json.Unmarshal([]byte(bad), &e); err != nil {
		t.Fatal(err)
	}
	if e.Name != "exp" || e.UID != "u2" || e.Status.Phase != AnalysisPhaseRunning || len(e.Spec.Templates) != 0 || !strings.Contains(e.DecodeError, "replicas") {
		t.Errorf("partial Experiment %+v", e)
	}
	good := `{"metadata":{"name":"exp"},"spec":{"templates":[{"name":"a","replicas":2}]}}`
	var g Experiment
	if err := json.Unmarshal([]byte(good), &g); err != nil || g.DecodeError != "" || len(g.Spec.Templates) != 1 || *g.Spec.Templates[0].Replicas != 2 {
		t.Fatalf("good Experiment: err %v, %+v", err, g)
	}
	list := `{"items":[` + good + `,` + bad + `]}`
	var l ExperimentList
	if err := json.Unmarshal([]byte(list), &l); err != nil || len(l.Items) != 2 || l.Items[1].DecodeError == "" || l.Items[0].DecodeError != "" {
		t.Fatalf("list: err %v, %+v", err, l.Items)
	}
}
