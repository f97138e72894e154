package decide

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// podsLabelled counts the Pods of version h whose label k is v; v == ""
// counts those without the label.
func (s *sim) podsLabelled(h, k, v string) int {
	n := 0
	for _, p := range s.pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h {
			continue
		}
		if got, ok := p.Labels[k]; (v == "" && !ok) || (v != "" && got == v) {
			n++
		}
	}
	return n
}

func (s *sim) podsAnnotated(h, k, v string) int {
	n := 0
	for _, p := range s.pods {
		if p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != h {
			continue
		}
		if got, ok := p.Annotations[k]; (v == "" && !ok) || (v != "" && got == v) {
			n++
		}
	}
	return n
}

func recordOf(t *testing.T, s *sim, h string) *v1alpha1.PodTemplateMetadata {
	t.Helper()
	v, ok := s.rsByHash(h).Annotations[EphemeralMetadataAnnotation]
	if !ok {
		return nil
	}
	var m v1alpha1.PodTemplateMetadata
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("record of %s does not parse: %v", h, err)
	}
	return &m
}

// After a canary completes, a change of stableMetadata reaches the stable
// ReplicaSet and its running Pods: changed and added keys are set, a key
// removed from the Rollout is removed, and the record follows.
func TestStableMetadataChangeAfterCompletion(t *testing.T) {
	s := newManualGatesSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{
		Labels:      map[string]string{"role": "stable", "team": "checkout"},
		Annotations: map[string]string{"dashboards/stable": "yes"},
	}
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.ro.Status.PromoteFull = true
	s.settle()
	wantPhase(t, s, v1alpha1.RolloutPhaseHealthy)
	if n := s.podsLabelled(v2, "team", "checkout"); n != 5 {
		t.Fatalf("%d of 5 Pods labelled team=checkout after completion", n)
	}

	// The user changes the metadata: team goes (a merge patch with null),
	// role changes, a label and an annotation are added.
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{
		Labels:      map[string]string{"role": "production", "tier": "web"},
		Annotations: map[string]string{"dashboards/stable": "yes", "owner": "ops"},
	}
	s.reconcile()
	if n := s.podsLabelled(v2, "team", ""); n != 5 {
		t.Errorf("%d of 5 Pods lost the removed label team", n)
	}
	if n := s.podsLabelled(v2, "role", "production"); n != 5 {
		t.Errorf("%d of 5 Pods have role=production", n)
	}
	if n := s.podsLabelled(v2, "tier", "web"); n != 5 {
		t.Errorf("%d of 5 Pods have tier=web", n)
	}
	if n := s.podsAnnotated(v2, "owner", "ops"); n != 5 {
		t.Errorf("%d of 5 Pods annotated owner=ops", n)
	}
	tmpl := s.rsByHash(v2).Spec.Template
	if _, ok := tmpl.Labels["team"]; ok || tmpl.Labels["role"] != "production" || tmpl.Labels["app"] != "rails" {
		t.Errorf("ReplicaSet template labels %v, want role=production, no team, app kept", tmpl.Labels)
	}
	if rec := recordOf(t, s, v2); rec == nil || rec.Labels["role"] != "production" || rec.Annotations["owner"] != "ops" || rec.Labels["team"] != "" {
		t.Errorf("record %+v, want the new stableMetadata", rec)
	}
	if _, busy := s.reconcileBusy(); busy {
		t.Error("the metadata is in place but the next decision still writes")
	}

	// Removing stableMetadata altogether takes every key it added away.
	c.StableMetadata = nil
	s.settle()
	if n := s.podsLabelled(v2, "role", ""); n != 5 {
		t.Errorf("%d of 5 Pods lost role after stableMetadata was removed", n)
	}
	if recordOf(t, s, v2) != nil {
		t.Error("the record stays after stableMetadata was removed")
	}
}

// Ephemeral metadata never changes a label the selector matches (a Pod
// without it would leave its ReplicaSet), and a key the user's template
// sets goes back to the template's value when the role's metadata drops it.
func TestEphemeralMetadataKeepsTemplateLabels(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.Template.Labels["tier"] = "web"
	c := s.ro.Spec.Strategy.Canary
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"app": "other", "tier": "canary"}}
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	if n := s.podsLabelled(v2, "tier", "canary"); n != 1 {
		t.Fatalf("%d canary Pods labelled tier=canary, want 1", n)
	}
	if n := s.podsLabelled(v2, "app", "rails"); n != 1 {
		t.Fatalf("the canary Pod's selector label changed: %d of 1 keep app=rails", n)
	}
	s.ro.Status.PromoteFull = true
	s.settle()
	if n := s.podsLabelled(v2, "tier", "web"); n != 5 {
		t.Errorf("%d of 5 promoted Pods went back to the template's tier=web", n)
	}
	if n := s.podsLabelled(v2, "app", "rails"); n != 5 {
		t.Errorf("%d of 5 Pods keep app=rails", n)
	}
}

