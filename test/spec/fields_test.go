// Package spec walks every field of the published argoproj.io/v1alpha1
// spec and holds the table that says, for each, what honours it or how it
// is refused.
package spec

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/analysis"
	expdecide "github.com/kanaria-rollouts/kanaria/internal/experiment/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/validation"
)

// root is the repository's top directory.
func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// leaf is one leaf field of a kind's published spec schema.
type leaf struct {
	kind, path string
	schema     apiextensionsv1.JSONSchemaProps
}

// specLeaves walks the spec schema of every CRD in config/crd/bases down
// to its leaves: a field with no properties of its own, an array's items
// ("[]"), a map's values ("{}") where they have properties.
func specLeaves(t *testing.T) map[string]leaf {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) != 5 {
		t.Fatalf("CRDs in config/crd/bases: %v %v", files, err)
	}
	out := map[string]leaf{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind := crd.Spec.Names.Kind
		var walk func(s apiextensionsv1.JSONSchemaProps, p string)
		walk = func(s apiextensionsv1.JSONSchemaProps, p string) {
			switch {
			case len(s.Properties) > 0:
				for name, sub := range s.Properties {
					walk(sub, p+"."+name)
				}
			case s.Type == "array" && s.Items != nil && s.Items.Schema != nil:
				walk(*s.Items.Schema, p+"[]")
			case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil && len(s.AdditionalProperties.Schema.Properties) > 0:
				walk(*s.AdditionalProperties.Schema, p+"{}")
			default:
				out[kind+":"+p] = leaf{kind: kind, path: p, schema: s}
			}
		}
		walk(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"], "spec")
	}
	return out
}

// row is one line of testdata/fields.txt.
type row struct {
	line    int
	verdict string // "honoured", "refused" or "partly"
	file    string // honoured, partly: the code that reads the field
	tests   []string
	message string // refused, partly: what the refusal says
}

// expand expands every {a,b,...} group of s; braces without a comma, as
// in a map's "{}", stay as they are.
func expand(s string) []string {
	depth, start := 0, -1
	for i, r := range s {
		switch r {
		case '{':
			if depth == 0 {
				start = i
			}
			depth++
		case '}':
			depth--
			if depth == 0 {
				inner := s[start+1 : i]
				if !strings.Contains(inner, ",") {
					continue
				}
				var out []string
				for _, alt := range splitTop(inner) {
					out = append(out, expand(s[:start]+alt+s[i+1:])...)
				}
				return out
			}
		}
	}
	return []string{s}
}

// splitTop splits s at the commas outside any braces.
func splitTop(s string) []string {
	var parts []string
	depth, from := 0, 0
	for i, r := range s {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[from:i])
				from = i + 1
			}
		}
	}
	return append(parts, s[from:])
}

