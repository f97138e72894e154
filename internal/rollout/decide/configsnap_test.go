package decide

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

var (
	apiSecret = configsnap.Ref{Kind: configsnap.KindSecret, Name: "api-secret"}
	appConfig = configsnap.Ref{Kind: configsnap.KindConfigMap, Name: "app-config"}
)

// configHash is a content hash of a source holding value.
func configHash(r configsnap.Ref, value string) string {
	return configsnap.ContentHash(r, "", nil, map[string]string{"v": value})
}

// snapshotSim is the manual-gates canary with a Secret volume and a
// ConfigMap envFrom, and config snapshots on when on is true.
func snapshotSim(t *testing.T, on bool) *sim {
	ro := manualGates()
	ro.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: apiSecret.Name}}}}
	ro.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: appConfig.Name}}}}
	s := newSim(t, ro)
	s.addService("rails-stable", map[string]string{"app": "rails"})
	s.addService("rails-canary", map[string]string{"app": "rails"})
	if on {
		ro.Annotations = map[string]string{configsnap.EnabledAnnotation: "true"}
		s.configs = map[configsnap.Ref]configsnap.Source{
			apiSecret: {Hash: configHash(apiSecret, "old")},
			appConfig: {Hash: configHash(appConfig, "one")},
		}
	}
	return s
}

// mountedSecret is the Secret a ReplicaSet's Pods mount.
func mountedSecret(rs *appsv1.ReplicaSet) string {
	return rs.Spec.Template.Spec.Volumes[0].Secret.SecretName
}

// TestConfigSnapshotsOffKeepTheHash: without the annotation nothing is
// copied and the pod-template hash is the Rollout template's own.
func TestConfigSnapshotsOffKeepTheHash(t *testing.T) {
	s := snapshotSim(t, false)
	s.settle()
	want := podhash.Template(&s.ro.Spec.Template, nil)
	if s.ro.Status.StableRS != want {
		t.Fatalf("stable hash %s, want the template's %s", s.ro.Status.StableRS, want)
	}
	rs := s.rsByHash(want)
	if mountedSecret(rs) != apiSecret.Name || len(s.copies) != 0 || rs.Annotations[configsnap.CopiesAnnotation] != "" {
		t.Fatalf("copies made without the annotation: mounts %s, copies %v", mountedSecret(rs), s.copies)
	}
}

// TestConfigSnapshotsCanaryLifecycle walks a configuration change through a
// canary: a new revision whose Pods alone run the new copy, an abort that
// leaves stable on the old copy, and a promotion that makes the new copy
// stable; copies go with their last ReplicaSet.
func TestConfigSnapshotsCanaryLifecycle(t *testing.T) {
	s := snapshotSim(t, true)
	tmplBefore := s.ro.Spec.Template.DeepCopy()
	s.settle()
	v1 := s.ro.Status.StableRS
	if raw := podhash.Template(&s.ro.Spec.Template, nil); v1 == raw {
		t.Fatal("the revision's hash does not include the configuration")
	}
	oldCopy := configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "old"))
	cmCopy := configsnap.CopyName(appConfig.Name, configHash(appConfig, "one"))
	stable := s.rsByHash(v1)
	if mountedSecret(stable) != oldCopy || stable.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name != cmCopy {
		t.Fatalf("stable runs %s and %s, want the copies %s and %s", mountedSecret(stable),
			stable.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name, oldCopy, cmCopy)
	}
	if got, want := stable.Annotations[configsnap.CopiesAnnotation], "ConfigMap/"+cmCopy+",Secret/"+oldCopy; got != want {
		t.Fatalf("copies annotation %q, want %q", got, want)
	}
	wantOwners(t, s, configsnap.Ref{Kind: configsnap.KindSecret, Name: oldCopy}, stable.UID)
	if s.ro.Spec.Template.Spec.Volumes[0].Secret.SecretName != apiSecret.Name || s.ro.Spec.Template.String() != tmplBefore.String() {
		t.Fatal("the Rollout's own template was changed")
	}

	// The Secret's data changes: a new revision at the first step.
	s.configs[apiSecret] = configsnap.Source{Hash: configHash(apiSecret, "new")}
	newCopy := configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "new"))
	s.settle()
	v2 := s.ro.Status.CurrentPodHash
	if v2 == v1 || stepIndex(s) != 1 {
		t.Fatalf("current hash %s step %d, want a new revision paused at step 1", v2, stepIndex(s))
	}
	wantCounts(t, s, []string{v2, v1}, 1, 5)
	if got := mountedSecret(s.rsByHash(v2)); got != newCopy {
		t.Fatalf("canary mounts %s, want %s", got, newCopy)
	}
	if got := mountedSecret(s.rsByHash(v1)); got != oldCopy {
		t.Fatalf("stable mounts %s, want %s", got, oldCopy)
	}
	// The unchanged ConfigMap's copy is shared by both revisions.
	wantOwners(t, s, configsnap.Ref{Kind: configsnap.KindConfigMap, Name: cmCopy}, stable.UID, s.rsByHash(v2).UID)

	// Abort: everyone back on the old copy, which is still there.
	s.ro.Status.Abort = true
	s.settle()
	wantCounts(t, s, []string{v2, v1}, 0, 5)
	wantSelectors(t, s, v1, v1)
	if _, ok := s.copies[configsnap.Ref{Kind: configsnap.KindSecret, Name: oldCopy}]; !ok {
		t.Fatal("the stable copy is gone after the abort")
	}

	// Retry and promote to the end: the new copy is stable.
	s.ro.Status.Abort = false
	s.settle()
	for i := 0; i < 10 && s.ro.Status.StableRS != v2; i++ {
		s.promote()
		s.tick(30 * 1e9)
		s.settle()
	}
	if s.ro.Status.StableRS != v2 || mountedSecret(s.rsByHash(v2)) != newCopy {
		t.Fatalf("stable %s, want %s running %s", s.ro.Status.StableRS, v2, newCopy)
	}

	// More releases: beyond revisionHistoryLimit the first revision and its
	// copy go.
	for i, v := range []string{"a", "b", "c", "d"} {
		s.configs[apiSecret] = configsnap.Source{Hash: configHash(apiSecret, v)}
		s.settle()
		for j := 0; j < 10 && s.ro.Status.StableRS != s.ro.Status.CurrentPodHash; j++ {
			s.promote()
			s.tick(30 * 1e9)
			s.settle()
		}
		if s.ro.Status.StableRS != s.ro.Status.CurrentPodHash {
			t.Fatalf("release %d did not complete", i)
		}
	}
	if s.rsByHash(v1) != nil {
		t.Fatal("the first revision outlived revisionHistoryLimit")
	}
	if _, ok := s.copies[configsnap.Ref{Kind: configsnap.KindSecret, Name: oldCopy}]; ok {
		t.Fatal("the first revision's copy outlived it")
	}
	for r, owners := range s.copies {
		for _, u := range owners {
			if u == s.ro.UID {
				t.Errorf("copy %s is still owned by the Rollout", r)
			}
		}
	}
}

