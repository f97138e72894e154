package configsnap

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func ptr[T any](v T) *T { return &v }

// everyReference is a Pod spec that references configuration in every place
// the walk covers, one object per place.
func everyReference() corev1.PodSpec {
	return corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret", Optional: ptr(true)}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-cm"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		InitContainers: []corev1.Container{{
			Name:    "init",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-envfrom-secret"}}}},
		}},
		Containers: []corev1.Container{{
			Name: "app",
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm"}, Optional: ptr(false)}},
			},
			Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: "x"},
				{Name: "CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "key-cm"}, Key: "k", Optional: ptr(true)}}},
				{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "key-secret"}, Key: "k"}}},
				{Name: "F", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
		}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}},
	}
}

func TestReferencesWalksEveryPlace(t *testing.T) {
	spec := everyReference()
	got := References(&spec)
	want := map[Ref]bool{
		{KindConfigMap, "vol-cm"}:           true,
		{KindSecret, "vol-secret"}:          false,
		{KindConfigMap, "proj-cm"}:          true,
		{KindSecret, "proj-secret"}:         true,
		{KindSecret, "init-envfrom-secret"}: true,
		{KindConfigMap, "envfrom-cm"}:       true,
		{KindConfigMap, "key-cm"}:           false,
		{KindSecret, "key-secret"}:          true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("References = %v, want %v", got, want)
	}
}

func TestReferencesRequiredWhenAnyUseIs(t *testing.T) {
	spec := corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", Optional: ptr(true)}}}},
		Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{
			{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
		}}},
	}
	if got := References(&spec); !got[Ref{KindSecret, "s"}] {
		t.Errorf("an object that one use requires counts as optional: %v", got)
	}
	// A Secret and a ConfigMap of one name are two references.
	spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
	if got := References(&spec); len(got) != 2 {
		t.Errorf("References = %v, want a Secret and a ConfigMap", got)
	}
}

func TestRewritePointsEveryUseAtTheCopy(t *testing.T) {
	spec := everyReference()
	tmpl := &corev1.PodTemplateSpec{Spec: spec}
	observed := map[Ref]Source{}
	for r := range References(&spec) {
		observed[r] = Source{Hash: ContentHash(r, "", nil, map[string]string{"k": r.Name})}
	}
	observed[Ref{KindConfigMap, "key-cm"}] = Source{Missing: true} // optional: referenced as is
	observed[Ref{KindSecret, "proj-secret"}] = Source{Keep: true}  // opted out
	out, copies, missing := Rewrite(tmpl, observed)
	if len(missing) != 0 {
		t.Fatalf("missing = %v, want none", missing)
	}
	if !reflect.DeepEqual(tmpl.Spec, everyReference()) {
		t.Fatal("Rewrite modified its input")
	}
	names := map[string]string{}
	for _, c := range copies {
		names[c.Source.Name] = c.Name
		if c.Name != CopyName(c.Source.Name, observed[c.Source].Hash) {
			t.Errorf("copy %v named %s", c.Source, c.Name)
		}
	}
	if len(copies) != 6 {
		t.Errorf("copies = %v, want 6", copies)
	}
	s := out.Spec
	checks := map[string]string{
		s.Volumes[0].ConfigMap.Name:                          "vol-cm",
		s.Volumes[1].Secret.SecretName:                       "vol-secret",
		s.Volumes[2].Projected.Sources[0].ConfigMap.Name:     "proj-cm",
		s.InitContainers[0].EnvFrom[0].SecretRef.Name:        "init-envfrom-secret",
		s.Containers[0].EnvFrom[0].ConfigMapRef.Name:         "envfrom-cm",
		s.Containers[0].Env[2].ValueFrom.SecretKeyRef.Name:   "key-secret",
		s.Volumes[2].Projected.Sources[1].Secret.Name + "=":  "proj-secret=",
		s.Containers[0].Env[1].ValueFrom.ConfigMapKeyRef.Key: "k",
	}
	for got, source := range checks {
		want := names[source]
		if want == "" {
			want = source
		}
		if got != want {
			t.Errorf("reference to %s rewritten to %s, want %s", source, got, want)
		}
	}
	if n := s.Containers[0].Env[1].ValueFrom.ConfigMapKeyRef.Name; n != "key-cm" {
		t.Errorf("a missing optional reference was rewritten to %s", n)
	}
	if s.ImagePullSecrets[0].Name != "pull" {
		t.Error("an image pull Secret was rewritten")
	}
}

