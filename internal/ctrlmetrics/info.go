package ctrlmetrics

import (
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

var (
	descRolloutInfo = infoDesc("rollout_info", "Information about rollout.",
		[]string{"namespace", "name", "strategy", "traffic_router", "phase"}, nil)
	descReplicasAvailable = infoDesc("rollout_info_replicas_available",
		"The number of available replicas per rollout.", []string{"namespace", "name"}, nil)
	descReplicasUnavailable = infoDesc("rollout_info_replicas_unavailable",
		"The number of unavailable replicas per rollout.", []string{"namespace", "name"}, nil)
	descReplicasDesired = infoDesc("rollout_info_replicas_desired",
		"The number of desired replicas per rollout.", []string{"namespace", "name"}, nil)
	descReplicasUpdated = infoDesc("rollout_info_replicas_updated",
		"The number of updated replicas per rollout.", []string{"namespace", "name"}, nil)
	descRolloutPhase = infoDesc("rollout_phase",
		"Information on the state of the rollout (DEPRECATED - use rollout_info)",
		[]string{"namespace", "name", "strategy", "phase"}, nil)

	descRunInfo = infoDesc("analysis_run_info", "Information about analysis run.",
		[]string{"namespace", "name", "phase"}, nil)
	descRunPhase = infoDesc("analysis_run_phase",
		"Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
		[]string{"namespace", "name", "phase"}, nil)
	descRunMetricType = infoDesc("analysis_run_metric_type",
		"Information on the type of a specific metric in the Analysis Runs",
		[]string{"namespace", "name", "metric", "type"}, nil)
	descRunMetricPhase = infoDesc("analysis_run_metric_phase",
		"Information on the duration of a specific metric in the Analysis Run",
		[]string{"namespace", "name", "metric", "type", "dry_run", "phase"}, nil)

	descExperimentInfo = infoDesc("experiment_info", "Information about Experiment.",
		[]string{"namespace", "name", "phase"}, nil)
	descExperimentPhase = infoDesc("experiment_phase",
		"Information on the state of the experiment (DEPRECATED - use experiment_info)",
		[]string{"namespace", "name", "phase"}, nil)

	descTemplateInfo = infoDesc("analysis_template_info", "Information about analysis templates.",
		[]string{"namespace", "name"}, nil)
	descTemplateMetricInfo = infoDesc("analysis_template_metric_info", "Information on metrics in analysis templates.",
		[]string{"namespace", "name", "type", "metric"}, nil)

	infoDescs = []*prometheus.Desc{descRolloutInfo, descReplicasAvailable, descReplicasUnavailable,
		descReplicasDesired, descReplicasUpdated, descRolloutPhase, descRunInfo, descRunPhase,
		descRunMetricType, descRunMetricPhase, descExperimentInfo, descExperimentPhase,
		descTemplateInfo, descTemplateMetricInfo}
)

// infoFamily is what a scrape served without the registry (Gatherer)
// needs of an info gauge's family, which a Desc does not expose.
type infoFamily struct {
	name, help string
}

// infoFamilies describes every info gauge's Desc.
var infoFamilies = map[*prometheus.Desc]infoFamily{}

func infoDesc(name, help string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, constLabels)
	infoFamilies[d] = infoFamily{name: name, help: help}
	return d
}

// The values of rollout_info's and rollout_phase's phase label: the
// reference derives them from the Progressing condition's reason rather
// than from status.phase.
const (
	phaseCompleted   = "Completed"
	phaseProgressing = "Progressing"
	phasePaused      = "Paused"
	phaseTimeout     = "Timeout"
	phaseError       = "Error"
	phaseAbort       = "Abort"
	phaseInvalidSpec = "InvalidSpec"
)

// rolloutPhaseValues are the phases rollout_phase has one series for;
// InvalidSpec has none there, as in the reference.
var rolloutPhaseValues = []string{phaseCompleted, phaseProgressing, phasePaused, phaseTimeout, phaseError, phaseAbort}

