package decide

import (
	"fmt"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
)

// ConditionConfigSnapshotMissing is the condition of a Rollout with
// rollouts.kanaria.dev/config-snapshots on whose Pod template requires a
// ConfigMap or Secret that does not exist. The release holds instead of
// creating Pods that could not start.
const ConditionConfigSnapshotMissing v1alpha1.RolloutConditionType = "ConfigSnapshotMissing"

// ReasonConfigSnapshotMissing is that condition's reason and its Event's.
const ReasonConfigSnapshotMissing = "ConfigSnapshotMissing"

// ConfigSnapshots is what observe read of the ConfigMaps and Secrets a
// Rollout's Pod template references, for a Rollout that opted in. Values
// never reach the decision, only content hashes.
type ConfigSnapshots struct {
	// Sources holds every referenced object, by reference.
	Sources map[configsnap.Ref]configsnap.Source
	// CopyOwners holds, for every copy that one of the Rollout's
	// ReplicaSets names in its copies annotation and that exists, the UIDs
	// of its owners.
	CopyOwners map[configsnap.Ref][]types.UID
	// MissingCopies are copies a ReplicaSet names that do not exist
	// (deleted by hand, or collected just as a new revision came to share
	// them).
	MissingCopies map[configsnap.Ref]bool
}

// CreateConfigCopy creates the immutable copy of a ConfigMap or Secret that
// a new ReplicaSet's Pods run, before that ReplicaSet exists. The copy is
// first owned by the Rollout, so it never outlives it; OwnConfigCopy hands
// it to its ReplicaSets once they exist. It carries no content: the
// executor reads the source and refuses to copy it if its content no longer
// has Hash.
type CreateConfigCopy struct {
	Copy configsnap.Copy
}

// OwnConfigCopy makes a ReplicaSet an owner of a copy its Pods run and
// drops the Rollout from the copy's owners, so the copy goes with the last
// ReplicaSet that runs it (revisionHistoryLimit bounds them).
type OwnConfigCopy struct {
	Copy          configsnap.Ref
	ReplicaSet    string
	ReplicaSetUID types.UID
	RolloutUID    types.UID
}

// Describe implements Action.
func (a CreateConfigCopy) Describe() string {
	return fmt.Sprintf("copy %s to %s %s", a.Copy.Source, a.Copy.Source.Kind, a.Copy.Name)
}

// Describe implements Action.
func (a OwnConfigCopy) Describe() string {
	return fmt.Sprintf("make ReplicaSet %s an owner of %s", a.ReplicaSet, a.Copy)
}

// snapshotConfigs points the effective template at the copies of the
// configuration it references when the Rollout opted in, so the pod-template
// hash, and with it the revision, changes with that configuration. Without
// the annotation the template, and every hash, stays as it was. It returns
// false when a required source is missing: the decision then holds.
func (d *decider) snapshotConfigs() bool {
	if d.s.Configs == nil {
		d.clearConfigSnapshotMissing()
		return true
	}
	tmpl, copies, missing := configsnap.Rewrite(&d.templ, d.s.Configs.Sources)
	if len(missing) > 0 {
		msg := configsnap.MissingMessage(missing)
		prev := FindCondition(d.st, ConditionConfigSnapshotMissing)
		d.setCondition(ConditionConfigSnapshotMissing, corev1.ConditionTrue, ReasonConfigSnapshotMissing, msg)
		d.st.Phase = v1alpha1.RolloutPhaseDegraded
		d.st.Message = ReasonConfigSnapshotMissing + ": " + msg
		if prev == nil || prev.Message != msg {
			d.event(corev1.EventTypeWarning, ReasonConfigSnapshotMissing, msg)
		}
		return false
	}
	d.clearConfigSnapshotMissing()
	d.templ = *tmpl
	d.configCopies = copies
	return true
}

func (d *decider) clearConfigSnapshotMissing() {
	if FindCondition(d.st, ConditionConfigSnapshotMissing) != nil {
		removeCondition(d.st, ConditionConfigSnapshotMissing)
		d.event(corev1.EventTypeNormal, "ConfigSnapshotFound", "every ConfigMap and Secret the Pod template requires exists")
	}
}

// configCopyActions are the copies a planned ReplicaSet needs, to create
// before it.
func (d *decider) configCopyActions() []Action {
	out := make([]Action, 0, len(d.configCopies))
	for _, c := range d.configCopies {
		out = append(out, CreateConfigCopy{Copy: c})
	}
	return out
}

// annotateCopies records on a planned ReplicaSet the copies it runs.
func (d *decider) annotateCopies(rs *appsv1.ReplicaSet) {
	if len(d.configCopies) == 0 {
		return
	}
	rs.Annotations[configsnap.CopiesAnnotation] = configsnap.FormatCopies(d.configCopies)
}

// ownConfigCopies hands every copy an existing ReplicaSet runs to that
// ReplicaSet, whichever ReplicaSet created it: a copy shared by two
// revisions (same configuration, different image) stays while either does.
// A copy the current ReplicaSet runs that has gone is made again, from the
// source whose content its name was computed from.
func (d *decider) ownConfigCopies() {
	if d.s.Configs == nil {
		return
	}
	if !d.newRSPlanned {
		for _, c := range d.configCopies {
			if d.s.Configs.MissingCopies[c.Ref()] {
				d.add(CreateConfigCopy{Copy: c})
			}
		}
	}
	rss := make([]*appsv1.ReplicaSet, 0, len(d.rsByHash))
	for _, rs := range d.rsByHash {
		if rs != d.newRS || !d.newRSPlanned {
			rss = append(rss, rs)
		}
	}
	sort.Slice(rss, func(i, j int) bool { return rss[i].Name < rss[j].Name })
	for _, rs := range rss {
		for _, ref := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
			owners, ok := d.s.Configs.CopyOwners[ref]
			if !ok {
				continue
			}
			if slices.Contains(owners, rs.UID) && !slices.Contains(owners, d.ro.UID) {
				continue
			}
			d.add(OwnConfigCopy{Copy: ref, ReplicaSet: rs.Name, ReplicaSetUID: rs.UID, RolloutUID: d.ro.UID})
		}
	}
}
