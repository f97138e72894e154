package rollout

import (
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// createdNames holds, per Rollout, the objects its passes created (kind
// and name) that the caches have not shown yet. A pass whose snapshot
// lacks one would create it again and record its Event twice: the status
// it goes on from (its own written copy, or the cache's once that caught
// up) may name it, and each kind has an informer of its own, so a fresh
// Rollout says nothing of its ReplicaSets and runs (under load the
// ReplicaSet informer showed a create over ten seconds after the Rollout
// informer showed the status write that followed it). An AnalysisRun is
// kept as its create returned it, and a pass decides with that copy in
// place of the cached run it lacks: the AnalysisRun informer carries
// every measurement's status write and showed new runs seconds late, which
// the release's next step waited for. For the other kinds the pass waits
// for the cache. An object the caches have not shown for createdWait is
// taken as gone (someone deleted it before the cache saw it), so a pass
// never waits on it for good.
type createdNames struct {
	mu    sync.Mutex
	names map[types.NamespacedName]map[string]createdObject
}

// createdWait is how long a created object the caches do not show is
// waited for.
const createdWait = time.Minute

// createdObject is one create of a pass.
type createdObject struct {
	// run is the AnalysisRun as its create returned it, nil for other
	// kinds or when the create found the run already there.
	run *v1alpha1.AnalysisRun
	// at is when the create was made.
	at time.Time
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

// add records that a pass of owner made create action a at time at; run
// is the AnalysisRun the create returned, nil for other kinds or when the
// create found the run already there. run is kept as it is, so the caller
// must not change it afterwards.
func (c *createdNames) add(owner types.NamespacedName, a decide.Action, run *v1alpha1.AnalysisRun, at time.Time) {
	key := createdKey(a)
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[types.NamespacedName]map[string]createdObject{}
	}
	if c.names[owner] == nil {
		c.names[owner] = map[string]createdObject{}
	}
	c.names[owner][key] = createdObject{run: run, at: at}
}

// deleted forgets the object a delete action of a pass of owner removed:
// the caches will never show it, and a copy of it must not stand in for it.
func (c *createdNames) deleted(owner types.NamespacedName, a decide.Action) {
	var key string
	switch a := a.(type) {
	case decide.DeleteReplicaSet:
		key = "ReplicaSet/" + a.Name
	case decide.DeleteAnalysisRun:
		key = "AnalysisRun/" + a.Name
	case decide.DeleteExperiment:
		key = "Experiment/" + a.Name
	default:
		return
	}
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.names[owner], key)
	if len(c.names[owner]) == 0 {
		delete(c.names, owner)
	}
}

// fill forgets the objects owner's passes created that snap holds, or
// that were created longer than createdWait before snap.Now, puts in snap
// a copy of each created AnalysisRun it lacks, and returns the keys of the
// created objects it still lacks, sorted, and how many runs it put in.
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
	maps.DeleteFunc(names, func(_ string, o createdObject) bool { return snap.Now.Sub(o.at) > createdWait })
	if len(names) == 0 {
		delete(c.names, owner)
		return nil, 0
	}
	for key, o := range names {
		if o.run == nil {
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
		snap.AnalysisRuns = append(snap.AnalysisRuns, names[key].run.DeepCopy())
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
