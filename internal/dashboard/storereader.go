package dashboard

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// storeReader reads a watch set's stores, keyed by the Go type name of the
// object each holds, as the client.Reader the page builders take. It
// serves exactly the reads those builders make: Get of a Rollout and List
// of the watched kinds in a namespace. Objects are copied out, so a page
// never shares memory with the store.
type storeReader map[string]toolscache.Store

// Get reads one Rollout.
func (r storeReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok {
		return fmt.Errorf("the dashboard's cache reads no %T", obj)
	}
	st, ok := r[fmt.Sprintf("%T", obj)]
	if !ok {
		return fmt.Errorf("the dashboard's cache holds no %T", obj)
	}
	item, exists, err := st.GetByKey(key.Namespace + "/" + key.Name)
	if err != nil {
		return fmt.Errorf("reading the dashboard's cache: %w", err)
	}
	if !exists {
		return apierrors.NewNotFound(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "rollouts"}, key.Name)
	}
	item.(*v1alpha1.Rollout).DeepCopyInto(ro)
	return nil
}

// List reads one watched kind, in one namespace or all, sorted as the API
// server sorts a list: by namespace, then name.
func (r storeReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	ns := lo.Namespace
	switch l := list.(type) {
	case *v1alpha1.RolloutList:
		l.Items = copyItems[v1alpha1.Rollout](r, ns)
	case *appsv1.ReplicaSetList:
		l.Items = copyItems[appsv1.ReplicaSet](r, ns)
	case *corev1.PodList:
		l.Items = copyItems[corev1.Pod](r, ns)
	case *v1alpha1.AnalysisRunList:
		l.Items = copyItems[v1alpha1.AnalysisRun](r, ns)
	case *v1alpha1.ExperimentList:
		l.Items = copyItems[v1alpha1.Experiment](r, ns)
	default:
		return fmt.Errorf("the dashboard's cache lists no %T", list)
	}
	return nil
}

// copyItems copies the objects of type T in namespace ns ("" for all) out
// of their store, in namespace and name order.
func copyItems[T any, PT interface {
	*T
	client.Object
}](r storeReader, ns string) []T {
	st := r[fmt.Sprintf("%T", PT(new(T)))]
	if st == nil {
		return nil
	}
	var ptrs []PT
	for _, o := range st.List() {
		p, ok := o.(PT)
		if ok && (ns == "" || p.GetNamespace() == ns) {
			ptrs = append(ptrs, p)
		}
	}
	sort.Slice(ptrs, func(i, j int) bool {
		if ptrs[i].GetNamespace() != ptrs[j].GetNamespace() {
			return ptrs[i].GetNamespace() < ptrs[j].GetNamespace()
		}
		return ptrs[i].GetName() < ptrs[j].GetName()
	})
	out := make([]T, 0, len(ptrs))
	for _, p := range ptrs {
		c := p.DeepCopyObject().(PT)
		out = append(out, *c)
	}
	return out
}
