// Package validation decides whether a Rollout can be acted on.
//
// Spec looks at the Rollout alone, so the offline lint command can run it on
// files; References looks at the objects the Rollout names, which the
// reconciler fetches first (ServiceNames says which). Every error carries the
// field path of the offending value and says what is wrong and what is
// allowed, because the same text reaches people through the InvalidSpec
// condition and through lint output.
//
// The rules follow Argo Rollouts' published validation, so that a manifest
// accepted there is accepted here and the other way round; the few places
// where Kanaria differs are noted at the rule.
package validation

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Defaults the API documents for unset fields. The checks that compare two
// fields need them, because an unset field still takes part in the rule.
const (
	defaultProgressDeadlineSeconds = 600
	defaultRevisionHistoryLimit    = 10
	// maxWeight is the full traffic share when trafficRouting.maxTrafficWeight is unset.
	maxWeight = 100
)

// scaleDownValues are the accepted values of spec.workloadRef.scaleDown.
var scaleDownValues = []string{v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively}

// Spec checks everything that needs only the Rollout itself. It is what lint
// runs offline and what the reconciler runs before fetching anything.
func Spec(ro *v1alpha1.Rollout) field.ErrorList {
	spec := &ro.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	if ro.DecodeError != "" {
		// Nothing of the spec was read; checking the empty one would only
		// add errors that are not the user's.
		return field.ErrorList{DecodeError(ro.DecodeError)}
	}

	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *spec.Replicas, "must be 0 or more"))
	}
	errs = append(errs, validateSelectorAndTemplate(spec, p)...)
	if spec.WorkloadRef != nil {
		errs = append(errs, validateWorkloadRef(spec.WorkloadRef, p.Child("workloadRef"))...)
	}
	errs = append(errs, validateTiming(spec, p)...)
	errs = append(errs, validateStrategy(ro, p.Child("strategy"))...)
	return errs
}

// validateSelectorAndTemplate checks the selector and where the Pod template
// comes from: inline, or from the workloadRef target but never both.
func validateSelectorAndTemplate(spec *v1alpha1.RolloutSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := p.Child("selector")
	var sel labels.Selector
	switch {
	case spec.Selector == nil:
		// With a workloadRef the Deployment's selector is used instead.
		if spec.WorkloadRef == nil {
			errs = append(errs, field.Required(selPath, "a label selector for the Rollout's Pods is required unless spec.workloadRef is set"))
		}
	case len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0:
		// Upstream rejects this only without a workloadRef; an empty selector
		// selects every Pod of the namespace either way, so it is refused always.
		errs = append(errs, field.Invalid(selPath, "{}", "must not be empty: an empty selector would select every Pod in the namespace; set matchLabels or matchExpressions"))
	default:
		selErrs := metavalidation.ValidateLabelSelector(spec.Selector, metavalidation.LabelSelectorValidationOptions{}, selPath)
		errs = append(errs, selErrs...)
		if len(selErrs) == 0 {
			if s, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil {
				sel = s
			} else {
				errs = append(errs, field.Invalid(selPath, metav1.FormatLabelSelector(spec.Selector), err.Error()))
			}
		}
	}

	tmplPath := p.Child("template")
	if spec.WorkloadRef != nil {
		// An empty template is how a workloadRef Rollout is written; anything
		// in it would be silently ignored, so it is refused instead.
		if !emptyTemplate(&spec.Template) {
			errs = append(errs, field.Forbidden(tmplPath, "must be empty when spec.workloadRef is set: the Pod template is taken from the referenced Deployment; remove spec.template or spec.workloadRef"))
		}
		return errs
	}
	if len(spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(tmplPath.Child("spec", "containers"), "the Pod template needs at least one container"))
	}
	if sel != nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tmplPath.Child("metadata", "labels"), labels.Set(spec.Template.Labels).String(),
			fmt.Sprintf("does not match spec.selector (%s): the template's labels must satisfy the selector, or the Rollout could not find its own Pods", sel.String())))
	}
	return errs
}

