package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCRDsServeTheArgoRolloutsAPI checks what users and tools see of the five
// resources once the CRDs are installed with a plain `kubectl apply -f`.
func TestCRDsServeTheArgoRolloutsAPI(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)

	type want struct {
		kind, shortName string
		scope           apiextensionsv1.ResourceScope
		columns         []string
		scale, status   bool
	}
	wants := map[string]want{
		"rollouts.argoproj.io":                 {"Rollout", "ro", apiextensionsv1.NamespaceScoped, []string{"Desired", "Current", "Up-to-date", "Available", "Age"}, true, true},
		"analysistemplates.argoproj.io":        {"AnalysisTemplate", "at", apiextensionsv1.NamespaceScoped, []string{"Age"}, false, false},
		"clusteranalysistemplates.argoproj.io": {"ClusterAnalysisTemplate", "cat", apiextensionsv1.ClusterScoped, []string{"Age"}, false, false},
		"analysisruns.argoproj.io":             {"AnalysisRun", "ar", apiextensionsv1.NamespaceScoped, []string{"Status", "Age"}, false, true},
		"experiments.argoproj.io":              {"Experiment", "exp", apiextensionsv1.NamespaceScoped, []string{"Status", "Age"}, false, true},
	}
	for name, w := range wants {
		t.Run(w.kind, func(t *testing.T) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.ctrl.Get(context.Background(), client.ObjectKey{Name: name}, &crd); err != nil {
				t.Fatalf("get CRD %s: %v", name, err)
			}
			if crd.Spec.Group != "argoproj.io" || crd.Spec.Names.Kind != w.kind || crd.Spec.Scope != w.scope {
				t.Errorf("group/kind/scope = %s/%s/%s, want argoproj.io/%s/%s", crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Scope, w.kind, w.scope)
			}
			if !slices.Contains(crd.Spec.Names.ShortNames, w.shortName) {
				t.Errorf("short names %v lack %q", crd.Spec.Names.ShortNames, w.shortName)
			}
			if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
				t.Fatalf("versions = %+v, want only v1alpha1", crd.Spec.Versions)
			}
			v := crd.Spec.Versions[0]
			// Templates have no status at all, so no status subresource.
			hasStatus := v.Subresources != nil && v.Subresources.Status != nil
			if hasStatus != w.status {
				t.Errorf("status subresource %v, want %v", hasStatus, w.status)
			}
			if w.scale {
				s := v.Subresources.Scale
				if s == nil || s.SpecReplicasPath != ".spec.replicas" || s.StatusReplicasPath != ".status.HPAReplicas" ||
					s.LabelSelectorPath == nil || *s.LabelSelectorPath != ".status.selector" {
					t.Errorf("scale subresource = %+v, want spec .spec.replicas, status .status.HPAReplicas, selector .status.selector", s)
				}
			}
			var cols []string
			for _, col := range v.AdditionalPrinterColumns {
				cols = append(cols, col.Name)
			}
			if !slices.Equal(cols, w.columns) {
				t.Errorf("printer columns = %v, want %v", cols, w.columns)
			}
		})
	}

	// kubectl resolves the short names through discovery.
	for _, short := range []string{"ro", "at", "cat", "ar", "exp"} {
		mustKubectl(t, "get", short, "-A")
	}
}

// TestCRDsApplyServerSide re-applies the installed CRDs with server-side
// apply, the other way tools such as Argo CD install them.
func TestCRDsApplyServerSide(t *testing.T) {
	ensureCRDs(t)
	out := mustKubectl(t, "apply", "--server-side", "--force-conflicts", "--field-manager", "e2e-ssa", "-f", filepath.Join(repoRoot(t), "config", "crd", "bases"))
	for _, name := range []string{"rollouts", "analysistemplates", "clusteranalysistemplates", "analysisruns", "experiments"} {
		if !containsLine(out, "customresourcedefinition.apiextensions.k8s.io/"+name+".argoproj.io serverside-applied") {
			t.Errorf("server-side apply did not report %s:\n%s", name, out)
		}
	}
}
