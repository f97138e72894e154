package bench

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// FirstWrites times, per Rollout, how long the controller takes to act on a
// change: from the watch event that shows the Rollout at a new
// metadata.generation to the first watch event that shows a write of the
// controller for it, which is either another version of the Rollout at the
// same generation (its status write) or a ReplicaSet it controls created or
// changed in spec or metadata. ReplicaSet status writes are left out: the
// ReplicaSet controller (or --fake-replicasets) makes those, not the
// Rollout's controller. Both ends are watch events arriving at the
// benchmark, so the figure includes no polling interval.
type FirstWrites struct {
	mu sync.Mutex
	// now is the clock; time.Now when nil.
	now func() time.Time
	// by holds each Rollout's last change and what followed it.
	by map[string]*firstWrite
}

type firstWrite struct {
	uid        string
	generation int64
	version    string
	changed    time.Time
	wrote      time.Time
	// steps is when the status first showed each step index for this
	// generation, and healthy when it first showed the generation Healthy.
	steps   map[int32]time.Time
	healthy time.Time
}

func (f *FirstWrites) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// Rollout takes a watch event of ro.
func (f *FirstWrites) Rollout(ro *v1alpha1.Rollout) {
	at := f.clock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil {
		f.by = map[string]*firstWrite{}
	}
	w := f.by[ro.Name]
	switch {
	case w == nil || w.uid != string(ro.UID) || w.generation != ro.Generation:
		// A new generation, or a Rollout re-created under the name (a
		// --repeat run), starts a new wait.
		f.by[ro.Name] = &firstWrite{uid: string(ro.UID), generation: ro.Generation, version: ro.ResourceVersion, changed: at}
	case w.wrote.IsZero() && ro.ResourceVersion != w.version:
		w.wrote = at
	}
	w = f.by[ro.Name]
	if ro.Status.ObservedGeneration != strconv.FormatInt(ro.Generation, 10) {
		return
	}
	if i := ro.Status.CurrentStepIndex; i != nil {
		if _, seen := w.steps[*i]; !seen {
			if w.steps == nil {
				w.steps = map[int32]time.Time{}
			}
			w.steps[*i] = at
		}
	}
	if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && w.healthy.IsZero() {
		w.healthy = at
	}
}

// ReplicaSet takes a watch event of rs; old is the version before, nil when
// rs was created.
func (f *FirstWrites) ReplicaSet(old, rs *appsv1.ReplicaSet) {
	owner := metav1.GetControllerOf(rs)
	if owner == nil || owner.Kind != "Rollout" {
		return
	}
	if old != nil && old.Generation == rs.Generation && equalStrings(old.Labels, rs.Labels) && equalStrings(old.Annotations, rs.Annotations) {
		return
	}
	at := f.clock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.by[owner.Name]; w != nil && w.wrote.IsZero() {
		w.wrote = at
	}
}

// Latencies returns, for the Rollouts of names whose last change was seen
// at or after since and was followed by a write, the time from the change
// to the write, and how many of names had no such pair.
func (f *FirstWrites) Latencies(names []string, since time.Time) ([]time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Duration, 0, len(names))
	missing := 0
	for _, n := range names {
		w := f.by[n]
		if w == nil || w.changed.Before(since) || w.wrote.IsZero() {
			missing++
			continue
		}
		out = append(out, w.wrote.Sub(w.changed))
	}
	return out, missing
}

// Milestones returns, for the Rollouts named, how long after each one's
// change its status first showed each step index, and then Healthy, for
// the changes seen since since. It tells where a release's time goes: a
// pause step's share should be its duration, a setWeight step's the time
// its Pods take to become available, and anything beyond is the
// controller's or the API server's. A Rollout that reached no milestone
// counts in none.
func (f *FirstWrites) Milestones(names []string, since time.Time) []Milestone {
	f.mu.Lock()
	defer f.mu.Unlock()
	steps := map[int32][]time.Duration{}
	var healthy []time.Duration
	for _, n := range names {
		w := f.by[n]
		if w == nil || w.changed.Before(since) {
			continue
		}
		for i, at := range w.steps {
			steps[i] = append(steps[i], at.Sub(w.changed))
		}
		if !w.healthy.IsZero() {
			healthy = append(healthy, w.healthy.Sub(w.changed))
		}
	}
	out := make([]Milestone, 0, len(steps)+1)
	for _, i := range slices.Sorted(maps.Keys(steps)) {
		out = append(out, Milestone{Name: fmt.Sprintf("step %d", i), Latency: Summarize(steps[i])})
	}
	if len(healthy) > 0 {
		out = append(out, Milestone{Name: string(v1alpha1.RolloutPhaseHealthy), Latency: Summarize(healthy)})
	}
	return out
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
