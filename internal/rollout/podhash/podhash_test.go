package podhash

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
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
