package faults

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Labels and names of the suite's objects.
const (
	// LabelSuite marks every object the suite creates, and their Pods.
	LabelSuite = "kanaria.dev/faults"
	// LabelApp selects one Rollout's Pods; its value is the Rollout's name.
	LabelApp = "app"
	// rolloutPrefix starts every Rollout's name, so the checker tells the
	// suite's Services from any other.
	rolloutPrefix = "fault-"
	// templateBackground measures for as long as a canary release runs;
	// templateCounted measures three times, for blue-green pre-promotion.
	templateBackground = "faults-web"
	templateCounted    = "faults-web-counted"
	// argRelease names the release being measured; the metrics backend
	// answers by it.
	argRelease   = "release"
	appContainer = "app"
)

// The NGINX router's annotations on the canary Ingress.
const (
	nginxCanaryAnnotation       = "nginx.ingress.kubernetes.io/canary"
	nginxCanaryWeightAnnotation = "nginx.ingress.kubernetes.io/canary-weight"
)

// Strategy is how one of the suite's Rollouts releases.
type Strategy string

// The strategies of the suite.
const (
	// StrategyCanary: setWeight 20, pause 2s, setWeight 60, pause 2s, behind
	// an NGINX canary Ingress, with a background web analysis.
	StrategyCanary Strategy = "canary"
	// StrategyBlueGreen: active and preview Services, automatic promotion
	// after a pre-promotion web analysis of three measurements.
	StrategyBlueGreen Strategy = "bluegreen"
)

func rolloutName(i int) string { return fmt.Sprintf("%s%03d", rolloutPrefix, i) }

// strategyOf alternates the strategies, so every size has both.
func strategyOf(i int) Strategy {
	if i%2 == 0 {
		return StrategyCanary
	}
	return StrategyBlueGreen
}

func suiteLabels() map[string]string { return map[string]string{LabelSuite: "true"} }

func ptr[T any](v T) *T { return &v }

// image is the image of a Rollout's revision n; every release is a new
// pod template, so every release is a new ReplicaSet.
func image(n int) string { return fmt.Sprintf("registry.example/faults:r%d", n) }

// releaseName is the analysis argument of a Rollout's release n; the
// metrics backend looks its scripted verdict up by it.
func releaseName(rollout string, n int) string { return fmt.Sprintf("%s-r%d", rollout, n) }

func rolloutObject(ns, name string, s Strategy, replicas int32) *v1alpha1.Rollout {
	labels := suiteLabels()
	labels[LabelApp] = name
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: suiteLabels()},
		Spec: v1alpha1.RolloutSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelApp: name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: appContainer, Image: image(0)}}},
			},
		},
	}
	args := []v1alpha1.AnalysisRunArgument{{Name: argRelease, Value: releaseName(name, 0)}}
	switch s {
	case StrategyCanary:
		timed := &v1alpha1.RolloutPause{Duration: ptr(intstr.FromString("2s"))}
		ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
			StableService: name + roleStable,
			CanaryService: name + roleCanary,
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: name},
			},
			Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr(int32(20))}, {Pause: timed},
				{SetWeight: ptr(int32(60))}, {Pause: timed},
			},
			ScaleDownDelaySeconds:      ptr(int32(1)),
			AbortScaleDownDelaySeconds: ptr(int32(1)),
			Analysis: &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: templateBackground}},
				Args:      args,
			}},
		}
	case StrategyBlueGreen:
		ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{
			ActiveService:              name + roleActive,
			PreviewService:             name + rolePreview,
			AutoPromotionEnabled:       ptr(true),
			ScaleDownDelaySeconds:      ptr(int32(1)),
			AbortScaleDownDelaySeconds: ptr(int32(1)),
			PrePromotionAnalysis: &v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: templateCounted}},
				Args:      args,
			},
		}
	}
	return ro
}

// releasePatch is one release: a new image and the release's name for the
// analysis, in one merge patch, as a user's CI would apply it.
func releasePatch(name string, s Strategy, n int) ([]byte, error) {
	args := []map[string]string{{"name": argRelease, "value": releaseName(name, n)}}
	strategy := map[string]any{}
	switch s {
	case StrategyCanary:
		strategy["canary"] = map[string]any{"analysis": map[string]any{"args": args}}
	case StrategyBlueGreen:
		strategy["blueGreen"] = map[string]any{"prePromotionAnalysis": map[string]any{"args": args}}
	}
	patch := map[string]any{"spec": map[string]any{
		"strategy": strategy,
		"template": map[string]any{"spec": map[string]any{
			"containers": []map[string]any{{"name": appContainer, "image": image(n)}},
		}},
	}}
	b, err := json.Marshal(patch)
	if err != nil {
		return nil, fmt.Errorf("encode the release patch: %w", err)
	}
	return b, nil
}

func servicesFor(ns, name string, s Strategy) []*corev1.Service {
	roles := []string{roleStable, roleCanary}
	if s == StrategyBlueGreen {
		roles = []string{roleActive, rolePreview}
	}
	out := make([]*corev1.Service, 0, len(roles))
	for _, r := range roles {
		out = append(out, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name + r, Namespace: ns, Labels: suiteLabels()},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{LabelApp: name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		})
	}
	return out
}

func stableIngress(ns, name string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: suiteLabels(),
			Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: name + ".faults.example",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name + roleStable, Port: networkingv1.ServiceBackendPort{Number: 80},
					}},
				}},
			}},
		}}},
	}
}

// analysisTemplates measure the backend every second. A backend that
// errors or hangs for a while must not fail a release: twenty errors in a
// row are tolerated, and a request gives up after two seconds.
func analysisTemplates(ns, url string) []*v1alpha1.AnalysisTemplate {
	metric := func(count *intstr.IntOrString) v1alpha1.Metric {
		return v1alpha1.Metric{
			Name:                  "web",
			Interval:              "1s",
			Count:                 count,
			SuccessCondition:      "result.ok == true",
			ConsecutiveErrorLimit: ptr(intstr.FromInt32(20)),
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL:            url + "?release={{args." + argRelease + "}}",
				TimeoutSeconds: 2,
			}},
		}
	}
	spec := func(name string, count *intstr.IntOrString) *v1alpha1.AnalysisTemplate {
		return &v1alpha1.AnalysisTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: suiteLabels()},
			Spec: v1alpha1.AnalysisTemplateSpec{
				Args:    []v1alpha1.Argument{{Name: argRelease}},
				Metrics: []v1alpha1.Metric{metric(count)},
			},
		}
	}
	return []*v1alpha1.AnalysisTemplate{
		spec(templateBackground, nil),
		spec(templateCounted, ptr(intstr.FromInt32(3))),
	}
}
