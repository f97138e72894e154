package decide

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
	rovalidation "github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
)

// Defaults of the Experiment spec.
const (
	defaultProgressDeadlineSeconds = 600
	defaultScaleDownDelaySeconds   = 30
)

// ReplicaSetName is the name of a template's ReplicaSet: the Experiment's
// name and the template's, as the reference names it.
func ReplicaSetName(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	return ex.Name + "-" + t.Name
}

// ServiceName is the name of a template's Service: service.name, or else
// the ReplicaSet's name. It is "" for a template without a Service.
func ServiceName(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	if t.Service == nil {
		return ""
	}
	if t.Service.Name != "" {
		return t.Service.Name
	}
	return ReplicaSetName(ex, t)
}

// RunName is the name of an analysis's AnalysisRun: the Experiment's name
// and the analysis's.
func RunName(ex *v1alpha1.Experiment, a *v1alpha1.ExperimentAnalysisTemplateRef) string {
	return ex.Name + "-" + a.Name
}

// TemplateRefs lists the analysis templates the spec names directly, for
// the observer to fetch (nested references are followed by the observer).
func TemplateRefs(ex *v1alpha1.Experiment) []template.Ref {
	var out []template.Ref
	for i := range ex.Spec.Analyses {
		if ex.Spec.Analyses[i].TemplateName != "" {
			out = append(out, template.ExperimentRef(&ex.Spec.Analyses[i]))
		}
	}
	return out
}

func progressDeadline(ex *v1alpha1.Experiment) int32 {
	if p := ex.Spec.ProgressDeadlineSeconds; p != nil {
		return *p
	}
	return defaultProgressDeadlineSeconds
}

func scaleDownDelay(ex *v1alpha1.Experiment) int32 {
	if p := ex.Spec.ScaleDownDelaySeconds; p != nil {
		return *p
	}
	return defaultScaleDownDelaySeconds
}

func replicasOf(t *v1alpha1.TemplateSpec) int32 {
	if t.Replicas != nil {
		return *t.Replicas
	}
	return 1
}

// Validate lists what is wrong with the Experiment's spec, each error
// naming its field, its analysis templates included. Nothing is created
// while the list is not empty.
func Validate(ex *v1alpha1.Experiment, templates template.Lookup) field.ErrorList {
	errs := ValidateSpec(ex)
	if ex.DecodeError != "" {
		return errs
	}
	for i := range ex.Spec.Analyses {
		a := &ex.Spec.Analyses[i]
		if a.TemplateName == "" {
			continue
		}
		p := field.NewPath("spec", "analyses").Index(i).Child("templateName")
		if _, err := template.Merge([]template.Ref{template.ExperimentRef(a)}, templates); err != nil {
			if strings.HasSuffix(err.Error(), "not found") {
				errs = append(errs, field.NotFound(p, a.TemplateName))
			} else {
				errs = append(errs, field.Invalid(p, a.TemplateName, err.Error()))
			}
		}
	}
	return errs
}

