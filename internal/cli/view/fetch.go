package view

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
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
func FetchRollout(ctx context.Context, c client.Reader, namespace, name string) (Tree, error) {
	var ro v1alpha1.Rollout
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &ro); err != nil {
		return Tree{}, getError("rollout", namespace, name, err)
	}
	objs, err := listObjects(ctx, c, namespace)
	if err != nil {
		return Tree{}, err
	}
	return BuildRolloutTree(&ro, objs), nil
}

// FetchExperiment reads the Experiment and the objects of its namespace and
// returns what `get experiment` shows.
func FetchExperiment(ctx context.Context, c client.Reader, namespace, name string) (Experiment, error) {
	var ex v1alpha1.Experiment
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &ex); err != nil {
		return Experiment{}, getError("experiment", namespace, name, err)
	}
	objs, err := listObjects(ctx, c, namespace)
	if err != nil {
		return Experiment{}, err
	}
	idx := indexObjects(objs)
	return idx.experiment(&ex), nil
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
func FetchExperimentList(ctx context.Context, c client.Reader, namespace string) ([]Experiment, error) {
	var list v1alpha1.ExperimentList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, listError("experiments", namespace, err)
	}
	rows := make([]Experiment, 0, len(list.Items))
	for i := range list.Items {
		rows = append(rows, experimentHeader(&list.Items[i]))
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
	st := &ro.Status
	s := RolloutSummary{
		Name:      ro.Name,
		Namespace: ro.Namespace,
		Phase:     st.Phase,
		Message:   st.Message,
		Replicas: Replicas{
			Desired:   deref(ro.Spec.Replicas, 1),
			Current:   st.Replicas,
			Updated:   st.UpdatedReplicas,
			Ready:     st.ReadyReplicas,
			Available: st.AvailableReplicas,
		},
	}
	switch {
	case ro.Spec.Strategy.Canary != nil:
		s.Strategy = StrategyCanary
		steps := ro.Spec.Strategy.Canary.Steps
		if len(steps) > 0 {
			s.Step = &Step{Current: min(deref(st.CurrentStepIndex, 0), int32(len(steps))), Total: int32(len(steps))}
		}
		w := setWeight(ro)
		s.SetWeight = &w
		if ws := st.Canary.Weights; ws != nil {
			actual := ws.Canary.Weight
			// Once promoted, the controller reports the new version as
			// both canary (weight 0) and stable (weight 100); all traffic
			// then reaches the desired version.
			if ws.Canary.PodTemplateHash != "" && ws.Canary.PodTemplateHash == ws.Stable.PodTemplateHash {
				actual = 100
			}
			s.ActualWeight = &actual
		}
	case ro.Spec.Strategy.BlueGreen != nil:
		s.Strategy = StrategyBlueGreen
	}
	return s
}

// setWeight is the canary weight the Rollout is at or moving to: the last
// setWeight step up to and including the current one; 100 once the desired
// version is stable or every step is done; 0 after an abort.
func setWeight(ro *v1alpha1.Rollout) int32 {
	st := &ro.Status
	steps := ro.Spec.Strategy.Canary.Steps
	switch {
	case st.Abort:
		return 0
	case st.CurrentPodHash != "" && st.CurrentPodHash == st.StableRS:
		return 100
	case len(steps) == 0:
		// Without steps the canary goes to 100 at once.
		return 100
	}
	idx := int(deref(st.CurrentStepIndex, 0))
	if idx >= len(steps) {
		return 100
	}
	var w int32
	for _, step := range steps[:idx+1] {
		if step.SetWeight != nil {
			w = *step.SetWeight
		}
	}
	return w
}

// BuildRolloutTree resolves ownership, revisions and roles of objs for ro.
// It is pure so that fetch tests and callers with their own caches can use it.
func BuildRolloutTree(ro *v1alpha1.Rollout, objs Objects) Tree {
	idx := indexObjects(objs)
	t := Tree{RolloutSummary: SummarizeRollout(ro)}
	revs := map[int64]*Revision{}
	revOf := map[string]int64{} // pod-template hash -> revision
	rev := func(n int64) *Revision {
		if revs[n] == nil {
			revs[n] = &Revision{Number: n}
		}
		return revs[n]
	}

	owned := idx.rsByOwner[ro.UID]
	for i := range owned {
		rs := owned[i]
		node := idx.replicaSet(rs)
		node.Roles = roles(ro, node.Hash)
		n := revisionOf(rs)
		if node.Hash != "" {
			revOf[node.Hash] = n
		}
		r := rev(n)
		r.ReplicaSets = append(r.ReplicaSets, node)
	}
	// The runs and experiments carry the hash of the version they test; the
	// revision annotation is the fallback for objects made without it.
	placeOf := func(o metav1.Object) int64 {
		if n, ok := revOf[o.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]]; ok {
			return n
		}
		return revisionOf(o)
	}
	for _, run := range idx.runsByOwner[ro.UID] {
		r := rev(placeOf(run))
		r.AnalysisRuns = append(r.AnalysisRuns, idx.analysisRun(run))
	}
	for _, ex := range idx.expsByOwner[ro.UID] {
		r := rev(placeOf(ex))
		r.Experiments = append(r.Experiments, idx.experiment(ex))
	}

	for _, r := range revs {
		t.Revisions = append(t.Revisions, *r)
	}
	slices.SortFunc(t.Revisions, func(a, b Revision) int {
		// Newest first; the unknown revision 0 goes last.
		return cmp.Compare(b.Number, a.Number)
	})
	t.Images = images(t.Revisions)
	return t
}

