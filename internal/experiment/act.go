package experiment

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/cachefresh"
	"github.com/kanaria-rollouts/kanaria/internal/collision"
	"github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
)

// executor applies a plan's writes, each as one create, patch or delete.
type executor struct {
	c client.Client
	// api reads straight from the API server, to tell whose an object is
	// when a create finds one.
	api client.Reader
	ex  *v1alpha1.Experiment
	log logr.Logger
	// held learns of AnalysisRun names held by a run that is not the one a
	// create meant; nil records nothing.
	held *collision.Held
	// rsVersions are the cached resourceVersions of the Experiment's
	// ReplicaSets by name; rsWrites learns of each patch that replaced one.
	rsVersions map[string]string
	rsWrites   *cachefresh.Owned
}

// apply makes the writes in order and stops at the first failure: the next
// reconcile observes what did happen and decides again.
func (e *executor) apply(ctx context.Context, actions []decide.Action) error {
	for _, a := range actions {
		if err := e.one(ctx, a); err != nil {
			return fmt.Errorf("%s: %w", a.Describe(), err)
		}
		e.log.Info("applied", "action", a.Describe())
	}
	return nil
}

func (e *executor) one(ctx context.Context, a decide.Action) error {
	ns := e.ex.Namespace
	switch a := a.(type) {
	case decide.CreateReplicaSet:
		return e.create(ctx, a.ReplicaSet.DeepCopy(), &appsv1.ReplicaSet{})
	case decide.ScaleReplicaSet:
		return e.patchReplicaSet(ctx, a.Name, map[string]any{"spec": map[string]any{"replicas": a.To}})
	case decide.SetScaleDownDeadline:
		var v any
		if a.Deadline != "" {
			v = a.Deadline
		}
		return e.patchReplicaSet(ctx, a.Name, map[string]any{"metadata": map[string]any{
			"annotations": map[string]any{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: v},
		}})
	case decide.CreateService:
		return e.create(ctx, a.Service.DeepCopy(), &corev1.Service{})
	case decide.DeleteService:
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: a.Name}}
		return client.IgnoreNotFound(e.c.Delete(ctx, svc, client.Preconditions{UID: &a.UID}))
	case decide.CreateAnalysisRun:
		return e.createRun(ctx, a.Run)
	case decide.TerminateAnalysisRun:
		return client.IgnoreNotFound(e.patch(ctx, &v1alpha1.AnalysisRun{}, a.Name, map[string]any{"spec": map[string]any{"terminate": true}}))
	default:
		return fmt.Errorf("unknown action %T", a)
	}
}

// create creates obj. One that already exists is fine when the Experiment
// controls it (the cache had not shown our own earlier create); anyone
// else's is an error that names it.
func (e *executor) create(ctx context.Context, obj, existing client.Object) error {
	err := e.c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := e.api.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return fmt.Errorf("reading the existing %s: %w", obj.GetName(), err)
	}
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == e.ex.UID {
		return nil
	}
	return fmt.Errorf("%s already exists and does not belong to Experiment %s", obj.GetName(), e.ex.Name)
}

// createRun creates an analysis's run. A run found under its name is taken
// as created only when it is our own earlier create that the cache has not
// shown yet (controlled by the Experiment, still running, the same metrics
// and arguments), as the reference takes it; any other holder is recorded
// for the next decision, which names the run base.1, base.2, ... past it.
func (e *executor) createRun(ctx context.Context, want *v1alpha1.AnalysisRun) error {
	err := e.c.Create(ctx, want.DeepCopy())
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	var existing v1alpha1.AnalysisRun
	if err := e.api.Get(ctx, client.ObjectKeyFromObject(want), &existing); err != nil {
		return fmt.Errorf("reading the existing AnalysisRun %s: %w", want.Name, err)
	}
	if collision.RunIsOurs(want, &existing) {
		return nil
	}
	if e.held != nil {
		e.held.Record(client.ObjectKeyFromObject(e.ex), "", collision.KindAnalysisRun, want.Name)
	}
	return &collision.Error{Kind: collision.KindAnalysisRun, Name: want.Name, By: collision.HolderOf(&existing)}
}

// patchReplicaSet patches one of the Experiment's ReplicaSets and records
// the version the patch replaced.
func (e *executor) patchReplicaSet(ctx context.Context, name string, body map[string]any) error {
	patched := &appsv1.ReplicaSet{}
	if err := e.patch(ctx, patched, name, body); err != nil {
		return err
	}
	// A patch that changed nothing keeps the version; recording it would
	// make the cached copy look stale for ever.
	if from, ok := e.rsVersions[name]; ok && e.rsWrites != nil && patched.ResourceVersion != from {
		e.rsWrites.Wrote(client.ObjectKeyFromObject(e.ex), name, cachefresh.Replaced(from))
	}
	return nil
}

// patch sends a JSON merge patch; nil map values in body remove keys.
func (e *executor) patch(ctx context.Context, obj client.Object, name string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding patch: %w", err)
	}
	obj.SetNamespace(e.ex.Namespace)
	obj.SetName(name)
	return e.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, b))
}
