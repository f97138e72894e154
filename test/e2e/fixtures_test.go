package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/testutil/objdiff"
)

// argoResources maps each Kanaria kind to its resource and a fresh Go value.
var argoResources = map[string]struct {
	resource   string
	namespaced bool
	newObject  func() any
}{
	"Rollout":                 {"rollouts", true, func() any { return &v1alpha1.Rollout{} }},
	"AnalysisTemplate":        {"analysistemplates", true, func() any { return &v1alpha1.AnalysisTemplate{} }},
	"ClusterAnalysisTemplate": {"clusteranalysistemplates", false, func() any { return &v1alpha1.ClusterAnalysisTemplate{} }},
	"AnalysisRun":             {"analysisruns", true, func() any { return &v1alpha1.AnalysisRun{} }},
	"Experiment":              {"experiments", true, func() any { return &v1alpha1.Experiment{} }},
}

// readManifests splits a multi-document YAML file into decoded objects.
func readManifests(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(doc) > 0 {
			docs = append(docs, doc)
		}
	}
	return docs
}

var istioOnce struct{ done bool }

func ensureIstioCRDs(t *testing.T) {
	t.Helper()
	if istioOnce.done {
		return
	}
	mustKubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "test", "e2e", "testdata", "istio-crds.yaml"))
	if err := waitCRDsEstablished(newClients(t), "virtualservices.networking.istio.io", "destinationrules.networking.istio.io"); err != nil {
		t.Fatal(err)
	}
	istioOnce.done = true
}

// TestSeedFixturesApplyUnchangedAndLoseNothing applies every manifest from
// real users exactly as it is, then reads each Kanaria object back and checks
// that (1) the API server kept every field of the manifest, and (2) the
// object decodes into the Go types with no unknown field and re-encodes to
// the same JSON.
func TestSeedFixturesApplyUnchangedAndLoseNothing(t *testing.T) {
	ensureCRDs(t)
	ensureIstioCRDs(t)
	c := newClients(t)
	files, err := filepath.Glob(filepath.Join(seedsDir(t), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ns := newNamespace(t, c, "seed")
			mustKubectl(t, "apply", "-n", ns, "-f", file)

			checked := 0
			for _, doc := range readManifests(t, file) {
				obj := unstructured.Unstructured{Object: doc}
				gvk := obj.GroupVersionKind()
				if gvk.Group != v1alpha1.GroupVersion.Group {
					continue
				}
				res, ok := argoResources[gvk.Kind]
				if !ok {
					t.Fatalf("fixture has unknown argoproj.io kind %s", gvk.Kind)
				}
				gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: res.resource}
				ri := c.dynamic.Resource(gvr)
				var got *unstructured.Unstructured
				if res.namespaced {
					got, err = ri.Namespace(ns).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
				} else {
					got, err = ri.Get(context.Background(), obj.GetName(), metav1.GetOptions{})
				}
				if err != nil {
					t.Fatalf("reading back %s %s: %v", gvk.Kind, obj.GetName(), err)
				}

				// (1) nothing of the manifest was pruned or changed.
				manifest := objdiff.Normalize(doc)
				served := objdiff.Normalize(got.Object)
				if diff := objdiff.Missing(manifest, served); len(diff) > 0 {
					t.Errorf("%s %s: the API server lost or changed fields of the manifest:\n  %s", gvk.Kind, obj.GetName(), strings.Join(diff, "\n  "))
				}

				// (2) the Go types hold every field and write the same JSON.
				raw, err := json.Marshal(got.Object)
				if err != nil {
					t.Fatal(err)
				}
				typed := res.newObject()
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				if err := dec.Decode(typed); err != nil {
					t.Fatalf("%s %s does not decode into the Go types: %v", gvk.Kind, obj.GetName(), err)
				}
				again, err := json.Marshal(typed)
				if err != nil {
					t.Fatal(err)
				}
				var reencoded map[string]any
				if err := json.Unmarshal(again, &reencoded); err != nil {
					t.Fatal(err)
				}
				re := objdiff.Normalize(reencoded)
				if diff := objdiff.Missing(served, re); len(diff) > 0 {
					t.Errorf("%s %s: re-encoding from the Go types lost fields:\n  %s", gvk.Kind, obj.GetName(), strings.Join(diff, "\n  "))
				}
				if diff := objdiff.Missing(re, served); len(diff) > 0 {
					t.Errorf("%s %s: re-encoding from the Go types added fields:\n  %s", gvk.Kind, obj.GetName(), strings.Join(diff, "\n  "))
				}
				checked++
			}
			if checked == 0 {
				t.Fatalf("%s holds no argoproj.io object", file)
			}
		})
	}
}
