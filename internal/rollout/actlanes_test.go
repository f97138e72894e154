package rollout

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/clientlimit"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// writeLog records the executor's writes in order, each with whether its
// context carried the urgent mark.
type writeLog struct{ writes []string }

func (l *writeLog) add(ctx context.Context, what string) {
	l.writes = append(l.writes, fmt.Sprintf("%s urgent=%v", what, clientlimit.IsUrgent(ctx)))
}

// loggingRouter records its syncs in a writeLog.
type loggingRouter struct{ log *writeLog }

func (r loggingRouter) Type() string                { return "logging" }
func (r loggingRouter) Check(context.Context) error { return nil }
func (r loggingRouter) Sync(ctx context.Context, d trafficrouting.Desired) error {
	r.log.add(ctx, fmt.Sprintf("router weight %d", d.CanaryWeight))
	return nil
}

// TestUrgentWritesGoFirstWithTheUrgentMark applies an abort's plan as the
// decision orders it (traffic first, see decide's TestRoutedAbortWriteOrder)
// and checks that the executor keeps that order and marks exactly the
// urgent writes for the client's rate limit, and marks nothing with the
// priority lane off.
func TestUrgentWritesGoFirstWithTheUrgentMark(t *testing.T) {
	abort := []decide.Action{
		decide.SyncTraffic{Desired: trafficrouting.Desired{CanaryWeight: 0, MaxWeight: 100}},
		decide.SetServiceSelector{Service: "shop-canary", Hash: "stable"},
		decide.ScaleReplicaSet{Name: "shop-canary", From: 2, To: 0},
	}
	for _, tc := range []struct {
		name  string
		lanes bool
		want  []string
	}{{
		name: "lane on", lanes: true,
		want: []string{"router weight 0 urgent=true", "patch Service shop-canary urgent=true", "patch ReplicaSet shop-canary urgent=false"},
	}, {
		name: "lane off", lanes: false,
		want: []string{"router weight 0 urgent=false", "patch Service shop-canary urgent=false", "patch ReplicaSet shop-canary urgent=false"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			log := &writeLog{}
			c := interceptor.NewClient(fake.NewClientBuilder().Build(), interceptor.Funcs{
				Patch: func(ctx context.Context, _ client.WithWatch, obj client.Object, _ client.Patch, _ ...client.PatchOption) error {
					kind := fmt.Sprintf("%T", obj)
					kind = kind[len("*v1."):]
					log.add(ctx, fmt.Sprintf("patch %s %s", kind, obj.GetName()))
					return nil
				},
			})
			e := &executor{
				c: c, ro: &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop"}},
				log: logr.Discard(), routers: []trafficrouting.Router{loggingRouter{log}},
				rsVersions: map[string]string{}, markUrgent: tc.lanes,
			}
			if err := e.applyLanes(context.Background(), abort, 2); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(log.writes, tc.want) {
				t.Fatalf("writes %q, want %q", log.writes, tc.want)
			}
		})
	}
}
