package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func newFakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&v1alpha1.Experiment{}, &v1alpha1.AnalysisRun{}).
		WithIndex(&appsv1.ReplicaSet{}, indexReplicaSetOwner, controllerUID).
		WithIndex(&corev1.Service{}, indexServiceOwner, controllerUID).
		WithIndex(&v1alpha1.AnalysisRun{}, indexRunOwner, controllerUID).
		WithObjects(objs...).Build()
}

func testExperiment() *v1alpha1.Experiment {
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "exp", Namespace: "ns", UID: "exp-uid"},
		Spec: v1alpha1.ExperimentSpec{
			Duration: "1m",
			Templates: []v1alpha1.TemplateSpec{{
				Name:     "canary",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "c"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "c"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c:1",
						Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
				},
				Service: &v1alpha1.TemplateService{},
			}},
		},
	}
}

// TestRequeueTakesOffTheWriteTime: the delay a plan asks for (the end of
// the Experiment's duration) counts from the snapshot's time, so the time
// the status write took is not added to it.
func TestRequeueTakesOffTheWriteTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	c := newFakeClient(t, testExperiment())
	slow := interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			clock = clock.Add(700 * time.Millisecond)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	r := &Reconciler{Client: slow, Recorder: record.NewFakeRecorder(50), Now: func() time.Time { return clock }}
	reconcileOnce(t, r)
	var rs appsv1.ReplicaSet
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp-canary"}, &rs); err != nil {
		t.Fatalf("ReplicaSet: %v", err)
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := c.Status().Update(context.Background(), &rs); err != nil {
		t.Fatal(err)
	}
	clock = start.Add(10 * time.Second)
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "exp"}})
	if err != nil {
		t.Fatal(err)
	}
	// Available at 10 s, a 1m duration, a second past its end; the status
	// write that says Running took 700 ms of it.
	if want := time.Minute + time.Second - 700*time.Millisecond; res.RequeueAfter != want {
		t.Fatalf("RequeueAfter %v, want %v", res.RequeueAfter, want)
	}
}

func reconcileOnce(t *testing.T, r *Reconciler) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: "exp"}}); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileCreatesAndWritesStatus(t *testing.T) {
	c := newFakeClient(t, testExperiment())
	rec := record.NewFakeRecorder(50)
	r := &Reconciler{Client: c, Recorder: rec, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	reconcileOnce(t, r)

	var rs appsv1.ReplicaSet
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp-canary"}, &rs); err != nil {
		t.Fatalf("ReplicaSet: %v", err)
	}
	var svc corev1.Service
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp-canary"}, &svc); err != nil {
		t.Fatalf("Service: %v", err)
	}
	var ex v1alpha1.Experiment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp"}, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Status.Phase != v1alpha1.AnalysisPhasePending || len(ex.Status.TemplateStatuses) != 1 || ex.Status.TemplateStatuses[0].ServiceName != "exp-canary" {
		t.Fatalf("status %+v", ex.Status)
	}
	if len(rec.Events) == 0 {
		t.Error("no Events recorded")
	}

	// The next reconcile finds what the first made and creates nothing more.
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := c.Status().Update(context.Background(), &rs); err != nil {
		t.Fatal(err)
	}
	reconcileOnce(t, r)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp"}, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Status.Phase != v1alpha1.AnalysisPhaseRunning || ex.Status.AvailableAt == nil {
		t.Errorf("after the Pods are up: %+v", ex.Status)
	}
}

func TestReconcileReportsSomeoneElsesReplicaSet(t *testing.T) {
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "exp-canary", Namespace: "ns"}}
	c := newFakeClient(t, testExperiment(), other)
	r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(50)}
	reconcileOnce(t, r)
	var ex v1alpha1.Experiment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp"}, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(ex.Status.Message, "exp-canary already exists") {
		t.Errorf("phase %s message %q", ex.Status.Phase, ex.Status.Message)
	}
	var svcs corev1.ServiceList
	if err := c.List(context.Background(), &svcs); err != nil || len(svcs.Items) != 0 {
		t.Errorf("Services %v (%v)", svcs.Items, err)
	}
}

// TestReconcileReportsAReplicaSetItsCacheCannotHold gives the Experiment's
// ReplicaSet name to a ReplicaSet that another object controls and that the
// controller's cache does not hold, as a sharded replica's never does (it
// carries no bucket label). The name is looked up on the API server, so the
// template goes to Error as it does unsharded, with one create attempt at
// most and nothing written to the holder.
func TestReconcileReportsAReplicaSetItsCacheCannotHold(t *testing.T) {
	isController := true
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "exp-canary", Namespace: "ns", UID: "other-uid",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "holder", UID: "cm-uid", Controller: &isController}}}}
	api := newFakeClient(t, testExperiment(), other)
	var cacheGets, apiGets, creates int
	cache := interceptor.NewClient(api.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*appsv1.ReplicaSet); ok {
				cacheGets++
				return apierrors.NewNotFound(appsv1.Resource("replicasets"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*appsv1.ReplicaSet); ok {
				creates++
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	reader := interceptor.NewClient(api.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*appsv1.ReplicaSet); ok {
				apiGets++
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	var before appsv1.ReplicaSet
	if err := api.Get(context.Background(), client.ObjectKeyFromObject(other), &before); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: cache, APIReader: reader, Recorder: record.NewFakeRecorder(50)}
	reconcileOnce(t, r)
	var ex v1alpha1.Experiment
	if err := api.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "exp"}, &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(ex.Status.Message, "exp-canary already exists") {
		t.Errorf("phase %s message %q", ex.Status.Phase, ex.Status.Message)
	}
	if apiGets != 1 || creates != 0 || cacheGets != 0 {
		t.Errorf("%d API reads, %d creates and %d cache reads of ReplicaSets, want 1, 0 and 0", apiGets, creates, cacheGets)
	}
	var got appsv1.ReplicaSet
	if err := api.Get(context.Background(), client.ObjectKeyFromObject(other), &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != before.ResourceVersion {
		t.Errorf("the holder was written to: version %s, owners %+v", got.ResourceVersion, got.OwnerReferences)
	}
}

func TestCreateOfAnObjectThatExists(t *testing.T) {
	ex := testExperiment()
	mine := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "ns",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}}}
	theirs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "ns"}}
	c := newFakeClient(t, mine, theirs)
	e := &executor{c: c, api: c, ex: ex}
	fresh := func(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: rs.Name, Namespace: rs.Namespace, OwnerReferences: rs.OwnerReferences}}
	}
	if err := e.create(context.Background(), fresh(mine), &appsv1.ReplicaSet{}); err != nil {
		t.Errorf("our own ReplicaSet: %v", err)
	}
	if err := e.create(context.Background(), fresh(theirs), &appsv1.ReplicaSet{}); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("someone else's ReplicaSet: %v", err)
	}
}
