package decide

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// pointService makes Service name select preferred's Pods, or fallback's
// while preferred has no available Pods. When neither has any, the selector
// stays as it is: a Service is never pointed at a version with no available
// Pods, so traffic keeps flowing to whatever serves it now.
func (d *decider) pointService(name string, preferred, fallback *appsv1.ReplicaSet) {
	if name == "" {
		return
	}
	svc := d.s.Services[name]
	if svc == nil {
		return
	}
	target := preferred
	if available(target) == 0 || (target == d.newRS && d.newRSPlanned) {
		target = fallback
		if target == nil || available(target) == 0 || (target == d.newRS && d.newRSPlanned) {
			return
		}
	}
	h := hashOf(target)
	if svc.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey] == h && svc.Annotations[v1alpha1.ManagedByRolloutsKey] == d.ro.Name {
		return
	}
	d.add(SetServiceSelector{Service: name, Hash: h})
	d.note("SwitchService", fmt.Sprintf("Service %s now selects %s=%s", name, v1alpha1.DefaultRolloutUniqueLabelKey, h))
}

// scaleEvents records one event per ReplicaSet scaled by this plan.
func (d *decider) scaleEvents() {
	for _, a := range d.plan.Actions {
		if s, ok := a.(ScaleReplicaSet); ok {
			verb := "up"
			if s.To < s.From {
				verb = "down"
			}
			msg := fmt.Sprintf("Scaled %s ReplicaSet %s from %d to %d", verb, s.Name, s.From, s.To)
			if !d.hasEvent("ScalingReplicaSet", msg) {
				d.note("ScalingReplicaSet", msg)
			}
		}
	}
}

func (d *decider) hasEvent(reason, msg string) bool {
	for _, e := range d.plan.Events {
		if e.Reason == reason && e.Message == msg {
			return true
		}
	}
	return false
}
