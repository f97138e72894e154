package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// trustRollout is a canary of five Pods that walks 10%, an indefinite pause,
// 50% and a second indefinite pause.
func trustRollout(ns, name, image string) *v1alpha1.Rollout {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptrTo(int32(5)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				MaxSurge: &one, MaxUnavailable: &zero,
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptrTo(int32(10))},
					{Pause: &v1alpha1.RolloutPause{}},
					{SetWeight: ptrTo(int32(50))},
					{Pause: &v1alpha1.RolloutPause{}},
				},
			}},
		},
	}
}

// referenceReplicaSet creates the ReplicaSet Argo Rollouts built on
// k8s.io/api v0.34 creates for ro's template with image: named after the
// hash over metadata without "creationTimestamp":null, with the labels,
// annotations and owner reference that controller writes. It returns the
// hash.
func referenceReplicaSet(t *testing.T, c clients, ro *v1alpha1.Rollout, image, revision string, replicas int32) string {
	t.Helper()
	return referenceReplicaSetBy(t, c, ro, image, revision, replicas, true, nil)
}

// referenceReplicaSetBy creates the ReplicaSet the reference creates for
// ro's template with image, named by the hash of the newer library's
// encoding when newerLibrary is set and of the older one otherwise, with
// extra annotations beside the ones every such ReplicaSet carries. It
// returns the hash.
func referenceReplicaSetBy(t *testing.T, c clients, ro *v1alpha1.Rollout, image, revision string, replicas int32, newerLibrary bool, extra map[string]string) string {
	t.Helper()
	tmpl := ro.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = image
	hashes := podhash.TemplateHashes(tmpl, nil)
	h := hashes.Omitted
	if !newerLibrary {
		h = hashes.Null
	}
	if hashes.Omitted == hashes.Null {
		t.Fatalf("both encodings hash to %s; the test proves nothing", h)
	}
	withHash := func(m map[string]string) map[string]string {
		out := map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: h}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	tmpl.Labels = withHash(tmpl.Labels)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: ro.Name + "-" + h, Namespace: ro.Namespace,
			Labels: withHash(ro.Spec.Template.Labels),
			Annotations: withExtra(map[string]string{
				v1alpha1.RevisionAnnotation:            revision,
				"rollout.argoproj.io/desired-replicas": fmt.Sprint(*ro.Spec.Replicas),
			}, extra),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: withHash(ro.Spec.Selector.MatchLabels)},
			Template: *tmpl,
		},
	}
	if err := c.ctrl.Create(context.Background(), rs); err != nil {
		t.Fatalf("creating ReplicaSet %s: %v", rs.Name, err)
	}
	return h
}

