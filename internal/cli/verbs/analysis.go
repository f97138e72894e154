package verbs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/template"
)

const (
	terminatePatch = `{"spec":{"terminate":true}}`
	// The plugin clears the whole status; the controller then starts the
	// Experiment afresh.
	retryExperimentPatch = `{"status":null}`
)

func (e *env) terminateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "terminate (analysisrun|experiment) NAME...",
		Short: "Stop an AnalysisRun or an Experiment early",
		Example: `  kanaria terminate analysisrun guestbook-6b8f9c7d4-4-success-rate
  kanaria terminate experiment my-experiment`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "analysisrun ANALYSISRUN...",
		Aliases: []string{"ar", "analysisruns"},
		Short:   "Stop an AnalysisRun early",
		Long: `Set spec.terminate: the AnalysisRun stops measuring and ends with the
results it has.`,
		Example: `  kanaria terminate analysisrun guestbook-6b8f9c7d4-4-success-rate -n shop`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.terminate(cmd.Context(), cmd.OutOrStdout(), args, "analysisrun", "analysisruns",
				func() client.Object { return &v1alpha1.AnalysisRun{} })
		},
	}, &cobra.Command{
		Use:     "experiment EXPERIMENT...",
		Aliases: []string{"exp", "experiments"},
		Short:   "Stop an Experiment early",
		Long:    "Set spec.terminate: the Experiment scales its ReplicaSets down and ends.",
		Example: `  kanaria terminate experiment my-experiment -n shop`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.terminate(cmd.Context(), cmd.OutOrStdout(), args, "experiment", "experiments",
				func() client.Object { return &v1alpha1.Experiment{} })
		},
	})
	return cmd
}

// terminate sets spec.terminate on each named object.
func (e *env) terminate(ctx context.Context, out io.Writer, names []string, kind, resource string, newObj func() client.Object) error {
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	for _, name := range names {
		obj := newObj()
		obj.SetName(name)
		obj.SetNamespace(ns)
		if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(terminatePatch))); err != nil {
			return apiError(err, "patch", "", target{kind: kind, resource: resource, name: name, namespace: ns})
		}
		fmt.Fprintf(out, "%s '%s' terminated\n", kind, name)
	}
	return nil
}

// retryExperiments clears the status of each named Experiment. The plugin
// sends the patch to the main resource; Kanaria's Experiment has a status
// subresource, where a status write through the main resource is ignored, so
// the same patch goes to the subresource instead.
func (e *env) retryExperiments(ctx context.Context, out io.Writer, names []string) error {
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	for _, name := range names {
		ex := &v1alpha1.Experiment{}
		ex.Name, ex.Namespace = name, ns
		if err := c.Status().Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(retryExperimentPatch))); err != nil {
			return apiError(err, "patch", "status", target{kind: "experiment", resource: "experiments", name: name, namespace: ns})
		}
		fmt.Fprintf(out, "experiment '%s' retried\n", name)
	}
	return nil
}

// createRunOptions are the flags of create analysisrun.
type createRunOptions struct {
	from         string
	fromCluster  bool
	args         []string
	name         string
	generateName string
	instanceID   string
}

