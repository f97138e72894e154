// Package routertest holds what the traffic router tests share: a fake
// cluster that can lack kinds and count writes, reading objects back, and
// asserting the ConfigErrors a router reports. It exists so each router's
// tests state only what is particular to that router, and so every router
// is held to the same meaning of "kind not served" or "wrote nothing".
package routertest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Cluster describes the fake API server a router test runs against. The
// zero value is a plain fake client on client-go's scheme, with nothing
// intercepted.
type Cluster struct {
	// Scheme is the client's scheme; nil keeps the fake client's default,
	// client-go's scheme.
	Scheme *runtime.Scheme

	// Serves, when set, is the client's RESTMapper and decides which kinds
	// the cluster serves: a Get or Create of a kind it does not map fails
	// with its error (a *meta.NoKindMatchError for a DefaultRESTMapper), as
	// on a cluster without the CustomResourceDefinition. The fake client
	// never consults its mapper on reads and writes, so it is asked here, as
	// the real client's would be. Nil serves every kind.
	Serves meta.RESTMapper

	// Writes, when set, counts every create, update and delete the client
	// is asked for, including those that then fail, so a test can prove a
	// router wrote nothing.
	Writes *Counts

	// Funcs, when set, intercepts calls after the checks above, for a test
	// that makes a call fail or race.
	Funcs *interceptor.Funcs
}

// Counts tallies the writes made through a client whose Cluster has Writes
// set.
type Counts struct {
	Create, Update, Delete int
}

// Writes is the number of writes of any kind, for tests that only care
// whether the router wrote at all.
func (n Counts) Writes() int { return n.Create + n.Update + n.Delete }

// NewClient is a fake client on client-go's scheme holding objs; funcs,
// when not nil, intercept its calls. It is Cluster{Funcs: funcs}.Client,
// named for the common case of built-in kinds.
func NewClient(funcs *interceptor.Funcs, objs ...client.Object) client.WithWatch {
	return Cluster{Funcs: funcs}.Client(objs...)
}

// Client builds a fake client for the cluster, holding objs.
func (cl Cluster) Client(objs ...client.Object) client.WithWatch {
	b := fake.NewClientBuilder()
	if cl.Scheme != nil {
		b = b.WithScheme(cl.Scheme)
	}
	if cl.Serves != nil {
		b = b.WithRESTMapper(cl.Serves)
	}
	b = b.WithObjects(objs...)
	if cl.Serves == nil && cl.Writes == nil && cl.Funcs == nil {
		return b.Build()
	}
	return b.WithInterceptorFuncs(cl.funcs()).Build()
}

// funcs chains the served check, the write count and cl.Funcs, in that
// order, falling through to the fake client where cl.Funcs has no entry.
func (cl Cluster) funcs() interceptor.Funcs {
	var next interceptor.Funcs
	if cl.Funcs != nil {
		next = *cl.Funcs
	}
	f := next
	served := func(obj client.Object) error {
		if cl.Serves == nil {
			return nil
		}
		gvk := obj.GetObjectKind().GroupVersionKind()
		_, err := cl.Serves.RESTMapping(gvk.GroupKind(), gvk.Version)
		return err
	}
	n := cl.Writes
	if n == nil {
		n = &Counts{} // a tally nobody reads
	}
	f.Get = func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if err := served(obj); err != nil {
			return err
		}
		if next.Get != nil {
			return next.Get(ctx, c, key, obj, opts...)
		}
		return c.Get(ctx, key, obj, opts...)
	}
	f.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		n.Create++
		if err := served(obj); err != nil {
			return err
		}
		if next.Create != nil {
			return next.Create(ctx, c, obj, opts...)
		}
		return c.Create(ctx, obj, opts...)
	}
	f.Update = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		n.Update++
		if next.Update != nil {
			return next.Update(ctx, c, obj, opts...)
		}
		return c.Update(ctx, obj, opts...)
	}
	f.Delete = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		n.Delete++
		if next.Delete != nil {
			return next.Delete(ctx, c, obj, opts...)
		}
		return c.Delete(ctx, obj, opts...)
	}
	return f
}

// Kinds is a RESTMapper that maps exactly gvks, namespaced, for
// Cluster.Serves: a cluster with the CustomResourceDefinitions of those
// kinds and no others. With no kinds it serves nothing.
func Kinds(gvks ...schema.GroupVersionKind) meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, g := range gvks {
		m.Add(g, meta.RESTScopeNamespace)
	}
	return m
}

