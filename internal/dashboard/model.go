package dashboard

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
)

// The statuses a Rollout is shown with, as the kubectl plugin shows them.
const (
	StatusHealthy     = "Healthy"
	StatusProgressing = "Progressing"
	StatusPaused      = "Paused"
	StatusDegraded    = "Degraded"
)

// The states of a canary step on the timeline.
const (
	StepDone    = "done"
	StepCurrent = "current"
	StepPending = "pending"
)

// RolloutList is the JSON of the rollouts page: the Rollouts of one
// namespace, or of all when Namespace is empty.
type RolloutList struct {
	// Namespace the list is of; empty means all namespaces.
	Namespace string `json:"namespace"`
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// Rollouts sorted by namespace and name.
	Rollouts []RolloutSummary `json:"rollouts"`
}

// RolloutSummary is one Rollout as the rollouts page and the header of the
// rollout page show it.
type RolloutSummary struct {
	// Namespace of the Rollout.
	Namespace string `json:"namespace"`
	// Name of the Rollout.
	Name string `json:"name"`
	// Status is Healthy, Progressing, Paused or Degraded.
	Status string `json:"status"`
	// Message explains the status.
	Message string `json:"message,omitempty"`
	// Strategy is "canary" or "blueGreen".
	Strategy string `json:"strategy"`
	// Step is the canary's progress through its steps; nil without steps.
	Step *StepProgress `json:"step,omitempty"`
	// Weight is the canary's traffic weight; nil for blue-green.
	Weight *Weight `json:"weight,omitempty"`
	// Images are the images that run, with the roles of their versions.
	Images []Image `json:"images"`
	// Replicas counts the Rollout's Pods.
	Replicas Replicas `json:"replicas"`
	// Created is the Rollout's creation time.
	Created metav1.Time `json:"created"`
}

// StepProgress is "step Current/Total", counted as the kubectl plugin does:
// Current is the index of the step being executed, Total once done.
type StepProgress struct {
	// Current is status.currentStepIndex.
	Current int32 `json:"current"`
	// Total is the number of steps.
	Total int32 `json:"total"`
}

// Weight is the canary's traffic weight in percent.
type Weight struct {
	// Set is the weight the steps ask for at the current step.
	Set int32 `json:"set"`
	// Actual is the weight reached.
	Actual int32 `json:"actual"`
}

// Image is one container image and the roles of the versions running it
// (stable, canary, active, preview).
type Image struct {
	// Image reference.
	Image string `json:"image"`
	// Roles of the versions that run it.
	Roles []string `json:"roles"`
}

// Replicas counts the Pods of a Rollout.
type Replicas struct {
	// Desired is spec.replicas.
	Desired int32 `json:"desired"`
	// Current is the number of non-terminated Pods.
	Current int32 `json:"current"`
	// Updated is the number of Pods of the desired version.
	Updated int32 `json:"updated"`
	// Ready is the number of ready Pods.
	Ready int32 `json:"ready"`
	// Available is the number of available Pods.
	Available int32 `json:"available"`
}

// RolloutDetail is the JSON of the rollout page.
type RolloutDetail struct {
	RolloutSummary
	// ReadOnly tells the page to offer no actions.
	ReadOnly bool `json:"readOnly"`
	// SpecPaused is spec.paused.
	SpecPaused bool `json:"specPaused"`
	// Aborted is status.abort.
	Aborted bool `json:"aborted"`
	// PauseReasons are the reasons of status.pauseConditions.
	PauseReasons []string `json:"pauseReasons"`
	// Containers of the Pod template, for the set-image form; init
	// containers last.
	Containers []Container `json:"containers"`
	// Steps of a canary, each with its state.
	Steps []Step `json:"steps"`
	// Revisions newest first.
	Revisions []Revision `json:"revisions"`
	// OtherAnalysisRuns are the Rollout's runs that belong to no revision shown.
	OtherAnalysisRuns []AnalysisRun `json:"otherAnalysisRuns"`
}

