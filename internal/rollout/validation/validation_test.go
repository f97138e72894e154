package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

func i32(v int32) *int32 { return &v }

func intOrStr(v intstr.IntOrString) *intstr.IntOrString { return &v }

// canaryRollout is a valid canary Rollout without a traffic router; each
// case breaks one thing in a copy.
func canaryRollout() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: i32(3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryService: "web-canary",
				StableService: "web-stable",
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: i32(20)},
					{Pause: &v1alpha1.RolloutPause{}},
				},
			}},
		},
	}
}

// blueGreenRollout is a valid blue-green Rollout.
func blueGreenRollout() *v1alpha1.Rollout {
	ro := canaryRollout()
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		ActiveService:  "web-active",
		PreviewService: "web-preview",
	}}
	return ro
}

// istio gives the canary an Istio router with one VirtualService.
func istio(ro *v1alpha1.Rollout) *v1alpha1.RolloutTrafficRouting {
	tr := &v1alpha1.RolloutTrafficRouting{Istio: &v1alpha1.IstioTrafficRouting{
		VirtualService: &v1alpha1.IstioVirtualService{Name: "web-vs"},
	}}
	ro.Spec.Strategy.Canary.TrafficRouting = tr
	return tr
}

func canary(ro *v1alpha1.Rollout) *v1alpha1.CanaryStrategy { return ro.Spec.Strategy.Canary }

func blueGreen(ro *v1alpha1.Rollout) *v1alpha1.BlueGreenStrategy { return ro.Spec.Strategy.BlueGreen }