// withExtra returns m with the entries of extra added.
func withExtra(m, extra map[string]string) map[string]string {
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// allReplicaSets lists every ReplicaSet of the namespace by name.
func allReplicaSets(t *testing.T, c clients, ns string) []string {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range list.Items {
		names = append(names, rs.Name)
	}
	sort.Strings(names)
	return names
}

// TestTakesOverReleaseOfReferenceOnNewerLibrary starts Kanaria on a canary
// that Argo Rollouts built on k8s.io/api v0.34 left paused at its first
// pause, with ReplicaSets named by that controller's hash: Kanaria keeps
// both ReplicaSets and every Pod, and a promote carries the release on.
func TestTakesOverReleaseOfReferenceOnNewerLibrary(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "trust-hash")
	ctx := context.Background()

	ro := trustRollout(ns, "web", "registry.example/web:2.0")
	if err := c.ctrl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	v1 := referenceReplicaSet(t, c, ro, "registry.example/web:1.0", "1", 5)
	v2 := referenceReplicaSet(t, c, ro, "registry.example/web:2.0", "2", 1)
	// The status as the reference writes it at the first pause. The
	// observed generation is left out so the test can tell Kanaria's first
	// status write.
	ro.Annotations = map[string]string{v1alpha1.RevisionAnnotation: "2"}
	if err := c.ctrl.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	start := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	ro.Status = v1alpha1.RolloutStatus{
		CurrentPodHash: v2, StableRS: v1, CurrentStepHash: podhash.Steps(ro.Spec.Strategy.Canary.Steps),
		CurrentStepIndex: ptrTo(int32(1)), ControllerPause: true,
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: start}},
		Phase:           v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
		Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6, HPAReplicas: 6,
		Selector: "app=web",
		Conditions: []v1alpha1.RolloutCondition{
			{Type: v1alpha1.RolloutProgressing, Status: corev1.ConditionUnknown, Reason: "RolloutPaused", Message: "Rollout is paused", LastUpdateTime: start, LastTransitionTime: start},
			{Type: v1alpha1.RolloutPaused, Status: corev1.ConditionTrue, Reason: "RolloutPaused", Message: "Rollout is paused", LastUpdateTime: start, LastTransitionTime: start},
		},
	}
	if err := c.ctrl.Status().Update(ctx, ro); err != nil {
		t.Fatalf("writing the reference's status: %v", err)
	}
	eventually(t, 2*time.Minute, "six ready Pods of the reference's ReplicaSets", func() (bool, error) {
		n := len(strings.Split(podUIDs(t, c, ns, "app=web"), ","))
		var list appsv1.ReplicaSetList
		if err := c.ctrl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		avail := int32(0)
		for _, rs := range list.Items {
			avail += rs.Status.AvailableReplicas
		}
		return n == 6 && avail == 6, fmt.Errorf("%d Pods, %d available", n, avail)
	})
	pods := podUIDs(t, c, ns, "app=web")
	rss := allReplicaSets(t, c, ns)

	runController(t, ns)
	got := waitRollout(t, c, ns, "web", "Kanaria's first status write", 2*time.Minute, func(*v1alpha1.Rollout) bool { return true })
	// Give the controller a few more reconciles to do something wrong.
	time.Sleep(3 * time.Second)
	got = getRollout(t, c, ns, "web")
	if got.Status.CurrentPodHash != v2 || got.Status.StableRS != v1 || derefOr(got.Status.CurrentStepIndex, -1) != 1 || got.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("status current %q stable %q step %d phase %s; want %q, %q, 1, Paused",
			got.Status.CurrentPodHash, got.Status.StableRS, derefOr(got.Status.CurrentStepIndex, -1), got.Status.Phase, v2, v1)
	}
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Fatalf("ReplicaSets %v, want only the reference's %v", now, rss)
	}
	if now := podUIDs(t, c, ns, "app=web"); now != pods {
		t.Fatalf("Pods changed when Kanaria took over: before %v, after %v", pods, now)
	}

	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "the second pause at 50%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	waitCounts(t, c, ns, "web", map[string]int32{v2: 3, v1: 3})
	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "Healthy on the reference's canary", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2 && ro.Status.CurrentPodHash == v2
	})
	waitCounts(t, c, ns, "web", map[string]int32{v2: 5, v1: 0})
	if now := allReplicaSets(t, c, ns); strings.Join(now, " ") != strings.Join(rss, " ") {
		t.Fatalf("ReplicaSets %v at the end, want only the reference's %v", now, rss)
	}
}

