package rollout

import (
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// unsentTerminates returns actions without the terminate patches already
// sent for runs whose cached copy still predates them (pending, from the
// Reconciler's runWrites). The reconcile after a promotion often runs
// before the AnalysisRun informer has delivered the terminate patch;
// deciding on the older copy plans the same patch again, a write that costs
// the release the time of one API request before it can be marked Healthy.
// A terminate is marked by the generation it produced rather than the
// version it replaced: it is a spec change, which raises the generation,
// while the analysis controller's measurement writes go to the status and
// leave it, so a cached copy below that generation predates the patch
// whatever was measured meanwhile.
func unsentTerminates(actions []decide.Action, pending map[string]bool) []decide.Action {
	if len(pending) == 0 {
		return actions
	}
	out := make([]decide.Action, 0, len(actions))
	for _, a := range actions {
		if t, ok := a.(decide.TerminateAnalysisRun); ok && pending[t.Name] {
			continue
		}
		out = append(out, a)
	}
	return out
}
