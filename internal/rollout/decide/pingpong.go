package decide

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Ping-pong (spec.strategy.canary.pingPong) gives the canary and the stable
// a Service each that swap roles at every promotion, instead of moving the
// stable Service's selector: the Service that carried the canary carries
// the stable version once it is promoted, and the other one becomes the
// next update's canary. status.canary.stablePingPong says which is stable.
// The routers read the same status (trafficrouting.Services), so a plan's
// selectors and weights always agree on the roles.

// pingPongServices returns the stable and canary ping-pong Services, or
// empty names without ping-pong.
func (d *decider) pingPongServices() (stable, canary string) {
	if !trafficrouting.PingPong(d.ro) {
		return "", ""
	}
	return trafficrouting.Services(d.ro, true)
}

// pointPingPong points the ping-pong Services while an update runs or is
// aborted. With a router the canary Service selects the canary ReplicaSet
// as soon as it exists, before its Pods are available, as Argo Rollouts
// does: the AWS load balancer controller registers a Pod (and gates its
// readiness) by the Services that select it when it starts, and the router
// sends that Service nothing until the canary's Pods are available.
// Without a router the Service itself carries traffic, so it waits for an
// available canary Pod like any other. The stable Service keeps the stable
// version.
func (d *decider) pointPingPong(stable *appsv1.ReplicaSet) {
	stableSvc, canarySvc := d.pingPongServices()
	if stableSvc == "" {
		return
	}
	d.pointService(stableSvc, stable, nil)
	if d.routed() {
		d.pointServiceAt(canarySvc, d.newRS)
	} else {
		d.pointService(canarySvc, d.newRS, stable)
	}
}

// pointPingPongAtStable points the stable ping-pong Service at the stable
// version once no update runs. The canary one keeps selecting the previous
// version, which gets no traffic, until the next update takes it over.
func (d *decider) pointPingPongAtStable() {
	if stableSvc, _ := d.pingPongServices(); stableSvc != "" {
		d.pointService(stableSvc, d.newRS, nil)
	}
}

// followPingPong swaps the ping-pong roles in the status when this plan
// makes the current version stable: the first version, or a promotion.
func (d *decider) followPingPong() {
	if !trafficrouting.PingPong(d.ro) {
		return
	}
	if d.st.StableRS != d.ro.Status.StableRS && d.st.StableRS != "" && d.st.StableRS == d.newHash {
		d.st.Canary.StablePingPong = trafficrouting.NextStablePingPong(d.ro.Status.Canary.StablePingPong)
	}
}

// pointServiceAt makes Service name select rs's Pods whether or not any is
// available; rs must exist (not be planned by this decision).
func (d *decider) pointServiceAt(name string, rs *appsv1.ReplicaSet) {
	svc := d.s.Services[name]
	if name == "" || svc == nil || rs == nil || (rs == d.newRS && d.newRSPlanned) {
		return
	}
	h := hashOf(rs)
	if svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] == h && svc.Annotations[v1alpha1.ManagedByRolloutsKey] == d.ro.Name {
		return
	}
	d.add(SetServiceSelector{Service: name, Hash: h})
	d.note("SwitchService", fmt.Sprintf("Service %s now selects %s=%s", name, v1alpha1.DefaultRolloutUniqueLabelKey, h))
}