// emptyTemplate reports whether t has no content. The semantic comparison
// treats empty and nil lists and maps alike, so `template: {}` and a template
// with `containers: []` both count as absent, as upstream treats them.
func emptyTemplate(t *corev1.PodTemplateSpec) bool {
	return equality.Semantic.DeepEqual(*t, corev1.PodTemplateSpec{})
}

// validateWorkloadRef checks the reference itself; whether the Deployment
// exists is for References.
func validateWorkloadRef(ref *v1alpha1.ObjectRef, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	// Upstream also accepts ReplicaSets and PodTemplates; Kanaria resolves
	// only Deployments, and says so rather than ignoring the reference.
	switch ref.Kind {
	case "Deployment":
	case "":
		errs = append(errs, field.Required(p.Child("kind"), "must be Deployment"))
	default:
		errs = append(errs, field.Invalid(p.Child("kind"), ref.Kind, "is not supported: only a Deployment can be referenced"))
	}
	switch ref.APIVersion {
	case "apps/v1":
	case "":
		errs = append(errs, field.Required(p.Child("apiVersion"), "must be apps/v1"))
	default:
		errs = append(errs, field.Invalid(p.Child("apiVersion"), ref.APIVersion, "is not supported: must be apps/v1"))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the name of the Deployment to take the Pod template from is required"))
	}
	if ref.ScaleDown != "" && !slices.Contains(scaleDownValues, ref.ScaleDown) {
		errs = append(errs, field.NotSupported(p.Child("scaleDown"), ref.ScaleDown, scaleDownValues))
	}
	return errs
}

// validateTiming checks the counts and durations at the top of the spec.
func validateTiming(spec *v1alpha1.RolloutSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), spec.MinReadySeconds, "must be 0 or more"))
	}
	if spec.RevisionHistoryLimit != nil && *spec.RevisionHistoryLimit < 0 {
		errs = append(errs, field.Invalid(p.Child("revisionHistoryLimit"), *spec.RevisionHistoryLimit, "must be 0 or more"))
	}
	// A Pod needs minReadySeconds to count as available, so a deadline not
	// longer than that would fail every update. Upstream applies the rule with
	// the 600 s default too, so an unset deadline is compared as 600.
	if spec.ProgressDeadlineSeconds != nil {
		if pds := *spec.ProgressDeadlineSeconds; pds <= spec.MinReadySeconds || pds <= 0 {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), pds,
				fmt.Sprintf("must be greater than 0 and greater than minReadySeconds (%d)", spec.MinReadySeconds)))
		}
	} else if spec.MinReadySeconds >= defaultProgressDeadlineSeconds {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), spec.MinReadySeconds,
			fmt.Sprintf("must be less than progressDeadlineSeconds, which defaults to %d; raise progressDeadlineSeconds or lower minReadySeconds", defaultProgressDeadlineSeconds)))
	}
	return errs
}

// validateStrategy checks that exactly one strategy is set, then checks it.
// When both are set both are still checked, so one lint run reports all.
func validateStrategy(ro *v1alpha1.Rollout, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	s := ro.Spec.Strategy
	switch {
	case s.Canary == nil && s.BlueGreen == nil:
		errs = append(errs, field.Required(p, "set exactly one of canary or blueGreen"))
	case s.Canary != nil && s.BlueGreen != nil:
		errs = append(errs, field.Forbidden(p, "canary and blueGreen are both set; set exactly one of them"))
	}
	if s.Canary != nil {
		errs = append(errs, validateCanary(ro, p.Child("canary"))...)
	}
	if s.BlueGreen != nil {
		errs = append(errs, validateBlueGreen(ro, p.Child("blueGreen"))...)
	}
	return errs
}

// validateNonNegative reports a set, negative *int32 field.
func validateNonNegative(v *int32, p *field.Path) field.ErrorList {
	if v != nil && *v < 0 {
		return field.ErrorList{field.Invalid(p, *v, "must be 0 or more")}
	}
	return nil
}