func TestRewriteReportsMissingRequiredSources(t *testing.T) {
	spec := everyReference()
	observed := map[Ref]Source{{KindSecret, "vol-secret"}: {Missing: true}}
	_, _, missing := Rewrite(&corev1.PodTemplateSpec{Spec: spec}, observed)
	// vol-secret is optional; every other reference is required and not
	// observed at all.
	want := []Ref{
		{KindConfigMap, "envfrom-cm"}, {KindConfigMap, "proj-cm"}, {KindConfigMap, "vol-cm"},
		{KindSecret, "init-envfrom-secret"}, {KindSecret, "key-secret"}, {KindSecret, "proj-secret"},
	}
	if !reflect.DeepEqual(missing, want) {
		t.Errorf("missing = %v, want %v", missing, want)
	}
	msg := MissingMessage(missing[:1])
	if !strings.Contains(msg, "ConfigMap/envfrom-cm") {
		t.Errorf("message %q does not name the object", msg)
	}
}

func TestContentHash(t *testing.T) {
	r := Ref{KindSecret, "api-secret"}
	base := ContentHash(r, "Opaque", map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil)
	if again := ContentHash(r, "Opaque", map[string][]byte{"b": []byte("2"), "a": []byte("1")}, nil); again != base {
		t.Error("the hash depends on map order")
	}
	differ := map[string]string{
		"value":        ContentHash(r, "Opaque", map[string][]byte{"a": []byte("1"), "b": []byte("3")}, nil),
		"key split":    ContentHash(r, "Opaque", map[string][]byte{"a": []byte("1b"), "": []byte("2")}, nil),
		"type":         ContentHash(r, "kubernetes.io/tls", map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil),
		"name":         ContentHash(Ref{KindSecret, "api-secret2"}, "Opaque", map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil),
		"kind":         ContentHash(Ref{KindConfigMap, "api-secret"}, "Opaque", map[string][]byte{"a": []byte("1"), "b": []byte("2")}, nil),
		"text vs byte": ContentHash(r, "Opaque", nil, map[string]string{"a": "1", "b": "2"}),
	}
	seen := map[string]string{base: "base"}
	for what, h := range differ {
		if prev, ok := seen[h]; ok {
			t.Errorf("changing the %s gives the same hash as %s", what, prev)
		}
		seen[h] = what
	}
}

func TestCopyNameIsAValidNameWithinTheLimit(t *testing.T) {
	hash := ContentHash(Ref{KindSecret, "x"}, "", nil, nil)
	long := strings.Repeat("a", 250)
	dotted := strings.Repeat("b", 241) + ".-" + strings.Repeat("c", 20)
	for _, source := range []string{"api-secret", long, strings.Repeat("a", 242), dotted, "a.b"} {
		name := CopyName(source, hash)
		if len(name) > 253 {
			t.Errorf("CopyName(%d chars) is %d chars long", len(source), len(name))
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("CopyName(%q) = %q is not a valid name: %v", source, name, errs)
		}
		if !strings.HasSuffix(name, "-"+hash[:10]) {
			t.Errorf("CopyName(%q) = %q does not end with the hash", source, name)
		}
	}
	if got := CopyName("api-secret", hash); got != "api-secret-"+hash[:10] {
		t.Errorf("CopyName = %s", got)
	}
	// Two long sources that share the kept prefix still get two names:
	// their names are part of the hash.
	a, b := long+"x", long+"y"
	ha := ContentHash(Ref{KindSecret, a}, "", nil, nil)
	hb := ContentHash(Ref{KindSecret, b}, "", nil, nil)
	if CopyName(a, ha) == CopyName(b, hb) {
		t.Error("two sources whose names differ past the cut share a copy name")
	}
	if CopyName("api-secret", hash) != CopyName("api-secret", hash) {
		t.Error("CopyName is not deterministic")
	}
}

func TestCopiesAnnotationRoundTrip(t *testing.T) {
	copies := []Copy{{Source: Ref{KindConfigMap, "a"}, Name: "a-1"}, {Source: Ref{KindSecret, "b"}, Name: "b-2"}}
	v := FormatCopies(copies)
	if v != "ConfigMap/a-1,Secret/b-2" {
		t.Errorf("FormatCopies = %q", v)
	}
	got := ParseCopies(v + ",Pod/x,garbage,")
	want := []Ref{{KindConfigMap, "a-1"}, {KindSecret, "b-2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCopies = %v, want %v", got, want)
	}
}

func TestCopyLabels(t *testing.T) {
	got := CopyLabels(map[string]string{"app": "api", "app.kubernetes.io/instance": "argo-app"})
	want := map[string]string{"app": "api", CopyLabel: "true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CopyLabels = %v, want %v", got, want)
	}
}

func TestEnabledAndOptedOut(t *testing.T) {
	if Enabled(nil) || !Enabled(map[string]string{EnabledAnnotation: "true"}) || Enabled(map[string]string{EnabledAnnotation: "yes"}) {
		t.Error("Enabled reads the annotation wrong")
	}
	if OptedOut(nil) || !OptedOut(map[string]string{EnabledAnnotation: "false"}) {
		t.Error("OptedOut reads the annotation wrong")
	}
}
