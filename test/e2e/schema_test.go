package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaRefusesBrokenObjects applies objects that break the CRD schemas
// and checks that the API server refuses each with a message that names the
// field, and that nothing was created.
func TestSchemaRefusesBrokenObjects(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "schema")

	const rolloutHead = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: broken
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: web, image: web:1}]
`
	cases := []struct {
		name     string
		resource string
		manifest string
		want     []string
	}{
		{
			name:     "replicas is not a number",
			resource: "rollout/broken",
			manifest: rolloutHead + "  replicas: three\n  strategy:\n    canary: {}\n",
			want:     []string{"spec.replicas", "must be of type integer"},
		},
		{
			name:     "setWeight is not a number",
			resource: "rollout/broken",
			manifest: rolloutHead + "  strategy:\n    canary:\n      steps:\n      - setWeight: ten\n",
			want:     []string{"spec.strategy.canary.steps[0].setWeight", "must be of type integer"},
		},
		{
			name:     "steps is not a list",
			resource: "rollout/broken",
			manifest: rolloutHead + "  strategy:\n    canary:\n      steps:\n        setWeight: 10\n",
			// kubectl's strict decoding catches this before the schema does.
			want: []string{`unknown field "spec.strategy.canary.steps.setWeight"`},
		},
		{
			name:     "misspelt field",
			resource: "rollout/broken",
			manifest: rolloutHead + "  strategy:\n    canary:\n      setWieght: 10\n",
			want:     []string{`unknown field "spec.strategy.canary.setWieght"`},
		},
		{
			name:     "blue-green without an active service",
			resource: "rollout/broken",
			manifest: rolloutHead + "  strategy:\n    blueGreen:\n      previewService: preview\n",
			want:     []string{"spec.strategy.blueGreen.activeService", "Required value"},
		},
		{
			name:     "metric without a name",
			resource: "analysistemplate/broken",
			manifest: "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: broken\nspec:\n  metrics:\n  - provider:\n      web:\n        url: http://example\n",
			want:     []string{"spec.metrics[0].name", "Required value"},
		},
		{
			name:     "datadog API version that does not exist",
			resource: "analysistemplate/broken",
			manifest: "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: broken\nspec:\n  metrics:\n  - name: errors\n    provider:\n      datadog:\n        apiVersion: v3\n        query: avg:errors{*}\n",
			want:     []string{"spec.metrics[0].provider.datadog.apiVersion", `Unsupported value: "v3"`},
		},
		{
			name:     "experiment without templates",
			resource: "experiment/broken",
			manifest: "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata:\n  name: broken\nspec:\n  duration: 1m\n",
			want:     []string{"spec.templates", "Required value"},
		},
		{
			name:     "analysis run without metrics",
			resource: "analysisrun/broken",
			manifest: "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun\nmetadata:\n  name: broken\nspec:\n  args:\n  - name: x\n    value: y\n",
			want:     []string{"spec.metrics", "Required value"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(tc.manifest), 0o600); err != nil {
				t.Fatal(err)
			}
			r := kubectl(t, "apply", "-n", ns, "-f", path)
			if r.err == nil {
				t.Fatalf("the API server accepted the broken object:\n%s", r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("refusal does not mention %q:\n%s", w, r.stderr)
				}
			}
			if got := kubectl(t, "get", "-n", ns, tc.resource); got.err == nil {
				t.Errorf("%s exists after the refusal", tc.resource)
			}
		})
	}
}
