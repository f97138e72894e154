package alb

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routertest"
)

// TestSyncPingPong: with pingPong the action forwards to the ping and pong
// Services, the canary being the one status.canary.stablePingPong does not
// name, and the action is the root Service's.
func TestSyncPingPong(t *testing.T) {
	for _, c := range []struct {
		stable  v1alpha1.PingPongType
		wantAct string
	}{
		{stable: v1alpha1.PPPing, wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-pong","ServicePort":"80","Weight":20},{"ServiceName":"guestbook-ping","ServicePort":"80","Weight":80}]}}`},
		{stable: v1alpha1.PPPong, wantAct: `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"guestbook-ping","ServicePort":"80","Weight":20},{"ServiceName":"guestbook-pong","ServicePort":"80","Weight":80}]}}`},
	} {
		t.Run(string(c.stable), func(t *testing.T) {
			ro := rollout(func(a *v1alpha1.ALBTrafficRouting, _ *v1alpha1.RolloutTrafficRouting) { a.RootService = "guestbook" })
			ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "", ""
			ro.Spec.Strategy.Canary.PingPong = &v1alpha1.PingPongSpec{PingService: "guestbook-ping", PongService: "guestbook-pong"}
			ro.Status.Canary.StablePingPong = c.stable
			ing := albIngress("web")
			ing.Spec.Rules[0].HTTP.Paths[2].Backend.Service.Name = "guestbook"
			cl := routertest.Cluster{}.Client([]client.Object{ing}...)
			r := newRouter(ro, cl)
			if err := r.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := r.Sync(context.Background(), desired(20)); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			got := getIngress(t, cl, "web").Annotations["alb.ingress.kubernetes.io/actions.guestbook"]
			if got != c.wantAct {
				t.Fatalf("action = %s\nwant     %s", got, c.wantAct)
			}
		})
	}
}