// After a blue-green promotion, a change of activeMetadata reaches the
// active Pods; the previous active ReplicaSet's template loses what was
// merged into it.
func TestActiveMetadataChangeAfterPromotion(t *testing.T) {
	s := newBlueGreenSim(t, true)
	b := s.ro.Spec.Strategy.BlueGreen
	b.PreviewMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "preview"}}
	b.ActiveMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "active", "team": "api"}}
	v1 := s.hashOf("api:1")
	s.settle()
	s.setImage("api:2")
	v2 := s.hashOf("api:2")
	s.settle()
	if s.ro.Status.StableRS != v2 {
		t.Fatalf("stable %s, want %s", s.ro.Status.StableRS, v2)
	}
	if n := s.podsLabelled(v2, "role", "active"); n != 3 {
		t.Fatalf("%d of 3 promoted Pods labelled role=active", n)
	}
	if _, ok := s.rsByHash(v1).Spec.Template.Labels["role"]; ok || recordOf(t, s, v1) != nil {
		t.Errorf("previous active template %v (record %v), want its ephemeral metadata gone", s.rsByHash(v1).Spec.Template.Labels, recordOf(t, s, v1))
	}

	b.ActiveMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "live"}}
	s.reconcile()
	if n := s.podsLabelled(v2, "role", "live"); n != 3 {
		t.Errorf("%d of 3 active Pods labelled role=live", n)
	}
	if n := s.podsLabelled(v2, "team", ""); n != 3 {
		t.Errorf("%d of 3 active Pods lost the removed label team", n)
	}
}

// A ReplicaSet made before records existed (no annotation) still loses the
// other role's keys when it changes role.
func TestEphemeralMetadataWithoutRecord(t *testing.T) {
	s := newManualGatesSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"canary": "yes"}}
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	delete(s.rsByHash(v2).Annotations, EphemeralMetadataAnnotation)
	s.ro.Status.PromoteFull = true
	s.settle()
	if n := s.podsLabelled(v2, "canary", ""); n != 5 {
		t.Errorf("%d of 5 promoted Pods lost canary=yes", n)
	}
}

// A user abort of a routed canary moves the canary Service to the stable
// version in the same plan as the status that reads Degraded, after the
// routers sent the canary nothing.
func TestRoutedAbortMovesCanaryServiceFirst(t *testing.T) {
	s := routedSim(t)
	v1 := s.ro.Status.StableRS
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	wantSelectors(t, s, v1, v2)
	s.ro.Status.Abort = true
	p := s.reconcile()
	if p.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("phase %s after the abort, want Degraded", p.Status.Phase)
	}
	sync, svc := -1, -1
	for i, a := range p.Actions {
		switch a := a.(type) {
		case SyncTraffic:
			if a.Desired.CanaryWeight == 0 && sync < 0 {
				sync = i
			}
		case SetServiceSelector:
			if a.Service == "rails-canary" && a.Hash == v1 {
				svc = i
			}
		}
	}
	if sync < 0 || svc < 0 || svc < sync {
		t.Fatalf("actions %v: want the weight set to 0, then rails-canary pointed at %s", describeAll(p.Actions), v1)
	}
	wantSelectors(t, s, v1, v1)
	// The canary keeps its Pods for abortScaleDownDelaySeconds.
	if n := s.podsOf(v2); n == 0 {
		t.Error("the canary was scaled down at once despite abortScaleDownDelaySeconds")
	}
}

// A failed step analysis aborts in the very decision that finds it: the
// status that first reads Degraded is written after the canary Service
// went back to the stable version.
func TestFailedStepAnalysisAbortsInOneDecision(t *testing.T) {
	s := newManualGatesSim(t)
	s.templates.Templates["smoke"] = webTemplate("smoke")
	s.ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: ptr(int32(20))}, {Analysis: analysisRef("smoke")}}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	wantSelectors(t, s, v1, v2)
	run := s.runOf(v1alpha1.RolloutTypeStepLabel)
	run.Status.Phase = v1alpha1.AnalysisPhaseFailed
	run.Status.Message = "metric errors failed"

	p := s.reconcile()
	if !p.Status.Abort || p.Status.Phase != v1alpha1.RolloutPhaseDegraded || p.Status.AbortedAt == nil {
		t.Fatalf("status abort %v phase %s abortedAt %v, want an acted-on abort", p.Status.Abort, p.Status.Phase, p.Status.AbortedAt)
	}
	wantSelectors(t, s, v1, v1)
	var failedEv, abortedEv bool
	for _, e := range p.Events {
		failedEv = failedEv || (e.Reason == "AnalysisRunFailed" && e.Observed)
		abortedEv = abortedEv || (e.Reason == ReasonAborted && !e.Observed)
	}
	if !failedEv || !abortedEv {
		t.Errorf("events %s: want AnalysisRunFailed (what was found) and RolloutAborted (what was done)", joinEvents(p.Events))
	}
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 5)
}

