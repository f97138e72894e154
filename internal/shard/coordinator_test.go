package shard

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// recorder keeps the shard sets a coordinator ran its controller with.
type recorder struct {
	mu      sync.Mutex
	sets    [][]int
	running []int
}

func (r *recorder) run(ctx context.Context, held []int) error {
	r.mu.Lock()
	r.sets = append(r.sets, held)
	r.running = held
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.running = nil
	r.mu.Unlock()
	return nil
}

func (r *recorder) current() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testConfig(client *fake.Clientset, id string, home int, rec *recorder) Config {
	return Config{Client: client, Namespace: "kanaria", Group: "kc", Identity: id, Shards: 2, Home: home,
		LeaseDuration: 600 * time.Millisecond, RenewDeadline: 400 * time.Millisecond, RetryPeriod: 50 * time.Millisecond,
		Run: rec.run, Log: logr.Discard()}
}

// TestCoordinatorTakesOverAndHandsBack runs two coordinators on one fake
// API: each runs its controller for its home shard, the survivor of a
// stopped one runs for both, and the returning one gets its shard back;
// a stopped coordinator leaves no presence Lease and no held shard.
func TestCoordinatorTakesOverAndHandsBack(t *testing.T) {
	client := fake.NewClientset()
	recA, recB := &recorder{}, &recorder{}
	start := func(id string, home int, rec *recorder) (context.CancelFunc, chan error) {
		c, err := NewCoordinator(testConfig(client, id, home, rec))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return cancel, done
	}
	stopA, doneA := start("a", 0, recA)
	stopB, doneB := start("b", 1, recB)
	defer func() { stopB(); <-doneB }()
	waitFor(t, "each replica on its home shard", func() bool {
		return slices.Equal(recA.current(), []int{0}) && slices.Equal(recB.current(), []int{1})
	})

	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("coordinator a: %v", err)
	}
	if recA.current() != nil {
		t.Fatal("a's controller still runs after it stopped")
	}
	if _, err := client.CoordinationV1().Leases("kanaria").Get(context.Background(), "kc-member-a", metav1.GetOptions{}); err == nil {
		t.Error("a's presence Lease is left behind")
	}
	waitFor(t, "b running both shards", func() bool { return slices.Equal(recB.current(), []int{0, 1}) })

	stopA, doneA = start("a", 0, recA)
	defer func() { stopA(); <-doneA }()
	waitFor(t, "a getting its home back", func() bool {
		return slices.Equal(recA.current(), []int{0}) && slices.Equal(recB.current(), []int{1})
	})
	held, err := Holders(context.Background(), client, "kanaria", "kc")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(held) != "map[0:a 1:b]" {
		t.Errorf("leases held %v, want shard 0 by a and 1 by b", held)
	}
}

func TestNewCoordinatorRefusesBadTimings(t *testing.T) {
	cfg := testConfig(fake.NewClientset(), "a", 0, &recorder{})
	cfg.RenewDeadline = cfg.LeaseDuration
	if _, err := NewCoordinator(cfg); err == nil {
		t.Error("a renew deadline as long as the lease was accepted")
	}
	cfg = testConfig(fake.NewClientset(), "a", 0, &recorder{})
	cfg.Shards = 65
	if _, err := NewCoordinator(cfg); err == nil {
		t.Error("65 shards accepted")
	}
}
