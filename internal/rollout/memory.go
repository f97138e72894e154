package rollout

import (
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting/routerclient"
)

// rolloutMemory is everything the Rollout reconciler keeps per Rollout
// from one reconcile to the next. It is one struct so that forgetRollout,
// and the test that checks it leaves nothing of a deleted Rollout, cover
// every field: a new per-Rollout memory goes here.
type rolloutMemory struct {
	// fresh tells a cached Rollout that predates our own last status write.
	fresh cachefresh.Tracker
	// ingressCopies are what the NGINX and ALB routers' Ingress writes
	// returned, served while the cache lags them.
	ingressCopies routerclient.Copies
	// writes holds back status writes that only move Pod counts.
	writes writeClock
	// rsWrites tells cached ReplicaSets that predate our own patches.
	rsWrites cachefresh.Owned
	// runWrites tells cached AnalysisRuns that predate our own terminate
	// patches (see unsentTerminates).
	runWrites cachefresh.Owned
	// taken holds ReplicaSets that a create found in the name of a
	// Rollout's next ReplicaSet and that the cache may not show.
	taken takenNames
	// held holds AnalysisRun and Experiment names a create found held by
	// an object that is not the one it meant, which the cache may not show.
	held collision.Held
	// created holds the objects passes created, until a snapshot shows
	// them, a pass deletes them, or createdWait has passed.
	created createdNames
	// searched spares the router leftover search of Rollouts known to
	// have left nothing outside what their routing names.
	searched searchedRecord
}

// forget drops what m holds of the Rollout key.
func (m *rolloutMemory) forget(key types.NamespacedName) {
	m.fresh.Forget(key)
	m.ingressCopies.Forget(key)
	m.writes.forget(key)
	m.rsWrites.Forget(key)
	m.runWrites.Forget(key)
	m.taken.forget(key)
	m.held.Forget(key)
	m.created.forget(key)
	m.searched.forget(key)
}

// forgetRollout drops everything the reconciler keeps about the Rollout
// key, once it is gone: its memory and the work queue's marks of its last
// pass, which would otherwise say how a Rollout of the same name created
// later is queued.
func (r *Reconciler) forgetRollout(key types.NamespacedName) {
	r.rolloutMemory.forget(key)
	req := reconcile.Request{NamespacedName: key}
	r.settled.clear(req)
	r.continued.clear(req)
	r.timed.clear(req)
}
