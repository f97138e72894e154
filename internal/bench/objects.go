package bench

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Labels that mark the benchmark's objects, so cleanup finds exactly them
// and never touches anything else in a shared namespace.
const (
	// LabelBench is on every object the benchmark creates, and on their Pods.
	LabelBench = "kanaria.dev/bench"
	// LabelWorkload tells the Deployments' Pods from the Rollouts' Pods.
	LabelWorkload = "kanaria.dev/bench-workload"
)

const (
	workloadRollout    = "rollout"
	workloadDeployment = "deployment"
	// analysisTemplateName is the analysis scenario's template.
	analysisTemplateName = "bench-web"
	// appContainer is the one container of every Pod.
	appContainer = "app"
)

// MaxRollouts bounds a run's N; it only keeps a mistyped count from
// flooding the cluster.
const MaxRollouts = 1_000_000

// rolloutName and deploymentName pad each object's index to five digits,
// so listings of up to 100,000 sort in creation order; above that the
// names stay unique but sort by text.
func rolloutName(i int) string    { return fmt.Sprintf("bench-ro-%05d", i) }
func deploymentName(i int) string { return fmt.Sprintf("bench-dep-%05d", i) }

func names(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

func benchLabels(workload string) map[string]string {
	return map[string]string{LabelBench: "true", LabelWorkload: workload}
}

// podTemplate is the Pods of one object: a selector label of its own and
// the benchmark's labels.
func podTemplate(name, workload, image string) corev1.PodTemplateSpec {
	labels := benchLabels(workload)
	labels["app"] = name
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: appContainer, Image: image}},
		},
	}
}

func deployment(cfg Config, name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cfg.Namespace, Labels: benchLabels(workloadDeployment)},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr(cfg.Replicas),
			RevisionHistoryLimit: copyPtr(cfg.RevisionHistoryLimit),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             podTemplate(name, workloadDeployment, cfg.Image),
		},
	}
}

func ptr[T any](v T) *T { return &v }

// copyPtr gives each object a pointer of its own, so no two objects of the
// run share (and a later change to one alters) the same value.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

// rollout is one Rollout of the run's scenario, at the first image.
func rollout(cfg Config, name string) *v1alpha1.Rollout {
	s, ns, replicas := cfg.Scenario, cfg.Namespace, cfg.Replicas
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: benchLabels(workloadRollout)},
		Spec: v1alpha1.RolloutSpec{
			Replicas:             &replicas,
			RevisionHistoryLimit: copyPtr(cfg.RevisionHistoryLimit),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template:             podTemplate(name, workloadRollout, cfg.Image),
		},
	}
	timedPause := func() *v1alpha1.RolloutPause {
		return &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("1s"))}
	}
	fourSteps := []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(25))}, {Pause: timedPause()},
		{SetWeight: ptr(int32(75))}, {Pause: timedPause()},
	}
	switch s {
	case ScenarioCanary:
		ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: fourSteps}
	case ScenarioAnalysis:
		ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
			Steps: fourSteps,
			Analysis: &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: analysisTemplateName}},
			}},
		}
	case ScenarioAbort:
		ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
			StableService: name + "-stable",
			CanaryService: name + "-canary",
			Steps:         []v1alpha1.CanaryStep{{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}}},
		}
	case ScenarioBlueGreen:
		ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{
			ActiveService:              name + "-active",
			PreviewService:             name + "-preview",
			AutoPromotionEnabled:       ptr(true),
			ScaleDownDelaySeconds:      ptr(int32(0)),
			AbortScaleDownDelaySeconds: ptr(int32(0)),
		}
	}
	if c := ro.Spec.Strategy.Canary; c != nil && cfg.Router == RouterNginx {
		c.StableService, c.CanaryService = name+"-stable", name+"-canary"
		c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: name}}
	}
	return ro
}

// servicesFor returns the Services a Rollout of the run refers to; the
// controller adds the pod-template-hash to their selectors.
func servicesFor(cfg Config, name string) []*corev1.Service {
	ns := cfg.Namespace
	var suffixes []string
	switch {
	case cfg.Scenario == ScenarioAbort || cfg.Scenario == ScenarioAbortUnderLoad || cfg.Router != "":
		suffixes = []string{"-stable", "-canary"}
	case cfg.Scenario == ScenarioBlueGreen:
		suffixes = []string{"-active", "-preview"}
	}
	out := make([]*corev1.Service, 0, len(suffixes))
	for _, suf := range suffixes {
		out = append(out, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name + suf, Namespace: ns, Labels: benchLabels(workloadRollout)},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		})
	}
	return out
}

// stableIngress is the Ingress of one Rollout routed by NGINX: its one
// rule sends everything to the stable Service, and the controller adds the
// canary Ingress beside it.
func stableIngress(ns, name string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: benchLabels(workloadRollout)},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: name + ".bench.example",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name + "-stable", Port: networkingv1.ServiceBackendPort{Number: 80},
					}},
				}},
			}},
		}}},
	}
}

// nginxCanaryWeight is the annotation the NGINX router writes the canary's
// share of requests to.
const nginxCanaryWeight = "nginx.ingress.kubernetes.io/canary-weight"

// analysisTemplate measures url every second for as long as the release
// runs: no count, so the background analysis ends with the update.
func analysisTemplate(ns, url string) *v1alpha1.AnalysisTemplate {
	return &v1alpha1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: analysisTemplateName, Namespace: ns, Labels: benchLabels(workloadRollout)},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{
			Name:             "web",
			Interval:         "1s",
			SuccessCondition: "result.ok == true",
			Provider:         v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url}},
		}}},
	}
}

// imagePatch replaces the first container's image: the same JSON patch
// `kubectl argo rollouts set image` and `kubectl set image` amount to, and
// the smallest template change there is.
func imagePatch(image string) []byte {
	return fmt.Appendf(nil, `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, image)
}
