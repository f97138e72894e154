// Package podhash names versions of a Rollout: the pod-template hash that
// labels a version's ReplicaSet, Pods and Service selectors, and the hash of
// the canary steps that tells when a user edited them.
package podhash

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Template returns the pod-template hash of template with collisionCount.
// It is computed as Argo Rollouts computes it (FNV-32a over the template's
// JSON, then the collision count as eight little-endian bytes, encoded with
// the safe alphabet), over the JSON that k8s.io/api up to v0.33 writes, with
// an empty creation time written as "creationTimestamp":null. The bytes are
// pinned here rather than left to the library, whose later versions leave
// that key out: the hash, and with it every ReplicaSet's name, must not
// change when the library is upgraded.
func Template(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	return hashBytes(encodeTemplate(template, true), collisionCount)
}

// Hashes are the names a template may carry, depending on which encoding
// of an empty creation time the controller that created its ReplicaSet used.
type Hashes struct {
	// Null is the hash over "creationTimestamp":null (k8s.io/api up to
	// v0.33); Template returns it and Kanaria names new ReplicaSets with it.
	Null string
	// Omitted is the hash over metadata without that key, as controllers
	// built on k8s.io/api v0.34 or later (Argo Rollouts among them) write it.
	Omitted string
}

// TemplateHashes returns both candidate hashes of template.
func TemplateHashes(template *corev1.PodTemplateSpec, collisionCount *int32) Hashes {
	return Hashes{
		Null:    hashBytes(encodeTemplate(template, true), collisionCount),
		Omitted: hashBytes(encodeTemplate(template, false), collisionCount),
	}
}

func hashBytes(b []byte, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write(b) // hash.Hash writes never fail
	if collisionCount != nil {
		var c [8]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		_, _ = h.Write(c[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// metaBeforeCreation are the ObjectMeta fields encoded before
// creationTimestamp, in the order of the type's declaration.
var metaBeforeCreation = map[string]bool{
	"name": true, "generateName": true, "namespace": true, "selfLink": true,
	"uid": true, "resourceVersion": true, "generation": true,
}

// encodeTemplate returns template's JSON with an empty creation time either
// written as null (nullTime) or left out, whichever the library does.
func encodeTemplate(template *corev1.PodTemplateSpec, nullTime bool) []byte {
	b, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec is plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("encoding a pod template: %v", err))
	}
	top, err := objectFields(b)
	if err != nil {
		panic(fmt.Sprintf("reading the encoded pod template: %v", err))
	}
	hasMeta := false
	for i := range top {
		if top[i].key != "metadata" {
			continue
		}
		hasMeta = true
		meta, err := objectFields(top[i].value)
		if err != nil {
			panic(fmt.Sprintf("reading the encoded pod template metadata: %v", err))
		}
		top[i].value = encodeObject(setNullCreation(meta, nullTime))
	}
	if !hasMeta && nullTime {
		// An encoder that leaves out empty metadata altogether.
		top = append([]field{{key: "metadata", value: []byte(`{"creationTimestamp":null}`)}}, top...)
	}
	return encodeObject(top)
}

// setNullCreation puts a null creationTimestamp at its place among meta's
// fields, or removes one, as nullTime says. A set creation time is kept.
func setNullCreation(meta []field, nullTime bool) []field {
	out := make([]field, 0, len(meta)+1)
	placed := false
	for _, f := range meta {
		if f.key == "creationTimestamp" {
			if bytes.Equal(f.value, []byte("null")) && !nullTime {
				placed = true
				continue
			}
			placed = true
			out = append(out, f)
			continue
		}
		if !placed && nullTime && !metaBeforeCreation[f.key] {
			out = append(out, field{key: "creationTimestamp", value: []byte("null")})
			placed = true
		}
		out = append(out, f)
	}
	if !placed && nullTime {
		out = append(out, field{key: "creationTimestamp", value: []byte("null")})
	}
	return out
}

// field is one member of a JSON object, its value as encoded.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a JSON object into its members, in order.
func objectFields(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	var out []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", t)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{key: key, value: v})
	}
	return out, nil
}

// encodeObject writes fields back as compact JSON, as encoding/json does.
func encodeObject(fields []field) []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.key) // a string always encodes
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(f.value)
	}
	buf.WriteByte('}')
	return buf.Bytes()
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