func wantOwners(t *testing.T, s *sim, copy configsnap.Ref, want ...types.UID) {
	t.Helper()
	got := s.copies[copy]
	if len(got) != len(want) {
		t.Fatalf("owners of %s: %v, want %v", copy, got, want)
	}
	for _, u := range want {
		if !slices.Contains(got, u) {
			t.Fatalf("owners of %s: %v, want %v", copy, got, want)
		}
	}
}

// TestConfigSnapshotsMissingSourceHolds: a required source that does not
// exist holds the release with a condition, writes nothing, and the hold
// ends once it exists; an optional one is referenced as is.
func TestConfigSnapshotsMissingSourceHolds(t *testing.T) {
	s := snapshotSim(t, true)
	s.settle()
	v1 := s.ro.Status.StableRS
	s.configs[apiSecret] = configsnap.Source{Missing: true}
	p := s.reconcile()
	if len(p.Actions) != 0 {
		t.Fatalf("actions while a source is missing: %v", p.Actions)
	}
	c := FindCondition(&s.ro.Status, ConditionConfigSnapshotMissing)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonConfigSnapshotMissing || !strings.Contains(c.Message, "Secret/api-secret") {
		t.Fatalf("condition %+v, want ConfigSnapshotMissing naming Secret/api-secret", c)
	}
	if s.ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || !strings.HasPrefix(s.ro.Status.Message, ReasonConfigSnapshotMissing) {
		t.Fatalf("phase %s message %q", s.ro.Status.Phase, s.ro.Status.Message)
	}
	if !s.hasEvent(ReasonConfigSnapshotMissing) {
		t.Fatal("no ConfigSnapshotMissing event")
	}
	s.events = nil
	s.reconcile()
	if s.hasEvent(ReasonConfigSnapshotMissing) {
		t.Fatal("the event is repeated at every reconcile")
	}

	// Created again with the same content: the hold ends, nothing changes.
	s.configs[apiSecret] = configsnap.Source{Hash: configHash(apiSecret, "old")}
	s.settle()
	if FindCondition(&s.ro.Status, ConditionConfigSnapshotMissing) != nil || s.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy || s.ro.Status.StableRS != v1 {
		t.Fatalf("after the source returned: phase %s stable %s conditions %+v", s.ro.Status.Phase, s.ro.Status.StableRS, s.ro.Status.Conditions)
	}

	// An optional reference to a missing object is kept as written.
	opt := true
	s.ro.Spec.Template.Spec.Volumes[0].Secret.Optional = &opt
	s.ro.Generation++
	s.configs[apiSecret] = configsnap.Source{Missing: true}
	s.settle()
	if FindCondition(&s.ro.Status, ConditionConfigSnapshotMissing) != nil {
		t.Fatal("an optional missing Secret holds the release")
	}
	if got := mountedSecret(s.rsByHash(s.ro.Status.CurrentPodHash)); got != apiSecret.Name {
		t.Fatalf("the new revision mounts %s, want %s as written", got, apiSecret.Name)
	}
}

