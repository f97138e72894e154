package simulate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Manifests are the objects a simulation starts from, as a user would apply
// them.
type Manifests struct {
	// Rollouts are the Rollouts; one of them is played.
	Rollouts []*v1alpha1.Rollout
	// AnalysisTemplates and ClusterAnalysisTemplates are the templates the
	// Rollout's analyses may name.
	AnalysisTemplates        []*v1alpha1.AnalysisTemplate
	ClusterAnalysisTemplates []*v1alpha1.ClusterAnalysisTemplate
	// Services are the Services the Rollout may name.
	Services []*corev1.Service
	// Deployments hold the template of a Rollout with a workloadRef.
	Deployments []*appsv1.Deployment
	// Secrets are read by analysis arguments that take a Secret's key.
	Secrets []*corev1.Secret
	// Skipped names the objects of kinds the simulation does not model.
	Skipped []string
}

// LoadManifests reads every YAML document of the files.
func LoadManifests(paths ...string) (*Manifests, error) {
	m := &Manifests{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		if err := m.add(p, data); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// LoadDir reads a directory holding scenario.yaml and the manifests (every
// other *.yaml and *.yml file).
func LoadDir(dir string) (*Manifests, *Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the scenario directory: %w", err)
	}
	var files []string
	scenario := ""
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		if name == "scenario.yaml" || name == "scenario.yml" {
			scenario = filepath.Join(dir, name)
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	if scenario == "" {
		return nil, nil, fmt.Errorf("%s holds no scenario.yaml", dir)
	}
	sort.Strings(files)
	m, err := LoadManifests(files...)
	if err != nil {
		return nil, nil, err
	}
	s, err := LoadScenario(scenario)
	if err != nil {
		return nil, nil, err
	}
	return m, s, nil
}

// strictRollout has the Rollout's fields without its lenient decoder, so
// unknown fields and wrong types are refused.
type strictRollout v1alpha1.Rollout

// add decodes the documents of one file.
func (m *Manifests) add(path string, data []byte) error {
	for _, doc := range documents(data) {
		js, err := yaml.YAMLToJSON([]byte(doc.text))
		if err != nil {
			return fmt.Errorf("%s:%d: invalid YAML: %s", path, doc.line, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || string(js) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil || head.Kind == "" {
			return fmt.Errorf("%s:%d: the document is not an object with apiVersion and kind", path, doc.line)
		}
		where := fmt.Sprintf("%s:%d: %s %s", path, doc.line, head.Kind, head.Metadata.Name)
		var obj any
		switch {
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "Rollout":
			obj = &strictRollout{}
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "AnalysisTemplate":
			obj = &v1alpha1.AnalysisTemplate{}
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "ClusterAnalysisTemplate":
			obj = &v1alpha1.ClusterAnalysisTemplate{}
		case head.APIVersion == "v1" && head.Kind == "Service":
			obj = &corev1.Service{}
		case head.APIVersion == "v1" && head.Kind == "Secret":
			obj = &corev1.Secret{}
		case head.APIVersion == "apps/v1" && head.Kind == "Deployment":
			obj = &appsv1.Deployment{}
		default:
			m.Skipped = append(m.Skipped, fmt.Sprintf("%s (%s)", where, head.APIVersion))
			continue
		}
		strict, err := sigsjson.UnmarshalStrict(js, obj)
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				return fmt.Errorf("%s: field %s: a %s is not a valid %s", where, te.Field, te.Value, te.Type)
			}
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, e := range strict {
			var fe sigsjson.FieldError
			if errors.As(e, &fe) {
				return fmt.Errorf("%s: unknown field %s", where, fe.FieldPath())
			}
			return fmt.Errorf("%s: %w", where, e)
		}
		switch o := obj.(type) {
		case *strictRollout:
			ro := v1alpha1.Rollout(*o)
			m.Rollouts = append(m.Rollouts, &ro)
		case *v1alpha1.AnalysisTemplate:
			m.AnalysisTemplates = append(m.AnalysisTemplates, o)
		case *v1alpha1.ClusterAnalysisTemplate:
			m.ClusterAnalysisTemplates = append(m.ClusterAnalysisTemplates, o)
		case *corev1.Service:
			m.Services = append(m.Services, o)
		case *corev1.Secret:
			m.Secrets = append(m.Secrets, o)
		case *appsv1.Deployment:
			m.Deployments = append(m.Deployments, o)
		}
	}
	return nil
}

// document is one YAML document and the file line it starts on.
type document struct {
	text string
	line int
}

// documents cuts a file at its "---" lines.
func documents(data []byte) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimRight(l, "\r \t")
		if t == "---" || strings.HasPrefix(t, "--- ") {
			docs = append(docs, document{text: cur.String(), line: start})
			cur.Reset()
			start = i + 2
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	return append(docs, document{text: cur.String(), line: start})
}