// Container is a container of the Rollout's Pod template.
type Container struct {
	// Name of the container.
	Name string `json:"name"`
	// Image it runs.
	Image string `json:"image"`
	// Init is true for an init container.
	Init bool `json:"init,omitempty"`
}

// Step is one canary step on the timeline.
type Step struct {
	// Index of the step, from 0.
	Index int `json:"index"`
	// Description such as "setWeight 20" or "pause (until promoted)".
	Description string `json:"description"`
	// State is done, current or pending.
	State string `json:"state"`
}

// Revision is one revision of the Rollout with its ReplicaSets, their
// Pods and its AnalysisRuns.
type Revision struct {
	// Number is the rollout.argoproj.io/revision of its ReplicaSets.
	Number int `json:"number"`
	// Roles of the revision: stable, canary, active, preview.
	Roles []string `json:"roles"`
	// ReplicaSets of the revision.
	ReplicaSets []ReplicaSet `json:"replicaSets"`
	// AnalysisRuns made for the revision, newest first.
	AnalysisRuns []AnalysisRun `json:"analysisRuns"`
	// Experiments made for the revision by experiment steps, newest first.
	Experiments []Experiment `json:"experiments"`
}

// Experiment is one Experiment an experiment step of the Rollout made.
type Experiment struct {
	// Name of the Experiment.
	Name string `json:"name"`
	// Phase of the Experiment; Pending before its controller set one.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// Current is true for the Experiment the Rollout waits on
	// (status.canary.currentExperiment).
	Current bool `json:"current,omitempty"`
	// Hash is the pod-template hash of the version it tests.
	Hash string `json:"hash,omitempty"`
	// Created is the Experiment's creation time.
	Created metav1.Time `json:"created"`
	// Templates are the states of its templates.
	Templates []ExperimentTemplate `json:"templates"`
	// AnalysisRuns are the states of its analyses.
	AnalysisRuns []ExperimentAnalysis `json:"analysisRuns"`
}

// ExperimentTemplate is the state of one template of an Experiment.
type ExperimentTemplate struct {
	// Name of the template.
	Name string `json:"name"`
	// Status is Progressing, Running, Successful, Failed or Error.
	Status string `json:"status"`
	// Replicas is the number of Pods.
	Replicas int32 `json:"replicas"`
	// Available is the number of available Pods.
	Available int32 `json:"available"`
	// ServiceName is the Service made for the template, if any.
	ServiceName string `json:"serviceName,omitempty"`
}

// ExperimentAnalysis is the state of one analysis of an Experiment.
type ExperimentAnalysis struct {
	// Name of the analysis within the Experiment.
	Name string `json:"name"`
	// AnalysisRun is the run's name.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the run.
	Phase string `json:"phase"`
	// Message of the run.
	Message string `json:"message,omitempty"`
}

// ReplicaSet is one ReplicaSet of the Rollout and its Pods.
type ReplicaSet struct {
	// Name of the ReplicaSet.
	Name string `json:"name"`
	// Hash is its pod-template hash.
	Hash string `json:"hash"`
	// Status is Healthy, Progressing or ScaledDown.
	Status string `json:"status"`
	// Images its Pods run.
	Images []string `json:"images"`
	// Config are the configuration copies its Pods run ("Secret/name-hash"),
	// for a Rollout with config snapshots on.
	Config []string `json:"config,omitempty"`
	// Desired is spec.replicas.
	Desired int32 `json:"desired"`
	// Current is status.replicas.
	Current int32 `json:"current"`
	// Ready is status.readyReplicas.
	Ready int32 `json:"ready"`
	// Available is status.availableReplicas.
	Available int32 `json:"available"`
	// Pods of the ReplicaSet, by name.
	Pods []Pod `json:"pods"`
}

