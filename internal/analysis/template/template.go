// Package template builds AnalysisRuns from AnalysisTemplates and
// ClusterAnalysisTemplates: it merges the templates a Rollout (or another
// template) names into one run and fills in the arguments the Rollout
// supplies. It is pure: the caller fetches the templates.
package template

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Ref names a template; cluster-scoped ones are ClusterAnalysisTemplates.
type Ref struct {
	Name         string
	ClusterScope bool
}

// Lookup holds the templates the caller fetched; a name with a nil value
// does not exist.
type Lookup struct {
	Templates        map[string]*v1alpha1.AnalysisTemplate
	ClusterTemplates map[string]*v1alpha1.ClusterAnalysisTemplate
}

func (l Lookup) spec(r Ref) (*v1alpha1.AnalysisTemplateSpec, error) {
	if r.ClusterScope {
		if t := l.ClusterTemplates[r.Name]; t != nil {
			return &t.Spec, nil
		}
		return nil, fmt.Errorf("ClusterAnalysisTemplate %q not found", r.Name)
	}
	if t := l.Templates[r.Name]; t != nil {
		return &t.Spec, nil
	}
	return nil, fmt.Errorf("AnalysisTemplate %q not found", r.Name)
}

// RefsOf lists the templates a Rollout analysis names.
func RefsOf(a *v1alpha1.RolloutAnalysis) []Ref {
	var out []Ref
	for _, t := range a.Templates {
		out = append(out, Ref{Name: t.TemplateName, ClusterScope: t.ClusterScope})
	}
	return out
}

// Nested lists the templates a template itself names.
func Nested(spec *v1alpha1.AnalysisTemplateSpec) []Ref {
	var out []Ref
	for _, t := range spec.Templates {
		out = append(out, Ref{Name: t.TemplateName, ClusterScope: t.ClusterScope})
	}
	return out
}

// merged is the union of templates.
type merged struct {
	metrics   []v1alpha1.Metric
	args      []v1alpha1.Argument
	dryRun    []v1alpha1.DryRun
	retention []v1alpha1.MeasurementRetention
}

