package controller

import (
	"encoding/json"
	"testing"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const rolloutJSON = `{"metadata":{"name":"web-%s","namespace":"shop","labels":{"team":"payments-and-billing"},
 "annotations":{"rollout.argoproj.io/revision":"1"}},
 "spec":{"selector":{"matchLabels":{"app.kubernetes.io/name":"web"}},
  "template":{"metadata":{"labels":{"app.kubernetes.io/name":"web"}},
   "spec":{"containers":[{"name":"application","image":"registry.example.com/shop/web:1.2.3",
    "terminationMessagePath":"/dev/termination-log"}]}}},
 "status":{"conditions":[{"type":"Available","status":"True","reason":"AvailableReason","message":"Rollout has minimum availability"}]}}`

const replicaSetJSON = `{"metadata":{"name":"web-%s-6d4f","namespace":"shop","labels":{"app.kubernetes.io/name":"web"},
 "ownerReferences":[{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","name":"web","uid":"u"}]},
 "spec":{"template":{"spec":{"schedulerName":"default-scheduler","containers":[{"name":"application","image":"registry.example.com/shop/web:1.2.3"}]}}}}`

func decodeTwo[T any](t *testing.T, doc string) (*T, *T) {
	t.Helper()
	var a, b T
	for i, into := range []*T{&a, &b} {
		if err := json.Unmarshal([]byte(replaceName(doc, i)), into); err != nil {
			t.Fatal(err)
		}
	}
	return &a, &b
}

func replaceName(doc string, i int) string {
	out := []byte{}
	for j := 0; j < len(doc); j++ {
		if j+1 < len(doc) && doc[j] == '%' && doc[j+1] == 's' {
			out = append(out, byte('a'+i))
			j++
			continue
		}
		out = append(out, doc[j])
	}
	return string(out)
}

func sameText(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// labelKey returns the key of m as the map keeps it.
func labelKey(m map[string]string, want string) string {
	for k := range m {
		if k == want {
			return k
		}
	}
	return ""
}

// TestInternedStringsAreShared checks that two objects decoded apart share
// the text of the strings the transform interns, keep their own names, and
// are otherwise unchanged.
func TestInternedStringsAreShared(t *testing.T) {
	ra, rb := decodeTwo[v1alpha1.Rollout](t, rolloutJSON)
	sa, sb := decodeTwo[appsv1.ReplicaSet](t, replicaSetJSON)
	if sameText(ra.Namespace, rb.Namespace) || sameText(ra.Spec.Template.Spec.Containers[0].Image, rb.Spec.Template.Spec.Containers[0].Image) {
		t.Fatal("the decoder already shares strings: this test proves nothing")
	}
	before := []any{ra.DeepCopy(), rb.DeepCopy(), sa.DeepCopy(), sb.DeepCopy()}
	for _, o := range []any{ra, rb, sa, sb} {
		if _, err := cacheTransform()(o); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range []any{ra, rb, sa, sb} {
		if !equality.Semantic.DeepEqual(o, before[i]) {
			t.Errorf("object %d changed:\n%+v\nwant\n%+v", i, o, before[i])
		}
	}
	shared := []struct {
		what string
		a, b string
	}{
		{"namespace", ra.Namespace, sb.Namespace},
		{"label key", labelKey(ra.Labels, "team"), labelKey(rb.Labels, "team")},
		{"label value", ra.Labels["team"], rb.Labels["team"]},
		{"selector key", labelKey(ra.Spec.Selector.MatchLabels, "app.kubernetes.io/name"), labelKey(sb.Labels, "app.kubernetes.io/name")},
		{"annotation key", labelKey(ra.Annotations, "rollout.argoproj.io/revision"), labelKey(rb.Annotations, "rollout.argoproj.io/revision")},
		{"image", ra.Spec.Template.Spec.Containers[0].Image, sb.Spec.Template.Spec.Containers[0].Image},
		{"container name", ra.Spec.Template.Spec.Containers[0].Name, sa.Spec.Template.Spec.Containers[0].Name},
		{"termination message path", ra.Spec.Template.Spec.Containers[0].TerminationMessagePath, rb.Spec.Template.Spec.Containers[0].TerminationMessagePath},
		{"condition message", ra.Status.Conditions[0].Message, rb.Status.Conditions[0].Message},
		{"condition reason", ra.Status.Conditions[0].Reason, rb.Status.Conditions[0].Reason},
		{"owner API version", sa.OwnerReferences[0].APIVersion, sb.OwnerReferences[0].APIVersion},
		{"scheduler", sa.Spec.Template.Spec.SchedulerName, sb.Spec.Template.Spec.SchedulerName},
	}
	for _, s := range shared {
		if !sameText(s.a, s.b) {
			t.Errorf("%s %q is not shared", s.what, s.a)
		}
	}
	if sameText(ra.Name, rb.Name) || ra.Name == rb.Name {
		t.Errorf("names %q and %q", ra.Name, rb.Name)
	}
}

// TestInternSkipsLongText checks that text past maxInterned is left as
// decoded.
func TestInternSkipsLongText(t *testing.T) {
	long := make([]byte, maxInterned+1)
	for i := range long {
		long[i] = 'x'
	}
	a, b := string(long), string(long)
	if sameText(intern(a), intern(b)) {
		t.Error("a long string was interned")
	}
	pod := &corev1.Pod{}
	pod.Namespace = string([]byte("shop"))
	internStrings(pod)
	if !sameText(pod.Namespace, intern("shop")) {
		t.Error("a Pod's namespace was not interned")
	}
}