// Condition reasons of the Progressing condition the phase is read from.
const (
	reasonNewRSAvailable  = "NewReplicaSetAvailable"
	reasonPaused          = "RolloutPaused"
	reasonRSCreateError   = "ReplicaSetCreateError"
	reasonDeadlineExpired = "ProgressDeadlineExceeded"
	reasonAborted         = "RolloutAborted"
)

func condition(ro *v1alpha1.Rollout, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == t {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

// rolloutPhase is the reference's metrics phase of a Rollout.
func rolloutPhase(ro *v1alpha1.Rollout) string {
	if c := condition(ro, v1alpha1.InvalidSpec); c != nil && c.Status == corev1.ConditionTrue {
		return phaseInvalidSpec
	}
	phase := phaseProgressing
	if c := condition(ro, v1alpha1.RolloutProgressing); c != nil {
		switch c.Reason {
		case reasonNewRSAvailable:
			phase = phaseCompleted
		case reasonPaused:
			phase = phasePaused
		case reasonRSCreateError:
			phase = phaseError
		case reasonDeadlineExpired:
			phase = phaseTimeout
		case reasonAborted:
			phase = phaseAbort
		}
	}
	return phase
}

// strategyAndRouter are the strategy and traffic_router labels. The
// reference names only the routers below; a Rollout behind any other
// (Traefik, Apisix, a plugin) has an empty traffic_router there too.
func strategyAndRouter(ro *v1alpha1.Rollout) (string, string) {
	s := ro.Spec.Strategy
	switch {
	case s.BlueGreen != nil:
		return "blueGreen", ""
	case s.Canary == nil:
		return "none", ""
	}
	tr := s.Canary.TrafficRouting
	router := ""
	if tr != nil {
		// Later entries win when a Rollout names several, as in the
		// reference.
		for _, r := range []struct {
			set  bool
			name string
		}{
			{tr.ALB != nil, "ALB"}, {tr.Ambassador != nil, "Ambassador"}, {tr.Istio != nil, "Istio"},
			{tr.Nginx != nil, "Nginx"}, {tr.SMI != nil, "SMI"}, {tr.AppMesh != nil, "AppMesh"},
		} {
			if r.set {
				router = r.name
			}
		}
	}
	return "canary", router
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (b *seriesBuilder) rollout(ro *v1alpha1.Rollout) {
	strategy, router := strategyAndRouter(ro)
	phase := rolloutPhase(ro)
	ns, name := ownPair("namespace", ro.Namespace), ownPair("name", ro.Name)
	strategyPair := sharedPair("strategy", strategy)
	desired := int32(1)
	if ro.Spec.Replicas != nil {
		desired = *ro.Spec.Replicas
	}
	b.add(descRolloutInfo, 1, ns, name, strategyPair, sharedPair("traffic_router", router), sharedPair("phase", phase))
	b.add(descReplicasAvailable, float64(ro.Status.AvailableReplicas), ns, name)
	b.add(descReplicasUnavailable, float64(ro.Status.Replicas-ro.Status.AvailableReplicas), ns, name)
	b.add(descReplicasDesired, float64(desired), ns, name)
	b.add(descReplicasUpdated, float64(ro.Status.UpdatedReplicas), ns, name)
	for _, p := range rolloutPhaseValues {
		b.add(descRolloutPhase, boolValue(phase == p), ns, name, strategyPair, sharedPair("phase", p))
	}
}

// analysisPhases are the phases the deprecated run and metric phase gauges
// have one series for; "" counts as Pending.
var analysisPhases = []v1alpha1.AnalysisPhase{
	v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseFailed,
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive,
}

func isPhase(got, want v1alpha1.AnalysisPhase) bool {
	return got == want || (got == "" && want == v1alpha1.AnalysisPhasePending)
}

// providerType is the reference's name of a metric's provider.
func providerType(m v1alpha1.Metric) string {
	p := m.Provider
	switch {
	case p.Prometheus != nil:
		return "Prometheus"
	case p.Job != nil:
		return "Job"
	case p.Kayenta != nil:
		return "Kayenta"
	case p.Web != nil:
		return "Web"
	case p.Datadog != nil:
		return "Datadog"
	case p.Wavefront != nil:
		return "Wavefront"
	case p.NewRelic != nil:
		return "NewRelic"
	case p.CloudWatch != nil:
		return "CloudWatch"
	case p.Graphite != nil:
		return "Graphite"
	case p.Influxdb != nil:
		return "Influxdb"
	case p.SkyWalking != nil:
		return "SkyWalking"
	case len(p.Plugin) > 0:
		return "RPCPlugin"
	}
	return "Unknown Provider"
}

func (b *seriesBuilder) analysisRun(run *v1alpha1.AnalysisRun) {
	ns, name, phase := ownPair("namespace", run.Namespace), ownPair("name", run.Name), run.Status.Phase
	b.add(descRunInfo, 1, ns, name, sharedPair("phase", string(phase)))
	for _, p := range analysisPhases {
		b.add(descRunPhase, boolValue(isPhase(phase, p)), ns, name, sharedPair("phase", string(p)))
	}
	results := map[string]*v1alpha1.MetricResult{}
	for i := range run.Status.MetricResults {
		results[run.Status.MetricResults[i].Name] = &run.Status.MetricResults[i]
	}
	for _, m := range run.Spec.Metrics {
		typ := sharedPair("type", providerType(m))
		var got v1alpha1.AnalysisPhase
		dry := dryRun(run, m.Name)
		if r := results[m.Name]; r != nil {
			got, dry = r.Phase, r.DryRun
		}
		metric, dryPair := ownPair("metric", m.Name), sharedPair("dry_run", strconv.FormatBool(dry))
		b.add(descRunMetricType, 1, ns, name, metric, typ)
		for _, p := range analysisPhases {
			b.add(descRunMetricPhase, boolValue(isPhase(got, p)), ns, name, metric, typ, dryPair, sharedPair("phase", string(p)))
		}
	}
}

// dryRun reports whether spec.dryRun names the metric, by name or by a
// regular expression matching the whole name, as the engine reads it; the
// metric's result records the engine's verdict once it has one.
func dryRun(run *v1alpha1.AnalysisRun, metric string) bool {
	for _, d := range run.Spec.DryRun {
		if d.MetricName == metric {
			return true
		}
		if re, err := regexp.Compile("^(?:" + d.MetricName + ")$"); err == nil && re.MatchString(metric) {
			return true
		}
	}
	return false
}

// experimentPhases are the phases experiment_phase has one series for: the
// reference has none for Failed.
var experimentPhases = []v1alpha1.AnalysisPhase{
	v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseSuccessful,
	v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive,
}

func (b *seriesBuilder) experiment(ex *v1alpha1.Experiment) {
	ns, name, phase := ownPair("namespace", ex.Namespace), ownPair("name", ex.Name), ex.Status.Phase
	b.add(descExperimentInfo, 1, ns, name, sharedPair("phase", string(phase)))
	for _, p := range experimentPhases {
		b.add(descExperimentPhase, boolValue(isPhase(phase, p)), ns, name, sharedPair("phase", string(p)))
	}
}

// template renders the gauges of one analysis template; a cluster
// template has an empty namespace.
func (b *seriesBuilder) template(namespace, name string, spec *v1alpha1.AnalysisTemplateSpec) {
	ns, n := ownPair("namespace", namespace), ownPair("name", name)
	b.add(descTemplateInfo, 1, ns, n)
	for _, m := range spec.Metrics {
		b.add(descTemplateMetricInfo, 1, ns, n, sharedPair("type", providerType(m)), ownPair("metric", m.Name))
	}
}
