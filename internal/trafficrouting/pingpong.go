package trafficrouting

import "github.com/kanaria-rollouts/kanaria/api/v1alpha1"

// PingPong reports whether the Rollout's canary alternates a ping and a
// pong Service between the stable and canary roles.
func PingPong(ro *v1alpha1.Rollout) bool {
	c := ro.Spec.Strategy.Canary
	return c != nil && c.PingPong != nil && c.PingPong.PingService != "" && c.PingPong.PongService != ""
}

// Services returns the stable and canary Services of ro's split. With
// ping-pong, which of the two Services is stable is what
// status.canary.stablePingPong says, read the way Argo Rollouts reads it:
// "ping" means ping, anything else (unset included) means pong. The
// ALB router prefers the ping-pong Services whenever they are set
// (preferPingPong); every other router, as in Argo Rollouts, uses them
// only when canaryService and stableService are both unset.
func Services(ro *v1alpha1.Rollout, preferPingPong bool) (stable, canary string) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return "", ""
	}
	if PingPong(ro) && (preferPingPong || (c.StableService == "" && c.CanaryService == "")) {
		if ro.Status.Canary.StablePingPong == v1alpha1.PPPing {
			return c.PingPong.PingService, c.PingPong.PongService
		}
		return c.PingPong.PongService, c.PingPong.PingService
	}
	return c.StableService, c.CanaryService
}

// NextStablePingPong is status.canary.stablePingPong once the canary has
// become stable: the Service that was the canary's. Unset counts as
// "pong" stable, so the first version makes "ping" stable, as in Argo
// Rollouts.
func NextStablePingPong(cur v1alpha1.PingPongType) v1alpha1.PingPongType {
	if cur == v1alpha1.PPPing {
		return v1alpha1.PPPong
	}
	return v1alpha1.PPPing
}

// Services returns the stable and canary Services the router splits
// between; see the package-level Services.
func (e Env) Services(preferPingPong bool) (stable, canary string) {
	return Services(e.Rollout, preferPingPong)
}
