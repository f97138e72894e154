package template

import (
	"fmt"
	"maps"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// ExperimentInput describes the run an Experiment wants for one of its analyses.
type ExperimentInput struct {
	// Experiment creates and owns the run; fieldRef arguments read it.
	Experiment *v1alpha1.Experiment
	// Analysis is the Experiment's entry in spec.analyses.
	Analysis *v1alpha1.ExperimentAnalysisTemplateRef
	// Name of the run.
	Name string
	// Values answer the placeholders an argument's value may hold, keyed
	// without braces: templates.NAME.podTemplateHash,
	// templates.NAME.replicaset.name, experiment.availableAt and
	// experiment.finishedAt.
	Values map[string]string
}

// ExperimentRef is the template an Experiment's analysis names.
func ExperimentRef(a *v1alpha1.ExperimentAnalysisTemplateRef) Ref {
	return Ref{Name: a.TemplateName, ClusterScope: a.ClusterScope}
}

// experimentPlaceholder matches the {{templates.…}} and {{experiment.…}}
// placeholders of an Experiment's argument values; other placeholders are
// left for the run to resolve.
var experimentPlaceholder = regexp.MustCompile(`{{\s*((?:templates|experiment)\.[A-Za-z0-9_.-]+)\s*}}`)

// BuildForExperiment returns the AnalysisRun for one analysis of an
// Experiment, from the templates in l. The run carries the Experiment's
// dryRun, measurementRetention and analysisRunMetadata, and the Experiment
// is its controller.
func BuildForExperiment(in ExperimentInput, l Lookup) (*v1alpha1.AnalysisRun, error) {
	spec, err := Merge([]Ref{ExperimentRef(in.Analysis)}, l)
	if err != nil {
		return nil, err
	}
	ex := in.Experiment
	args, err := experimentArgs(spec.Args, in)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(ex.Spec.AnalysisRunMetadata.Labels)
	if id, ok := ex.Labels[v1alpha1.LabelKeyControllerInstanceID]; ok {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[v1alpha1.LabelKeyControllerInstanceID] = id
	}
	if b, ok := ex.Labels[shard.LabelBucket]; ok {
		// The run belongs to its Experiment's shard from its first watch event.
		if labels == nil {
			labels = map[string]string{}
		}
		labels[shard.LabelBucket] = b
	}
	run := &v1alpha1.AnalysisRun{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AnalysisRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            in.Name,
			Namespace:       ex.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(ex.Spec.AnalysisRunMetadata.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))},
		},
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics:              spec.Metrics,
			Args:                 args,
			DryRun:               append(spec.DryRun, ex.Spec.DryRun...),
			MeasurementRetention: append(spec.MeasurementRetention, ex.Spec.MeasurementRetention...),
		},
	}
	return run, nil
}

// experimentArgs fills the templates' arguments from the Experiment's: a
// value has its {{templates.…}} and {{experiment.…}} placeholders replaced,
// a fieldRef reads the Experiment, and a Secret reference stays a reference
// for the run to read at measurement time. An argument the Experiment does
// not give keeps its template default, or stays empty so the run reports it.
func experimentArgs(declared []v1alpha1.Argument, in ExperimentInput) ([]v1alpha1.Argument, error) {
	given := map[string]v1alpha1.Argument{}
	for _, a := range in.Analysis.Args {
		given[a.Name] = a
	}
	out := make([]v1alpha1.Argument, 0, len(declared))
	for _, d := range declared {
		a := *d.DeepCopy()
		g, ok := given[d.Name]
		switch {
		case !ok:
		case g.Value != nil:
			v, err := fillExperimentValue(*g.Value, in.Values)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", d.Name, err)
			}
			a.Value, a.ValueFrom = &v, nil
		case g.ValueFrom != nil && g.ValueFrom.FieldRef != nil:
			v, err := objectFieldValue(in.Experiment, "Experiment", g.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", d.Name, err)
			}
			a.Value, a.ValueFrom = &v, nil
		case g.ValueFrom != nil && g.ValueFrom.SecretKeyRef != nil:
			a.Value, a.ValueFrom = nil, g.ValueFrom.DeepCopy()
		}
		out = append(out, a)
	}
	return out, nil
}

// fillExperimentValue replaces the Experiment's placeholders in v; one
// that names no template, or a time the Experiment does not have yet, is
// an error that names it.
func fillExperimentValue(v string, values map[string]string) (string, error) {
	var missing []string
	out := experimentPlaceholder.ReplaceAllStringFunc(v, func(m string) string {
		key := experimentPlaceholder.FindStringSubmatch(m)[1]
		if r, ok := values[key]; ok {
			return r
		}
		missing = append(missing, "{{"+key+"}}")
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s has no value in this Experiment", strings.Join(missing, ", "))
	}
	return out, nil
}
