package rollout

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// runWrites remembers, per Rollout, the AnalysisRuns whose termination the
// controller requested and the resourceVersion each request replaced. The
// reconcile after a promotion often runs before the AnalysisRun informer
// has delivered the terminate patch; deciding on the older copy plans the
// same patch again, a write that costs the release the time of one API
// request before it can be marked Healthy. Entries live only until the
// cache has caught up.
type runWrites struct {
	mu sync.Mutex
	// sent maps a Rollout to its runs' names and the version each
	// terminate patch replaced.
	sent map[types.NamespacedName]map[string]string
}

// terminated records that the terminate patch of run name of Rollout key
// replaced resourceVersion from.
func (w *runWrites) terminated(key types.NamespacedName, name, from string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent == nil {
		w.sent = map[types.NamespacedName]map[string]string{}
	}
	m := w.sent[key]
	if m == nil {
		m = map[string]string{}
		w.sent[key] = m
	}
	m[name] = from
}

// unsent returns actions without the terminate patches already sent for
// runs whose cached copy still predates them, and forgets the runs the
// cache has caught up on or no longer holds.
func (w *runWrites) unsent(key types.NamespacedName, cached []*v1alpha1.AnalysisRun, actions []decide.Action) []decide.Action {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.sent[key]
	if m == nil {
		return actions
	}
	pending := map[string]bool{}
	for _, r := range cached {
		if from, ok := m[r.Name]; ok && from == r.ResourceVersion {
			pending[r.Name] = true
		}
	}
	for name := range m {
		if !pending[name] {
			delete(m, name)
		}
	}
	if len(m) == 0 {
		delete(w.sent, key)
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

// forget drops the entry of a Rollout that is gone.
func (w *runWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.sent, key)
}
