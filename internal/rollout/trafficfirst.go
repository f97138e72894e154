package rollout

import "github.com/kanaria-rollouts/kanaria/api/v1alpha1"

// abortActedOn reports whether the Rollout's status, as read, already
// records a decision that acted on its abort (status.abortedAt, written with
// the abort's first traffic move or, for a canary with dynamicStableScale
// whose stable was short of Pods, with the stable's scale-up). A router write
// after that is a later step of the same abort: with dynamicStableScale the
// canary's weight falls as stable Pods become available, one write per Pod.
// Such a pass is started by a ReplicaSet's routine event and has nothing
// urgent left after its router write, which goes first in it all the same;
// ending it there (traffic_first) only put a status write in the urgent lane
// and cost every weight step a second reconcile.
func abortActedOn(ro *v1alpha1.Rollout) bool {
	return ro.Status.AbortedAt != nil
}
