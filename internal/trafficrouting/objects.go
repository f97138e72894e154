package trafficrouting

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GetObject reads the custom resource ns/name of kind gvk. A missing object
// or a kind the cluster does not serve is reported as a *ConfigError of
// router, since no write can succeed until someone creates it.
func GetObject(ctx context.Context, r client.Reader, router string, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	switch {
	case err == nil:
		return u, nil
	case apierrors.IsNotFound(err):
		return nil, Errorf(router, "%s %s/%s does not exist", gvk.Kind, ns, name)
	case IsNoKind(err):
		return nil, Errorf(router, "the cluster does not serve %s (%s); install its CustomResourceDefinition", gvk.Kind, gvk.GroupVersion())
	default:
		return nil, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, ns, name, err)
	}
}

// UpdateIfChanged writes after when it differs from before (the object as
// read), keeping before's resourceVersion so a concurrent edit makes the
// write fail instead of being lost. It reports whether it wrote.
func UpdateIfChanged(ctx context.Context, w client.Writer, before, after client.Object) (bool, error) {
	if equality.Semantic.DeepEqual(before, after) {
		return false, nil
	}
	after.SetResourceVersion(before.GetResourceVersion())
	if err := w.Update(ctx, after); err != nil {
		return false, fmt.Errorf("updating %s %s/%s: %w", kindOf(after), after.GetNamespace(), after.GetName(), err)
	}
	return true, nil
}

func kindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return fmt.Sprintf("%T", o)
}
