package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// TestCleanupDeletesRolloutsBeforeWhatTheyRouteThrough: the Rollouts are
// deleted first, and their Ingresses and Services only once the API server
// no longer has them, so a controller still reconciling one does not
// recreate its canary Ingress during the clean-up. A Rollout that never
// goes (a finalizer nobody removes) holds the rest back only for
// rolloutsGoneWait.
func TestCleanupDeletesRolloutsBeforeWhatTheyRouteThrough(t *testing.T) {
	for _, tc := range []struct {
		name string
		// goneAfter is the tick at which the Rollout's finalizer is
		// removed; 0 never removes it.
		goneAfter int
	}{{"Rollouts gone after a while", 3}, {"a Rollout that never goes", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := Config{Scenario: ScenarioCanary, Namespace: "bench", Image: DefaultImage, Replicas: 1, Router: "nginx", PollInterval: time.Second}
			labels := map[string]string{LabelBench: "true", LabelWorkload: workloadRollout}
			ro := rollout(cfg, rolloutName(0))
			ro.Finalizers = []string{"test.kanaria.dev/hold"}
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "bench-ing", Namespace: "bench", Labels: labels}}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "bench-svc", Namespace: "bench", Labels: labels}}
			api := newFakeClient(t, ro, ing, svc)
			var deletes []string
			rolloutsLeft := func() int {
				var ros v1alpha1.RolloutList
				if err := api.List(ctx, &ros, client.InNamespace("bench")); err != nil {
					t.Fatal(err)
				}
				return len(ros.Items)
			}
			c := interceptor.NewClient(api, interceptor.Funcs{
				DeleteAllOf: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
					deletes = append(deletes, fmt.Sprintf("%T rollouts-left=%d", obj, rolloutsLeft()))
					return c.DeleteAllOf(ctx, obj, opts...)
				},
				Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					deletes = append(deletes, fmt.Sprintf("%T %s rollouts-left=%d", obj, obj.GetName(), rolloutsLeft()))
					return c.Delete(ctx, obj, opts...)
				},
			})
			ticks := 0
			clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), onTick: func() {
				ticks++
				if ticks != tc.goneAfter {
					return
				}
				var held v1alpha1.Rollout
				if err := api.Get(ctx, client.ObjectKeyFromObject(ro), &held); err != nil {
					t.Error(err)
					return
				}
				held.Finalizers = nil
				if err := api.Update(ctx, &held); err != nil {
					t.Error(err)
				}
			}}
			var progress bytes.Buffer
			x := &run{Runner: &Runner{Client: c}, cfg: cfg, clock: clock, progress: &progress, noted: map[string]bool{}}
			if err := x.deleteObjects(ctx, ""); err != nil {
				t.Fatal(err)
			}
			left := 0
			if tc.goneAfter == 0 {
				left = 1
			}
			want := []string{
				"*v1.Deployment rollouts-left=1",
				"*v1alpha1.Rollout rollouts-left=1",
				"*v1alpha1.AnalysisTemplate rollouts-left=1",
				fmt.Sprintf("*v1.Ingress rollouts-left=%d", left),
				fmt.Sprintf("*v1.Service bench-svc rollouts-left=%d", left),
			}
			if !slices.Equal(deletes, want) {
				t.Fatalf("deletes\n%q\nwant\n%q", deletes, want)
			}
			if tc.goneAfter == 0 {
				if waited := time.Duration(ticks) * cfg.PollInterval; waited < rolloutsGoneWait || waited > rolloutsGoneWait+cfg.PollInterval {
					t.Fatalf("waited %s for a Rollout that never goes, want %s", waited, rolloutsGoneWait)
				}
				if !strings.Contains(progress.String(), "Rollouts still there") {
					t.Fatalf("progress %q does not say the Rollouts were still there", progress.String())
				}
			} else if ticks != tc.goneAfter {
				t.Fatalf("%d polls, want the wait to end at the poll after the Rollout went (%d)", ticks, tc.goneAfter)
			}
		})
	}
}
