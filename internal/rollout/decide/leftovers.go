package decide

import (
	"fmt"

	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// ReasonRouterCleanedUp is the reason of the decision to remove what a
// router left in an object the Rollout no longer routes through.
const ReasonRouterCleanedUp = "TrafficRoutingCleanedUp"

// CleanUpRouterObject removes what a router put into an object for this
// Rollout, which no longer routes through it: it writes Leftover.After, or
// deletes Leftover.Before when After is nil.
type CleanUpRouterObject struct {
	Leftover trafficrouting.Leftover
}

// Describe implements Action.
func (a CleanUpRouterObject) Describe() string {
	l := a.Leftover
	if l.After == nil {
		return fmt.Sprintf("delete %s %s/%s (%s)", l.Kind, l.Before.GetNamespace(), l.Before.GetName(), l.What)
	}
	return fmt.Sprintf("remove %s from %s %s/%s", l.What, l.Kind, l.Before.GetNamespace(), l.Before.GetName())
}

// cleanUpRouterLeftovers plans the removal of router state the Rollout left
// behind when its trafficRouting changed. It goes last: nothing the
// Rollout routes through now depends on it, and a failure of it must not
// hold back the decision's other writes.
func (d *decider) cleanUpRouterLeftovers() {
	for _, l := range d.s.RouterLeftovers {
		if l.Before == nil {
			continue
		}
		a := CleanUpRouterObject{Leftover: l}
		d.add(a)
		d.note(ReasonRouterCleanedUp, fmt.Sprintf("%s router no longer used: %s", l.Router, a.Describe()))
	}
}

// CleanUpAfterDeletion plans the removal of the router state a deleted
// Rollout left in objects that carry its name; there is no Rollout left to
// decide anything else about.
func CleanUpAfterDeletion(leftovers []trafficrouting.Leftover) []Action {
	var out []Action
	for _, l := range leftovers {
		// An object the Rollout owned goes by garbage collection.
		if l.Before != nil && l.After != nil {
			out = append(out, CleanUpRouterObject{Leftover: l})
		}
	}
	return out
}