// readTable reads testdata/fields.txt: "Kind:path honoured FILE Test[,Test]",
// "Kind:path refused MESSAGE" or "Kind:path partly FILE Test[,Test] MESSAGE",
// with {a,b} groups in Kind:path standing for one row each.
func readTable(t *testing.T) map[string]row {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "fields.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]row{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			t.Fatalf("fields.txt:%d: want KIND:PATH VERDICT ...: %q", n, line)
		}
		r := row{line: n, verdict: fields[1]}
		switch r.verdict {
		case "honoured":
			if len(fields) != 4 {
				t.Fatalf("fields.txt:%d: want KIND:PATH honoured FILE TESTS", n)
			}
			r.file, r.tests = fields[2], strings.Split(fields[3], ",")
		case "refused":
			r.message = strings.Join(fields[2:], " ")
		case "partly":
			if len(fields) < 5 {
				t.Fatalf("fields.txt:%d: want KIND:PATH partly FILE TESTS MESSAGE", n)
			}
			r.file, r.tests, r.message = fields[2], strings.Split(fields[3], ","), strings.Join(fields[4:], " ")
		default:
			t.Fatalf("fields.txt:%d: verdict %q is not honoured, refused or partly", n, r.verdict)
		}
		for _, key := range expand(fields[0]) {
			if prev, ok := out[key]; ok {
				t.Errorf("fields.txt:%d: %s is already listed on line %d", n, key, prev.line)
			}
			out[key] = r
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// kindTypes are the Go types that serve each kind.
var kindTypes = map[string]reflect.Type{
	"Rollout":                 reflect.TypeOf(v1alpha1.Rollout{}),
	"AnalysisTemplate":        reflect.TypeOf(v1alpha1.AnalysisTemplate{}),
	"ClusterAnalysisTemplate": reflect.TypeOf(v1alpha1.ClusterAnalysisTemplate{}),
	"AnalysisRun":             reflect.TypeOf(v1alpha1.AnalysisRun{}),
	"Experiment":              reflect.TypeOf(v1alpha1.Experiment{}),
}

// goField follows a schema path through the Go types by their JSON tags
// and returns the Go name of the leaf's field.
func goField(kind, path string) (string, error) {
	typ := kindTypes[kind]
	name := ""
	for _, seg := range strings.Split(path, ".") {
		seg = strings.TrimRight(seg, "[]{}")
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		f, ok := jsonField(typ, seg)
		if !ok {
			return "", fmt.Errorf("%s has no field with JSON name %q", typ, seg)
		}
		name, typ = f.Name, f.Type
	}
	return name, nil
}

// jsonField finds the field of typ named json in JSON, inlined structs
// included.
func jsonField(typ reflect.Type, json string) (reflect.StructField, bool) {
	if typ.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		if tag[0] == json {
			return f, true
		}
		if (tag[0] == "" && f.Anonymous) || (len(tag) > 1 && tag[1] == "inline") {
			if sub, ok := jsonField(f.Type, json); ok {
				return sub, true
			}
		}
	}
	return reflect.StructField{}, false
}

// testSource is a Test function's own source and its whole file's.
type testSource struct{ body, file string }

// testBodies maps the name of every Test function of the repository to its
// source.
func testBodies(t *testing.T) map[string]testSource {
	t.Helper()
	out := map[string]testSource{}
	top := root(t)
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || p == filepath.Join(top, "hack")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				out[fn.Name.Name] = testSource{string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset]), string(src)}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryPublishedSpecFieldIsHonouredOrRefused walks every leaf of the
// published spec of the five kinds. Each must be in testdata/fields.txt
// and each row must name a leaf. An honoured field names the code that
// reads it (the file must use the Go field) and tests that exercise it
// (each must mention it by its JSON or Go name). A refused field names the
// refusal: validation run on a manifest setting the field must refuse it
// with that message, naming the field.
func TestEveryPublishedSpecFieldIsHonouredOrRefused(t *testing.T) {
	leaves := specLeaves(t)
	table := readTable(t)
	if len(leaves) < 400 {
		t.Fatalf("only %d leaves in the published spec; the walk is broken", len(leaves))
	}
	var keys []string
	for k := range leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := table[k]; !ok {
			t.Errorf("%s is in the published spec but not in testdata/fields.txt", k)
		}
	}
	for k, r := range table {
		if _, ok := leaves[k]; !ok {
			t.Errorf("fields.txt:%d names %s, which the published spec lacks", r.line, k)
		}
	}

	bodies := testBodies(t)
	sources := map[string]string{}
	for _, k := range keys {
		r, ok := table[k]
		if !ok {
			continue
		}
		l := leaves[k]
		jsonName := strings.TrimRight(l.path[strings.LastIndex(l.path, ".")+1:], "[]{}")
		goName, err := goField(l.kind, l.path)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if r.verdict == "honoured" || r.verdict == "partly" {
			// FILE^ says the file hands the enclosing struct whole to the
			// code that honours the field (a Kubernetes library, say).
			file, want := r.file, goName
			if strings.HasSuffix(file, "^") {
				file = strings.TrimSuffix(file, "^")
				parent, err := goField(l.kind, l.path[:strings.LastIndex(l.path, ".")])
				if err != nil {
					t.Errorf("%s: %v", k, err)
					continue
				}
				want = parent
			}
			src, ok := sources[file]
			if !ok {
				b, err := os.ReadFile(filepath.Join(root(t), file))
				if err != nil {
					t.Errorf("fields.txt:%d: %v", r.line, err)
					continue
				}
				src = string(b)
				sources[file] = src
			}
			if !strings.Contains(src, "."+want) {
				t.Errorf("fields.txt:%d: %s is said to be honoured by %s, which never reads .%s", r.line, k, file, want)
			}
			for _, name := range r.tests {
				ts, ok := bodies[name]
				if !ok {
					t.Errorf("fields.txt:%d: test %s of %s does not exist", r.line, name, k)
					continue
				}
				if !mentions(ts.body, jsonName, goName) && !mentions(ts.file, jsonName, goName) {
					t.Errorf("fields.txt:%d: neither test %s nor its file mentions %s (%s)", r.line, name, jsonName, goName)
				}
			}
		}
		if r.verdict == "refused" || r.verdict == "partly" {
			// For a partly honoured field the sample value is one of those
			// refused (a map's sample key is no name Kanaria knows).
			errs := refuse(t, l)
			msg := validation.Message(errs)
			if len(errs) == 0 || !strings.Contains(msg, r.message) || !namesField(errs, l.path) {
				t.Errorf("fields.txt:%d: setting %s gives %q, want a refusal of it or of what holds it, saying %q", r.line, k, msg, r.message)
			}
		}
	}
}