// roles names what the ReplicaSet with hash is to the Rollout, from the
// status hashes the controller and the Services act on.
func roles(ro *v1alpha1.Rollout, hash string) []string {
	if hash == "" {
		return nil
	}
	st := &ro.Status
	var r []string
	if hash == st.StableRS {
		r = append(r, RoleStable)
	}
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		if hash == st.BlueGreen.ActiveSelector {
			r = append(r, RoleActive)
		}
		if hash == st.BlueGreen.PreviewSelector && hash != st.BlueGreen.ActiveSelector {
			r = append(r, RolePreview)
		}
	case ro.Spec.Strategy.Canary != nil:
		if hash == st.CurrentPodHash && hash != st.StableRS {
			r = append(r, RoleCanary)
		}
	}
	return r
}

// images lists the images of ReplicaSets that have a role and Pods, newest
// revision first; an image run by several roles is listed once with all.
// ReplicaSets without Pods are left out: a scaled-down canary runs nothing.
func images(revs []Revision) []Image {
	var out []Image
	at := map[string]int{}
	for _, r := range revs {
		for _, rs := range r.ReplicaSets {
			if len(rs.Roles) == 0 || (rs.Desired == 0 && len(rs.Pods) == 0) {
				continue
			}
			for _, img := range rs.Images {
				i, ok := at[img]
				if !ok {
					i = len(out)
					at[img] = i
					out = append(out, Image{Name: img})
				}
				for _, role := range rs.Roles {
					if !slices.Contains(out[i].Roles, role) {
						out[i].Roles = append(out[i].Roles, role)
					}
				}
			}
		}
	}
	return out
}

// index holds the namespace's objects grouped by their controller.
type index struct {
	rsByOwner   map[types.UID][]*appsv1.ReplicaSet
	podsByOwner map[types.UID][]*corev1.Pod
	runsByOwner map[types.UID][]*v1alpha1.AnalysisRun
	expsByOwner map[types.UID][]*v1alpha1.Experiment
	jobsByOwner map[types.UID][]*batchv1.Job
}

func indexObjects(objs Objects) *index {
	idx := &index{
		rsByOwner:   map[types.UID][]*appsv1.ReplicaSet{},
		podsByOwner: map[types.UID][]*corev1.Pod{},
		runsByOwner: map[types.UID][]*v1alpha1.AnalysisRun{},
		expsByOwner: map[types.UID][]*v1alpha1.Experiment{},
		jobsByOwner: map[types.UID][]*batchv1.Job{},
	}
	for i := range objs.ReplicaSets {
		addOwned(idx.rsByOwner, &objs.ReplicaSets[i])
	}
	for i := range objs.Pods {
		addOwned(idx.podsByOwner, &objs.Pods[i])
	}
	for i := range objs.AnalysisRuns {
		addOwned(idx.runsByOwner, &objs.AnalysisRuns[i])
	}
	for i := range objs.Experiments {
		addOwned(idx.expsByOwner, &objs.Experiments[i])
	}
	for i := range objs.Jobs {
		addOwned(idx.jobsByOwner, &objs.Jobs[i])
	}
	// Oldest first within an owner; the renderer keeps this order, which
	// reads naturally for Pods and runs and is stable for golden files.
	sortOwned(idx.rsByOwner)
	sortOwned(idx.podsByOwner)
	sortOwned(idx.runsByOwner)
	sortOwned(idx.expsByOwner)
	sortOwned(idx.jobsByOwner)
	return idx
}

// addOwned files o under its controller; objects without one belong to no tree.
func addOwned[T metav1.Object](m map[types.UID][]T, o T) {
	if ref := metav1.GetControllerOf(o); ref != nil {
		m[ref.UID] = append(m[ref.UID], o)
	}
}

func sortOwned[T metav1.Object](m map[types.UID][]T) {
	for _, objs := range m {
		slices.SortFunc(objs, func(a, b T) int {
			return cmp.Or(
				a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time),
				cmp.Compare(a.GetName(), b.GetName()))
		})
	}
}

