package routertest

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	servedGVK   = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Served"}
	unservedGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Missing"}
)

// The router tests rely on Cluster refusing unserved kinds and counting
// every write, so a broken fake would let them pass vacuously.
func TestClusterServesAndCounts(t *testing.T) {
	ctx := context.Background()
	var n Counts
	c := Cluster{Serves: Kinds(servedGVK), Writes: &n}.Client()

	served := empty(servedGVK)
	served.SetNamespace("ns")
	served.SetName("a")
	if err := c.Create(ctx, served); err != nil {
		t.Fatalf("Create of a served kind: %v", err)
	}
	if got := Get(t, c, servedGVK, "ns", "a"); got.GetName() != "a" {
		t.Errorf("Get = %v", got)
	}
	if err := c.Update(ctx, served); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := c.Delete(ctx, served); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if GetIfExists(t, c, servedGVK, "ns", "a") != nil {
		t.Errorf("deleted object still read")
	}

	missing := empty(unservedGVK)
	missing.SetNamespace("ns")
	missing.SetName("b")
	if err := c.Create(ctx, missing); !meta.IsNoMatchError(err) {
		t.Errorf("Create of an unserved kind = %v, want a NoKindMatchError", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "b"}, empty(unservedGVK)); !meta.IsNoMatchError(err) {
		t.Errorf("Get of an unserved kind = %v, want a NoKindMatchError", err)
	}
	if want := (Counts{Create: 2, Update: 1, Delete: 1}); n != want || n.Writes() != 4 {
		t.Errorf("counts = %+v, want %+v", n, want)
	}
}

func TestFailGetsIsReachedAfterTheServedCheck(t *testing.T) {
	boom := errors.New("boom")
	c := Cluster{Serves: Kinds(servedGVK), Funcs: FailGets(boom)}.Client()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "a"}, empty(servedGVK)); !errors.Is(err, boom) {
		t.Errorf("Get of a served kind = %v, want %v", err, boom)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "a"}, empty(unservedGVK)); !meta.IsNoMatchError(err) {
		t.Errorf("Get of an unserved kind = %v, want a NoKindMatchError", err)
	}
}
