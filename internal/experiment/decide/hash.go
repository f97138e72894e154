package decide

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// templateHash is the pod-template hash of an Experiment's template. It
// covers the Experiment's and the template's names as well as the Pod
// template: a Rollout's experiment step often runs the Rollout's own stable
// template as its baseline, and the same hash would put the Experiment's
// Pods behind the Rollout's stable Service (whose selector is that hash),
// and two Experiments' template Services behind each other's Pods. Nothing
// recomputes the hash from the template; tools read it from the labels.
func templateHash(ex *v1alpha1.Experiment, name string, tmpl *corev1.PodTemplateSpec, collisionCount *int32) string {
	b, err := json.Marshal(tmpl)
	if err != nil {
		// A PodTemplateSpec is plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("encoding a pod template: %v", err))
	}
	h := fnv.New32a()
	_, _ = h.Write(b) // hash.Hash writes never fail
	_, _ = fmt.Fprintf(h, "\x00experiment\x00%s\x00%s\x00%s", ex.Namespace, ex.Name, name)
	if collisionCount != nil {
		var c [8]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		_, _ = h.Write(c[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
