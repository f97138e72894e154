package rollout

import (
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// createdNames holds, per Rollout, the objects its passes created (kind
// and name) that the caches have not shown yet. A pass that goes on from
// its own written Rollout reads a status that may name such an object
// before the cache holds it; deciding without it would create it again and
// record its Event twice. An AnalysisRun is kept as its create returned
// it, and such a pass decides with that copy in place of the cached run
// it lacks: the AnalysisRun informer carries every measurement's status
// write, and under load it showed a new run seconds after its create,
// which the release's next step waited for. For the other kinds the pass
// waits for the cache instead. A pass that finds the Rollout's cache fresh
// forgets them: the cache then decides alone, as it did before copies
// were used.
type createdNames struct {
	mu    sync.Mutex
	names map[types.NamespacedName]map[string]*v1alpha1.AnalysisRun
}

// createdKey names a create action's object, or "" for other actions.
func createdKey(a decide.Action) string {
	switch a := a.(type) {
	case decide.CreateReplicaSet:
		return "ReplicaSet/" + a.ReplicaSet.Name
	case decide.CreateAnalysisRun:
		return "AnalysisRun/" + a.Run.Name
	case decide.CreateExperiment:
		return "Experiment/" + a.Experiment.Name
	}
	return ""
}

// add records that a pass of owner made create action a; run is the
// AnalysisRun the create returned, nil for other kinds or when the create
// found the run already there. run is kept as it is, so the caller must
// not change it afterwards.
func (c *createdNames) add(owner types.NamespacedName, a decide.Action, run *v1alpha1.AnalysisRun) {
	key := createdKey(a)
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[types.NamespacedName]map[string]*v1alpha1.AnalysisRun{}
	}
	if c.names[owner] == nil {
		c.names[owner] = map[string]*v1alpha1.AnalysisRun{}
	}
	c.names[owner][key] = run
}

// fill forgets the objects owner's passes created that snap holds, puts
// in snap a copy of each created AnalysisRun it lacks, and returns the
// keys of the created objects it still lacks, sorted, and how many runs it
// put in.
func (c *createdNames) fill(owner types.NamespacedName, snap *decide.Snapshot) (missing []string, filled int) {
	if c == nil {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.names[owner]
	for _, rs := range snap.ReplicaSets {
		delete(names, "ReplicaSet/"+rs.Name)
	}
	for _, run := range snap.AnalysisRuns {
		delete(names, "AnalysisRun/"+run.Name)
	}
	for _, ex := range snap.Experiments {
		delete(names, "Experiment/"+ex.Name)
	}
	if len(names) == 0 {
		delete(c.names, owner)
		return nil, 0
	}
	for key, run := range names {
		if run == nil {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		// The pass waits for the cache: adding the runs would change
		// nothing it decides.
		slices.Sort(missing)
		return missing, 0
	}
	for _, key := range slices.Sorted(maps.Keys(names)) {
		snap.AnalysisRuns = append(snap.AnalysisRuns, names[key].DeepCopy())
		filled++
	}
	return nil, filled
}

// forget drops what is known of owner's creates.
func (c *createdNames) forget(owner types.NamespacedName) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.names, owner)
}
