package verbs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis/condition"
	"github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
	providervalidation "github.com/kanaria-rollouts/kanaria/internal/metricproviders/validation"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
)

func lintCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check Rollout, Experiment and AnalysisTemplate manifests without a cluster",
		Long: `Check the Rollouts, Experiments, AnalysisTemplates and ClusterAnalysisTemplates in YAML
files (several documents per file are fine) with the rules the controller
applies, without connecting to a cluster. Other objects in the files are
skipped.

Each problem is printed as "FILE: KIND NAME: FIELD: message"; a file without
problems as "FILE: ok". The exit code is 1 when any file has a problem.
References to other objects (Services, templates) are not checked, since
they need the cluster.`,
		Example: `  # Check manifests before applying them
  kanaria lint rollout.yaml analysis.yaml

  # Check every manifest of a directory
  kanaria lint deploy/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			ev := condition.NewEvaluator()
			problems, files := 0, 0
			for _, path := range args {
				lines := lintFile(path, ev)
				if len(lines) == 0 {
					fmt.Fprintf(out, "%s: ok\n", path)
					continue
				}
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
				problems += len(lines)
				files++
			}
			if problems > 0 {
				return &ExitError{Code: ExitProblems, Err: fmt.Errorf("lint found %d problem(s) in %d of %d file(s)", problems, files, len(args))}
			}
			return nil
		},
	}
}

// document is one YAML document of a file and the file line it starts on.
type document struct {
	text string
	line int
}

// docSeparator matches a YAML document marker line and what follows it.
var docSeparator = regexp.MustCompile(`^---(?:[ \t]+(.*))?$`)

// splitDocuments cuts a multi-document YAML file at its "---" lines,
// remembering where each document starts so errors can name file lines.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		m := docSeparator.FindStringSubmatch(l)
		if m == nil {
			cur.WriteString(l)
			cur.WriteByte('\n')
			continue
		}
		docs = append(docs, document{text: cur.String(), line: start})
		cur.Reset()
		start = i + 1
		// Content on the marker line itself ("--- {a: 1}") belongs to the
		// new document and starts on the marker's line.
		if rest := strings.TrimSpace(m[1]); rest != "" && !strings.HasPrefix(rest, "#") {
			cur.WriteString(rest)
			cur.WriteByte('\n')
		} else {
			start = i + 2
		}
	}
	return append(docs, document{text: cur.String(), line: start})
}

// yamlLine finds the line numbers in a YAML parser message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlError rewrites a parser error of doc so that it names file lines: the
// parser counts from the document's start, people count from the file's.
func yamlError(path string, doc document, err error) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := doc.line
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = doc.line + n - 1
	}
	msg = yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return "line " + strconv.Itoa(doc.line+n-1)
	})
	// Drop the location at the front, now that the prefix carries it.
	msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
	msg = strings.Join(strings.Fields(msg), " ")
	return fmt.Sprintf("%s:%d: invalid YAML: %s", path, line, msg)
}

// lintFile returns the problems of one file, each a line ready to print.
func lintFile(path string, ev *condition.Evaluator) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var out []string
	for _, doc := range splitDocuments(data) {
		js, err := yaml.YAMLToJSON([]byte(doc.text))
		if err != nil {
			out = append(out, yamlError(path, doc, err))
			continue
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || string(js) == "null" {
			continue // empty or comments only
		}
		if js[0] != '{' {
			out = append(out, fmt.Sprintf("%s:%d: the document is not an object with apiVersion and kind", path, doc.line))
			continue
		}
		out = append(out, lintObject(path, js, ev)...)
	}
	return out
}

// lintObject checks one object given as JSON, if it is of a kind lint knows.
func lintObject(path string, js []byte, ev *condition.Evaluator) []string {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	// Errors here surface again, with a field path, in the typed decode below.
	_ = json.Unmarshal(js, &head)
	if head.APIVersion != v1alpha1.GroupVersion.String() {
		return nil
	}
	var obj any
	var spec *v1alpha1.AnalysisTemplateSpec
	switch head.Kind {
	case "Rollout":
		// Decoded without Rollout's own lenient UnmarshalJSON, so strict
		// decoding reports unknown fields and wrong types by their path.
		obj = &strictRollout{}
	case "Experiment":
		// Likewise without Experiment's lenient UnmarshalJSON.
		obj = &strictExperiment{}
	case "AnalysisTemplate":
		t := &v1alpha1.AnalysisTemplate{}
		obj, spec = t, &t.Spec
	case "ClusterAnalysisTemplate":
		t := &v1alpha1.ClusterAnalysisTemplate{}
		obj, spec = t, &t.Spec
	default:
		return nil
	}
	name := head.Metadata.Name
	if name == "" {
		name = "(unnamed)"
	}
	prefix := fmt.Sprintf("%s: %s %s: ", path, head.Kind, name)
	var out []string
	if head.Metadata.Name == "" {
		out = append(out, prefix+field.Required(field.NewPath("metadata", "name"), "every object needs a name").Error())
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		// A value of the wrong type leaves the object half decoded; checking
		// it further would only add confusing follow-on errors.
		return append(out, prefix+decodeError(err))
	}
	for _, e := range strict {
		out = append(out, prefix+strictError(e))
	}
	var errs field.ErrorList
	switch o := obj.(type) {
	case *strictRollout:
		ro := v1alpha1.Rollout(*o)
		errs = validation.Spec(&ro)
	case *strictExperiment:
		ex := v1alpha1.Experiment(*o)
		errs = decide.ValidateSpec(&ex)
	default:
		errs = lintTemplateSpec(spec, ev)
	}
	for _, e := range errs {
		out = append(out, prefix+e.Error())
	}
	return out
}

// strictRollout has Rollout's fields but not its lenient UnmarshalJSON,
// which a live controller needs and a linter must not have.
type strictRollout v1alpha1.Rollout

// strictExperiment has Experiment's fields but not its lenient
// UnmarshalJSON, for the same reason as strictRollout.
type strictExperiment v1alpha1.Experiment

// decodeError words a decoding error with the path of the field.
func decodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: Invalid value: a %s is not a valid %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

// strictError words an unknown or duplicate field as the other problems are
// worded: path first.
func strictError(err error) string {
	var fe sigsjson.FieldError
	if !errors.As(err, &fe) {
		return err.Error()
	}
	if strings.HasPrefix(err.Error(), "duplicate field") {
		return fe.FieldPath() + ": Duplicate field: set it once"
	}
	return fe.FieldPath() + ": Unknown field: not part of the argoproj.io/v1alpha1 API (misspelt, or wrongly indented?)"
}

// argPlaceholder matches {{args.name}} in a condition.
var argPlaceholder = regexp.MustCompile(`{{\s*args\.[^}]*}}`)

// lintTemplateSpec checks an AnalysisTemplate the way the analysis
// controller checks a run before measuring: metric names, conditions and
// the count/interval pair; and each provider's fields as the provider
// checks them when it measures.
func lintTemplateSpec(spec *v1alpha1.AnalysisTemplateSpec, ev *condition.Evaluator) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if len(spec.Metrics) == 0 && len(spec.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("metrics"), "a template needs at least one metric, or templates to take metrics from"))
	}
	seen := map[string]bool{}
	for i, m := range spec.Metrics {
		mp := p.Child("metrics").Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), "every metric needs a name"))
		case seen[m.Name]:
			errs = append(errs, field.Duplicate(mp.Child("name"), m.Name))
		}
		seen[m.Name] = true
		for _, d := range []struct {
			name  string
			value v1alpha1.DurationString
		}{{"interval", m.Interval}, {"initialDelay", m.InitialDelay}} {
			if d.value == "" || argPlaceholder.MatchString(string(d.value)) {
				continue
			}
			if v, err := d.value.Duration(); err != nil || v < 0 {
				errs = append(errs, field.Invalid(mp.Child(d.name), string(d.value), "must be a duration with a unit, such as 30s, 5m or 1h"))
			}
		}
		if err := providervalidation.Metric(m); err != nil {
			errs = append(errs, field.Invalid(mp.Child("provider"), field.OmitValueType{}, err.Error()))
		}
		if n, ok := countOf(m.Count); ok && n > 1 && m.Interval == "" {
			errs = append(errs, field.Invalid(mp.Child("count"), n, "more than one measurement needs an interval between them; set interval, e.g. 30s"))
		}
		for _, c := range []struct{ name, expr string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
			if c.expr == "" {
				continue
			}
			// Arguments are filled in at measurement time; a number stands in
			// for them here, which keeps both `> {{args.x}}` and
			// `== "{{args.x}}"` well-formed.
			if err := ev.Compile(argPlaceholder.ReplaceAllString(c.expr, "0")); err != nil {
				errs = append(errs, field.Invalid(mp.Child(c.name), c.expr, err.Error()))
			}
		}
	}
	seenArgs := map[string]bool{}
	for i, a := range spec.Args {
		ap := p.Child("args").Index(i).Child("name")
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(ap, "every argument needs a name"))
		case seenArgs[a.Name]:
			errs = append(errs, field.Duplicate(ap, a.Name))
		}
		seenArgs[a.Name] = true
	}
	return errs
}

// countOf reads a metric count that is a number; placeholders are not.
func countOf(c *intstr.IntOrString) (int, bool) {
	if c == nil {
		return 0, false
	}
	if c.Type == intstr.Int {
		return int(c.IntVal), true
	}
	n, err := strconv.Atoi(c.StrVal)
	return n, err == nil
}
