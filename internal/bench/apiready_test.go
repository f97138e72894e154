package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// laggingDiscovery lists the API only from its servedFrom-th call on, as an
// API server does a few seconds after the CRDs are created.
type laggingDiscovery struct {
	discovery.DiscoveryInterface
	calls, servedFrom int
}

func (d *laggingDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	d.calls++
	if d.servedFrom == 0 || d.calls < d.servedFrom {
		return nil, errors.New("the server could not find the requested resource")
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{
		{Name: "rollouts"}, {Name: "rollouts/status"}, {Name: "analysisruns"}, {Name: "analysistemplates"}, {Name: "clusteranalysistemplates"},
	}}, nil
}

func TestAPIServedWaitsForDiscovery(t *testing.T) {
	d := &laggingDiscovery{servedFrom: 3}
	if err := apiServed(context.Background(), d, time.Minute, time.Millisecond); err != nil {
		t.Fatalf("apiServed: %v", err)
	}
	if d.calls != 3 {
		t.Errorf("discovery called %d times, want 3 (until the API is listed)", d.calls)
	}
}

func TestAPIServedSaysWhatIsMissing(t *testing.T) {
	d := &laggingDiscovery{}
	err := apiServed(context.Background(), d, 5*time.Millisecond, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "apply the CRDs first") || !strings.Contains(err.Error(), "could not find") {
		t.Fatalf("error = %v, want one that says to apply the CRDs and why", err)
	}
}
