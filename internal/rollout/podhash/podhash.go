// Package podhash names versions of a Rollout: the pod-template hash that
// labels a version's ReplicaSet, Pods and Service selectors, and the hash of
// the canary steps that tells when a user edited them.
package podhash

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Template returns the pod-template hash of template with collisionCount.
// It is computed exactly as Argo Rollouts computes it (FNV-32a over the
// template's JSON, then the collision count as eight little-endian bytes,
// encoded with the safe alphabet), so a cluster moving from Argo Rollouts to
// Kanaria keeps its ReplicaSets instead of starting new ones.
func Template(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	b, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec is plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("encoding a pod template: %v", err))
	}
	h := fnv.New32a()
	_, _ = h.Write(b) // hash.Hash writes never fail
	if collisionCount != nil {
		var c [8]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		_, _ = h.Write(c[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Steps returns a hash of a canary's steps; it changes whenever a user edits
// them, which restarts the steps. An empty list hashes to "".
func Steps(steps []v1alpha1.CanaryStep) string {
	if len(steps) == 0 {
		return ""
	}
	b, err := json.Marshal(steps)
	if err != nil {
		panic(fmt.Sprintf("encoding canary steps: %v", err))
	}
	h := fnv.New32a()
	_, _ = h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
