// Package helmchart lints and renders the Kanaria Helm chart
// (charts/kanaria) with Helm's own Go packages, so the tests check the chart
// exactly as `helm lint` and `helm template` would, and can install what it
// renders on the local cluster.
package helmchart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Lint runs Helm's chart linter on dir with values layered over the
// chart's defaults, and returns its findings of warning severity or worse.
func Lint(dir string, values map[string]any) []string {
	res := lint.All(dir, values, "kanaria", false)
	var out []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out
}

// Rendered is what a chart renders to for one release.
type Rendered struct {
	// Objects are the templates' objects, in file and document order.
	Objects []unstructured.Unstructured
	// CRDs are the objects of the chart's crds/ directory, which Helm
	// installs before the templates and never templates.
	CRDs []unstructured.Unstructured
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Render renders the chart in dir as `helm template` would for a release
// named release in namespace, with values layered over the chart's defaults.
func Render(dir, release, namespace string, values map[string]any) (*Rendered, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values, chartutil.ReleaseOptions{
		Name: release, Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering chart: %w", err)
	}
	out := &Rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			out.Notes = files[name]
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		objs, err := decode(files[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out.Objects = append(out.Objects, objs...)
	}
	for _, f := range chrt.CRDObjects() {
		objs, err := decode(string(f.File.Data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Filename, err)
		}
		out.CRDs = append(out.CRDs, objs...)
	}
	return out, nil
}

// decode splits a multi-document YAML stream into objects, skipping empty
// documents.
func decode(text string) ([]unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(text)), 4096)
	var out []unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decoding YAML: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, unstructured.Unstructured{Object: obj})
	}
}

// Find returns the rendered object of kind and name, or nil.
func (r *Rendered) Find(kind, name string) *unstructured.Unstructured {
	for i := range r.Objects {
		if r.Objects[i].GetKind() == kind && r.Objects[i].GetName() == name {
			return &r.Objects[i]
		}
	}
	return nil
}

// ChartDir finds charts/kanaria by walking up from the working directory,
// as tests run in their package's directory.
func ChartDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		c := filepath.Join(dir, "charts", "kanaria")
		if _, err := os.Stat(filepath.Join(c, "Chart.yaml")); err == nil {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("charts/kanaria not found above the working directory")
		}
		dir = parent
	}
}
