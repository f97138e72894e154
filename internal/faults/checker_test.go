package faults

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const ro = "fault-000"

func pod(name, hash string, ready, terminating bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			LabelApp: ro, v1alpha1.DefaultRolloutUniqueLabelKey: hash,
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if terminating {
		p.DeletionTimestamp = &metav1.Time{}
	}
	return p
}

func svc(role, hash string) *corev1.Service {
	sel := map[string]string{LabelApp: ro}
	if hash != "" {
		sel[v1alpha1.DefaultRolloutUniqueLabelKey] = hash
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ro + role}, Spec: corev1.ServiceSpec{Selector: sel}}
}

func canaryIngress(weight string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: ro + "-" + ro + "-canary", Annotations: map[string]string{
			nginxCanaryAnnotation: "true", nginxCanaryWeightAnnotation: weight,
		}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: ro + roleCanary}},
			}}},
		}}}},
	}
}

func owner() []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: "Rollout", Name: ro, Controller: &yes}}
}

func rs(uid, hash string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: ro + "-" + hash, UID: types.UID(uid), OwnerReferences: owner(),
		Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash},
	}}
}

func analysisRun(uid, name, hash, kind, step string) *v1alpha1.AnalysisRun {
	labels := map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: hash, v1alpha1.RolloutTypeLabel: kind}
	if step != "" {
		labels[v1alpha1.RolloutCanaryStepIndexLabel] = step
	}
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid), OwnerReferences: owner(), Labels: labels}}
}

func up(o any) event  { return event{obj: o} }
func del(o any) event { return event{obj: o, deleted: true} }

// stable2 is a Rollout of two replicas Healthy on revision "a", with its
// stable and canary Services on "a".
func stable2() []event {
	return []event{up(pod("a1", "a", true, false)), up(pod("a2", "a", true, false)),
		up(svc(roleStable, "a")), up(svc(roleCanary, "a"))}
}

func TestChecker(t *testing.T) {
	cases := []struct {
		name      string
		templates int
		events    []event
		// want lists the invariants violated, in order; empty for none.
		want []Invariant
		// wantDetail is part of the first violation's detail.
		wantDetail string
	}{
		{
			name: "a canary promoted before the old Pods go is safe",
			events: append(stable2(),
				up(pod("b1", "b", true, false)), up(pod("b2", "b", true, false)),
				up(svc(roleStable, "b")),
				up(pod("a1", "a", false, true)), del(pod("a1", "a", false, true)), del(pod("a2", "a", true, false))),
		},
		{
			name: "a stable Pod removed while the new revision is not fully available",
			events: append(stable2(),
				up(pod("b1", "b", true, false)), up(pod("b2", "b", false, false)),
				up(pod("a1", "a", true, true))),
			want:       []Invariant{InvPodRemoved},
			wantDetail: "pod a1 of revision a removed",
		},
		{
			name: "an aborted canary's Pods removed while stable is full is safe",
			events: append(stable2(),
				up(pod("b1", "b", true, false)), up(canaryIngress("20")), up(svc(roleCanary, "b")),
				up(canaryIngress("0")), up(svc(roleCanary, "a")), del(pod("b1", "b", true, false))),
		},
		{
			name: "a canary Service with weight whose Pods vanish",
			events: append(stable2(),
				up(pod("b1", "b", true, false)), up(svc(roleCanary, "b")), up(canaryIngress("20")),
				up(pod("b1", "b", false, true))),
			want:       []Invariant{InvTrafficToUnavailable},
			wantDetail: "gets weight 20",
		},
		{
			name: "Pods that lose readiness on their own are not the controller's doing",
			events: append(stable2(),
				up(pod("a1", "a", false, false)), up(pod("a2", "a", false, false))),
		},
		{
			name: "a Service switched to a revision whose Pods all lost readiness",
			events: append(stable2(),
				up(pod("b1", "b", true, false)), up(pod("b1", "b", false, false)), up(svc(roleStable, "b"))),
			want: []Invariant{InvTrafficToUnavailable},
		},
		{
			name: "a canary Service on a revision without Pods but no weight is not traffic",
			events: append(stable2(),
				up(svc(roleCanary, "b")), up(canaryIngress("0")), up(pod("b1", "b", false, false))),
		},
		{
			name: "the stable Service switched to a revision with no ready Pod",
			events: append(stable2(),
				up(pod("b1", "b", false, false)), up(svc(roleStable, "b"))),
			want:       []Invariant{InvTrafficToUnavailable},
			wantDetail: "service fault-000-stable selects revision b",
		},
		{
			name:      "a second ReplicaSet for one template",
			templates: 1,
			events:    []event{up(rs("u1", "a")), up(rs("u2", "a"))},
			want:      []Invariant{InvExtraReplicaSet, InvExtraReplicaSet},
		},
		{
			name:      "one ReplicaSet per template is expected",
			templates: 2,
			events:    []event{up(rs("u1", "a")), up(rs("u1", "a")), up(rs("u2", "b"))},
		},
		{
			name: "the same background run created twice",
			events: []event{up(analysisRun("r1", "x", "b", "Background", "")), up(analysisRun("r1", "x", "b", "Background", "")),
				up(analysisRun("r2", "x.1", "b", "Background", ""))},
			want: []Invariant{InvDuplicateAnalysisRun},
		},
		{
			name: "runs of different steps and revisions are distinct",
			events: []event{up(analysisRun("r1", "x-1", "b", "Step", "1")), up(analysisRun("r2", "x-3", "b", "Step", "3")),
				up(analysisRun("r3", "y", "c", "Step", "1"))},
		},
		{
			name:   "a deletion the watch missed is counted, not judged",
			events: append(stable2(), event{obj: pod("a1", "a", true, false), deleted: true, unknownDeletion: true}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker(2)
			c.armed = true
			for range tc.templates {
				c.expectTemplate(ro)
			}
			for i, ev := range tc.events {
				ev.rv = int64(i + 1)
				c.apply(ev)
			}
			var got []Invariant
			for _, v := range c.violations {
				got = append(got, v.Invariant)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("violations %v, want %v", c.violations, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("violations %v, want %v", c.violations, tc.want)
				}
			}
			if tc.wantDetail != "" && !strings.Contains(c.violations[0].Detail, tc.wantDetail) {
				t.Errorf("detail %q lacks %q", c.violations[0].Detail, tc.wantDetail)
			}
		})
	}
}

// TestCheckerUnarmed: before the suite's Rollouts are Healthy, Services
// legitimately wait for the first Pods.
func TestCheckerUnarmed(t *testing.T) {
	c := newChecker(2)
	c.apply(up(svc(roleStable, "a")))
	c.apply(up(pod("a1", "a", false, true)))
	if len(c.violations) != 0 {
		t.Fatalf("violations before arming: %v", c.violations)
	}
}

func TestUnknownDeletionCounted(t *testing.T) {
	c := newChecker(2)
	c.armed = true
	for _, ev := range stable2() {
		c.apply(ev)
	}
	c.apply(event{obj: pod("a1", "a", true, false), deleted: true, unknownDeletion: true})
	if c.unobservedDeletions != 1 {
		t.Fatalf("unobserved deletions %d, want 1", c.unobservedDeletions)
	}
}
