package validation

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// seedDir holds real users' manifests; it lives outside the repository.
const seedDir = "../../../../shared/fixtures/seeds"

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}

// services builds Refs.Services from Services.
func services(svcs ...*corev1.Service) map[string]*corev1.Service {
	m := map[string]*corev1.Service{}
	for _, s := range svcs {
		m[s.Name] = s
	}
	return m
}

func deployment(name string, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

// workloadRollout is a valid canary Rollout that takes its template from
// the Deployment "web".
func workloadRollout() *v1alpha1.Rollout {
	ro := canaryRollout()
	ro.Spec.Template = corev1.PodTemplateSpec{}
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	return ro
}

func TestReferences(t *testing.T) {
	web := map[string]string{"app": "web"}
	cases := []struct {
		name  string
		ro    func() *v1alpha1.Rollout
		refs  Refs
		field string // empty: no error expected
		msg   string
	}{
		{name: "services select the template", ro: canaryRollout,
			refs: Refs{Services: services(service("web-canary", web), service("web-stable", web))}},
		{name: "hash label in the selector is ignored", ro: canaryRollout,
			refs: Refs{Services: services(
				service("web-canary", map[string]string{"app": "web", v1alpha1.DefaultRolloutUniqueLabelKey: "abc"}),
				service("web-stable", web))}},
		{name: "missing service", ro: canaryRollout,
			refs:  Refs{Services: services(service("web-canary", web))},
			field: "spec.strategy.canary.stableService", msg: `Invalid value: "web-stable": service "web-stable" not found`},
		{name: "nil service entry means missing", ro: canaryRollout,
			refs:  Refs{Services: map[string]*corev1.Service{"web-canary": nil, "web-stable": service("web-stable", web)}},
			field: "spec.strategy.canary.canaryService", msg: `service "web-canary" not found`},
		{name: "service selects a label the template lacks", ro: canaryRollout,
			refs:  Refs{Services: services(service("web-canary", map[string]string{"app": "web", "tier": "front"}), service("web-stable", web))},
			field: "spec.strategy.canary.canaryService",
			msg:   `service "web-canary" selects tier=front, but the Pod template has no label "tier"`},
		{name: "service selects another value", ro: canaryRollout,
			refs:  Refs{Services: services(service("web-canary", web), service("web-stable", map[string]string{"app": "api"}))},
			field: "spec.strategy.canary.stableService", msg: `selects app=api, but the Pod template has app=web`},
		{name: "service may select role metadata", ro: func() *v1alpha1.Rollout {
			ro := canaryRollout()
			canary(ro).CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
			return ro
		}, refs: Refs{Services: services(service("web-canary", map[string]string{"app": "web", "role": "canary"}), service("web-stable", web))}},
		{name: "role metadata of the other side does not count", ro: func() *v1alpha1.Rollout {
			ro := canaryRollout()
			canary(ro).CanaryMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
			return ro
		}, refs: Refs{Services: services(service("web-canary", web), service("web-stable", map[string]string{"app": "web", "role": "canary"}))},
			field: "spec.strategy.canary.stableService", msg: `no label "role"`},
		{name: "service managed by another rollout", ro: canaryRollout, refs: Refs{Services: func() map[string]*corev1.Service {
			s := service("web-stable", web)
			s.Annotations = map[string]string{v1alpha1.ManagedByRolloutsKey: "other"}
			return services(service("web-canary", web), s)
		}()}, field: "spec.strategy.canary.stableService", msg: `already managed by Rollout "other"`},
		{name: "blue-green preview missing", ro: blueGreenRollout,
			refs:  Refs{Services: services(service("web-active", web))},
			field: "spec.strategy.blueGreen.previewService", msg: `service "web-preview" not found`},
		{name: "workload present", ro: workloadRollout,
			refs: Refs{Services: services(service("web-canary", web), service("web-stable", web)), Workload: deployment("web", web)}},
		{name: "workload missing", ro: workloadRollout,
			refs:  Refs{Services: services(service("web-canary", web), service("web-stable", web))},
			field: "spec.workloadRef.name", msg: `Invalid value: "web": Deployment "web" not found`},
		{name: "workload selector differs", ro: workloadRollout,
			refs: Refs{Services: services(service("web-canary", map[string]string{"app": "web2"}), service("web-stable", map[string]string{"app": "web2"})),
				Workload: deployment("web", map[string]string{"app": "web2"})},
			field: "spec.selector", msg: `must equal the selector of Deployment "web" (app=web2)`},
		{name: "workload template checked against services", ro: func() *v1alpha1.Rollout {
			ro := workloadRollout()
			ro.Spec.Selector = nil
			return ro
		}, refs: Refs{Services: services(service("web-canary", web), service("web-stable", map[string]string{"app": "web2"})), Workload: deployment("web", map[string]string{"app": "web2"})},
			field: "spec.strategy.canary.canaryService", msg: "but the Pod template has app=web2"},
		{name: "caller's effective template is used", ro: canaryRollout,
			refs: Refs{Services: services(service("web-canary", web), service("web-stable", map[string]string{"app": "other"})),
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other"}}}},
			field: "spec.strategy.canary.canaryService", msg: "but the Pod template has app=other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := References(tc.ro(), tc.refs)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("want no errors, got:\n%s", dump(errs))
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want exactly one error at %s, got %d:\n%s", tc.field, len(errs), dump(errs))
			}
			if errs[0].Field != tc.field {
				t.Errorf("field = %q, want %q (%s)", errs[0].Field, tc.field, errs[0])
			}
			if !strings.Contains(errs[0].Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", errs[0].Error(), tc.msg)
			}
		})
	}
}

