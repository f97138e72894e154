package rolloutview

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/compare"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
)

// BuildExperiment returns the view of ex and the objects it owns at time
// now, as `get experiment` shows it. Owned.Experiments is not read.
func BuildExperiment(ex *v1alpha1.Experiment, owned Owned, now time.Time) Experiment {
	return indexOwned(owned).experiment(ex, now)
}

func (idx *index) replicaSet(rs *appsv1.ReplicaSet) ReplicaSet {
	node := ReplicaSet{
		Name:      rs.Name,
		Hash:      hashOf(rs),
		Revision:  revisionOf(rs),
		Template:  rs.Annotations[v1alpha1.ExperimentTemplateNameAnnotationKey],
		Images:    containerImages(&rs.Spec.Template.Spec),
		Desired:   deref(rs.Spec.Replicas, 1),
		Current:   rs.Status.Replicas,
		Ready:     rs.Status.ReadyReplicas,
		Available: rs.Status.AvailableReplicas,
		CreatedAt: rs.CreationTimestamp.Time,
		Roles:     []string{},
		Pods:      []Pod{},
	}
	node.Status = replicaSetStatus(rs)
	for _, ref := range configsnap.ParseCopies(rs.Annotations[configsnap.CopiesAnnotation]) {
		node.Config = append(node.Config, ref.String())
	}
	for _, p := range idx.pods[rs.UID] {
		pv := DescribePod(p)
		node.PodCounts.count(pv.State)
		node.Pods = append(node.Pods, pv)
	}
	return node
}

// replicaSetStatus derives a state from the counts and conditions.
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

func (c *PodCounts) count(s PodState) {
	c.Total++
	switch s {
	case PodReady:
		c.Ready++
	case PodRunning:
		c.Running++
	case PodPending:
		c.Pending++
	case PodTerminating:
		c.Terminating++
	case PodSucceeded:
		c.Succeeded++
	case PodFailed:
		c.Failed++
	default:
		c.Unknown++
	}
}

func (c *PodCounts) add(o PodCounts) {
	c.Total += o.Total
	c.Ready += o.Ready
	c.Running += o.Running
	c.Pending += o.Pending
	c.Terminating += o.Terminating
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.Unknown += o.Unknown
}

// DescribePod summarises a Pod; Status is the word kubectl's STATUS column
// shows, so users see the same words in every tool.
func DescribePod(p *corev1.Pod) Pod {
	node := Pod{Name: p.Name, CreatedAt: p.CreationTimestamp.Time, Containers: int32(len(p.Spec.Containers)), State: podState(p)}
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
			node.ReadyContainers++
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
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			node.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return node
}

// podState sorts a Pod into its counting bucket. Deletion comes first: a
// terminating Pod may still be ready, but it is on its way out.
func podState(p *corev1.Pod) PodState {
	if p.DeletionTimestamp != nil {
		return PodTerminating
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return PodSucceeded
	case corev1.PodFailed:
		return PodFailed
	case corev1.PodUnknown:
		return PodUnknown
	case corev1.PodPending, "":
		return PodPending
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return PodReady
		}
	}
	return PodRunning
}

