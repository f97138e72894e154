package routerclient

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var vsGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}

// server is a fake API server that counts the reads sent to it.
type server struct {
	client.WithWatch
	gets int
}

func newServer(t *testing.T, objs ...client.Object) *server {
	t.Helper()
	s := &server{}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	s.WithWatch = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			s.gets++
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	return s
}

func virtualService(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vsGVK)
	u.SetNamespace("ns")
	u.SetName(name)
	return u
}

func ingress(name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
}

func key(name string) client.ObjectKey { return client.ObjectKey{Namespace: "ns", Name: name} }

// rolloutKey is the Rollout whose reconciles the tests make.
var rolloutKey = types.NamespacedName{Namespace: "ns", Name: "shop"}

// TestCustomResourcesAreReadOncePerReconcile: the check and the sync of one
// reconcile read the same object; the second read costs no request unless
// the router wrote the object in between.
func TestCustomResourcesAreReadOncePerReconcile(t *testing.T) {
	ctx := context.Background()
	api := newServer(t)
	scheme := runtime.NewScheme()
	// The fake needs the custom kind registered as unstructured.
	scheme.AddKnownTypeWithName(vsGVK, &unstructured.Unstructured{})
	api.WithWatch = fake.NewClientBuilder().WithScheme(scheme).WithObjects(virtualService("vs")).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			api.gets++
			return c.Get(ctx, k, obj, opts...)
		}}).Build()
	c := New(nil, api, api, &Copies{}, rolloutKey)

	first := virtualService("")
	if err := c.Get(ctx, key("vs"), first); err != nil {
		t.Fatal(err)
	}
	second := virtualService("")
	if err := c.Get(ctx, key("vs"), second); err != nil {
		t.Fatal(err)
	}
	if api.gets != 1 || second.GetResourceVersion() != first.GetResourceVersion() {
		t.Fatalf("two reads: %d requests, versions %q and %q", api.gets, first.GetResourceVersion(), second.GetResourceVersion())
	}
	// The copy handed out is the caller's own.
	second.SetLabels(map[string]string{"changed": "by the caller"})
	third := virtualService("")
	if err := c.Get(ctx, key("vs"), third); err != nil || third.GetLabels() != nil {
		t.Fatalf("a caller's change leaked into the next read: %v, %v", third.GetLabels(), err)
	}

	third.SetLabels(map[string]string{"route": "written"})
	if err := c.Update(ctx, third); err != nil {
		t.Fatal(err)
	}
	after := virtualService("")
	if err := c.Get(ctx, key("vs"), after); err != nil {
		t.Fatal(err)
	}
	if api.gets != 2 || after.GetLabels()["route"] != "written" {
		t.Fatalf("the read after our write: %d requests, labels %v", api.gets, after.GetLabels())
	}

	// A missing object is remembered too, until the router creates it.
	for range 2 {
		if err := c.Get(ctx, key("missing"), virtualService("")); !apierrors.IsNotFound(err) {
			t.Fatalf("missing object: %v", err)
		}
	}
	if api.gets != 3 {
		t.Fatalf("two reads of a missing object sent %d requests in all, want 3", api.gets)
	}
	if err := c.Create(ctx, virtualService("missing")); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key("missing"), virtualService("")); err != nil {
		t.Fatalf("the object we created: %v", err)
	}
}

// snapshotCache is an informer cache that shows what it was last synced
// to, and counts nothing: reading it costs no request.
type snapshotCache struct {
	objs map[client.ObjectKey]*networkingv1.Ingress
}

func (s *snapshotCache) Get(_ context.Context, k client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ing, ok := s.objs[k]
	if !ok {
		return apierrors.NewNotFound(networkingv1.Resource("ingresses"), k.Name)
	}
	ing.DeepCopyInto(obj.(*networkingv1.Ingress))
	return nil
}

func (s *snapshotCache) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

// sync makes the cache show what the server has now.
func (s *snapshotCache) sync(t *testing.T, api *server, names ...string) {
	t.Helper()
	before := api.gets
	s.objs = map[client.ObjectKey]*networkingv1.Ingress{}
	for _, n := range names {
		ing := &networkingv1.Ingress{}
		if err := api.Get(context.Background(), key(n), ing); err == nil {
			s.objs[key(n)] = ing
		}
	}
	api.gets = before
}

// TestWritesCountsOnlyWritesThatHappened: the reconcile reads Writes to
// tell a sync that moved traffic from one that found it as desired, so a
// failed write or a delete of an object already gone counts for nothing.
func TestWritesCountsOnlyWritesThatHappened(t *testing.T) {
	ctx := context.Background()
	api := newServer(t, ingress("kept"))
	c := New(api, api, api, &Copies{}, rolloutKey)
	var none *Client
	if none.Writes() != 0 {
		t.Fatal("a Rollout without routers counted writes")
	}
	if err := c.Delete(ctx, ingress("gone")); !apierrors.IsNotFound(err) {
		t.Fatalf("deleting a missing Ingress: %v", err)
	}
	if err := c.Create(ctx, ingress("kept")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating an existing Ingress: %v", err)
	}
	if n := c.Writes(); n != 0 {
		t.Fatalf("%d writes counted for writes that changed nothing", n)
	}
	if err := c.Create(ctx, ingress("new")); err != nil {
		t.Fatal(err)
	}
	var kept networkingv1.Ingress
	if err := c.Get(ctx, key("kept"), &kept); err != nil {
		t.Fatal(err)
	}
	kept.Annotations = map[string]string{"weight": "0"}
	if err := c.Update(ctx, &kept); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, ingress("new")); err != nil {
		t.Fatal(err)
	}
	if n := c.Writes(); n != 3 {
		t.Fatalf("%d writes counted, want the create, update and delete", n)
	}
}