// validateRange reports v outside lo..hi.
func validateRange(v int32, lo, hi int32, p *field.Path) field.ErrorList {
	if v < lo || v > hi {
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("must be between %d and %d", lo, hi))}
	}
	return nil
}

// intOrPercent parses a maxSurge or maxUnavailable value. It returns the
// number and whether it is a percentage; ok is false when the value is
// neither a non-negative integer nor a string such as "25%".
func intOrPercent(v intstr.IntOrString) (n int64, percent, ok bool) {
	if v.Type == intstr.Int {
		return int64(v.IntVal), false, v.IntVal >= 0
	}
	digits, found := strings.CutSuffix(v.StrVal, "%")
	if !found || digits == "" {
		return 0, false, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 32)
	return n, true, err == nil
}

// validateIntOrPercent checks a maxSurge/maxUnavailable-style value;
// capPercent refuses percentages above 100 (for maxUnavailable, where more
// than every Pod cannot be unavailable).
func validateIntOrPercent(v *intstr.IntOrString, capPercent bool, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	n, percent, ok := intOrPercent(*v)
	switch {
	case !ok:
		return field.ErrorList{field.Invalid(p, intOrStringValue(*v), `must be a non-negative integer or a percentage such as "25%"`)}
	case percent && capPercent && n > 100:
		return field.ErrorList{field.Invalid(p, intOrStringValue(*v), "must not be more than 100%")}
	}
	return nil
}

// intOrStringValue gives the value as field errors should print it: a plain
// number or a quoted string, never the Go struct.
func intOrStringValue(v intstr.IntOrString) any {
	if v.Type == intstr.Int {
		return v.IntVal
	}
	return v.StrVal
}

// pauseSeconds parses a pause duration: a number of seconds (as a number or
// a string of digits) or a Go duration with a unit such as 30s, 5m or 1h.
// This is the reading the reconciler applies, so anything accepted here can
// be executed there.
func pauseSeconds(v intstr.IntOrString) (time.Duration, bool) {
	if v.Type == intstr.Int {
		return time.Duration(v.IntVal) * time.Second, v.IntVal >= 0
	}
	if n, err := strconv.ParseInt(v.StrVal, 10, 32); err == nil {
		return time.Duration(n) * time.Second, n >= 0
	}
	d, err := time.ParseDuration(v.StrVal)
	return d, err == nil && d >= 0
}

// validateDurationString checks an optional Go duration with a unit.
func validateDurationString(d v1alpha1.DurationString, p *field.Path) field.ErrorList {
	if d == "" {
		return nil
	}
	if v, err := d.Duration(); err != nil || v < 0 {
		return field.ErrorList{field.Invalid(p, string(d), "must be a non-negative duration with a unit, such as 30s, 5m or 1h")}
	}
	return nil
}

// validateAntiAffinity checks one anti-affinity block of either strategy.
func validateAntiAffinity(a *v1alpha1.AntiAffinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	pref, req := a.PreferredDuringSchedulingIgnoredDuringExecution, a.RequiredDuringSchedulingIgnoredDuringExecution
	switch {
	case pref == nil && req == nil:
		errs = append(errs, field.Required(p, "set exactly one of preferredDuringSchedulingIgnoredDuringExecution or requiredDuringSchedulingIgnoredDuringExecution"))
	case pref != nil && req != nil:
		errs = append(errs, field.Forbidden(p, "preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution are both set; set exactly one"))
	}
	if pref != nil {
		errs = append(errs, validateRange(pref.Weight, 1, 100, p.Child("preferredDuringSchedulingIgnoredDuringExecution", "weight"))...)
	}
	return errs
}

