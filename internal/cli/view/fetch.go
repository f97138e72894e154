package view

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// NotFoundError says that the named object does not exist and how to look
// elsewhere; it wraps the API server's error.
type NotFoundError struct {
	// Kind is "rollout" or "experiment".
	Kind string
	// Name that was looked up.
	Name string
	// Namespace that was searched.
	Namespace string
	// Err is the API server's error.
	Err error
}

// Error tells the user what to do, since a wrong namespace is the usual cause.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found in namespace %q (use -n to pick the namespace)", e.Kind, e.Name, e.Namespace)
}

// Unwrap returns the API server's error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// Objects are the namespace's objects a tree is built from. Fetch functions
// list them; tests may fill them directly.
type Objects struct {
	// ReplicaSets of the namespace.
	ReplicaSets []appsv1.ReplicaSet
	// Pods of the namespace.
	Pods []corev1.Pod
	// AnalysisRuns of the namespace.
	AnalysisRuns []v1alpha1.AnalysisRun
	// Experiments of the namespace.
	Experiments []v1alpha1.Experiment
	// Jobs of the namespace.
	Jobs []batchv1.Job
}

// FetchRollout reads the Rollout and the objects of its namespace and
// returns the tree `get rollout` shows.
func FetchRollout(ctx context.Context, c client.Reader, namespace, name string, now time.Time) (Tree, error) {
	var ro v1alpha1.Rollout
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &ro); err != nil {
		return Tree{}, getError("rollout", namespace, name, err)
	}
	objs, err := listObjects(ctx, c, namespace)
	if err != nil {
		return Tree{}, err
	}
	return BuildRolloutTree(&ro, objs, now), nil
}

// FetchExperiment reads the Experiment and the objects of its namespace and
// returns what `get experiment` shows.
func FetchExperiment(ctx context.Context, c client.Reader, namespace, name string, now time.Time) (Experiment, error) {
	var ex v1alpha1.Experiment
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &ex); err != nil {
		return Experiment{}, getError("experiment", namespace, name, err)
	}
	objs, err := listObjects(ctx, c, namespace)
	if err != nil {
		return Experiment{}, err
	}
	return fromExperiment(rolloutview.BuildExperiment(&ex, objs.owned(), now)), nil
}

// FetchRolloutList lists the Rollouts of a namespace ("" for all) as the rows
// of `list rollouts`, sorted by namespace and name.
func FetchRolloutList(ctx context.Context, c client.Reader, namespace string) ([]RolloutSummary, error) {
	var list v1alpha1.RolloutList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, listError("rollouts", namespace, err)
	}
	rows := make([]RolloutSummary, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, SummarizeRollout(&list.Items[i]))
	}
	slices.SortFunc(rows, func(a, b RolloutSummary) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return rows, nil
}

// FetchExperimentList lists the Experiments of a namespace ("" for all) as
// the rows of `list experiments`, sorted by namespace and name.
func FetchExperimentList(ctx context.Context, c client.Reader, namespace string, now time.Time) ([]Experiment, error) {
	var list v1alpha1.ExperimentList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, listError("experiments", namespace, err)
	}
	rows := make([]Experiment, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, fromExperiment(rolloutview.BuildExperiment(&list.Items[i], rolloutview.Owned{}, now)))
	}
	slices.SortFunc(rows, func(a, b Experiment) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return rows, nil
}

