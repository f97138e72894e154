package simulate

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	exdecide "github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// reconcileExperiments runs the Experiment controller's decision for every
// Experiment the Rollout's experiment steps created and applies the plans
// as its executor would.
func (ru *runner) reconcileExperiments(ctx context.Context) (bool, error) {
	w := ru.w
	busy := false
	for _, name := range sortedKeys(w.exps) {
		ex := w.exps[name]
		snap := exdecide.Snapshot{Now: w.now, Experiment: ex.DeepCopy(), ReplicaSets: map[string]*appsv1.ReplicaSet{},
			Services: map[string]*corev1.Service{}, TakenNames: map[string]bool{}, AnalysisRuns: map[string]*v1alpha1.AnalysisRun{},
			Templates: templateLookup(exdecide.TemplateRefs(ex), w.manifests)}
		for _, rs := range w.sortedRS() {
			if t, ok := ownedByExperiment(rs, ex); ok {
				snap.ReplicaSets[t] = rs.DeepCopy()
			}
		}
		for _, svcName := range sortedKeys(w.services) {
			if t, ok := ownedByExperiment(w.services[svcName], ex); ok {
				snap.Services[t] = w.services[svcName].DeepCopy()
			}
		}
		runs, err := w.runsOf(ctx, ex.UID)
		if err != nil {
			return false, err
		}
		for i := range runs {
			snap.AnalysisRuns[runs[i].Name] = &runs[i]
		}
		plan := exdecide.Decide(snap)
		for _, a := range plan.Actions {
			busy = true
			if err := w.applyExperiment(ctx, ex, a); err != nil {
				return false, err
			}
		}
		for _, e := range plan.Events {
			w.events = append(w.events, recordedEvent{at: w.now, object: "Experiment/" + ex.Name, typ: e.Type, reason: e.Reason, message: e.Message})
		}
		if !equality.Semantic.DeepEqual(ex.Status, plan.Status) {
			busy = true
			ex.Status = plan.Status
		}
		w.expWake[name] = time.Time{}
		if plan.RequeueAfter > 0 {
			w.expWake[name] = w.now.Add(plan.RequeueAfter)
		}
	}
	return busy, nil
}

// ownedByExperiment reports the template an object of the Experiment runs.
func ownedByExperiment(o metav1.Object, ex *v1alpha1.Experiment) (string, bool) {
	ref := metav1.GetControllerOf(o)
	a := o.GetAnnotations()
	if ref == nil || ref.UID != ex.UID || a[v1alpha1.ExperimentNameAnnotationKey] != ex.Name {
		return "", false
	}
	t := a[v1alpha1.ExperimentTemplateNameAnnotationKey]
	return t, t != ""
}

// applyExperiment makes one write of an Experiment's plan.
func (w *world) applyExperiment(ctx context.Context, ex *v1alpha1.Experiment, a exdecide.Action) error {
	switch a := a.(type) {
	case exdecide.CreateReplicaSet:
		rs := a.ReplicaSet.DeepCopy()
		if _, exists := w.rs[rs.Name]; exists {
			return fmt.Errorf("Experiment %s created ReplicaSet %s, which exists", ex.Name, rs.Name)
		}
		rs.Namespace = namespace
		rs.UID = w.nextUID("rs")
		rs.Generation = 1
		rs.CreationTimestamp = metav1.NewTime(w.now)
		w.rs[rs.Name] = rs
	case exdecide.ScaleReplicaSet:
		rs := w.rs[a.Name]
		if rs == nil {
			return fmt.Errorf("Experiment %s scaled ReplicaSet %s, which does not exist", ex.Name, a.Name)
		}
		rs.Spec.Replicas = ptr(a.To)
		rs.Generation++
	case exdecide.SetScaleDownDeadline:
		if rs := w.rs[a.Name]; rs != nil {
			v := a.Deadline
			rs.Annotations = decide.ApplyOps(rs.Annotations, map[string]*string{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: &v})
			if a.Deadline == "" {
				rs.Annotations = decide.ApplyOps(rs.Annotations, map[string]*string{v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey: nil})
			}
		}
	case exdecide.CreateService:
		svc := a.Service.DeepCopy()
		svc.Namespace = namespace
		svc.UID = w.nextUID("svc")
		w.services[svc.Name] = svc
	case exdecide.DeleteService:
		delete(w.services, a.Name)
	case exdecide.CreateAnalysisRun:
		run := a.Run.DeepCopy()
		run.Namespace = namespace
		run.UID = w.nextUID("run")
		run.CreationTimestamp = metav1.NewTime(w.now)
		run.ResourceVersion = ""
		if err := w.c.Create(ctx, run); err != nil {
			return fmt.Errorf("creating AnalysisRun %s: %w", run.Name, err)
		}
		w.runWake[run.Name] = w.now
	case exdecide.TerminateAnalysisRun:
		return w.terminateRun(ctx, a.Name)
	default:
		return fmt.Errorf("the simulation cannot apply %T", a)
	}
	return nil
}

// terminateRun sets an AnalysisRun's spec.terminate.
func (w *world) terminateRun(ctx context.Context, name string) error {
	var run v1alpha1.AnalysisRun
	if err := w.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &run); err != nil {
		return fmt.Errorf("reading AnalysisRun %s: %w", name, err)
	}
	run.Spec.Terminate = true
	if err := w.c.Update(ctx, &run); err != nil {
		return fmt.Errorf("terminating AnalysisRun %s: %w", name, err)
	}
	w.runWake[name] = w.now
	return nil
}

// deleteExperiment removes an Experiment and, as the garbage collector
// would, what it controls.
func (w *world) deleteExperiment(ctx context.Context, name string) error {
	ex := w.exps[name]
	if ex == nil {
		return nil
	}
	delete(w.exps, name)
	delete(w.expWake, name)
	for _, rsName := range sortedKeys(w.rs) {
		if metav1.IsControlledBy(w.rs[rsName], ex) {
			delete(w.rs, rsName)
		}
	}
	for _, svcName := range sortedKeys(w.services) {
		if metav1.IsControlledBy(w.services[svcName], ex) {
			delete(w.services, svcName)
		}
	}
	runs, err := w.runsOf(ctx, ex.UID)
	if err != nil {
		return err
	}
	for i := range runs {
		if err := client.IgnoreNotFound(w.c.Delete(ctx, &runs[i])); err != nil {
			return fmt.Errorf("deleting AnalysisRun %s: %w", runs[i].Name, err)
		}
		delete(w.runWake, runs[i].Name)
	}
	return nil
}