func TestSpec(t *testing.T) {
	cases := []struct {
		name string
		base func() *v1alpha1.Rollout // canaryRollout when nil
		mut  func(ro *v1alpha1.Rollout)
		// field and msg describe the one expected error; an empty field
		// means the Rollout is valid.
		field, msg string
	}{
		// Strategy.
		{name: "no strategy", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Strategy = v1alpha1.RolloutStrategy{} },
			field: "spec.strategy", msg: "Required value: set exactly one of canary or blueGreen"},
		{name: "both strategies", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.BlueGreen = blueGreen(blueGreenRollout())
		}, field: "spec.strategy", msg: "canary and blueGreen are both set"},

		// Selector and template.
		{name: "selector missing", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Selector = nil },
			field: "spec.selector", msg: "required unless spec.workloadRef is set"},
		{name: "selector empty", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Selector = &metav1.LabelSelector{} },
			field: "spec.selector", msg: "must not be empty"},
		{name: "selector bad operator", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near", Values: []string{"x"}}}
		}, field: "spec.selector.matchExpressions[0].operator", msg: "not a valid selector operator"},
		{name: "selector does not match template", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Template.Labels = map[string]string{"app": "api"} },
			field: "spec.template.metadata.labels", msg: `Invalid value: "app=api": does not match spec.selector (app=web)`},
		{name: "template without containers", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers = nil },
			field: "spec.template.spec.containers", msg: "at least one container"},
		{name: "template and workloadRef", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
		}, field: "spec.template", msg: "must be empty when spec.workloadRef is set"},
		{name: "workloadRef with empty template and no selector is valid", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", ScaleDown: "onsuccess"}
			ro.Spec.Template = corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{}}}
			ro.Spec.Selector = nil
		}},

		// Counts and timing.
		{name: "negative replicas", mut: func(ro *v1alpha1.Rollout) { ro.Spec.Replicas = i32(-1) },
			field: "spec.replicas", msg: "Invalid value: -1: must be 0 or more"},
		{name: "negative minReadySeconds", mut: func(ro *v1alpha1.Rollout) { ro.Spec.MinReadySeconds = -1 },
			field: "spec.minReadySeconds", msg: "must be 0 or more"},
		{name: "negative revisionHistoryLimit", mut: func(ro *v1alpha1.Rollout) { ro.Spec.RevisionHistoryLimit = i32(-2) },
			field: "spec.revisionHistoryLimit", msg: "Invalid value: -2: must be 0 or more"},
		{name: "progress deadline not above minReadySeconds", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.MinReadySeconds = 30
			ro.Spec.ProgressDeadlineSeconds = i32(30)
		}, field: "spec.progressDeadlineSeconds", msg: "greater than minReadySeconds (30)"},
		{name: "minReadySeconds not below default deadline", mut: func(ro *v1alpha1.Rollout) { ro.Spec.MinReadySeconds = 600 },
			field: "spec.minReadySeconds", msg: "defaults to 600"},
		{name: "progressDeadlineAbort with long deadline is valid", mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.MinReadySeconds = 600
			ro.Spec.ProgressDeadlineSeconds = i32(900)
			ro.Spec.ProgressDeadlineAbort = true
		}},

		// workloadRef.
		{name: "workloadRef kind unsupported", mut: workloadRef(func(r *v1alpha1.ObjectRef) { r.Kind = "ReplicaSet" }),
			field: "spec.workloadRef.kind", msg: `Invalid value: "ReplicaSet": is not supported: only a Deployment`},
		{name: "workloadRef kind missing", mut: workloadRef(func(r *v1alpha1.ObjectRef) { r.Kind = "" }),
			field: "spec.workloadRef.kind", msg: "must be Deployment"},
		{name: "workloadRef apiVersion", mut: workloadRef(func(r *v1alpha1.ObjectRef) { r.APIVersion = "apps/v1beta1" }),
			field: "spec.workloadRef.apiVersion", msg: "must be apps/v1"},
		{name: "workloadRef name", mut: workloadRef(func(r *v1alpha1.ObjectRef) { r.Name = "" }),
			field: "spec.workloadRef.name", msg: "Required value"},
		{name: "workloadRef scaleDown", mut: workloadRef(func(r *v1alpha1.ObjectRef) { r.ScaleDown = "sometimes" }),
			field: "spec.workloadRef.scaleDown", msg: `Unsupported value: "sometimes": supported values: "never", "onsuccess", "progressively"`},

		// maxSurge / maxUnavailable.
		{name: "surge and unavailable both zero", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).MaxSurge = intOrStr(intstr.FromInt32(0))
			canary(ro).MaxUnavailable = intOrStr(intstr.FromString("0%"))
		}, field: "spec.strategy.canary.maxSurge", msg: "both 0"},
		{name: "surge without percent sign", mut: func(ro *v1alpha1.Rollout) { canary(ro).MaxSurge = intOrStr(intstr.FromString("25")) },
			field: "spec.strategy.canary.maxSurge", msg: `Invalid value: "25": must be a non-negative integer or a percentage such as "25%"`},
		{name: "unavailable not a number", mut: func(ro *v1alpha1.Rollout) { canary(ro).MaxUnavailable = intOrStr(intstr.FromString("one%")) },
			field: "spec.strategy.canary.maxUnavailable", msg: "percentage such as"},
		{name: "unavailable negative", mut: func(ro *v1alpha1.Rollout) { canary(ro).MaxUnavailable = intOrStr(intstr.FromInt32(-1)) },
			field: "spec.strategy.canary.maxUnavailable", msg: "Invalid value: -1"},
		{name: "unavailable above 100%", mut: func(ro *v1alpha1.Rollout) { canary(ro).MaxUnavailable = intOrStr(intstr.FromString("150%")) },
			field: "spec.strategy.canary.maxUnavailable", msg: "must not be more than 100%"},
		{name: "surge 1 unavailable 0 is valid", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).MaxSurge = intOrStr(intstr.FromInt32(1))
			canary(ro).MaxUnavailable = intOrStr(intstr.FromInt32(0))
		}},

		// Steps.
		{name: "empty step", mut: func(ro *v1alpha1.Rollout) { canary(ro).Steps[1] = v1alpha1.CanaryStep{} },
			field: "spec.strategy.canary.steps[1]", msg: "the step is empty"},
		{name: "duplicate step fields", mut: func(ro *v1alpha1.Rollout) { canary(ro).Steps[0].Pause = &v1alpha1.RolloutPause{} },
			field: "spec.strategy.canary.steps[0]", msg: "the step sets setWeight and pause"},
		{name: "setWeight above 100", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps = append(canary(ro).Steps, v1alpha1.CanaryStep{SetWeight: i32(120)})
		},
			field: "spec.strategy.canary.steps[2].setWeight", msg: "Invalid value: 120: must be between 0 and 100"},
		{name: "setWeight negative", mut: func(ro *v1alpha1.Rollout) { canary(ro).Steps[0].SetWeight = i32(-5) },
			field: "spec.strategy.canary.steps[0].setWeight", msg: "must be between 0 and 100"},
		{name: "setWeight up to maxTrafficWeight is valid", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{
				Nginx:            &v1alpha1.NginxTrafficRouting{StableIngress: "web"},
				MaxTrafficWeight: i32(1000),
			}
			canary(ro).Steps[0].SetWeight = i32(500)
		}},
		{name: "pause in words", mut: pause(intstr.FromString("5 minutes")),
			field: "spec.strategy.canary.steps[1].pause.duration", msg: `Invalid value: "5 minutes": must be a non-negative number of seconds, or a duration with a unit`},
		{name: "pause negative duration", mut: pause(intstr.FromString("-1s")),
			field: "spec.strategy.canary.steps[1].pause.duration", msg: "non-negative"},
		{name: "pause negative seconds", mut: pause(intstr.FromInt32(-5)),
			field: "spec.strategy.canary.steps[1].pause.duration", msg: "Invalid value: -5"},
		{name: "pause seconds as string is valid", mut: pause(intstr.FromString("30"))},
		{name: "pause with unit is valid", mut: pause(intstr.FromString("1h30m"))},
		{name: "setCanaryScale two fields", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: i32(2), MatchTrafficWeight: true}}
		}, field: "spec.strategy.canary.steps[0].setCanaryScale", msg: "at most one of replicas, weight or matchTrafficWeight"},
		{name: "setCanaryScale weight above 100", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: i32(101)}}
		}, field: "spec.strategy.canary.steps[0].setCanaryScale.weight", msg: "between 0 and 100"},
		{name: "setCanaryScale negative replicas", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: i32(-1)}}
		}, field: "spec.strategy.canary.steps[0].setCanaryScale.replicas", msg: "must be 0 or more"},
		{name: "setCanaryScale without router", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: i32(50)}}
		}, field: "spec.strategy.canary.steps[0].setCanaryScale", msg: "needs spec.strategy.canary.trafficRouting"},
		{name: "setHeaderRoute without router", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}}
		}, field: "spec.strategy.canary.steps[0].setHeaderRoute", msg: "needs spec.strategy.canary.trafficRouting with istio, alb, apisix or plugins"},
		{name: "setHeaderRoute not in managedRoutes", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "other"}}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}}
		}, field: "spec.strategy.canary.steps[0].setHeaderRoute.name", msg: `Invalid value: "beta": is not listed in spec.strategy.canary.trafficRouting.managedRoutes`},
		{name: "setHeaderRoute listed is valid", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "beta"}}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
				{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}},
			}}}
		}},
		{name: "header match with two values", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "beta"}}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
				{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Exact: "1", Regex: ".*"}},
			}}}
		}, field: "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue", msg: "exactly one of exact, prefix or regex"},
		{name: "header match prefix on alb", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{
				ALB:           &v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 80},
				ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "beta"}},
			}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
				{HeaderName: "x-beta", HeaderValue: &v1alpha1.StringMatch{Prefix: "1"}},
			}}}
		}, field: "spec.strategy.canary.steps[0].setHeaderRoute.match[0].headerValue", msg: "exact values only"},
		{name: "setMirrorRoute on nginx", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{
				Nginx:         &v1alpha1.NginxTrafficRouting{StableIngress: "web"},
				ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "mirror"}},
			}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "mirror"}}
		}, field: "spec.strategy.canary.steps[0].setMirrorRoute", msg: "needs spec.strategy.canary.trafficRouting with istio"},
		{name: "setMirrorRoute without managedRoutes", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: i32(50)}}
		}, field: "spec.strategy.canary.steps[0].setMirrorRoute.name", msg: "is not listed in spec.strategy.canary.trafficRouting.managedRoutes"},
		{name: "setMirrorRoute percentage", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "mirror"}}
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: i32(200)}}
		}, field: "spec.strategy.canary.steps[0].setMirrorRoute.percentage", msg: "between 0 and 100"},
		{name: "experiment weight without router", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
				Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "exp", SpecRef: v1alpha1.CanarySpecRef, Weight: i32(10)}},
			}}
		}, field: "spec.strategy.canary.steps[1].experiment.templates[0].weight", msg: "needs spec.strategy.canary.trafficRouting"},
		{name: "experiment weight with a router that cannot carry it", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).TrafficRouting.Nginx = &v1alpha1.NginxTrafficRouting{StableIngress: "web"}
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
				Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "exp", SpecRef: v1alpha1.CanarySpecRef, Weight: i32(10)}},
			}}
		}, field: "spec.strategy.canary.steps[1].experiment.templates[0].weight", msg: "nginx cannot send traffic to a third destination"},
		{name: "experiment weights beyond the stable's share", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).Steps[0] = v1alpha1.CanaryStep{SetWeight: i32(60)}
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
				Templates: []v1alpha1.RolloutExperimentTemplate{
					{Name: "a", SpecRef: v1alpha1.CanarySpecRef, Weight: i32(30)},
					{Name: "b", SpecRef: v1alpha1.StableSpecRef, Weight: i32(30)},
				},
			}}
		}, field: "spec.strategy.canary.steps[1].experiment.templates", msg: "add up to more than 100"},
		{name: "experiment bad duration", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
				Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "exp", SpecRef: v1alpha1.StableSpecRef}},
				Duration:  "forever",
			}}
		}, field: "spec.strategy.canary.steps[1].experiment.duration", msg: `Invalid value: "forever"`},
		{name: "experiment specRef", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
				Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "exp", SpecRef: "latest"}},
			}}
		}, field: "spec.strategy.canary.steps[1].experiment.templates[0].specRef", msg: `supported values: "canary", "stable"`},

		// Analysis.
		{name: "startingStep beyond steps", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "err"}}},
				StartingStep:    i32(3),
			}
		}, field: "spec.strategy.canary.analysis.startingStep", msg: "Invalid value: 3: must be between 0 and 2"},
		{name: "startingStep at len(steps) is valid", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "err"}}},
				StartingStep:    i32(2),
			}
		}},
		{name: "analysis template without name", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{ClusterScope: true}},
			}}
		}, field: "spec.strategy.canary.analysis.templates[0].templateName", msg: "Required value"},
		{name: "analysis without templates", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).Steps[1] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{}}
		}, field: "spec.strategy.canary.steps[1].analysis.templates", msg: "at least one analysis template"},
		{name: "arg without name", mut: stepAnalysisArgs(v1alpha1.AnalysisRunArgument{Value: "x"}),
			field: "spec.strategy.canary.steps[1].analysis.args[0].name", msg: "Required value"},
		{name: "duplicate arg names", mut: stepAnalysisArgs(v1alpha1.AnalysisRunArgument{Name: "svc", Value: "a"}, v1alpha1.AnalysisRunArgument{Name: "svc", Value: "b"}),
			field: "spec.strategy.canary.steps[1].analysis.args[1].name", msg: `Duplicate value: "svc"`},
		{name: "arg hash value unsupported", mut: stepAnalysisArgs(v1alpha1.AnalysisRunArgument{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{
			PodTemplateHashValue: func() *v1alpha1.ValueFromPodTemplateHash { v := v1alpha1.ValueFromPodTemplateHash("Newest"); return &v }(),
		}}), field: "spec.strategy.canary.steps[1].analysis.args[0].valueFrom.podTemplateHashValue", msg: `supported values: "Stable", "Latest"`},
		{name: "arg value and valueFrom", mut: stepAnalysisArgs(v1alpha1.AnalysisRunArgument{Name: "ns", Value: "x", ValueFrom: &v1alpha1.ArgumentValueFrom{
			FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.namespace"},
		}}), field: "spec.strategy.canary.steps[1].analysis.args[0]", msg: "value and valueFrom are both set"},

		// Services.
		{name: "router without canaryService", mut: func(ro *v1alpha1.Rollout) { istio(ro); canary(ro).CanaryService = "" },
			field: "spec.strategy.canary.canaryService", msg: "is required with trafficRouting"},
		{name: "router without stableService", mut: func(ro *v1alpha1.Rollout) { istio(ro); canary(ro).StableService = "" },
			field: "spec.strategy.canary.stableService", msg: "is required with trafficRouting"},
		{name: "istio subset routing needs no services", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).Istio.DestinationRule = &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"}
			canary(ro).CanaryService, canary(ro).StableService = "", ""
		}},
		{name: "same canary and stable service", mut: func(ro *v1alpha1.Rollout) { canary(ro).StableService = "web-canary" },
			field: "spec.strategy.canary.stableService", msg: `Invalid value: "web-canary": must differ from canaryService`},
		{name: "no services without router is valid", mut: func(ro *v1alpha1.Rollout) { canary(ro).CanaryService, canary(ro).StableService = "", "" }},
		{name: "ping and pong alike", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).PingPong = &v1alpha1.PingPongSpec{PingService: "web-ping", PongService: "web-ping"}
		}, field: "spec.strategy.canary.pingPong.pongService", msg: "must differ from pingService"},
		{name: "ping-pong on istio without canary and stable services", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).CanaryService, canary(ro).StableService = "", ""
			canary(ro).PingPong = &v1alpha1.PingPongSpec{PingService: "web-ping", PongService: "web-pong"}
		}},
		{name: "ping-pong on nginx", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"}}
			canary(ro).PingPong = &v1alpha1.PingPongSpec{PingService: "web-ping", PongService: "web-pong"}
		}, field: "spec.strategy.canary.pingPong", msg: "works only with the alb or istio traffic router"},

		// Traffic routing.
		{name: "istio virtualService and virtualServices", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).Istio.VirtualServices = []v1alpha1.IstioVirtualService{{Name: "other"}}
		}, field: "spec.strategy.canary.trafficRouting.istio", msg: "virtualService and virtualServices are both set"},
		{name: "istio without virtual service", mut: func(ro *v1alpha1.Rollout) { istio(ro).Istio.VirtualService = nil },
			field: "spec.strategy.canary.trafficRouting.istio.virtualService", msg: "set virtualService or virtualServices"},
		{name: "nginx stableIngress and stableIngresses", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "a", StableIngresses: []string{"b"}}}
		}, field: "spec.strategy.canary.trafficRouting.nginx", msg: "stableIngress and stableIngresses are both set"},
		{name: "alb ingress and ingresses", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "a", Ingresses: []string{"b"}, ServicePort: 80}}
		}, field: "spec.strategy.canary.trafficRouting.alb", msg: "ingress and ingresses are both set"},
		{name: "alb servicePort missing", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingress: "a"}}
		}, field: "spec.strategy.canary.trafficRouting.alb.servicePort", msg: "Invalid value: 0: must be between 1 and 65535"},
		{name: "maxTrafficWeight zero", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "a"}, MaxTrafficWeight: i32(0)}
		}, field: "spec.strategy.canary.trafficRouting.maxTrafficWeight", msg: "Invalid value: 0: must be greater than 0"},
		{name: "maxTrafficWeight on istio", mut: func(ro *v1alpha1.Rollout) { istio(ro).MaxTrafficWeight = i32(1000) },
			field: "spec.strategy.canary.trafficRouting.maxTrafficWeight", msg: "only with the nginx router or plugins"},
		{name: "trafficRouting without router", mut: func(ro *v1alpha1.Rollout) { canary(ro).TrafficRouting = &v1alpha1.RolloutTrafficRouting{} },
			field: "spec.strategy.canary.trafficRouting", msg: "name a traffic router"},
		{name: "duplicate managed route", mut: func(ro *v1alpha1.Rollout) {
			istio(ro).ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "a"}, {Name: "a"}}
		}, field: "spec.strategy.canary.trafficRouting.managedRoutes[1].name", msg: `Duplicate value: "a"`},
		{name: "scaleDownDelaySeconds without router", mut: func(ro *v1alpha1.Rollout) { canary(ro).ScaleDownDelaySeconds = i32(30) },
			field: "spec.strategy.canary.scaleDownDelaySeconds", msg: "takes effect only with trafficRouting"},
		{name: "dynamicStableScale without router", mut: func(ro *v1alpha1.Rollout) { canary(ro).DynamicStableScale = true },
			field: "spec.strategy.canary.dynamicStableScale", msg: "takes effect only with trafficRouting"},
		{name: "dynamicStableScale with scaleDownDelaySeconds", mut: func(ro *v1alpha1.Rollout) {
			istio(ro)
			canary(ro).DynamicStableScale = true
			canary(ro).ScaleDownDelaySeconds = i32(30)
		}, field: "spec.strategy.canary.dynamicStableScale", msg: "cannot be combined with scaleDownDelaySeconds"},

		// Anti-affinity and ephemeral metadata.
		{name: "antiAffinity both", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).AntiAffinity = &v1alpha1.AntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 10},
				RequiredDuringSchedulingIgnoredDuringExecution:  &v1alpha1.RequiredDuringSchedulingIgnoredDuringExecution{},
			}
		}, field: "spec.strategy.canary.antiAffinity", msg: "set exactly one"},
		{name: "antiAffinity neither", mut: func(ro *v1alpha1.Rollout) { canary(ro).AntiAffinity = &v1alpha1.AntiAffinity{} },
			field: "spec.strategy.canary.antiAffinity", msg: "set exactly one of preferredDuringSchedulingIgnoredDuringExecution or requiredDuringSchedulingIgnoredDuringExecution"},
		{name: "antiAffinity weight", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).AntiAffinity = &v1alpha1.AntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 0},
			}
		}, field: "spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight", msg: "Invalid value: 0: must be between 1 and 100"},
		{name: "canaryMetadata sets hash label", mut: func(ro *v1alpha1.Rollout) {
			canary(ro).CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"rollouts-pod-template-hash": "abc"}}
		}, field: "spec.strategy.canary.canaryMetadata.labels[rollouts-pod-template-hash]", msg: "is set by the controller"},

		// Blue-green.
		{name: "blueGreen valid", base: blueGreenRollout},
		{name: "activeService missing", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).ActiveService = "" },
			field: "spec.strategy.blueGreen.activeService", msg: "Required value"},
		{name: "previewService same as active", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).PreviewService = "web-active" },
			field: "spec.strategy.blueGreen.previewService", msg: `Invalid value: "web-active": must differ from activeService`},
		{name: "previewReplicaCount negative", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).PreviewReplicaCount = i32(-1) },
			field: "spec.strategy.blueGreen.previewReplicaCount", msg: "must be 0 or more"},
		{name: "previewReplicaCount above replicas is valid", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).PreviewReplicaCount = i32(5) }},
		{name: "autoPromotionSeconds negative", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).AutoPromotionSeconds = -1 },
			field: "spec.strategy.blueGreen.autoPromotionSeconds", msg: "must be 0 or more"},
		{name: "scaleDownDelaySeconds negative", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).ScaleDownDelaySeconds = i32(-30) },
			field: "spec.strategy.blueGreen.scaleDownDelaySeconds", msg: "Invalid value: -30"},
		{name: "abortScaleDownDelaySeconds negative", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).AbortScaleDownDelaySeconds = i32(-1) },
			field: "spec.strategy.blueGreen.abortScaleDownDelaySeconds", msg: "must be 0 or more"},
		{name: "scaleDownDelayRevisionLimit negative", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).ScaleDownDelayRevisionLimit = i32(-1) },
			field: "spec.strategy.blueGreen.scaleDownDelayRevisionLimit", msg: "must be 0 or more"},
		{name: "scaleDownDelayRevisionLimit above history", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) {
			ro.Spec.RevisionHistoryLimit = i32(2)
			blueGreen(ro).ScaleDownDelayRevisionLimit = i32(3)
		}, field: "spec.strategy.blueGreen.scaleDownDelayRevisionLimit", msg: "must not be more than spec.revisionHistoryLimit (2)"},
		{name: "blueGreen maxUnavailable", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) { blueGreen(ro).MaxUnavailable = intOrStr(intstr.FromString("half")) },
			field: "spec.strategy.blueGreen.maxUnavailable", msg: "percentage such as"},
		{name: "prePromotionAnalysis arg without name", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) {
			blueGreen(ro).PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "smoke"}},
				Args:      []v1alpha1.AnalysisRunArgument{{Value: "http://x"}},
			}
		}, field: "spec.strategy.blueGreen.prePromotionAnalysis.args[0].name", msg: "Required value"},
		{name: "blueGreen antiAffinity weight", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) {
			blueGreen(ro).AntiAffinity = &v1alpha1.AntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 101},
			}
		}, field: "spec.strategy.blueGreen.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight", msg: "between 1 and 100"},
		{name: "previewMetadata sets hash label", base: blueGreenRollout, mut: func(ro *v1alpha1.Rollout) {
			blueGreen(ro).PreviewMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"rollouts-pod-template-hash": "abc"}}
		}, field: "spec.strategy.blueGreen.previewMetadata.labels[rollouts-pod-template-hash]", msg: "Forbidden"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == nil {
				base = canaryRollout
			}
			ro := base()
			if tc.mut != nil {
				tc.mut(ro)
			}
			errs := Spec(ro)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("want no errors, got %d:\n%s", len(errs), dump(errs))
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want exactly one error at %s, got %d:\n%s", tc.field, len(errs), dump(errs))
			}
			if errs[0].Field != tc.field {
				t.Errorf("field = %q, want %q (%s)", errs[0].Field, tc.field, errs[0])
			}
			if !strings.Contains(errs[0].Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", errs[0].Error(), tc.msg)
			}
		})
	}
}

