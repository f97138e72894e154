package rollout

import (
	"context"
	"testing"

	"github.com/go-logr/logr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// twoWayRouter records the splits it is asked for and cannot carry a third
// destination.
type twoWayRouter struct{ synced []trafficrouting.Desired }

func (r *twoWayRouter) Type() string                    { return "two-way" }
func (r *twoWayRouter) Check(ctx context.Context) error { return nil }
func (r *twoWayRouter) Sync(ctx context.Context, d trafficrouting.Desired) error {
	r.synced = append(r.synced, d)
	return nil
}

// threeWayRouter can.
type threeWayRouter struct{ twoWayRouter }

func (r *threeWayRouter) CarriesAdditionalDestinations() bool { return true }

func TestSyncTrafficRefusesExperimentDestinationsARouterCannotCarry(t *testing.T) {
	ctx := context.Background()
	withExp := decide.SyncTraffic{Desired: trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100,
		Additional: []trafficrouting.Destination{{ServiceName: "exp", Weight: 5}}}}

	two, three := &twoWayRouter{}, &threeWayRouter{}
	e := &executor{ro: &v1alpha1.Rollout{}, log: logr.Discard(), routers: []trafficrouting.Router{three, two}}
	err := e.one(ctx, withExp)
	if len(trafficrouting.ConfigErrors(err)) != 1 {
		t.Fatalf("error %v, want one ConfigError", err)
	}
	if len(two.synced)+len(three.synced) != 0 {
		t.Fatal("a router was synced although one of them cannot carry the split")
	}

	e.routers = []trafficrouting.Router{three}
	if err := e.one(ctx, withExp); err != nil {
		t.Fatalf("Sync with a router that carries it: %v", err)
	}
	if len(three.synced) != 1 || len(three.synced[0].Additional) != 1 {
		t.Fatalf("synced %+v", three.synced)
	}

	// Without experiment destinations every router takes the split.
	e.routers = []trafficrouting.Router{two}
	if err := e.one(ctx, decide.SyncTraffic{Desired: trafficrouting.Desired{CanaryWeight: 10, MaxWeight: 100}}); err != nil || len(two.synced) != 1 {
		t.Fatalf("plain split: err %v, synced %d", err, len(two.synced))
	}
}
