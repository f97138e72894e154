// Package collision tells whether an AnalysisRun or Experiment that a
// create found under the name it wanted is the one the controller meant to
// create (its own earlier create, which the cache had not shown yet), and
// remembers the names held by any other, so that the next decision moves on
// to the next name as the reference does (<base>.N for runs, <base>-N for
// Experiments).
package collision

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Kinds of the objects whose names a create may find held (Held records
// the last two; a Rollout keeps the ReplicaSets that hold its next one).
const (
	KindReplicaSet  = "ReplicaSet"
	KindAnalysisRun = "AnalysisRun"
	KindExperiment  = "Experiment"
)

// RunIsOurs reports whether existing, found under want's name, is the run
// want describes: controlled by want's controller, not completed, not
// asked to terminate, and with the same metrics, dry-run and retention
// rules and arguments (the fields the reference compares). Anything else
// holds the name for someone or something else: another owner's run, a
// run left by a deleted owner of the same name, our own run of an earlier
// attempt that has finished, or one built from other templates.
//
// A run asked to terminate is not taken even when the rest matches: it
// ends Successful without measuring, and taking it would let a release
// pass an analysis that never ran.
func RunIsOurs(want, existing *v1alpha1.AnalysisRun) bool {
	if !sameController(want, existing) || existing.Status.Phase.Completed() || existing.Spec.Terminate {
		return false
	}
	return covers(runCompared(&want.Spec), runCompared(&existing.Spec))
}

// ExperimentIsOurs is RunIsOurs for an Experiment: its whole spec is
// compared but for terminate, as the reference compares it.
func ExperimentIsOurs(want, existing *v1alpha1.Experiment) bool {
	if !sameController(want, existing) || existing.Status.Phase.Completed() || existing.Spec.Terminate {
		return false
	}
	w, e := want.Spec.DeepCopy(), existing.Spec.DeepCopy()
	w.Terminate, e.Terminate = false, false
	return covers(w, e)
}

// HolderOf says who holds a name, for the log line and error that name it.
func HolderOf(o metav1.Object) string {
	if ref := metav1.GetControllerOf(o); ref != nil {
		return fmt.Sprintf("controlled by %s %s", ref.Kind, ref.Name)
	}
	return "without a controller"
}

func sameController(want, existing metav1.Object) bool {
	w, e := metav1.GetControllerOf(want), metav1.GetControllerOf(existing)
	return w != nil && e != nil && w.UID == e.UID
}

func runCompared(s *v1alpha1.AnalysisRunSpec) *v1alpha1.AnalysisRunSpec {
	return &v1alpha1.AnalysisRunSpec{Metrics: s.Metrics, DryRun: s.DryRun, MeasurementRetention: s.MeasurementRetention, Args: s.Args}
}

// covers reports whether every value set in want is set to the same in
// existing, compared as JSON. existing may set more: the API server fills
// in the defaults of the CRD's schema (a Datadog metric's interval and API
// version), which the built object leaves out, and a run of ours must not
// be refused for them.
func covers(want, existing any) bool {
	w, err1 := generic(want)
	e, err2 := generic(existing)
	if err1 != nil || err2 != nil {
		return false
	}
	return subset(w, e)
}

func generic(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return out, nil
}

func subset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if wv == nil {
				// The API server drops a null of a field the schema
				// does not mark nullable.
				continue
			}
			hv, ok := h[k]
			if !ok || !subset(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return want == have
	}
}

// Held remembers, per owner (a Rollout or an Experiment), the names a
// create found held by an object that is not the one it meant to create.
// The cache cannot always show such an object (it lists only the owner's
// own objects by controller UID; a sharded replica or an instance ID caches
// only its own), and a create into the name at every pass would never
// succeed. Handing the names to the next decision lets that one pure
// decision pick the next free name.
type Held struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*held
}

// held are one owner's records, all made for one version (tag).
type held struct {
	tag   string
	names map[string]bool
}

// key is how a kind and a name are stored together: a run and an
// Experiment may have the same name.
func key(kind, name string) string { return kind + "/" + name }

// Record notes that name, of kind, is held for owner. tag names the version
// the create was for (a Rollout's pod-template hash): records of another
// version are dropped, since names carry the version and are not asked for
// again once the owner has moved on, so an owner keeps the records of one
// release at most.
func (h *Held) Record(owner types.NamespacedName, tag, kind, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[types.NamespacedName]*held{}
	}
	r := h.m[owner]
	if r == nil || r.tag != tag {
		r = &held{tag: tag, names: map[string]bool{}}
		h.m[owner] = r
	}
	r.names[key(kind, name)] = true
}

// Names returns the names of kind recorded for owner, nil when there are
// none.
func (h *Held) Names(owner types.NamespacedName, kind string) map[string]bool {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.m[owner]
	if r == nil {
		return nil
	}
	var out map[string]bool
	prefix := key(kind, "")
	for k := range r.names {
		if strings.HasPrefix(k, prefix) {
			if out == nil {
				out = map[string]bool{}
			}
			out[k[len(prefix):]] = true
		}
	}
	return out
}

// Forget drops owner's records, for an owner that is gone.
func (h *Held) Forget(owner types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, owner)
}

// Error is a create refused because the name is held by an object that is
// not the one meant. The holder is recorded, so the caller decides again at
// once rather than report a failure.
type Error struct {
	// Kind and Name are what the create wanted.
	Kind, Name string
	// By says who holds the name.
	By string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s exists and is not the one to create (%s)", e.Kind, e.Name, e.By)
}