// scale-down-deadline marks follow the ReplicaSet: one that reaches zero
// loses it, and one that becomes current and stable again carries none;
// only the version just replaced waits.
func TestScaleDownDeadlinesFollowTheReplicaSet(t *testing.T) {
	s := routedSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.Steps = nil
	c.ScaleDownDelaySeconds = ptr(int32(600))
	c.ScaleDownDelayRevisionLimit = ptr(int32(1))
	key := v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey
	deadline := func(h string) (string, bool) {
		v, ok := s.rsByHash(h).Annotations[key]
		return v, ok
	}
	v1 := s.ro.Status.StableRS
	s.setImage("rails:2")
	v2 := s.hashOf("rails:2")
	s.settle()
	if s.ro.Status.StableRS != v2 {
		t.Fatalf("stable %s, want %s", s.ro.Status.StableRS, v2)
	}
	if _, ok := deadline(v1); !ok {
		t.Fatal("the replaced revision 1 has no deadline")
	}
	s.setImage("rails:3")
	v3 := s.hashOf("rails:3")
	s.settle()
	wantCounts(t, s, []string{v3, v2, v1}, 10, 10, 0)
	if v, ok := deadline(v1); ok {
		t.Errorf("revision 1 is at 0 but keeps its deadline %s", v)
	}
	if _, ok := deadline(v2); !ok {
		t.Error("the replaced revision 2 has no deadline")
	}

	// Back to revision 2's template: it becomes current, then stable.
	s.tick(time.Minute)
	s.setImage("rails:2")
	s.settle()
	if s.ro.Status.StableRS != v2 {
		t.Fatalf("stable %s, want %s", s.ro.Status.StableRS, v2)
	}
	if v, ok := deadline(v2); ok {
		t.Errorf("revision 2 is stable again but keeps a deadline %s", v)
	}
	if _, ok := deadline(v3); !ok {
		t.Error("revision 3, just replaced, has no deadline")
	}
	if v, ok := deadline(v1); ok {
		t.Errorf("revision 1 is at 0 but has a deadline %s", v)
	}
	wantCounts(t, s, []string{v2, v3, v1}, 10, 10, 0)
}

// progressDeadlineAbort acts in the decision that finds the deadline passed:
// the plan whose status first carries the abort also scales the canary
// that never became available down, and records why.
func TestProgressDeadlineAbortActsInOneDecision(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	s.ro.Spec.ProgressDeadlineAbort = true
	s.settle()
	s.setImage("rails:broken")
	v2 := s.hashOf("rails:broken")
	s.broken[v2] = true
	var first *Plan
	for i := 0; i < 10 && first == nil; i++ {
		p := s.reconcile()
		if p.Status.Abort {
			first = &p
		}
		s.tick(10 * time.Second)
	}
	if first == nil {
		t.Fatal("the progress deadline never aborted the update")
	}
	if first.Status.AbortedAt == nil || first.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("first aborted status: abortedAt %v phase %s, want the abort acted on", first.Status.AbortedAt, first.Status.Phase)
	}
	scaled := false
	for _, a := range first.Actions {
		if sc, ok := a.(ScaleReplicaSet); ok && sc.Name == s.rsByHash(v2).Name && sc.To == 0 {
			scaled = true
		}
	}
	if !scaled {
		t.Errorf("actions %v: want the unavailable canary scaled to 0 in the same plan", describeAll(first.Actions))
	}
	var deadlineEv, abortedEv int
	for _, e := range first.Events {
		switch e.Reason {
		case ReasonProgressDeadline:
			deadlineEv++
		case ReasonAborted:
			abortedEv++
		}
	}
	if deadlineEv != 1 || abortedEv != 1 {
		t.Errorf("events %s: want one ProgressDeadlineExceeded and one RolloutAborted", joinEvents(first.Events))
	}
}

// A Rollout a person paused still gets metadata changes on its running
// Pods: a pause holds counts, not labels.
func TestMetadataChangeWhilePausedByAPerson(t *testing.T) {
	s := newManualGatesSim(t)
	c := s.ro.Spec.Strategy.Canary
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}}
	v1 := s.hashOf("rails:6.0")
	s.settle()
	s.setImage("rails:6.1")
	v2 := s.hashOf("rails:6.1")
	s.settle()
	s.ro.Spec.Paused = true
	s.settle()
	c.CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary", "track": "beta"}}
	c.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "production"}}
	s.reconcile()
	if n := s.podsLabelled(v2, "track", "beta"); n != s.podsOf(v2) || n == 0 {
		t.Errorf("%d of %d canary Pods labelled track=beta while paused", n, s.podsOf(v2))
	}
	if n := s.podsLabelled(v1, "role", "production"); n != 5 {
		t.Errorf("%d of 5 stable Pods labelled role=production while paused", n)
	}
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)

	// A new template while paused: its ReplicaSet is created carrying the
	// canary metadata and its record.
	s.setImage("rails:6.2")
	v3 := s.hashOf("rails:6.2")
	s.reconcile()
	rs := s.rsByHash(v3)
	if rs == nil || rs.Spec.Template.Labels["track"] != "beta" || recordOf(t, s, v3) == nil {
		t.Fatalf("ReplicaSet created while paused: %v", rs)
	}
}