// eventsOf returns "Reason: message" of the Events about a Rollout.
func eventsOf(t *testing.T, c clients, ns, name string) []string {
	t.Helper()
	list, err := c.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// TestAdoptionRespectsOtherOwners covers the two ways a ReplicaSet may
// already stand where a Rollout wants one: one controlled by another object
// holds the name (the Rollout says so and takes another name, leaving it
// alone), and an orphan with an owner that is not its controller (the
// Rollout adopts it and the owner stays).
func TestAdoptionRespectsOtherOwners(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "trust-adopt")
	ctx := context.Background()
	holder := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "holder", Namespace: ns}}
	if err := c.ctrl.Create(ctx, holder); err != nil {
		t.Fatal(err)
	}
	isController := true
	holderRef := func(controller bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: holder.Name, UID: holder.UID, Controller: &controller}
	}
	replicaSet := func(ro *v1alpha1.Rollout, replicas int32, owner metav1.OwnerReference) *appsv1.ReplicaSet {
		h := podhash.Template(&ro.Spec.Template, nil)
		labels := map[string]string{"app": ro.Name, v1alpha1.DefaultRolloutUniqueLabelKey: h}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: ro.Name + "-" + h, Namespace: ns, Labels: labels,
				Annotations: map[string]string{v1alpha1.RevisionAnnotation: "1"}, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: ro.Spec.Template.Spec}},
		}
		if err := c.ctrl.Create(ctx, rs); err != nil {
			t.Fatalf("creating ReplicaSet %s: %v", rs.Name, err)
		}
		return rs
	}

	taken := trustRollout(ns, "taken", "registry.example/web:1.0")
	if err := c.ctrl.Create(ctx, taken); err != nil {
		t.Fatal(err)
	}
	foreign := replicaSet(taken, 0, holderRef(isController))
	orphaned := trustRollout(ns, "orphaned", "registry.example/web:1.0")
	if err := c.ctrl.Create(ctx, orphaned); err != nil {
		t.Fatal(err)
	}
	orphan := replicaSet(orphaned, 5, holderRef(false))

	runController(t, ns)
	ro := waitRollout(t, c, ns, "taken", "Healthy under another name", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if derefOr(ro.Status.CollisionCount, 0) != 1 {
		t.Fatalf("collision count %v, want 1", ro.Status.CollisionCount)
	}
	rss := replicaSetsOf(t, c, ns, ro)
	if len(rss) != 1 || rss[ro.Status.StableRS] == nil || rss[ro.Status.StableRS].Name == foreign.Name {
		t.Fatalf("the Rollout's ReplicaSets %s, want one not named %s", specCounts(rss), foreign.Name)
	}
	var got appsv1.ReplicaSet
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(foreign), &got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != holder.UID || len(got.OwnerReferences) != 1 {
		t.Fatalf("the foreign ReplicaSet's owners became %+v", got.OwnerReferences)
	}
	eventually(t, time.Minute, "a Warning that names who holds the name", func() (bool, error) {
		evs := eventsOf(t, c, ns, "taken")
		for _, e := range evs {
			if strings.Contains(e, foreign.Name) && strings.Contains(e, "controlled by ConfigMap holder") {
				return true, nil
			}
		}
		return false, fmt.Errorf("events %v", evs)
	})

	ro = waitRollout(t, c, ns, "orphaned", "Healthy on the adopted ReplicaSet", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(orphan), &got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != ro.UID {
		t.Fatalf("the orphan's controller is %+v, want the Rollout", ref)
	}
	if len(got.OwnerReferences) != 2 {
		t.Fatalf("the orphan's owners after adoption %+v, want the ConfigMap kept beside the Rollout", got.OwnerReferences)
	}
	if ro.Status.StableRS != orphan.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] || len(replicaSetsOf(t, c, ns, ro)) != 1 {
		t.Fatalf("stable %q with ReplicaSets %s, want only the adopted one", ro.Status.StableRS, specCounts(replicaSetsOf(t, c, ns, ro)))
	}
}