// Pod is one Pod of a ReplicaSet.
type Pod struct {
	// Name of the Pod.
	Name string `json:"name"`
	// Status as kubectl shows it: Running, Pending, Terminating, a
	// container's waiting reason, ...
	Status string `json:"status"`
	// Ready is whether the Pod is ready.
	Ready bool `json:"ready"`
	// ReadyContainers is "ready/total" containers.
	ReadyContainers string `json:"readyContainers"`
	// Restarts sums the containers' restart counts.
	Restarts int32 `json:"restarts"`
	// Created is the Pod's creation time.
	Created metav1.Time `json:"created"`
}

// AnalysisRun is one AnalysisRun of the Rollout.
type AnalysisRun struct {
	// Name of the run.
	Name string `json:"name"`
	// Phase of the run.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// Kind is the rollout-type label: Step, Background, PrePromotion, PostPromotion.
	Kind string `json:"kind,omitempty"`
	// StepIndex is the step that made a step analysis.
	StepIndex *int32 `json:"stepIndex,omitempty"`
	// Hash is the pod-template hash of the version it measures.
	Hash string `json:"hash,omitempty"`
	// Created is the run's creation time.
	Created metav1.Time `json:"created"`
	// Metrics with their measurements.
	Metrics []Metric `json:"metrics"`
}

