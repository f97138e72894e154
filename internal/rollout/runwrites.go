package rollout

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// runWrites remembers, per Rollout, the AnalysisRuns whose termination the
// controller requested and the generation each request produced. The
// reconcile after a promotion often runs before the AnalysisRun informer
// has delivered the terminate patch; deciding on the older copy plans the
// same patch again, a write that costs the release the time of one API
// request before it can be marked Healthy. The generation, unlike the
// resourceVersion, can be compared: a terminate is a spec change, which
// raises it, while the analysis controller's measurement writes go to the
// status and leave it, so a cached copy below the recorded generation
// predates the patch whatever was measured meanwhile. Entries live only
// until the cache has caught up.
type runWrites struct {
	mu sync.Mutex
	// sent maps a Rollout to its runs' names and the generation each
	// terminate patch produced.
	sent map[types.NamespacedName]map[string]int64
}

// terminated records that the terminate patch of run name of Rollout key
// produced generation gen.
func (w *runWrites) terminated(key types.NamespacedName, name string, gen int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent == nil {
		w.sent = map[types.NamespacedName]map[string]int64{}
	}
	m := w.sent[key]
	if m == nil {
		m = map[string]int64{}
		w.sent[key] = m
	}
	m[name] = gen
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
		if gen, ok := m[r.Name]; ok && r.Generation < gen {
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
