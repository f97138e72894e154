package podhash

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

func TestTemplateHashIsStableAndSensitive(t *testing.T) {
	a, b := Template(template("web:1"), nil), Template(template("web:1"), nil)
	if a != b {
		t.Fatalf("same template hashed to %q and %q", a, b)
	}
	if c := Template(template("web:2"), nil); c == a {
		t.Fatalf("different images share hash %q", a)
	}
	one := int32(1)
	if c := Template(template("web:1"), &one); c == a {
		t.Fatalf("a collision count does not change the hash %q", a)
	}
	// The hash names Kubernetes objects: short and in the safe alphabet.
	for _, r := range a {
		if !(r >= '0' && r <= '9' || r >= 'b' && r <= 'z') || r == 'e' || r == 'i' || r == 'o' || r == 'u' || r == 'a' {
			t.Fatalf("hash %q has character %q outside the safe alphabet", a, r)
		}
	}
}

// TestTemplateHashMatchesKnownValue pins the hash of a fixed template so an
// accidental change of the algorithm, which would make every existing
// ReplicaSet look foreign after an upgrade, fails here.
func TestTemplateHashMatchesKnownValue(t *testing.T) {
	got := Template(template("registry.example/rails:6.0"), nil)
	const want = "679b8cfb45"
	if got != want {
		t.Fatalf("hash = %q, want %q", got, want)
	}
}

func TestStepsHash(t *testing.T) {
	w := int32(10)
	s1 := []v1alpha1.CanaryStep{{SetWeight: &w}}
	if Steps(nil) != "" {
		t.Fatal("no steps must hash to empty")
	}
	if Steps(s1) != Steps([]v1alpha1.CanaryStep{{SetWeight: &w}}) {
		t.Fatal("equal steps hash differently")
	}
	w2 := int32(20)
	if Steps(s1) == Steps([]v1alpha1.CanaryStep{{SetWeight: &w2}}) {
		t.Fatal("edited steps keep their hash")
	}
}

// The two encodings of template("registry.example/rails:6.0"): k8s.io/api up
// to v0.33 writes an empty creation time as null, v0.34 on leaves it out.
const (
	railsNullJSON    = `{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"registry.example/rails:6.0","resources":{}}]}}`
	railsOmittedJSON = `{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"registry.example/rails:6.0","resources":{}}]}}`
)

// TestTemplateHashesOfBothEncodings pins the hashes of both encodings of a
// known template, each computed from the literal bytes, so the pairs hold
// whichever k8s.io/api version this module is built with.
func TestTemplateHashesOfBothEncodings(t *testing.T) {
	one := int32(1)
	cases := []struct {
		count         *int32
		null, omitted string
	}{
		{nil, "679b8cfb45", "575ff667cc"},
		{&one, "6d77dbcddd", "5478469f6d"},
	}
	for _, c := range cases {
		if got := hashBytes([]byte(railsNullJSON), c.count); got != c.null {
			t.Fatalf("hash of the v0.33 encoding = %q, want %q", got, c.null)
		}
		if got := hashBytes([]byte(railsOmittedJSON), c.count); got != c.omitted {
			t.Fatalf("hash of the v0.34 encoding = %q, want %q", got, c.omitted)
		}
		got := TemplateHashes(template("registry.example/rails:6.0"), c.count)
		if got != (Hashes{Null: c.null, Omitted: c.omitted}) {
			t.Fatalf("TemplateHashes = %+v, want null %q omitted %q", got, c.null, c.omitted)
		}
		if tmpl := Template(template("registry.example/rails:6.0"), c.count); tmpl != c.null {
			t.Fatalf("Template = %q, want the v0.33 hash %q", tmpl, c.null)
		}
	}
}