// TestSpecMessageFormat pins the full text of one error, which is what lint
// prints and the InvalidSpec condition shows.
func TestSpecMessageFormat(t *testing.T) {
	ro := canaryRollout()
	canary(ro).Steps = append(canary(ro).Steps, v1alpha1.CanaryStep{SetWeight: i32(120)})
	got := Message(Spec(ro))
	want := "spec.strategy.canary.steps[2].setWeight: Invalid value: 120: must be between 0 and 100"
	if got != want {
		t.Fatalf("Message = %q, want %q", got, want)
	}
}

func TestMessage(t *testing.T) {
	p := field.NewPath("spec", "replicas")
	errs := field.ErrorList{
		field.Invalid(p, int32(-1), "must be 0 or more"),
		field.Required(field.NewPath("spec", "selector"), "a selector is required"),
		field.Invalid(p, int32(-1), "must be 0 or more"),
	}
	want := "spec.replicas: Invalid value: -1: must be 0 or more; spec.selector: Required value: a selector is required"
	if got := Message(errs); got != want {
		t.Fatalf("Message = %q, want %q", got, want)
	}
	if got := Message(nil); got != "" {
		t.Fatalf("Message(nil) = %q, want empty", got)
	}
}

// TestSpecReportsEveryError checks that one run reports all problems, so a
// user fixes a file in one go rather than one error per lint run.
func TestSpecReportsEveryError(t *testing.T) {
	ro := canaryRollout()
	ro.Spec.Replicas = i32(-1)
	canary(ro).Steps[0].SetWeight = i32(101)
	canary(ro).Steps[1] = v1alpha1.CanaryStep{}
	errs := Spec(ro)
	want := []string{"spec.replicas", "spec.strategy.canary.steps[0].setWeight", "spec.strategy.canary.steps[1]"}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(want), dump(errs))
	}
	for i, w := range want {
		if errs[i].Field != w {
			t.Errorf("errs[%d].Field = %q, want %q", i, errs[i].Field, w)
		}
	}
}

func workloadRef(mut func(r *v1alpha1.ObjectRef)) func(ro *v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		ro.Spec.Template = corev1.PodTemplateSpec{}
		ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
		mut(ro.Spec.WorkloadRef)
	}
}

func pause(d intstr.IntOrString) func(ro *v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) { canary(ro).Steps[1].Pause.Duration = &d }
}

func stepAnalysisArgs(args ...v1alpha1.AnalysisRunArgument) func(ro *v1alpha1.Rollout) {
	return func(ro *v1alpha1.Rollout) {
		canary(ro).Steps[1] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{
			Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "smoke"}},
			Args:      args,
		}}
	}
}

func dump(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}