// ValidateSpec lists what is wrong with the Experiment's spec on its own,
// without the objects it names; kanaria lint uses it offline.
func ValidateSpec(ex *v1alpha1.Experiment) field.ErrorList {
	if ex.DecodeError != "" {
		// Nothing of the spec was read; checking the empty one would only
		// add errors that are not the user's.
		return field.ErrorList{rovalidation.DecodeError(ex.DecodeError)}
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if ex.Spec.Duration != "" {
		if d, err := ex.Spec.Duration.Duration(); err != nil {
			errs = append(errs, field.Invalid(spec.Child("duration"), string(ex.Spec.Duration), "not a duration such as 30s, 5m or 1h"))
		} else if d < 0 {
			errs = append(errs, field.Invalid(spec.Child("duration"), string(ex.Spec.Duration), "must not be negative"))
		}
	}
	deadline := progressDeadline(ex)
	if deadline <= 0 {
		errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), deadline, "must be positive"))
	}
	if d := ex.Spec.ScaleDownDelaySeconds; d != nil && *d < 0 {
		errs = append(errs, field.Invalid(spec.Child("scaleDownDelaySeconds"), *d, "must not be negative"))
	}
	names := map[string]bool{}
	services := map[string]bool{}
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		p := spec.Child("templates").Index(i)
		switch {
		case t.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "every template needs a name"))
		case names[t.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), t.Name))
		default:
			names[t.Name] = true
			for _, msg := range validation.IsDNS1123Subdomain(ReplicaSetName(ex, t)) {
				errs = append(errs, field.Invalid(p.Child("name"), t.Name, "the ReplicaSet name "+ReplicaSetName(ex, t)+" is not valid: "+msg))
			}
		}
		if r := replicasOf(t); r < 0 {
			errs = append(errs, field.Invalid(p.Child("replicas"), r, "must not be negative"))
		}
		if t.MinReadySeconds > deadline {
			errs = append(errs, field.Invalid(p.Child("minReadySeconds"), t.MinReadySeconds, fmt.Sprintf("must not be longer than progressDeadlineSeconds (%d)", deadline)))
		}
		errs = append(errs, validateSelector(p, t)...)
		if t.Service != nil {
			name := ServiceName(ex, t)
			for _, msg := range validation.IsDNS1035Label(name) {
				errs = append(errs, field.Invalid(p.Child("service", "name"), name, "not a valid Service name: "+msg))
			}
			if services[name] {
				errs = append(errs, field.Duplicate(p.Child("service", "name"), name))
			}
			services[name] = true
			if len(servicePorts(&t.Template)) == 0 {
				errs = append(errs, field.Invalid(p.Child("service"), "{}", "the Pod template declares no container ports for the Service to expose"))
			}
		}
	}
	analyses := map[string]bool{}
	for i := range ex.Spec.Analyses {
		a := &ex.Spec.Analyses[i]
		p := spec.Child("analyses").Index(i)
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "every analysis needs a name"))
		case analyses[a.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), a.Name))
		default:
			analyses[a.Name] = true
		}
		if a.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templateName"), "name the AnalysisTemplate (or, with clusterScope, the ClusterAnalysisTemplate) to run"))
		}
	}
	return errs
}

// validateSelector checks that a template's selector exists, selects
// something less than every Pod, and matches the template's own labels.
func validateSelector(p *field.Path, t *v1alpha1.TemplateSpec) field.ErrorList {
	if t.Selector == nil {
		return field.ErrorList{field.Required(p.Child("selector"), "every template needs a selector")}
	}
	if len(t.Selector.MatchLabels) == 0 && len(t.Selector.MatchExpressions) == 0 {
		return field.ErrorList{field.Invalid(p.Child("selector"), "{}", "an empty selector selects every Pod; give labels")}
	}
	// The pod-template hash is set on both by the controller, whatever a
	// template copied from elsewhere (a Rollout's) carried.
	own := t.Selector.DeepCopy()
	delete(own.MatchLabels, v1alpha1.DefaultRolloutUniqueLabelKey)
	sel, err := metav1.LabelSelectorAsSelector(own)
	if err != nil {
		return field.ErrorList{field.Invalid(p.Child("selector"), t.Selector.String(), err.Error())}
	}
	if len(own.MatchLabels) == 0 && len(own.MatchExpressions) == 0 {
		return field.ErrorList{field.Invalid(p.Child("selector"), t.Selector.String(), "a selector of the pod-template hash alone selects every Pod of the template; give labels")}
	}
	tmplLabels := labels.Set{}
	for k, v := range t.Template.Labels {
		if k != v1alpha1.DefaultRolloutUniqueLabelKey {
			tmplLabels[k] = v
		}
	}
	if !sel.Matches(tmplLabels) {
		return field.ErrorList{field.Invalid(p.Child("template", "metadata", "labels"), labels.Set(t.Template.Labels).String(),
			"the template's labels do not match its selector "+sel.String())}
	}
	return nil
}