func (e *env) createCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "create analysisrun --from TEMPLATE",
		Short:   "Create objects (create analysisrun)",
		Example: `  kanaria create analysisrun --from success-rate --argument service-name=guestbook`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var o createRunOptions
	run := &cobra.Command{
		Use:     "analysisrun --from TEMPLATE",
		Aliases: []string{"ar"},
		Short:   "Create an AnalysisRun from an AnalysisTemplate or ClusterAnalysisTemplate",
		Long: `Create an AnalysisRun that measures the metrics of a template, and of the
templates it names, with the given arguments. Every argument the templates
declare without a default needs a value.`,
		Example: `  # Run a template of the namespace
  kanaria create analysisrun --from success-rate --argument service-name=guestbook -n shop

  # Run a ClusterAnalysisTemplate under a fixed name
  kanaria create analysisrun --from smoke-test --from-cluster --name smoke-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.createRun(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := run.Flags()
	f.StringVar(&o.from, "from", "", "name of the AnalysisTemplate (or, with --from-cluster, ClusterAnalysisTemplate)")
	f.BoolVar(&o.fromCluster, "from-cluster", false, "take the template from the ClusterAnalysisTemplates")
	f.BoolVar(&o.fromCluster, "global", false, "the kubectl plugin's name for --from-cluster")
	f.StringArrayVarP(&o.args, "argument", "a", nil, "an argument as NAME=VALUE; repeat for several")
	f.StringVar(&o.name, "name", "", "name of the AnalysisRun")
	f.StringVar(&o.generateName, "generate-name", "", "prefix of a generated name for the AnalysisRun; the default is the template's name and a dash")
	f.StringVar(&o.instanceID, "instance-id", "", "controller instance that should run it (the "+v1alpha1.LabelKeyControllerInstanceID+" label)")
	cmd.AddCommand(run)
	return cmd
}

func (e *env) createRun(ctx context.Context, out io.Writer, o createRunOptions) error {
	if o.from == "" {
		return fmt.Errorf("--from is required: name the AnalysisTemplate (or, with --from-cluster, the ClusterAnalysisTemplate) to run")
	}
	if o.name != "" && o.generateName != "" {
		return fmt.Errorf("--name and --generate-name are both set; set one of them")
	}
	given, err := parseArgs(o.args)
	if err != nil {
		return err
	}
	c, ns, err := e.connect()
	if err != nil {
		return err
	}
	root := template.Ref{Name: o.from, ClusterScope: o.fromCluster}
	lookup, err := fetchTemplates(ctx, c, ns, root)
	if err != nil {
		return err
	}
	spec, err := template.Merge([]template.Ref{root}, lookup)
	if err != nil {
		return fmt.Errorf("building the AnalysisRun from %s: %w", describeRef(root, ns), err)
	}
	args, err := applyArgs(spec.Args, given)
	if err != nil {
		return err
	}
	run := &v1alpha1.AnalysisRun{
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics:              spec.Metrics,
			Args:                 args,
			DryRun:               spec.DryRun,
			MeasurementRetention: spec.MeasurementRetention,
		},
	}
	run.Namespace = ns
	switch {
	case o.name != "":
		run.Name = o.name
	case o.generateName != "":
		run.GenerateName = o.generateName
	default:
		run.GenerateName = o.from + "-"
	}
	if o.instanceID != "" {
		run.Labels = map[string]string{v1alpha1.LabelKeyControllerInstanceID: o.instanceID}
	}
	if err := c.Create(ctx, run); err != nil {
		t := target{kind: "analysisrun", resource: "analysisruns", name: run.Name, namespace: ns}
		if apierrors.IsAlreadyExists(err) {
			return &userError{msg: fmt.Sprintf("analysisrun %q already exists in namespace %q; choose another --name, or use --generate-name", run.Name, ns), err: err}
		}
		return apiError(err, "create", "", t)
	}
	fmt.Fprintf(out, "analysisrun.argoproj.io/%s created\n", run.Name)
	return nil
}

// describeRef names a template for messages.
func describeRef(r template.Ref, ns string) string {
	if r.ClusterScope {
		return fmt.Sprintf("ClusterAnalysisTemplate %q", r.Name)
	}
	return fmt.Sprintf("AnalysisTemplate %q in namespace %q", r.Name, ns)
}

// fetchTemplates reads root and every template it names, directly or through
// other templates, so template.Merge can unite them. A nested template that
// does not exist is left out: Merge reports it with the name of the template
// that refers to it.
func fetchTemplates(ctx context.Context, c client.Client, ns string, root template.Ref) (template.Lookup, error) {
	l := template.Lookup{
		Templates:        map[string]*v1alpha1.AnalysisTemplate{},
		ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{},
	}
	seen := map[template.Ref]bool{}
	queue := []template.Ref{root}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		var spec *v1alpha1.AnalysisTemplateSpec
		var err error
		var t target
		if r.ClusterScope {
			ct := &v1alpha1.ClusterAnalysisTemplate{}
			t = target{kind: "clusteranalysistemplate", resource: "clusteranalysistemplates", name: r.Name}
			if err = c.Get(ctx, client.ObjectKey{Name: r.Name}, ct); err == nil {
				l.ClusterTemplates[r.Name], spec = ct, &ct.Spec
			}
		} else {
			at := &v1alpha1.AnalysisTemplate{}
			t = target{kind: "analysistemplate", resource: "analysistemplates", name: r.Name, namespace: ns}
			if err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Name}, at); err == nil {
				l.Templates[r.Name], spec = at, &at.Spec
			}
		}
		switch {
		case err == nil:
			queue = append(queue, template.Nested(spec)...)
		case apierrors.IsNotFound(err) && r != root:
		default:
			return l, apiError(err, "get", "", t)
		}
	}
	return l, nil
}

// parseArgs reads NAME=VALUE arguments; a value may itself hold "=".
func parseArgs(raw []string) (map[string]string, error) {
	given := map[string]string{}
	for _, a := range raw {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("argument %q is not NAME=VALUE", a)
		}
		if _, dup := given[name]; dup {
			return nil, fmt.Errorf("argument %q is given twice; give it once", name)
		}
		given[name] = value
	}
	return given, nil
}

// applyArgs gives the declared arguments their values. Every declared
// argument must end with a value or a Secret reference, because the run
// cannot ask anyone later; a fieldRef needs an owning Rollout or Experiment
// to read from, which a run made here does not have.
func applyArgs(declared []v1alpha1.Argument, given map[string]string) ([]v1alpha1.Argument, error) {
	out := make([]v1alpha1.Argument, 0, len(declared))
	known := map[string]bool{}
	var errs []error
	for _, d := range declared {
		a := *d.DeepCopy()
		known[a.Name] = true
		if v, ok := given[a.Name]; ok {
			a.Value, a.ValueFrom = &v, nil
		}
		switch {
		case a.Value != nil:
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			errs = append(errs, fmt.Errorf("argument %q reads fieldRef %q, which only a Rollout or Experiment can resolve; pass --argument %s=VALUE", a.Name, a.ValueFrom.FieldRef.FieldPath, a.Name))
		default:
			errs = append(errs, fmt.Errorf("argument %q has no value; pass --argument %s=VALUE", a.Name, a.Name))
		}
		out = append(out, a)
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if !known[name] {
			errs = append(errs, fmt.Errorf("argument %q is not declared by the template; it declares %s", name, declaredNames(declared)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func declaredNames(declared []v1alpha1.Argument) string {
	if len(declared) == 0 {
		return "none"
	}
	names := make([]string, len(declared))
	for i, d := range declared {
		names[i] = fmt.Sprintf("%q", d.Name)
	}
	return strings.Join(names, ", ")
}