// FailGets intercepts every Get with err, for the tests proving that a
// read failure reaches the caller as itself and not as a ConfigError.
func FailGets(err error) *interceptor.Funcs {
	return &interceptor.Funcs{Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
		return err
	}}
}

// Read reads namespace/name into obj and returns it, failing the test on
// any error, so a test can compare what the router left in the cluster.
// An unstructured obj must carry its kind; see Get.
func Read[T client.Object](t testing.TB, c client.Reader, namespace, name string, obj T) T {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		t.Fatalf("reading %s %s/%s: %v", kindOf(obj), namespace, name, err)
	}
	return obj
}

// ReadIfExists is Read that reports a missing object as false instead of
// failing, for tests asserting that an object was created or removed.
func ReadIfExists[T client.Object](t testing.TB, c client.Reader, namespace, name string, obj T) (T, bool) {
	t.Helper()
	err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		var zero T
		return zero, false
	}
	if err != nil {
		t.Fatalf("reading %s %s/%s: %v", kindOf(obj), namespace, name, err)
	}
	return obj, true
}

// Get reads the object of kind gvk at namespace/name, failing the test on
// any error; the routers keep custom resources as unstructured objects, so
// their tests read them back the same way.
func Get(t testing.TB, c client.Reader, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	return Read(t, c, namespace, name, empty(gvk))
}

// GetIfExists is Get that returns nil for a missing object, for tests
// asserting that an object was created or removed.
func GetIfExists(t testing.TB, c client.Reader, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u, _ := ReadIfExists(t, c, namespace, name, empty(gvk))
	return u
}

// empty is an object of kind gvk to read into: an unstructured object
// tells the client what to read only through its kind.
func empty(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// kindOf names obj's kind for a failure message: its own kind when set,
// otherwise its Go type's, as typed objects do not carry theirs.
func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	t := reflect.TypeOf(obj)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// SameExceptVersion tells whether two objects are equal but for the
// resourceVersion the fake client assigns on every write; two nils are the
// same, a nil and an object are not.
func SameExceptVersion(got, want *unstructured.Unstructured) bool {
	if got == nil || want == nil {
		return got == want
	}
	w := want.DeepCopy()
	w.SetResourceVersion(got.GetResourceVersion())
	return reflect.DeepEqual(got.Object, w.Object)
}

// CheckConfigErrors fails the test unless err holds exactly one
// *trafficrouting.ConfigError per entry of want, in order, each from
// router and containing its entry. An empty want means err must be nil:
// not merely free of ConfigErrors, so an unexpected read failure is not
// taken for success.
func CheckConfigErrors(t testing.TB, err error, router string, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	got := trafficrouting.ConfigErrors(err)
	if len(got) != len(want) {
		t.Fatalf("got %d ConfigErrors (%v), want %d: %q", len(got), err, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(got[i].Msg, w) {
			t.Errorf("ConfigError %d = %q, want it to contain %q", i, got[i].Msg, w)
		}
		if got[i].Router != router {
			t.Errorf("ConfigError %d router = %q, want %q", i, got[i].Router, router)
		}
	}
}

// ExactHeaderRoute is a header route sending requests whose header equals
// value to the canary, the form most router tests need.
func ExactHeaderRoute(route, header, value string) trafficrouting.HeaderRoute {
	return trafficrouting.HeaderRoute{Name: route, Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: header, HeaderValue: &v1alpha1.StringMatch{Exact: value}}}}
}

// CheckNotConfigError fails the test unless err, the result of op, wraps
// cause, holds no ConfigError and, when mention is not empty, contains it.
// A failing API call is transient and must reach the caller as itself, to
// be retried, not be reported as a problem with the Rollout's
// configuration; mention is the context (the object read) that makes it
// traceable.
func CheckNotConfigError(t testing.TB, op string, err, cause error, mention string) {
	t.Helper()
	if !errors.Is(err, cause) || trafficrouting.ConfigErrors(err) != nil {
		t.Errorf("%s = %v, want %v wrapped and no ConfigError", op, err, cause)
		return
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("%s = %v, want it to mention %q", op, err, mention)
	}
}

// IngressPath is an Ingress rule path of type pt sending p to port of
// Service svc, the building block of the Ingress fixtures the alb and
// nginx tests edit.
func IngressPath(p string, pt networkingv1.PathType, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{
		Path: p, PathType: &pt,
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}},
	}
}

// IngressRule is the HTTP rule of host holding paths.
func IngressRule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
		HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths},
	}}
}