// TestEncodingIsPinnedWhateverTheLibraryWrites feeds the encoder both forms
// a library may produce and checks each comes out as the pinned bytes.
func TestEncodingIsPinnedWhateverTheLibraryWrites(t *testing.T) {
	for _, in := range []string{railsNullJSON, railsOmittedJSON} {
		top, err := objectFields([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		for want, null := range map[string]bool{railsNullJSON: true, railsOmittedJSON: false} {
			fields := append([]field(nil), top...)
			meta, err := objectFields(fields[0].value)
			if err != nil {
				t.Fatal(err)
			}
			fields[0].value = encodeObject(setNullCreation(meta, null))
			if got := string(encodeObject(fields)); got != want {
				t.Fatalf("from %s (null %v):\n got %s\nwant %s", in, null, got, want)
			}
		}
	}
	// The key goes where ObjectMeta declares it: after the name, before
	// the labels.
	named := template("web:1")
	named.Name = "web"
	null, _ := encodings(named)
	got := string(null)
	if want := `{"metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}}`; got[:len(want)] != want {
		t.Fatalf("encoding starts %s, want %s", got, want)
	}
	// Braces and quotes inside strings do not end the metadata early.
	tricky := template("web:1")
	tricky.Annotations = map[string]string{"note": `a "}" and a \ {`}
	null, omitted := encodings(tricky)
	for _, enc := range [][]byte{null, omitted} {
		var back corev1.PodTemplateSpec
		if err := json.Unmarshal(enc, &back); err != nil || back.Annotations["note"] != tricky.Annotations["note"] || back.Spec.Containers[0].Image != "web:1" {
			t.Fatalf("encoding %s does not read back: %v", enc, err)
		}
	}
	if !strings.Contains(string(null), `"creationTimestamp":null`) || strings.Contains(string(omitted), "creationTimestamp") {
		t.Fatalf("encodings\n%s\n%s", null, omitted)
	}
	// A set creation time is the same in both encodings.
	stamped := template("web:1")
	stamped.CreationTimestamp = metav1.Unix(1700000000, 0)
	if h := TemplateHashes(stamped, nil); h.Null != h.Omitted {
		t.Fatalf("a set creation time hashes differently: %+v", h)
	}
}

// TestSameTemplate checks the comparison behind keeping a ReplicaSet another
// controller named: the API server's defaults, the hash label and the shard
// bucket label do not count, a real change does.
func TestSameTemplate(t *testing.T) {
	desired := template("web:1")
	desired.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	desired.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}}
	desired.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}, {Name: "tmp"}}

	// live is desired as the API server stores it in a ReplicaSet.
	live := desired.DeepCopy()
	live.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = "575ff667cc"
	grace, mode := int64(30), int32(0o644)
	live.Spec.DNSPolicy, live.Spec.RestartPolicy, live.Spec.SchedulerName = corev1.DNSClusterFirst, corev1.RestartPolicyAlways, corev1.DefaultSchedulerName
	live.Spec.SecurityContext, live.Spec.TerminationGracePeriodSeconds = &corev1.PodSecurityContext{}, &grace
	live.Spec.Volumes[0].ConfigMap.DefaultMode = &mode
	live.Spec.Volumes[1].EmptyDir = &corev1.EmptyDirVolumeSource{}
	c := &live.Spec.Containers[0]
	c.ImagePullPolicy, c.TerminationMessagePath, c.TerminationMessagePolicy = corev1.PullIfNotPresent, "/dev/termination-log", corev1.TerminationMessageReadFile
	c.Ports[0].Protocol = corev1.ProtocolTCP
	c.ReadinessProbe.TimeoutSeconds, c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.SuccessThreshold, c.ReadinessProbe.FailureThreshold = 1, 10, 1, 3
	c.ReadinessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Scheme = "/", corev1.URISchemeHTTP

	if !SameTemplate(live, desired) {
		t.Fatal("a defaulted copy of the template does not compare equal")
	}
	sharded := live.DeepCopy()
	sharded.Labels[shard.LabelBucket] = "17"
	if !SameTemplate(sharded, desired) {
		t.Fatal("the shard bucket label on a ReplicaSet's template makes it compare unequal")
	}
	changed := desired.DeepCopy()
	changed.Spec.Containers[0].Image = "web:2"
	if SameTemplate(live, changed) {
		t.Fatal("a new image compares equal")
	}
	always := desired.DeepCopy()
	always.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	if SameTemplate(live, always) {
		t.Fatal("a pull policy other than the default compares equal")
	}
	relabelled := desired.DeepCopy()
	relabelled.Labels["tier"] = "front"
	if SameTemplate(live, relabelled) {
		t.Fatal("a new Pod label compares equal")
	}
	if tag := imageTag("web"); tag != "latest" {
		t.Fatalf("untagged image has tag %q", tag)
	}
	if tag := imageTag("registry:5000/web"); tag != "latest" {
		t.Fatalf("untagged image on a registry with a port has tag %q", tag)
	}
}

// FuzzEncodings checks that rewriting the metadata keeps every byte of the
// template readable and equal, whatever its names and strings hold.
func FuzzEncodings(f *testing.F) {
	f.Add("web", "note", `a "}" and a \ {`, "img:1")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, name, key, value, image string) {
		tmpl := template(image)
		tmpl.Name = name
		if key != "" {
			tmpl.Annotations = map[string]string{key: value}
		}
		plain, err := json.Marshal(tmpl)
		if err != nil {
			t.Skip()
		}
		// Compared as read back: the encoder replaces invalid UTF-8.
		var want corev1.PodTemplateSpec
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		null, omitted := encodings(tmpl)
		for _, enc := range [][]byte{null, omitted} {
			var back corev1.PodTemplateSpec
			if err := json.Unmarshal(enc, &back); err != nil {
				t.Fatalf("%s: %v", enc, err)
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("%s reads back as %+v, want %+v", enc, back, want)
			}
		}
		// Strings are quoted, so only the member itself can read so.
		if !strings.Contains(string(null), `"creationTimestamp":null`) || strings.Contains(string(omitted), `"creationTimestamp":null`) {
			t.Fatalf("encodings\n%s\n%s", null, omitted)
		}
	})
}
