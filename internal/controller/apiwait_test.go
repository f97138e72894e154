package controller

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/kanaria-rollouts/kanaria/internal/testutil/freeaddr"
)

// scriptedDiscovery answers ServerResourcesForGroupVersion with the n-th
// answer of its script (the last one once the script runs out).
type scriptedDiscovery struct {
	discovery.DiscoveryInterface
	mu     sync.Mutex
	calls  int
	script []func() (*metav1.APIResourceList, error)
}

func (d *scriptedDiscovery) ServerResourcesForGroupVersion(string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := min(d.calls, len(d.script)-1)
	d.calls++
	return d.script[i]()
}

func served(names ...string) func() (*metav1.APIResourceList, error) {
	return func() (*metav1.APIResourceList, error) {
		l := &metav1.APIResourceList{GroupVersion: "argoproj.io/v1alpha1"}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n})
		}
		return l, nil
	}
}

func TestWaitForAPIWaitsForEveryResource(t *testing.T) {
	notFound := func() (*metav1.APIResourceList, error) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: "argoproj.io"}, "v1alpha1")
	}
	d := &scriptedDiscovery{script: []func() (*metav1.APIResourceList, error){
		notFound,
		served("rollouts"), // the group appears one definition at a time
		served("rollouts", "analysisruns", "analysistemplates"),
		served("rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates", "experiments"),
	}}
	if err := WaitForAPI(context.Background(), d, logr.Discard(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d.calls != 4 {
		t.Errorf("returned after %d checks, want 4 (the first with every resource)", d.calls)
	}
}

func TestWaitForAPIEndsWithItsContext(t *testing.T) {
	d := &scriptedDiscovery{script: []func() (*metav1.APIResourceList, error){served("rollouts")}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			d.mu.Lock()
			n := d.calls
			d.mu.Unlock()
			if n >= 3 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := WaitForAPI(ctx, d, logr.Discard(), time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if !strings.Contains(err.Error(), "analysisruns") {
		t.Errorf("err = %v, want it to name what the cluster still lacks", err)
	}
}

func TestServeWaitingProbes(t *testing.T) {
	addr := freeaddr.Loopback(t)
	stop, err := ServeWaitingProbes(addr)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while waiting, want 200 (alive)", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %q while waiting, want 503", code, body)
	}
	stop()
	// The manager binds the same address next.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address is still taken after stop: %v", err)
	}
	_ = ln.Close()
}
