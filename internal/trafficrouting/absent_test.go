package trafficrouting

import (
	"context"
	"errors"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// countingReader answers every read with err and counts the reads.
type countingReader struct {
	reads int
	err   error
}

func (c *countingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	c.reads++
	return c.err
}

func (c *countingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	c.reads++
	return c.err
}

func drList() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRuleList"})
	return l
}

// TestAbsentKindsAsksOncePerTTL checks that a kind the API server does not
// serve is asked about once, answered from memory with the same kind of
// error until the TTL ends, and asked again after.
func TestAbsentKindsAsksOncePerTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	a := &AbsentKinds{TTL: time.Minute, Now: func() time.Time { return now }}
	next := &countingReader{err: &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "networking.istio.io", Kind: "DestinationRule"}}}
	r := a.Reader(next)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := r.List(ctx, drList()); !IsNoKind(err) {
			t.Fatalf("read %d: %v, want a no-match error", i+1, err)
		}
	}
	if next.reads != 1 {
		t.Fatalf("%d reads reached the API server within the TTL, want 1", next.reads)
	}
	// A Get of an object of the list's kind is another kind: asked.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"})
	_ = r.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, u)
	if next.reads != 2 {
		t.Fatalf("%d reads after a Get of the single kind, want 2", next.reads)
	}
	now = now.Add(time.Minute)
	if err := r.List(ctx, drList()); !IsNoKind(err) || next.reads != 3 {
		t.Fatalf("after the TTL: %v with %d reads, want the API server asked again", err, next.reads)
	}
}

// TestAbsentKindsRemembersOnlyMisses checks that other errors, successes
// and typed (built-in) objects are never answered from memory.
func TestAbsentKindsRemembersOnlyMisses(t *testing.T) {
	a := &AbsentKinds{}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
	}{{"success", nil}, {"other error", errors.New("connection refused")}} {
		next := &countingReader{err: c.err}
		r := a.Reader(next)
		_ = r.List(ctx, drList())
		_ = r.List(ctx, drList())
		if next.reads != 2 {
			t.Errorf("%s: %d reads of 2, want every one asked", c.name, next.reads)
		}
	}
	next := &countingReader{err: &meta.NoKindMatchError{}}
	r := a.Reader(next)
	_ = r.List(ctx, &networkingv1.IngressList{})
	_ = r.List(ctx, &networkingv1.IngressList{})
	if next.reads != 2 {
		t.Errorf("typed list: %d reads of 2, want every one asked", next.reads)
	}
}
