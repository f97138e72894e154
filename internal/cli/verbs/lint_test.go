package verbs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintBadManifests checks every testdata manifest against the exact
// lines lint prints for it.
func TestLintBadManifests(t *testing.T) {
	cases := map[string][]string{
		"valid.yaml": {"ok"},
		"rollout-no-strategy.yaml": {
			"Rollout web: spec.replicas: Invalid value: -1: must be 0 or more",
			`Rollout web: spec.template.metadata.labels: Invalid value: "app=api": does not match spec.selector (app=web): the template's labels must satisfy the selector, or the Rollout could not find its own Pods`,
			"Rollout web: spec.strategy: Required value: set exactly one of canary or blueGreen",
		},
		"rollout-unknown-field.yaml": {
			"Rollout web: spec.stratgy: Unknown field: not part of the argoproj.io/v1alpha1 API (misspelt, or wrongly indented?)",
			"Rollout web: spec.strategy: Required value: set exactly one of canary or blueGreen",
		},
		"rollout-wrong-type.yaml": {
			"Rollout web: spec.replicas: Invalid value: a string is not a valid int32",
		},
		"multi-doc.yaml": {
			"Rollout (unnamed): metadata.name: Required value: every object needs a name",
			"Rollout (unnamed): spec.strategy.blueGreen.scaleDownDelaySeconds: Invalid value: -5: must be 0 or more",
		},
		"experiment-bad.yaml": {
			`Experiment shop: spec.duration: Invalid value: "5 minutes": not a duration such as 30s, 5m or 1h`,
			`Experiment shop: spec.templates[1].name: Duplicate value: "baseline"`,
			`Experiment shop: spec.templates[1].template.metadata.labels: Invalid value: "app=shop": the template's labels do not match its selector app=other`,
			`Experiment shop: spec.templates[1].service: Invalid value: "{}": the Pod template declares no container ports for the Service to expose`,
		},
		"experiment-strict.yaml": {
			"Experiment shop: spec.duraton: Unknown field: not part of the argoproj.io/v1alpha1 API (misspelt, or wrongly indented?)",
		},
		"providers-bad.yaml": {
			`AnalysisTemplate providers: spec.metrics[1].provider: Invalid value: graphite: address: "graphite.monitoring:8080" is not an http(s) URL`,
			"AnalysisTemplate providers: spec.metrics[2].provider: Invalid value: newRelic: query: set the NRQL query, e.g. FROM Transaction SELECT count(*)",
			"AnalysisTemplate providers: spec.metrics[3].provider: Invalid value: skywalking: interval: set the window the query covers, e.g. 5m",
			"AnalysisTemplate providers: spec.metrics[4].provider: Invalid value: kayenta: threshold: need 0 <= marginal (80) <= pass (70) <= 100",
			"AnalysisTemplate providers: spec.metrics[5].provider: Invalid value: kanaria.dev/slo: errorQuery: needs {{window}} (or {{windowSeconds}}) where the range goes, e.g. [{{window}}]",
			"AnalysisTemplate providers: spec.metrics[6].provider: Invalid value: kanaria.dev/cloud-monitoring: aggregation.alignmentPeriod: required with a perSeriesAligner other than ALIGN_NONE",
		},
		"templates-bad.yaml": {
			"AnalysisTemplate success-rate: spec.metrics[0].count: Invalid value: 3: more than one measurement needs an interval between them; set interval, e.g. 30s",
			`AnalysisTemplate success-rate: spec.metrics[1].name: Duplicate value: "success-rate"`,
			`AnalysisTemplate success-rate: spec.metrics[1].successCondition: Invalid value: "result[0] >=": compiling "result[0] >=": unexpected token EOF (at 1:12)`,
			`AnalysisTemplate success-rate: spec.metrics[1].failureCondition: Invalid value: "reslt > 1": compiling "reslt > 1": unknown name reslt (at 1:1)`,
			`AnalysisTemplate success-rate: spec.args[1].name: Duplicate value: "service"`,
			`ClusterAnalysisTemplate smoke: spec.metrics[0].interval: Invalid value: "30": must be a duration with a unit, such as 30s, 5m or 1h`,
		},
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", "lint", file)
			out, _, err := run(t, nil, "lint", path)
			var lines []string
			for _, w := range want {
				if w == "ok" {
					lines = append(lines, path+": ok")
				} else {
					lines = append(lines, path+": "+w)
				}
			}
			if wantOut := strings.Join(lines, "\n") + "\n"; out != wantOut {
				t.Fatalf("printed\n%s\nwant\n%s", out, wantOut)
			}
			wantCode := ExitProblems
			if want[0] == "ok" {
				wantCode = 0
			}
			if got := exitCode(err); got != wantCode {
				t.Fatalf("exit code %d (%v), want %d", got, err, wantCode)
			}
		})
	}
}

func TestLintSyntaxErrorNamesFileLine(t *testing.T) {
	path := filepath.Join("testdata", "lint", "syntax-error.yaml")
	out, _, err := run(t, nil, "lint", path)
	// The error is on line 7 of the second document, which is line 14 of the file.
	if want := path + ":14: invalid YAML: mapping values are not allowed in this context\n"; out != want {
		t.Fatalf("printed %q, want %q", out, want)
	}
	if exitCode(err) != ExitProblems {
		t.Fatalf("exit code %d (%v)", exitCode(err), err)
	}
}

func TestLintSeveralFilesAndMissingFile(t *testing.T) {
	good := filepath.Join("testdata", "lint", "valid.yaml")
	bad := filepath.Join("testdata", "lint", "rollout-wrong-type.yaml")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	out, _, err := run(t, nil, "lint", good, bad, missing)
	if !strings.HasPrefix(out, good+": ok\n"+bad+": Rollout web: ") || !strings.Contains(out, missing+": open "+missing+": no such file or directory\n") {
		t.Fatalf("printed %q", out)
	}
	if want := "lint found 2 problem(s) in 2 of 3 file(s)"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestSplitDocumentsKeepsFileLines(t *testing.T) {
	docs := splitDocuments([]byte("---\na: 1\n--- # second\nb: 2\n---   {c: 3}\n"))
	got := make([]int, 0, len(docs))
	for _, d := range docs {
		got = append(got, d.line)
	}
	if len(docs) != 4 || got[1] != 2 || got[2] != 4 || got[3] != 5 || docs[3].text != "{c: 3}\n\n" {
		t.Fatalf("documents %+v", docs)
	}
}

// TestLintSeeds lints the manifests real users published: each must pass.
func TestLintSeeds(t *testing.T) {
	dir := "/work/shared/fixtures/seeds"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no seed manifests: %v", err)
	}
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no seed manifests")
	}
	out, _, err := run(t, nil, append([]string{"lint"}, files...)...)
	if err != nil {
		t.Fatalf("lint of the seeds: %v\n%s", err, out)
	}
	for _, f := range files {
		if !strings.Contains(out, f+": ok\n") {
			t.Errorf("%s is not ok:\n%s", f, out)
		}
	}
}