// TestInstanceIDSplitsRollouts runs two controllers side by side on one
// namespace: one with --instance-id a handles only the Rollout labelled for
// instance a, one without the flag only the Rollout without the label, and
// neither ever reconciles the other's.
func TestInstanceIDSplitsRollouts(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "trust-instance")
	ctx := context.Background()

	mine := trustRollout(ns, "labelled", "registry.example/web:1.0")
	mine.Labels = map[string]string{v1alpha1.LabelKeyControllerInstanceID: "a"}
	if err := c.ctrl.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	plain := trustRollout(ns, "plain", "registry.example/web:1.0")
	if err := c.ctrl.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}

	a := runController(t, ns, "--instance-id", "a")
	waitRollout(t, c, ns, "labelled", "Healthy under instance a", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	time.Sleep(2 * time.Second)
	if ro := getRollout(t, c, ns, "plain"); ro.Status.Phase != "" || len(replicaSetsOf(t, c, ns, ro)) != 0 {
		t.Fatalf("instance a acted on the unlabelled Rollout: phase %q", ro.Status.Phase)
	}

	other := runController(t, ns)
	waitRollout(t, c, ns, "plain", "Healthy under the controller without an instance", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))

	// A new version of each: each controller moves only its own.
	setImage(t, ns, "labelled", "registry.example/web:2.0")
	setImage(t, ns, "plain", "registry.example/web:2.0")
	for _, name := range []string{"labelled", "plain"} {
		waitRollout(t, c, ns, name, "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
		})
	}
	if log := a.log.String(); strings.Contains(log, ns+"/plain") || !strings.Contains(log, ns+"/labelled") {
		t.Fatalf("instance a's log names the unlabelled Rollout, or not its own:\n%s", log)
	}
	if log := other.log.String(); strings.Contains(log, ns+"/labelled") || !strings.Contains(log, ns+"/plain") {
		t.Fatalf("the controller without an instance names the labelled Rollout, or not its own:\n%s", log)
	}
}

// TestNegativeStepIndexRestartsSteps writes a negative
// status.currentStepIndex into a paused canary through the status
// subresource, as anyone with status-patch rights can: the controller does
// not fail its reconciles for ever but starts the steps again, says so in a
// Warning, and stops at the first pause.
func TestNegativeStepIndexRestartsSteps(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "trust-index")
	if err := c.ctrl.Create(context.Background(), trustRollout(ns, "web", "registry.example/web:1.0")); err != nil {
		t.Fatal(err)
	}
	runController(t, ns)
	waitRollout(t, c, ns, "web", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "web", "registry.example/web:2.0")
	waitRollout(t, c, ns, "web", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	mustKubectl(t, "-n", ns, "patch", "rollout", "web", "--subresource", "status", "--type", "merge", "-p", `{"status":{"currentStepIndex":-1}}`)
	eventually(t, time.Minute, "a Warning about the step index", func() (bool, error) {
		evs := eventsOf(t, c, ns, "web")
		for _, e := range evs {
			if strings.HasPrefix(e, "InvalidStepIndex: ") && strings.Contains(e, "-1") {
				return true, nil
			}
		}
		return false, fmt.Errorf("events %v", evs)
	})
	waitRollout(t, c, ns, "web", "back at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})
	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "the second pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
}

// TestArgoCDSkipCurrentStep applies what Argo CD's skip-current-step action
// for argoproj.io/Rollout writes (the next currentStepIndex and no
// pauseConditions, through the status subresource) to a canary paused at its
// first pause: the release stops at the second pause, as after a promote.
func TestArgoCDSkipCurrentStep(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "trust-skip")
	ro := trustRollout(ns, "web", "registry.example/web:1.0")
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{
		{SetWeight: ptrTo(int32(25))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptrTo(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptrTo(int32(75))},
	}
	if err := c.ctrl.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	runController(t, ns)
	waitRollout(t, c, ns, "web", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "web", "registry.example/web:2.0")
	waitRollout(t, c, ns, "web", "paused at the first pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
	})

	mustKubectl(t, "-n", ns, "patch", "rollout", "web", "--subresource", "status", "--type", "merge",
		"-p", `{"status":{"currentStepIndex":2,"pauseConditions":null}}`)
	ro = waitRollout(t, c, ns, "web", "paused at the second pause", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 3
	})
	time.Sleep(3 * time.Second)
	if ro = getRollout(t, c, ns, "web"); derefOr(ro.Status.CurrentStepIndex, -1) != 3 || ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("the second pause did not hold: step %d phase %s", derefOr(ro.Status.CurrentStepIndex, -1), ro.Status.Phase)
	}
	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "Healthy on the new version", 2*time.Minute, func(r *v1alpha1.Rollout) bool {
		return r.Status.Phase == v1alpha1.RolloutPhaseHealthy && r.Status.StableRS == ro.Status.CurrentPodHash
	})
}