// Merge unites the templates refs name, following nested references once
// each. Two metrics with one name are an error; an argument declared by two
// templates must agree on its default value.
func Merge(refs []Ref, l Lookup) (*v1alpha1.AnalysisTemplateSpec, error) {
	m := &merged{}
	seenTemplates := map[Ref]bool{}
	metricFrom := map[string]string{}
	argIndex := map[string]int{}
	var walk func(r Ref, from string) error
	walk = func(r Ref, from string) error {
		if seenTemplates[r] {
			return nil
		}
		seenTemplates[r] = true
		spec, err := l.spec(r)
		if err != nil {
			return err
		}
		for _, met := range spec.Metrics {
			if prev, dup := metricFrom[met.Name]; dup {
				return fmt.Errorf("metric %q is defined by both %s and %s", met.Name, prev, describe(r))
			}
			metricFrom[met.Name] = describe(r)
			m.metrics = append(m.metrics, *met.DeepCopy())
		}
		for _, a := range spec.Args {
			if i, dup := argIndex[a.Name]; dup {
				prev := m.args[i]
				if prev.Value != nil && a.Value != nil && *prev.Value != *a.Value {
					return fmt.Errorf("argument %q has different default values in the templates", a.Name)
				}
				if prev.Value == nil && prev.ValueFrom == nil {
					m.args[i] = *a.DeepCopy()
				}
				continue
			}
			argIndex[a.Name] = len(m.args)
			m.args = append(m.args, *a.DeepCopy())
		}
		m.dryRun = append(m.dryRun, spec.DryRun...)
		m.retention = append(m.retention, spec.MeasurementRetention...)
		for _, n := range Nested(spec) {
			if err := walk(n, describe(r)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range refs {
		if err := walk(r, ""); err != nil {
			return nil, err
		}
	}
	if len(m.metrics) == 0 {
		return nil, fmt.Errorf("the templates define no metric")
	}
	return &v1alpha1.AnalysisTemplateSpec{Metrics: m.metrics, Args: m.args, DryRun: m.dryRun, MeasurementRetention: m.retention}, nil
}

func describe(r Ref) string {
	if r.ClusterScope {
		return "ClusterAnalysisTemplate " + r.Name
	}
	return "AnalysisTemplate " + r.Name
}

// Input describes the run a Rollout wants.
type Input struct {
	// Rollout creates and owns the run; fieldRef arguments read it.
	Rollout *v1alpha1.Rollout
	// Analysis is the Rollout's analysis block.
	Analysis *v1alpha1.RolloutAnalysis
	// Name of the run; Labels identify its purpose (type, hash, step).
	Name   string
	Labels map[string]string
	// StableHash and LatestHash answer podTemplateHashValue arguments.
	StableHash, LatestHash string
}

// Build returns the AnalysisRun for in, from the templates in l.
func Build(in Input, l Lookup) (*v1alpha1.AnalysisRun, error) {
	spec, err := Merge(RefsOf(in.Analysis), l)
	if err != nil {
		return nil, err
	}
	args, err := resolveArgs(spec.Args, in)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range in.Analysis.AnalysisRunMetadata.Labels {
		labels[k] = v
	}
	for k, v := range in.Labels {
		labels[k] = v
	}
	var annotations map[string]string
	if len(in.Analysis.AnalysisRunMetadata.Annotations) > 0 {
		annotations = map[string]string{}
		for k, v := range in.Analysis.AnalysisRunMetadata.Annotations {
			annotations[k] = v
		}
	}
	run := &v1alpha1.AnalysisRun{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AnalysisRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            in.Name,
			Namespace:       in.Rollout.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(in.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics:              spec.Metrics,
			Args:                 args,
			DryRun:               append(spec.DryRun, in.Analysis.DryRun...),
			MeasurementRetention: append(spec.MeasurementRetention, in.Analysis.MeasurementRetention...),
		},
	}
	return run, nil
}

// ResolveRolloutArgs turns the arguments a Rollout's experiment step gives
// an analysis into the Experiment's: literal values stay, pod-template
// hashes (stable or latest) and fields of the Rollout are resolved now, as
// the reference does, since the Experiment does not know its Rollout's
// status.
func ResolveRolloutArgs(given []v1alpha1.AnalysisRunArgument, ro *v1alpha1.Rollout, stableHash, latestHash string) ([]v1alpha1.Argument, error) {
	var out []v1alpha1.Argument
	for _, g := range given {
		var v string
		switch {
		case g.ValueFrom != nil && g.ValueFrom.PodTemplateHashValue != nil:
			v = latestHash
			if *g.ValueFrom.PodTemplateHashValue == v1alpha1.Stable {
				v = stableHash
			}
		case g.ValueFrom != nil && g.ValueFrom.FieldRef != nil:
			fv, err := fieldValue(ro, g.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", g.Name, err)
			}
			v = fv
		default:
			v = g.Value
		}
		out = append(out, v1alpha1.Argument{Name: g.Name, Value: &v})
	}
	return out, nil
}

// resolveArgs fills the templates' arguments from the Rollout's: literal
// values, pod-template hashes and fields of the Rollout are resolved now;
// Secret references stay references, read by the run at measurement time so
// no secret value is ever written into the run. An argument left without a
// value is kept so the run reports it by name.
func resolveArgs(declared []v1alpha1.Argument, in Input) ([]v1alpha1.Argument, error) {
	given := map[string]v1alpha1.AnalysisRunArgument{}
	for _, a := range in.Analysis.Args {
		given[a.Name] = a
	}
	out := make([]v1alpha1.Argument, 0, len(declared))
	for _, d := range declared {
		a := *d.DeepCopy()
		if g, ok := given[d.Name]; ok {
			switch {
			case g.ValueFrom != nil && g.ValueFrom.PodTemplateHashValue != nil:
				h := in.LatestHash
				if *g.ValueFrom.PodTemplateHashValue == v1alpha1.Stable {
					h = in.StableHash
				}
				a.Value, a.ValueFrom = &h, nil
			case g.ValueFrom != nil && g.ValueFrom.FieldRef != nil:
				v, err := fieldValue(in.Rollout, g.ValueFrom.FieldRef.FieldPath)
				if err != nil {
					return nil, fmt.Errorf("argument %q: %w", d.Name, err)
				}
				a.Value, a.ValueFrom = &v, nil
			default:
				v := g.Value
				a.Value, a.ValueFrom = &v, nil
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// mapKeyPath matches metadata.labels['key'] and metadata.annotations['key'].
var mapKeyPath = regexp.MustCompile(`^\.?metadata\.(labels|annotations)\[['"](.+)['"]\]$`)

// fieldValue reads a field of the Rollout by a path such as
// metadata.labels['env'] or spec.template.spec.containers[0].image.
func fieldValue(ro *v1alpha1.Rollout, path string) (string, error) {
	return objectFieldValue(ro, "Rollout", path)
}

// fieldOwner is an object whose fields a fieldRef argument may read.
type fieldOwner interface {
	runtime.Object
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}

// objectFieldValue reads a field of obj, a kind, by a fieldRef path.
func objectFieldValue(o fieldOwner, kind, path string) (string, error) {
	// Label and annotation keys hold dots and slashes that jsonpath would
	// split on; read them directly, as the downward API does.
	if m := mapKeyPath.FindStringSubmatch(path); m != nil {
		src := o.GetLabels()
		if m[1] == "annotations" {
			src = o.GetAnnotations()
		}
		v, ok := src[m[2]]
		if !ok {
			return "", fmt.Errorf("fieldRef %q: the %s has no such %s", path, kind, strings.TrimSuffix(m[1], "s"))
		}
		return v, nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", kind, err)
	}
	jp := jsonpath.New("fieldRef")
	expr := path
	if !strings.HasPrefix(expr, "{") {
		expr = "{." + strings.TrimPrefix(expr, ".") + "}"
	}
	if err := jp.Parse(expr); err != nil {
		return "", fmt.Errorf("fieldRef %q: %w", path, err)
	}
	var b strings.Builder
	if err := jp.Execute(&b, (&unstructured.Unstructured{Object: obj}).Object); err != nil {
		return "", fmt.Errorf("fieldRef %q: %w", path, err)
	}
	return b.String(), nil
}