// Metric is one metric of an AnalysisRun.
type Metric struct {
	// Name of the metric.
	Name string `json:"name"`
	// Phase of the metric.
	Phase string `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// DryRun says the metric never decides.
	DryRun bool `json:"dryRun,omitempty"`
	// Successful measurements.
	Successful int32 `json:"successful"`
	// Failed measurements.
	Failed int32 `json:"failed"`
	// Inconclusive measurements.
	Inconclusive int32 `json:"inconclusive"`
	// Error measurements.
	Error int32 `json:"error"`
	// Measurements kept in the run, oldest first.
	Measurements []Measurement `json:"measurements"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	// Phase of the measurement.
	Phase string `json:"phase"`
	// Value as the provider returned it.
	Value string `json:"value,omitempty"`
	// Number is Value as a number, when it is one (or a list of one).
	Number *float64 `json:"number,omitempty"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was taken.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// rolloutStatus is the status and message of a Rollout. A status written
// for an older generation says nothing about the current spec.
func rolloutStatus(ro *v1alpha1.Rollout) (string, string) {
	if ro.Status.ObservedGeneration != strconv.FormatInt(ro.Generation, 10) {
		return StatusProgressing, "waiting for the controller to observe the latest spec"
	}
	switch ro.Status.Phase {
	case v1alpha1.RolloutPhaseHealthy, v1alpha1.RolloutPhaseDegraded, v1alpha1.RolloutPhasePaused:
		return string(ro.Status.Phase), ro.Status.Message
	}
	return StatusProgressing, ro.Status.Message
}

func strategyOf(ro *v1alpha1.Rollout) string {
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		return "blueGreen"
	case ro.Spec.Strategy.Canary != nil:
		return "canary"
	}
	return ""
}

func canarySteps(ro *v1alpha1.Rollout) []v1alpha1.CanaryStep {
	if ro.Spec.Strategy.Canary == nil {
		return nil
	}
	return ro.Spec.Strategy.Canary.Steps
}

// setWeight is the weight the steps ask for, as the kubectl plugin
// computes it: 0 after an abort, 100 past the last step, otherwise the last
// setWeight at or before the current step.
func setWeight(ro *v1alpha1.Rollout) int32 {
	if ro.Status.Abort {
		return 0
	}
	steps := canarySteps(ro)
	idx := int32(0)
	if ro.Status.CurrentStepIndex != nil {
		idx = *ro.Status.CurrentStepIndex
	}
	if len(steps) == 0 || int(idx) >= len(steps) || idx < 0 {
		return 100
	}
	for i := idx; i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// actualWeight is the weight reached: the controller's record when there is
// one, otherwise the canary's share of the available Pods.
func actualWeight(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet) int32 {
	if w := ro.Status.Canary.Weights; w != nil {
		return w.Canary.Weight
	}
	if ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash == ro.Status.StableRS {
		return 100
	}
	var canary, total int32
	for _, rs := range rss {
		total += rs.Status.AvailableReplicas
		if hashOf(rs) == ro.Status.CurrentPodHash {
			canary += rs.Status.AvailableReplicas
		}
	}
	if total == 0 {
		return 0
	}
	return int32(math.Round(float64(canary) * 100 / float64(total)))
}

func hashOf(obj metav1.Object) string {
	return obj.GetLabels()[v1alpha1.DefaultRolloutUniqueLabelKey]
}

// rolesOf names what a version is to the Rollout.
func rolesOf(ro *v1alpha1.Rollout, hash string) []string {
	roles := []string{}
	if hash == "" {
		return roles
	}
	if ro.Spec.Strategy.BlueGreen != nil {
		if hash == ro.Status.BlueGreen.ActiveSelector {
			roles = append(roles, "active")
		}
		if hash == ro.Status.BlueGreen.PreviewSelector && hash != ro.Status.BlueGreen.ActiveSelector {
			roles = append(roles, "preview")
		}
	}
	if hash == ro.Status.StableRS {
		roles = append(roles, "stable")
	} else if ro.Spec.Strategy.Canary != nil && hash == ro.Status.CurrentPodHash {
		roles = append(roles, "canary")
	}
	return roles
}

func podImages(spec *corev1.PodSpec) []string {
	out := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// imagesOf lists the images of the versions that run or have a role, with
// their roles; the desired template counts while its ReplicaSet does not
// exist yet.
func imagesOf(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet) []Image {
	var order []string
	roles := map[string][]string{}
	add := func(images []string, rs []string) {
		for _, img := range images {
			if _, ok := roles[img]; !ok {
				order = append(order, img)
				roles[img] = []string{}
			}
			for _, r := range rs {
				if !contains(roles[img], r) {
					roles[img] = append(roles[img], r)
				}
			}
		}
	}
	haveCurrent := false
	for _, rs := range rss {
		h := hashOf(rs)
		r := rolesOf(ro, h)
		if h == ro.Status.CurrentPodHash {
			haveCurrent = true
		}
		if len(r) == 0 && rs.Status.Replicas == 0 && derefInt32(rs.Spec.Replicas) == 0 {
			continue
		}
		add(podImages(&rs.Spec.Template.Spec), r)
	}
	if !haveCurrent && ro.Spec.WorkloadRef == nil {
		add(podImages(&ro.Spec.Template.Spec), nil)
	}
	out := make([]Image, 0, len(order))
	for _, img := range order {
		out = append(out, Image{Image: img, Roles: roles[img]})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// ownedBy keeps the ReplicaSets whose controller is the Rollout.
func ownedBy(ro *v1alpha1.Rollout, all []appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for i := range all {
		if ref := metav1.GetControllerOf(&all[i]); ref != nil && ref.UID == ro.UID {
			out = append(out, &all[i])
		}
	}
	return out
}

// summarize describes a Rollout from it and its ReplicaSets.
func summarize(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet) RolloutSummary {
	status, message := rolloutStatus(ro)
	s := RolloutSummary{
		Namespace: ro.Namespace,
		Name:      ro.Name,
		Status:    status,
		Message:   message,
		Strategy:  strategyOf(ro),
		Images:    imagesOf(ro, rss),
		Replicas: Replicas{
			Desired:   1,
			Current:   ro.Status.Replicas,
			Updated:   ro.Status.UpdatedReplicas,
			Ready:     ro.Status.ReadyReplicas,
			Available: ro.Status.AvailableReplicas,
		},
		Created: ro.CreationTimestamp,
	}
	if ro.Spec.Replicas != nil {
		s.Replicas.Desired = *ro.Spec.Replicas
	}
	if steps := canarySteps(ro); len(steps) > 0 {
		s.Step = &StepProgress{Total: int32(len(steps))}
		if ro.Status.CurrentStepIndex != nil {
			s.Step.Current = *ro.Status.CurrentStepIndex
		}
	}
	if ro.Spec.Strategy.Canary != nil {
		s.Weight = &Weight{Set: setWeight(ro), Actual: actualWeight(ro, rss)}
	}
	return s
}

// describeStep says what a canary step does, e.g. "setWeight 20",
// "pause 10s", "pause (until promoted)" or "analysis: success-rate".
func describeStep(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *s.SetWeight)
	case s.Pause != nil:
		if d := s.Pause.Duration; d != nil {
			if d.Type == intstr.Int { // a number of seconds
				return fmt.Sprintf("pause %ds", d.IntVal)
			}
			return "pause " + d.StrVal
		}
		return "pause (until promoted)"
	case s.Analysis != nil:
		return "analysis: " + templateNames(s.Analysis.Templates)
	case s.Experiment != nil:
		names := make([]string, 0, len(s.Experiment.Templates))
		for _, t := range s.Experiment.Templates {
			names = append(names, t.Name)
		}
		d := "experiment: " + strings.Join(names, ", ")
		if s.Experiment.Duration != "" {
			d += " for " + string(s.Experiment.Duration)
		}
		return d
	case s.SetCanaryScale != nil:
		c := s.SetCanaryScale
		switch {
		case c.Replicas != nil:
			return fmt.Sprintf("setCanaryScale %d replicas", *c.Replicas)
		case c.Weight != nil:
			return fmt.Sprintf("setCanaryScale %d%%", *c.Weight)
		}
		return "setCanaryScale matchTrafficWeight"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute " + s.SetHeaderRoute.Name
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute " + s.SetMirrorRoute.Name
	}
	return "(empty step)"
}

func templateNames(ts []v1alpha1.RolloutAnalysisTemplate) string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.TemplateName)
	}
	return strings.Join(names, ", ")
}

// stepsOf lays out the canary steps: before the current index done, at it
// current, after it to come.
func stepsOf(ro *v1alpha1.Rollout) []Step {
	steps := canarySteps(ro)
	cur := 0
	if ro.Status.CurrentStepIndex != nil {
		cur = int(*ro.Status.CurrentStepIndex)
	}
	out := make([]Step, 0, len(steps))
	for i, s := range steps {
		state := StepPending
		switch {
		case i < cur:
			state = StepDone
		case i == cur:
			state = StepCurrent
		}
		out = append(out, Step{Index: i, Description: describeStep(s), State: state})
	}
	return out
}

// podStatus is the status kubectl prints for a Pod.
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	status := string(p.Status.Phase)
	if p.Status.Reason != "" {
		status = p.Status.Reason
	}
	for _, cs := range p.Status.InitContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" {
			return "Init:" + w.Reason
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			status = w.Reason
		} else if t := cs.State.Terminated; t != nil && t.Reason != "" {
			status = t.Reason
		}
	}
	if status == "" {
		status = "Pending"
	}
	return status
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describePod(p *corev1.Pod) Pod {
	var ready, restarts int32
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
	}
	return Pod{
		Name:            p.Name,
		Status:          podStatus(p),
		Ready:           podReady(p),
		ReadyContainers: fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)),
		Restarts:        restarts,
		Created:         p.CreationTimestamp,
	}
}

func describeReplicaSet(rs *appsv1.ReplicaSet, pods []corev1.Pod) ReplicaSet {
	out := ReplicaSet{
		Name:      rs.Name,
		Hash:      hashOf(rs),
		Images:    podImages(&rs.Spec.Template.Spec),
		Desired:   derefInt32(rs.Spec.Replicas),
		Current:   rs.Status.Replicas,
		Ready:     rs.Status.ReadyReplicas,
		Available: rs.Status.AvailableReplicas,
		Pods:      []Pod{},
	}
	for _, ref := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
		out.Config = append(out.Config, ref.String())
	}
	switch {
	case out.Desired == 0 && out.Current == 0:
		out.Status = "ScaledDown"
	case out.Desired == out.Available && out.Current == out.Desired:
		out.Status = StatusHealthy
	default:
		out.Status = StatusProgressing
	}
	for i := range pods {
		if ref := metav1.GetControllerOf(&pods[i]); ref != nil && ref.UID == rs.UID {
			out.Pods = append(out.Pods, describePod(&pods[i]))
		}
	}
	sort.Slice(out.Pods, func(i, j int) bool { return out.Pods[i].Name < out.Pods[j].Name })
	return out
}

// parseNumber reads a measured value as a number: "0.98", or a list of one
// number such as Prometheus vectors give, "[0.98]".
func parseNumber(v string) *float64 {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func describeAnalysisRun(run *v1alpha1.AnalysisRun) AnalysisRun {
	out := AnalysisRun{
		Name:    run.Name,
		Phase:   string(run.Status.Phase),
		Message: run.Status.Message,
		Kind:    run.Labels[v1alpha1.RolloutTypeLabel],
		Hash:    hashOf(run),
		Created: run.CreationTimestamp,
		Metrics: []Metric{},
	}
	if out.Phase == "" {
		out.Phase = string(v1alpha1.AnalysisPhasePending)
	}
	if s, ok := run.Labels[v1alpha1.RolloutCanaryStepIndexLabel]; ok {
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			i := int32(n)
			out.StepIndex = &i
		}
	}
	results := map[string]*v1alpha1.MetricResult{}
	for i := range run.Status.MetricResults {
		results[run.Status.MetricResults[i].Name] = &run.Status.MetricResults[i]
	}
	names := make([]string, 0, len(run.Spec.Metrics))
	for _, m := range run.Spec.Metrics {
		names = append(names, m.Name)
	}
	for _, r := range run.Status.MetricResults {
		if !contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	for _, name := range names {
		m := Metric{Name: name, Phase: string(v1alpha1.AnalysisPhasePending), Measurements: []Measurement{}}
		if r := results[name]; r != nil {
			m.Phase, m.Message, m.DryRun = string(r.Phase), r.Message, r.DryRun
			m.Successful, m.Failed, m.Inconclusive, m.Error = r.Successful, r.Failed, r.Inconclusive, r.Error
			for _, ms := range r.Measurements {
				m.Measurements = append(m.Measurements, Measurement{
					Phase: string(ms.Phase), Value: ms.Value, Number: parseNumber(ms.Value), Message: ms.Message,
					StartedAt: ms.StartedAt, FinishedAt: ms.FinishedAt,
				})
			}
		}
		out.Metrics = append(out.Metrics, m)
	}
	return out
}

func revisionOf(obj metav1.Object) int {
	n, err := strconv.Atoi(obj.GetAnnotations()[v1alpha1.RevisionAnnotation])
	if err != nil {
		return 0
	}
	return n
}

// describeExperiment is the dashboard's view of an Experiment.
func describeExperiment(ro *v1alpha1.Rollout, ex *v1alpha1.Experiment) Experiment {
	out := Experiment{
		Name: ex.Name, Phase: string(ex.Status.Phase), Message: ex.Status.Message,
		Current: ro.Status.Canary.CurrentExperiment == ex.Name, Hash: hashOf(ex), Created: ex.CreationTimestamp,
		Templates: []ExperimentTemplate{}, AnalysisRuns: []ExperimentAnalysis{},
	}
	if out.Phase == "" {
		out.Phase = string(v1alpha1.AnalysisPhasePending)
	}
	status := map[string]v1alpha1.TemplateStatus{}
	for _, ts := range ex.Status.TemplateStatuses {
		status[ts.Name] = ts
	}
	// Spec order, so a template shows before its controller reported on it.
	for _, t := range ex.Spec.Templates {
		ts := status[t.Name]
		st := string(ts.Status)
		if st == "" {
			st = string(v1alpha1.TemplateStatusProgressing)
		}
		out.Templates = append(out.Templates, ExperimentTemplate{Name: t.Name, Status: st,
			Replicas: ts.Replicas, Available: ts.AvailableReplicas, ServiceName: ts.ServiceName})
	}
	for _, r := range ex.Status.AnalysisRuns {
		out.AnalysisRuns = append(out.AnalysisRuns, ExperimentAnalysis{Name: r.Name, AnalysisRun: r.AnalysisRun, Phase: string(r.Phase), Message: r.Message})
	}
	return out
}

// detail describes a Rollout with its ReplicaSets, their Pods, its
// AnalysisRuns and its Experiments (all of the namespace; those of other
// owners are left out).
func detail(ro *v1alpha1.Rollout, allRS []appsv1.ReplicaSet, pods []corev1.Pod, runs []v1alpha1.AnalysisRun, exps []v1alpha1.Experiment) RolloutDetail {
	rss := ownedBy(ro, allRS)
	d := RolloutDetail{
		RolloutSummary:    summarize(ro, rss),
		SpecPaused:        ro.Spec.Paused,
		Aborted:           ro.Status.Abort,
		PauseReasons:      []string{},
		Containers:        []Container{},
		Steps:             stepsOf(ro),
		Revisions:         []Revision{},
		OtherAnalysisRuns: []AnalysisRun{},
	}
	for _, pc := range ro.Status.PauseConditions {
		d.PauseReasons = append(d.PauseReasons, string(pc.Reason))
	}
	for _, c := range ro.Spec.Template.Spec.Containers {
		d.Containers = append(d.Containers, Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range ro.Spec.Template.Spec.InitContainers {
		d.Containers = append(d.Containers, Container{Name: c.Name, Image: c.Image, Init: true})
	}

	byNumber := map[int]*Revision{}
	revOfHash := map[string]int{}
	for _, rs := range rss {
		n := revisionOf(rs)
		rev := byNumber[n]
		if rev == nil {
			rev = &Revision{Number: n, Roles: []string{}, ReplicaSets: []ReplicaSet{}, AnalysisRuns: []AnalysisRun{}, Experiments: []Experiment{}}
			byNumber[n] = rev
		}
		h := hashOf(rs)
		revOfHash[h] = n
		for _, r := range rolesOf(ro, h) {
			if !contains(rev.Roles, r) {
				rev.Roles = append(rev.Roles, r)
			}
		}
		rev.ReplicaSets = append(rev.ReplicaSets, describeReplicaSet(rs, pods))
	}

	var owned []*v1alpha1.AnalysisRun
	for i := range runs {
		if ref := metav1.GetControllerOf(&runs[i]); ref != nil && ref.UID == ro.UID {
			owned = append(owned, &runs[i])
		}
	}
	sort.Slice(owned, func(i, j int) bool {
		a, b := owned[i].CreationTimestamp, owned[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return owned[i].Name > owned[j].Name
	})
	for _, run := range owned {
		n, ok := revOfHash[hashOf(run)]
		if !ok {
			d.OtherAnalysisRuns = append(d.OtherAnalysisRuns, describeAnalysisRun(run))
			continue
		}
		byNumber[n].AnalysisRuns = append(byNumber[n].AnalysisRuns, describeAnalysisRun(run))
	}

	var ownedExps []*v1alpha1.Experiment
	for i := range exps {
		if ref := metav1.GetControllerOf(&exps[i]); ref != nil && ref.UID == ro.UID {
			ownedExps = append(ownedExps, &exps[i])
		}
	}
	sort.Slice(ownedExps, func(i, j int) bool {
		a, b := ownedExps[i].CreationTimestamp, ownedExps[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return ownedExps[i].Name > ownedExps[j].Name
	})
	for _, ex := range ownedExps {
		// An Experiment of a version whose ReplicaSets are gone is about to
		// be deleted by the controller; it is not shown.
		if n, ok := revOfHash[hashOf(ex)]; ok {
			byNumber[n].Experiments = append(byNumber[n].Experiments, describeExperiment(ro, ex))
		}
	}

	for _, rev := range byNumber {
		sort.Slice(rev.ReplicaSets, func(i, j int) bool { return rev.ReplicaSets[i].Name < rev.ReplicaSets[j].Name })
		d.Revisions = append(d.Revisions, *rev)
	}
	sort.Slice(d.Revisions, func(i, j int) bool { return d.Revisions[i].Number > d.Revisions[j].Number })
	return d
}