// getError turns the usual failures of a Get into advice.
func getError(kind, namespace, name string, err error) error {
	switch {
	case apierrors.IsNotFound(err) && !meta.IsNoMatchError(err):
		return &NotFoundError{Kind: kind, Name: name, Namespace: namespace, Err: err}
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the cluster does not serve argoproj.io/v1alpha1 (install Kanaria's CRDs, or check --context): %w", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed to read %s %q in namespace %q (check your RBAC or --context): %w", kind, name, namespace, err)
	}
	return fmt.Errorf("reading %s %s/%s: %w", kind, namespace, name, err)
}

// listError words a List failure the same way getError does.
func listError(what, namespace string, err error) error {
	where := fmt.Sprintf("namespace %q", namespace)
	if namespace == "" {
		where = "all namespaces"
	}
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the cluster does not serve %s (install Kanaria's CRDs, or check --context): %w", what, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed to list %s in %s (check your RBAC, or use -n): %w", what, where, err)
	}
	return fmt.Errorf("listing %s in %s: %w", what, where, err)
}

// listObjects lists everything a tree may contain. It lists whole kinds of
// the namespace rather than following selectors: ownership is what ties the
// objects together, and experiments' Pods need not match the Rollout's
// selector.
func listObjects(ctx context.Context, c client.Reader, namespace string) (Objects, error) {
	var (
		rs   appsv1.ReplicaSetList
		pods corev1.PodList
		runs v1alpha1.AnalysisRunList
		exps v1alpha1.ExperimentList
		jobs batchv1.JobList
	)
	for _, l := range []struct {
		what string
		list client.ObjectList
	}{{"ReplicaSets", &rs}, {"Pods", &pods}, {"AnalysisRuns", &runs}, {"Experiments", &exps}, {"Jobs", &jobs}} {
		if err := c.List(ctx, l.list, client.InNamespace(namespace)); err != nil {
			return Objects{}, listError(l.what, namespace, err)
		}
	}
	return Objects{ReplicaSets: rs.Items, Pods: pods.Items, AnalysisRuns: runs.Items, Experiments: exps.Items, Jobs: jobs.Items}, nil
}

// SummarizeRollout computes the header fields from the Rollout alone.
func SummarizeRollout(ro *v1alpha1.Rollout) RolloutSummary {
	return summary(rolloutview.Build(ro, rolloutview.Owned{}, time.Time{}))
}

// BuildRolloutTree resolves ownership, revisions and roles of objs for ro
// through the shared read model, as of now. It is pure so that fetch tests
// and callers with their own caches can use it.
func BuildRolloutTree(ro *v1alpha1.Rollout, objs Objects, now time.Time) Tree {
	v := rolloutview.Build(ro, objs.owned(), now)
	t := Tree{RolloutSummary: summary(v)}
	for _, img := range v.Images {
		t.Images = append(t.Images, Image{Name: img.Name, Roles: img.Roles})
	}
	for _, rev := range v.Revisions {
		r := Revision{Number: rev.Number}
		for _, rs := range rev.ReplicaSets {
			r.ReplicaSets = append(r.ReplicaSets, fromReplicaSet(rs))
		}
		for _, run := range rev.AnalysisRuns {
			r.AnalysisRuns = append(r.AnalysisRuns, fromAnalysisRun(run))
		}
		for _, ex := range rev.Experiments {
			r.Experiments = append(r.Experiments, fromExperiment(ex))
		}
		t.Revisions = append(t.Revisions, r)
	}
	return t
}

// owned hands the namespace's objects to the read model, which keeps those
// the Rollout or Experiment controls.
func (o Objects) owned() rolloutview.Owned {
	return rolloutview.Owned{
		ReplicaSets:  rolloutview.Refs(o.ReplicaSets),
		Pods:         rolloutview.Refs(o.Pods),
		AnalysisRuns: rolloutview.Refs(o.AnalysisRuns),
		Experiments:  rolloutview.Refs(o.Experiments),
		Jobs:         rolloutview.Refs(o.Jobs),
	}
}

// The functions below only copy the read model into the renderer's
// snapshot types; every value is worked out in rolloutview.

func summary(v rolloutview.Rollout) RolloutSummary {
	s := RolloutSummary{
		Name:      v.Name,
		Namespace: v.Namespace,
		Phase:     v.Status,
		Message:   v.StatusMessage,
		Strategy:  string(v.Strategy),
		Replicas: Replicas{
			Desired:   v.Replicas.Desired,
			Current:   v.Replicas.Current,
			Updated:   v.Replicas.Updated,
			Ready:     v.Replicas.Ready,
			Available: v.Replicas.Available,
		},
	}
	if v.Step != nil {
		s.Step = &Step{Current: v.Step.Index, Total: v.Step.Total}
		if v.Step.OutOfRange {
			s.Step.Written = v.Step.Written
		}
	}
	if w := v.Weights; w != nil {
		set := w.Set
		s.SetWeight = &set
		if w.Reached != nil {
			reached := *w.Reached
			s.ActualWeight = &reached
		}
	}
	return s
}

func fromReplicaSet(rs rolloutview.ReplicaSet) ReplicaSet {
	node := ReplicaSet{
		Name:           rs.Name,
		Hash:           rs.Hash,
		Status:         rs.Status,
		Template:       rs.Template,
		TemplateStatus: rs.TemplateStatus,
		Service:        rs.Service,
		Images:         rs.Images,
		Config:         rs.Config,
		Desired:        rs.Desired,
		Ready:          rs.Ready,
		CreatedAt:      rs.CreatedAt,
	}
	if len(rs.Roles) > 0 {
		node.Roles = rs.Roles
	}
	for _, p := range rs.Pods {
		node.Pods = append(node.Pods, fromPod(p))
	}
	return node
}

func fromPod(p rolloutview.Pod) Pod {
	return Pod{Name: p.Name, Status: p.Status, Ready: p.ReadyContainers, Total: p.Containers, Restarts: p.Restarts, CreatedAt: p.CreatedAt}
}

func fromAnalysisRun(run rolloutview.AnalysisRun) AnalysisRun {
	node := AnalysisRun{
		Name: run.Name, Phase: run.Phase, CreatedAt: run.CreatedAt,
		Successful: run.Successful, Failed: run.Failed, Inconclusive: run.Inconclusive, Error: run.Error,
	}
	for _, j := range run.Jobs {
		node.Jobs = append(node.Jobs, Job{Name: j.Name, Status: j.Status, CreatedAt: j.CreatedAt})
	}
	return node
}

func fromExperiment(ex rolloutview.Experiment) Experiment {
	node := Experiment{
		Name:        ex.Name,
		Namespace:   ex.Namespace,
		Phase:       ex.Phase,
		Message:     ex.Message,
		Duration:    ex.Duration,
		AvailableAt: ex.AvailableAt,
		Remaining:   ex.Remaining,
		CreatedAt:   ex.CreatedAt,
	}
	for _, rs := range ex.ReplicaSets {
		node.ReplicaSets = append(node.ReplicaSets, fromReplicaSet(rs))
	}
	for _, run := range ex.AnalysisRuns {
		node.AnalysisRuns = append(node.AnalysisRuns, fromAnalysisRun(run))
	}
	return node
}