// validateEphemeralMetadata refuses the pod-template-hash label in
// per-role metadata: the controller owns that label, and overriding it
// would make Services and ReplicaSets select the wrong Pods. Keys and values
// must be ones Pods can carry, or every patch of a Pod would fail.
func validateEphemeralMetadata(m *v1alpha1.PodTemplateMetadata, p *field.Path) field.ErrorList {
	if m == nil {
		return nil
	}
	if _, ok := m.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]; ok {
		return field.ErrorList{field.Forbidden(p.Child("labels").Key(v1alpha1.DefaultRolloutUniqueLabelKey),
			"is set by the controller to tell ReplicaSets apart and must not be set here")}
	}
	errs := metavalidation.ValidateLabels(m.Labels, p.Child("labels"))
	for _, k := range sortedKeys(m.Annotations) {
		for _, msg := range k8svalidation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(p.Child("annotations").Key(k), k, msg))
		}
	}
	return errs
}

// validateAnalysis checks an analysis block: which templates it runs and the
// arguments it passes. Whether the templates exist is not checked here.
func validateAnalysis(a *v1alpha1.RolloutAnalysis, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(a.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one analysis template is required"))
	}
	for i, t := range a.Templates {
		if t.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templates").Index(i).Child("templateName"), "the name of the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope) is required"))
		}
	}
	errs = append(errs, validateArgs(a.Args, p.Child("args"))...)
	return errs
}

// validateArgs checks the arguments passed to an AnalysisRun.
func validateArgs(args []v1alpha1.AnalysisRunArgument, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, a := range args {
		ap := p.Index(i)
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(ap.Child("name"), "every argument needs the name the template refers to it by"))
		case seen[a.Name]:
			// Two values for one name would make the run's input ambiguous.
			errs = append(errs, field.Duplicate(ap.Child("name"), a.Name))
		}
		seen[a.Name] = true
		vf := a.ValueFrom
		if vf == nil {
			continue
		}
		if a.Value != "" {
			errs = append(errs, field.Forbidden(ap, "value and valueFrom are both set; set one"))
		}
		switch {
		case vf.PodTemplateHashValue == nil && vf.FieldRef == nil:
			errs = append(errs, field.Required(ap.Child("valueFrom"), "set podTemplateHashValue or fieldRef"))
		case vf.PodTemplateHashValue != nil && vf.FieldRef != nil:
			errs = append(errs, field.Forbidden(ap.Child("valueFrom"), "podTemplateHashValue and fieldRef are both set; set one"))
		}
		if h := vf.PodTemplateHashValue; h != nil && *h != v1alpha1.Stable && *h != v1alpha1.Latest {
			errs = append(errs, field.NotSupported(ap.Child("valueFrom", "podTemplateHashValue"), string(*h), []v1alpha1.ValueFromPodTemplateHash{v1alpha1.Stable, v1alpha1.Latest}))
		}
		if vf.FieldRef != nil && vf.FieldRef.FieldPath == "" {
			errs = append(errs, field.Required(ap.Child("valueFrom", "fieldRef", "fieldPath"), "the path of the Rollout field to read, e.g. metadata.labels['env'], is required"))
		}
	}
	return errs
}

// Message joins errs into the one-line message of the InvalidSpec
// condition. Identical errors are reported once, so a condition does not
// change (and re-emit its Event) just because a check ran twice.
func Message(errs field.ErrorList) string {
	seen := map[string]bool{}
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		if e == nil {
			continue
		}
		s := e.Error()
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// sortedKeys returns m's keys in order, so errors come out in a stable order
// and the condition message does not flap between reconciles.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// DecodeError turns the error of an object that could not be decoded into a
// field error that names the offending field as the decoder saw it, e.g.
// "spec.strategy.canary.steps.setWeight: a number beyond int32".
func DecodeError(msg string) *field.Error {
	path := field.NewPath("spec")
	detail := msg
	// encoding/json says: cannot unmarshal X into Go struct field T.a.b.c of type Y
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.Index(rest, " of type "); j >= 0 {
			name := rest[:j]
			if k := strings.Index(name, "."); k >= 0 {
				name = name[k+1:]
			}
			if name != "" {
				path = field.NewPath(name)
			}
		}
	}
	return field.Invalid(path, field.OmitValueType{}, "the stored object cannot be read: "+detail+"; nothing is changed until it is fixed")
}
