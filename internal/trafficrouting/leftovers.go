package trafficrouting

import "sigs.k8s.io/controller-runtime/pkg/client"

// Leftover is state a router put into an object for a Rollout that no
// longer routes through that object (its trafficRouting was removed or
// names other objects), with the object as it must become. Observe finds
// leftovers (package routers), decide plans their clean-up, act writes it.
type Leftover struct {
	// Router is the router that left the state, e.g. "istio".
	Router string
	// Kind is the object's kind, for messages.
	Kind string
	// Before is the object as read.
	Before client.Object
	// After is the object without what the router put there; nil means
	// Before is the router's own object and is deleted.
	After client.Object
	// What says what the clean-up removes, for the decision's log.
	What string
}