// mentions reports whether src names a field by its JSON or Go name.
func mentions(src, jsonName, goName string) bool {
	return strings.Contains(src, jsonName) || strings.Contains(src, goName)
}

// indices matches list indices and map and list markers in field paths.
var indices = regexp.MustCompile(`\[[^\]]*\]|\{\}`)

// namesField reports whether an error's field is the leaf or one of the
// fields that hold it.
func namesField(errs field.ErrorList, path string) bool {
	leaf := indices.ReplaceAllString(path, "")
	for _, e := range errs {
		f := indices.ReplaceAllString(e.Field, "")
		if leaf == f || strings.HasPrefix(leaf, f+".") {
			return true
		}
	}
	return false
}

// sample is a value of the leaf's schema type.
func sample(s apiextensionsv1.JSONSchemaProps) any {
	switch s.Type {
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{"x"}
	case "object":
		return map[string]any{"x": "y"}
	}
	if s.XIntOrString {
		return 1
	}
	return "x"
}

// setPath sets path (from below spec) in obj to v, making a one-element
// list of each array and a one-key map of each map on the way.
func setPath(obj map[string]any, segs []string, v any) {
	seg := segs[0]
	list := strings.HasSuffix(seg, "[]")
	mapOf := strings.HasSuffix(seg, "{}")
	name := strings.TrimSuffix(strings.TrimSuffix(seg, "[]"), "{}")
	if len(segs) == 1 {
		if list {
			v = []any{v}
		}
		obj[name] = v
		return
	}
	child := map[string]any{}
	switch {
	case list:
		items, _ := obj[name].([]any)
		if len(items) > 0 {
			if m, ok := items[0].(map[string]any); ok {
				child = m
			}
		}
		obj[name] = []any{child}
	case mapOf:
		obj[name] = map[string]any{"k": child}
	default:
		if m, ok := obj[name].(map[string]any); ok {
			child = m
		}
		obj[name] = child
	}
	setPath(child, segs[1:], v)
}

// refuse builds the kind's object with only the leaf set (under a metric
// named m for analysis kinds) and runs its pure validation.
func refuse(t *testing.T, l leaf) field.ErrorList {
	t.Helper()
	spec := map[string]any{}
	setPath(spec, strings.Split(strings.TrimPrefix(l.path, "spec."), "."), sample(l.schema))
	if ms, ok := spec["metrics"].([]any); ok {
		ms[0].(map[string]any)["name"] = "m"
	}
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": "x", "namespace": "ns"}, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	switch l.kind {
	case "Rollout":
		var ro v1alpha1.Rollout
		if err := json.Unmarshal(b, &ro); err != nil {
			t.Fatal(err)
		}
		return validation.Spec(&ro)
	case "Experiment":
		var ex v1alpha1.Experiment
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatal(err)
		}
		return expdecide.ValidateSpec(&ex)
	default:
		var run v1alpha1.AnalysisRun
		if err := json.Unmarshal(b, &run); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return analysis.ValidateMetrics(run.Spec.Metrics, field.NewPath("spec", "metrics"))
	}
}