func (idx *index) replicaSet(rs *appsv1.ReplicaSet) ReplicaSet {
	node := ReplicaSet{
		Name:      rs.Name,
		Hash:      rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey],
		Template:  rs.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey],
		Desired:   deref(rs.Spec.Replicas, 1),
		Ready:     rs.Status.ReadyReplicas,
		CreatedAt: rs.CreationTimestamp.Time,
		Status:    replicaSetStatus(rs),
	}
	for _, c := range rs.Spec.Template.Spec.Containers {
		node.Images = append(node.Images, c.Image)
	}
	for _, ref := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
		node.Config = append(node.Config, ref.String())
	}
	for _, p := range idx.podsByOwner[rs.UID] {
		node.Pods = append(node.Pods, pod(p))
	}
	return node
}

// replicaSetStatus derives a state from the counts, since ReplicaSets have no phase.
func replicaSetStatus(rs *appsv1.ReplicaSet) string {
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			return RSDegraded
		}
	}
	desired := deref(rs.Spec.Replicas, 1)
	switch {
	case desired == 0 && rs.Status.Replicas == 0:
		return RSScaledDown
	case rs.Status.Replicas == desired && rs.Status.AvailableReplicas >= desired:
		return RSHealthy
	}
	return RSProgressing
}

func (idx *index) analysisRun(run *v1alpha1.AnalysisRun) AnalysisRun {
	node := AnalysisRun{Name: run.Name, Phase: run.Status.Phase, CreatedAt: run.CreationTimestamp.Time}
	if node.Phase == "" {
		node.Phase = v1alpha1.AnalysisPhasePending
	}
	for _, m := range run.Status.MetricResults {
		node.Successful += m.Successful
		node.Failed += m.Failed
		node.Inconclusive += m.Inconclusive
		node.Error += m.Error
	}
	for _, j := range idx.jobsByOwner[run.UID] {
		node.Jobs = append(node.Jobs, Job{Name: j.Name, Status: jobStatus(j), CreatedAt: j.CreationTimestamp.Time})
	}
	return node
}

func jobStatus(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return JobSuccessful
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			return JobFailed
		}
	}
	if j.Status.Active > 0 {
		return JobRunning
	}
	return JobPending
}

// experimentHeader is an Experiment without its children, as listed.
func experimentHeader(ex *v1alpha1.Experiment) Experiment {
	node := Experiment{
		Name:      ex.Name,
		Namespace: ex.Namespace,
		Phase:     ex.Status.Phase,
		Message:   ex.Status.Message,
		Duration:  string(ex.Spec.Duration),
		CreatedAt: ex.CreationTimestamp.Time,
	}
	if node.Phase == "" {
		node.Phase = v1alpha1.AnalysisPhasePending
	}
	if at := ex.Status.AvailableAt; at != nil {
		t := at.Time
		node.AvailableAt = &t
	}
	return node
}

func (idx *index) experiment(ex *v1alpha1.Experiment) Experiment {
	node := experimentHeader(ex)
	for _, rs := range idx.rsByOwner[ex.UID] {
		n := idx.replicaSet(rs)
		for _, ts := range ex.Status.TemplateStatuses {
			if ts.Name == n.Template {
				n.TemplateStatus, n.Service = string(ts.Status), ts.ServiceName
			}
		}
		node.ReplicaSets = append(node.ReplicaSets, n)
	}
	for _, run := range idx.runsByOwner[ex.UID] {
		node.AnalysisRuns = append(node.AnalysisRuns, idx.analysisRun(run))
	}
	return node
}

// pod summarises a Pod the way kubectl's STATUS column does, so users see
// the same words in both tools.
func pod(p *corev1.Pod) Pod {
	node := Pod{Name: p.Name, CreatedAt: p.CreationTimestamp.Time, Total: int32(len(p.Spec.Containers))}
	status := string(p.Status.Phase)
	if p.Status.Reason != "" {
		status = p.Status.Reason
	}
	initializing := false
	for i, c := range p.Status.InitContainerStatuses {
		node.Restarts += c.RestartCount
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case c.State.Terminated != nil:
			status = "Init:" + cmp.Or(c.State.Terminated.Reason, "ExitCode:"+strconv.Itoa(int(c.State.Terminated.ExitCode)))
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			status = "Init:" + c.State.Waiting.Reason
		default:
			status = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}
	for _, c := range p.Status.ContainerStatuses {
		node.Restarts += c.RestartCount
		if c.Ready {
			node.Ready++
		}
		if initializing {
			continue
		}
		switch {
		case c.State.Waiting != nil && c.State.Waiting.Reason != "":
			status = c.State.Waiting.Reason
		case c.State.Terminated != nil && c.State.Terminated.Reason != "":
			status = c.State.Terminated.Reason
		case c.State.Terminated != nil:
			status = "ExitCode:" + strconv.Itoa(int(c.State.Terminated.ExitCode))
		}
	}
	if p.DeletionTimestamp != nil {
		status = "Terminating"
	}
	node.Status = cmp.Or(status, "Unknown")
	return node
}

// revisionOf reads the revision annotation; 0 when missing or malformed.
func revisionOf(o metav1.Object) int64 {
	n, err := strconv.ParseInt(o.GetAnnotations()[v1alpha1.RevisionAnnotation], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