func (idx *index) analysisRun(run *v1alpha1.AnalysisRun) AnalysisRun {
	node := AnalysisRun{
		Name:      run.Name,
		Phase:     cmp.Or(run.Status.Phase, v1alpha1.AnalysisPhasePending),
		Message:   run.Status.Message,
		Kind:      run.Labels[v1alpha1.RolloutTypeLabel],
		Hash:      hashOf(run),
		Revision:  revisionOf(run),
		CreatedAt: run.CreationTimestamp.Time,
		Metrics:   []Metric{},
	}
	if s, ok := run.Labels[v1alpha1.RolloutCanaryStepIndexLabel]; ok {
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			i := int32(n)
			node.StepIndex = &i
		}
	}
	results := map[string]*v1alpha1.MetricResult{}
	names := make([]string, 0, len(run.Spec.Metrics))
	for _, m := range run.Spec.Metrics {
		names = append(names, m.Name)
	}
	for i := range run.Status.MetricResults {
		r := &run.Status.MetricResults[i]
		results[r.Name] = r
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
		node.Successful += r.Successful
		node.Failed += r.Failed
		node.Inconclusive += r.Inconclusive
		node.Error += r.Error
	}
	for _, name := range names {
		m := Metric{Name: name, Phase: v1alpha1.AnalysisPhasePending, Measurements: []Measurement{}}
		if r := results[name]; r != nil {
			m.Phase, m.Message, m.DryRun = cmp.Or(r.Phase, v1alpha1.AnalysisPhasePending), r.Message, r.DryRun
			m.Successful, m.Failed, m.Inconclusive, m.Error = r.Successful, r.Failed, r.Inconclusive, r.Error
			for _, ms := range r.Measurements {
				mv := Measurement{
					Phase: ms.Phase, Value: ms.Value, Number: ParseNumber(ms.Value), Message: ms.Message,
					StartedAt: timeOf(ms.StartedAt), FinishedAt: timeOf(ms.FinishedAt),
				}
				if rep, ok := compare.ParseMetadata(ms.Metadata); ok {
					mv.Judgement = &rep
				}
				m.Measurements = append(m.Measurements, mv)
			}
		}
		node.Metrics = append(node.Metrics, m)
	}
	for _, j := range idx.jobs[run.UID] {
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

// ParseNumber reads a measured value as a number: "0.98", or a list of one
// number such as Prometheus vectors give, "[0.98]". Nil for anything else.
func ParseNumber(v string) *float64 {
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

func (idx *index) experiment(ex *v1alpha1.Experiment, now time.Time) Experiment {
	node := Experiment{
		Name:         ex.Name,
		Namespace:    ex.Namespace,
		Phase:        cmp.Or(ex.Status.Phase, v1alpha1.AnalysisPhasePending),
		Message:      ex.Status.Message,
		Hash:         hashOf(ex),
		Duration:     string(ex.Spec.Duration),
		CreatedAt:    ex.CreationTimestamp.Time,
		AvailableAt:  timeOf(ex.Status.AvailableAt),
		Templates:    []ExperimentTemplate{},
		Analyses:     []ExperimentAnalysis{},
		ReplicaSets:  []ReplicaSet{},
		AnalysisRuns: []AnalysisRun{},
	}
	node.Remaining = remaining(node, now)
	statuses := map[string]v1alpha1.TemplateStatus{}
	for _, ts := range ex.Status.TemplateStatuses {
		statuses[ts.Name] = ts
	}
	// Spec order, so a template shows before its controller reported on it.
	for _, t := range ex.Spec.Templates {
		ts := statuses[t.Name]
		node.Templates = append(node.Templates, ExperimentTemplate{
			Name: t.Name, Status: string(cmp.Or(ts.Status, v1alpha1.TemplateStatusProgressing)),
			Replicas: ts.Replicas, Available: ts.AvailableReplicas, ServiceName: ts.ServiceName,
		})
	}
	for _, r := range ex.Status.AnalysisRuns {
		node.Analyses = append(node.Analyses, ExperimentAnalysis{Name: r.Name, AnalysisRun: r.AnalysisRun, Phase: r.Phase, Message: r.Message})
	}
	for _, rs := range idx.rs[ex.UID] {
		n := idx.replicaSet(rs)
		if ts, ok := statuses[n.Template]; ok && n.Template != "" {
			n.TemplateStatus, n.Service = string(ts.Status), ts.ServiceName
		}
		node.ReplicaSets = append(node.ReplicaSets, n)
	}
	for _, run := range idx.runs[ex.UID] {
		node.AnalysisRuns = append(node.AnalysisRuns, idx.analysisRun(run))
	}
	return node
}

// remaining is how much of an Experiment's duration is left at now.
func remaining(e Experiment, now time.Time) *time.Duration {
	if e.Duration == "" || e.AvailableAt == nil || e.Phase.Completed() {
		return nil
	}
	d, err := v1alpha1.DurationString(e.Duration).Duration()
	if err != nil {
		return nil
	}
	left := max(d-now.Sub(*e.AvailableAt), 0)
	return &left
}

// DescribeStep says what a canary step does, e.g. "setWeight 20",
// "pause 10s", "pause (until promoted)" or "analysis: success-rate".
func DescribeStep(s v1alpha1.CanaryStep) string {
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
		names := make([]string, 0, len(s.Analysis.Templates))
		for _, t := range s.Analysis.Templates {
			names = append(names, t.TemplateName)
		}
		return "analysis: " + strings.Join(names, ", ")
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

// timeOf copies a Kubernetes time; nil stays nil.
func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
