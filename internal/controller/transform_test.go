package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func TestCacheTransform(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:          "x",
			Annotations:   map[string]string{LastAppliedAnnotation: `{"spec":{}}`, "keep": "me"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		}
	}
	onlyLastApplied := metav1.ObjectMeta{Name: "y", Annotations: map[string]string{LastAppliedAnnotation: "{}"}}
	cases := []struct {
		name          string
		in            metav1.Object
		wantLast      bool
		wantAnnotsNil bool
	}{
		{name: "Rollout", in: &v1alpha1.Rollout{ObjectMeta: meta()}},
		{name: "ReplicaSet", in: &appsv1.ReplicaSet{ObjectMeta: meta()}},
		{name: "Service", in: &corev1.Service{ObjectMeta: meta()}},
		{name: "Pod", in: &corev1.Pod{ObjectMeta: meta()}},
		{name: "AnalysisRun", in: &v1alpha1.AnalysisRun{ObjectMeta: meta()}},
		{name: "Experiment", in: &v1alpha1.Experiment{ObjectMeta: meta()}},
		{name: "Deployment", in: &appsv1.Deployment{ObjectMeta: meta()}},
		// The routers update Ingresses whole: their copy must keep it.
		{name: "Ingress keeps it", in: &networkingv1.Ingress{ObjectMeta: meta()}, wantLast: true},
		{name: "ConfigMap keeps it", in: &corev1.ConfigMap{ObjectMeta: meta()}, wantLast: true},
		{name: "no annotations left", in: &v1alpha1.Rollout{ObjectMeta: onlyLastApplied}, wantAnnotsNil: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cacheTransform()(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			obj := out.(metav1.Object)
			if obj.GetManagedFields() != nil {
				t.Errorf("managedFields kept: %v", obj.GetManagedFields())
			}
			_, has := obj.GetAnnotations()[LastAppliedAnnotation]
			if has != tc.wantLast {
				t.Errorf("last-applied annotation present = %v, want %v", has, tc.wantLast)
			}
			if tc.wantAnnotsNil {
				if obj.GetAnnotations() != nil {
					t.Errorf("annotations = %v, want nil", obj.GetAnnotations())
				}
			} else if obj.GetAnnotations()["keep"] != "me" {
				t.Errorf("other annotations lost: %v", obj.GetAnnotations())
			}
		})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"rollouts-pod-template-hash": "abc"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"true"}}},
			Containers: []corev1.Container{
				{Name: "app", Image: "app:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}},
				{Name: "sidecar", Image: "proxy:1"},
			},
			Volumes:  []corev1.Volume{{Name: "data"}},
			NodeName: "node-1",
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if _, err := cacheTransform()(pod); err != nil {
		t.Fatal(err)
	}
	want := corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}, {Name: "sidecar"}},
	}
	if !equality.Semantic.DeepEqual(pod.Spec, want) {
		t.Errorf("Pod spec = %+v, want %+v", pod.Spec, want)
	}
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.Conditions) != 1 || pod.Labels["rollouts-pod-template-hash"] != "abc" {
		t.Errorf("Pod status or labels changed: %+v %v", pod.Status, pod.Labels)
	}

	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/x"}
	if out, err := cacheTransform()(tomb); err != nil || out != any(tomb) {
		t.Errorf("tombstone changed: %v, %v", out, err)
	}
}