// TestConfigSnapshotsKeptSourcesAreNotCopied: an opted-out source is
// referenced as is and its content is no part of the revision.
func TestConfigSnapshotsKeptSourcesAreNotCopied(t *testing.T) {
	s := snapshotSim(t, true)
	s.configs[apiSecret] = configsnap.Source{Keep: true}
	s.settle()
	rs := s.rsByHash(s.ro.Status.StableRS)
	if mountedSecret(rs) != apiSecret.Name {
		t.Fatalf("an opted-out Secret was rewritten to %s", mountedSecret(rs))
	}
	if _, ok := s.copies[configsnap.Ref{Kind: configsnap.KindSecret, Name: configsnap.CopyName(apiSecret.Name, "")}]; ok || len(s.copies) != 1 {
		t.Fatalf("copies %v, want the ConfigMap's only", s.copies)
	}
}

// TestConfigSnapshotsBlueGreen: a configuration change of a blue-green
// Rollout is a preview version on the new copy while active stays on the
// old one, until promotion.
func TestConfigSnapshotsBlueGreen(t *testing.T) {
	s := newBlueGreenSim(t, false)
	s.ro.Annotations = map[string]string{configsnap.EnabledAnnotation: "true"}
	s.ro.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: apiSecret.Name}}}}
	s.configs = map[configsnap.Ref]configsnap.Source{apiSecret: {Hash: configHash(apiSecret, "old")}}
	s.settle()
	v1 := s.ro.Status.StableRS
	oldCopy := configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "old"))
	newCopy := configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "new"))

	s.configs[apiSecret] = configsnap.Source{Hash: configHash(apiSecret, "new")}
	s.settle()
	v2 := s.ro.Status.CurrentPodHash
	wantPhase(t, s, v1alpha1.RolloutPhasePaused)
	if v2 == v1 || svcHash(s, "api-active") != v1 || svcHash(s, "api-preview") != v2 {
		t.Fatalf("current %s active %s preview %s", v2, svcHash(s, "api-active"), svcHash(s, "api-preview"))
	}
	if mountedSecret(s.rsByHash(v1)) != oldCopy || mountedSecret(s.rsByHash(v2)) != newCopy {
		t.Fatalf("active mounts %s, preview %s", mountedSecret(s.rsByHash(v1)), mountedSecret(s.rsByHash(v2)))
	}
	s.promote()
	s.settle()
	if svcHash(s, "api-active") != v2 || s.ro.Status.StableRS != v2 {
		t.Fatalf("not promoted: active %s stable %s", svcHash(s, "api-active"), s.ro.Status.StableRS)
	}
}

// TestConfigSnapshotsWorkloadRef: the template a workloadRef names is the
// one pointed at copies; the Deployment itself is left as it is.
func TestConfigSnapshotsWorkloadRef(t *testing.T) {
	s := snapshotSim(t, true)
	tmpl := s.ro.Spec.Template
	s.ro.Spec.Template = corev1.PodTemplateSpec{}
	s.ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "rails"}
	s.workload = &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0)), Template: tmpl, Selector: s.ro.Spec.Selector}}
	s.workload.Name, s.workload.Namespace = "rails", "default"
	s.settle()
	rs := s.rsByHash(s.ro.Status.StableRS)
	if rs == nil || mountedSecret(rs) != configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "old")) {
		t.Fatalf("stable %v does not run the copy", rs)
	}
	if s.workload.Spec.Template.Spec.Volumes[0].Secret.SecretName != apiSecret.Name {
		t.Fatal("the Deployment's template was rewritten")
	}
}

// TestConfigSnapshotsMissingCopyIsMadeAgain: a copy the current revision
// runs that was deleted is copied again and handed back to its ReplicaSet,
// without a new revision.
func TestConfigSnapshotsMissingCopyIsMadeAgain(t *testing.T) {
	s := snapshotSim(t, true)
	s.settle()
	v1 := s.ro.Status.StableRS
	copy := configsnap.Ref{Kind: configsnap.KindSecret, Name: configsnap.CopyName(apiSecret.Name, configHash(apiSecret, "old"))}
	delete(s.copies, copy)
	s.settle()
	if s.ro.Status.CurrentPodHash != v1 || len(s.rs) != 1 {
		t.Fatalf("a deleted copy made a new revision: current %s", s.ro.Status.CurrentPodHash)
	}
	wantOwners(t, s, copy, s.rsByHash(v1).UID)
}

// TestConfigSnapshotsWithoutReferencesKeepTheHash: the annotation on a
// template that references no configuration changes nothing.
func TestConfigSnapshotsWithoutReferencesKeepTheHash(t *testing.T) {
	s := newManualGatesSim(t)
	s.ro.Annotations = map[string]string{configsnap.EnabledAnnotation: "true"}
	s.configs = map[configsnap.Ref]configsnap.Source{}
	s.settle()
	if want := podhash.Template(&s.ro.Spec.Template, nil); s.ro.Status.StableRS != want {
		t.Fatalf("stable %s, want the template's own hash %s", s.ro.Status.StableRS, want)
	}
}
