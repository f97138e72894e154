package bench

import (
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
