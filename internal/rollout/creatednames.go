package rollout

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// createdNames holds, per Rollout, the objects its passes created (kind
// and name) that the caches have not shown yet. A pass that goes on from
// its own written Rollout reads a status
// that may name such an object before the cache holds it; deciding without
// it would create it again and record its Event twice, so that pass waits
// for the cache instead. A pass that finds the Rollout's cache fresh
// forgets them: the cache then decides alone, as it did before copies were
// used.
type createdNames struct {
	mu    sync.Mutex
	names map[types.NamespacedName]map[string]bool
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

// add records that a pass of owner made create action a.
func (c *createdNames) add(owner types.NamespacedName, a decide.Action) {
	key := createdKey(a)
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[types.NamespacedName]map[string]bool{}
	}
	if c.names[owner] == nil {
		c.names[owner] = map[string]bool{}
	}
	c.names[owner][key] = true
}

// missing reports whether an object owner's passes created is not in the
// snapshot, and forgets those the snapshot holds.
func (c *createdNames) missing(owner types.NamespacedName, snap *decide.Snapshot) bool {
	if c == nil {
		return false
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
		return false
	}
	return true
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