func TestServiceNames(t *testing.T) {
	ro := canaryRollout()
	canary(ro).PingPong = &v1alpha1.PingPongSpec{PingService: "web-ping", PongService: "web-canary"}
	ro.Spec.Strategy.BlueGreen = blueGreen(blueGreenRollout())
	want := []string{"web-active", "web-canary", "web-ping", "web-preview", "web-stable"}
	if got := ServiceNames(ro); !slices.Equal(got, want) {
		t.Fatalf("ServiceNames = %v, want %v", got, want)
	}
	if got := ServiceNames(&v1alpha1.Rollout{}); len(got) != 0 {
		t.Fatalf("ServiceNames of an empty Rollout = %v, want none", got)
	}
}

// seedRollouts parses the Rollout documents of one seed manifest.
func seedRollouts(t *testing.T, path string) []*v1alpha1.Rollout {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1alpha1.Rollout
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if meta.Kind != "Rollout" {
			continue
		}
		ro := &v1alpha1.Rollout{}
		// Strict, so a field the API types lack fails here instead of
		// being dropped and the check passing on less than the user wrote.
		if err := yaml.UnmarshalStrict(doc, ro); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, ro)
	}
	return out
}

func seedFiles(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(seedDir, "*.yaml"))
	if len(files) == 0 {
		t.Skipf("no seed manifests in %s", seedDir)
	}
	return files
}

func TestSeedsPassSpec(t *testing.T) {
	for _, f := range seedFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ros := seedRollouts(t, f)
			if len(ros) == 0 {
				t.Fatal("no Rollout in the file")
			}
			for _, ro := range ros {
				if errs := Spec(ro); len(errs) != 0 {
					t.Errorf("Rollout %s:\n%s", ro.Name, dump(errs))
				}
			}
		})
	}
}

func TestSeedCanaryManualGatesReferences(t *testing.T) {
	seedFiles(t)
	ros := seedRollouts(t, filepath.Join(seedDir, "canary-manual-gates.yaml"))
	if len(ros) != 1 {
		t.Fatalf("want one Rollout, got %d", len(ros))
	}
	ro := ros[0]
	rails := map[string]string{"app": "rails"}
	refs := Refs{Services: services(service("rails-stable", rails), service("rails-canary", rails))}
	if got, want := ServiceNames(ro), []string{"rails-canary", "rails-stable"}; !slices.Equal(got, want) {
		t.Fatalf("ServiceNames = %v, want %v", got, want)
	}
	if errs := References(ro, refs); len(errs) != 0 {
		t.Fatalf("want no errors, got:\n%s", dump(errs))
	}

	delete(refs.Services, "rails-canary")
	got := Message(References(ro, refs))
	want := `spec.strategy.canary.canaryService: Invalid value: "rails-canary": service "rails-canary" not found`
	if got != want {
		t.Fatalf("Message = %q, want %q", got, want)
	}
}
