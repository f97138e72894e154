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
	null, _ := encodings(template)
	return hashBytes(null, collisionCount)
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
	null, omitted := encodings(template)
	return Hashes{Null: hashBytes(null, collisionCount), Omitted: hashBytes(omitted, collisionCount)}
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
	`"name"`: true, `"generateName"`: true, `"namespace"`: true, `"selfLink"`: true,
	`"uid"`: true, `"resourceVersion"`: true, `"generation"`: true,
}

// creationKey is the creationTimestamp member's key as encoded.
const creationKey = `"creationTimestamp"`

// metadataPrefix is how encoding/json starts a PodTemplateSpec that has
// metadata: it is the type's first field.
const metadataPrefix = `{"metadata":`

// encodings returns template's JSON with an empty creation time written as
// null, and with it left out, whichever of the two the library writes. Only
// the metadata is rewritten; the spec's bytes are the library's.
func encodings(template *corev1.PodTemplateSpec) (null, omitted []byte) {
	b, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec is plain data; failing to encode one is a bug.
		panic(fmt.Sprintf("encoding a pod template: %v", err))
	}
	if !bytes.HasPrefix(b, []byte(metadataPrefix)) {
		// An encoder that leaves empty metadata out altogether.
		rest := b[1:]
		if len(rest) > 1 {
			rest = append([]byte(","), rest...)
		}
		null = append([]byte(metadataPrefix+`{"creationTimestamp":null}`), rest...)
		omitted = append([]byte(metadataPrefix+`{}`), rest...)
		return null, omitted
	}
	end := objectEnd(b, len(metadataPrefix))
	meta, err := objectFields(b[len(metadataPrefix):end])
	if err != nil {
		panic(fmt.Sprintf("reading the encoded pod template metadata: %v", err))
	}
	join := func(m []byte) []byte {
		out := make([]byte, 0, len(b)+len(`"creationTimestamp":null,`))
		out = append(out, metadataPrefix...)
		out = append(out, m...)
		return append(out, b[end:]...)
	}
	return join(encodeObject(setNullCreation(meta, true))), join(encodeObject(setNullCreation(meta, false)))
}

// objectEnd returns the index just past the JSON object that starts at
// b[start], which must be '{'; b is valid JSON from encoding/json.
func objectEnd(b []byte, start int) int {
	depth, inString, escaped := 0, false, false
	for i := start; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	panic("unterminated JSON object in an encoded pod template")
}

// setNullCreation puts a null creationTimestamp at its place among meta's
// fields, or removes one, as nullTime says. A set creation time is kept.
func setNullCreation(meta []field, nullTime bool) []field {
	out := make([]field, 0, len(meta)+1)
	placed := false
	for _, f := range meta {
		if f.key == creationKey {
			if bytes.Equal(f.value, []byte("null")) && !nullTime {
				placed = true
				continue
			}
			placed = true
			out = append(out, f)
			continue
		}
		if !placed && nullTime && !metaBeforeCreation[f.key] {
			out = append(out, field{key: creationKey, value: []byte("null")})
			placed = true
		}
		out = append(out, f)
	}
	if !placed && nullTime {
		out = append(out, field{key: creationKey, value: []byte("null")})
	}
	return out
}

// field is one member of a JSON object as encoded: its key with the quotes
// and its value.
type field struct {
	key   string
	value []byte
}

// objectFields splits a JSON object written by encoding/json (compact, valid)
// into its members, in order.
func objectFields(b []byte) ([]field, error) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("not a JSON object: %.40q", b)
	}
	var out []field
	i := 1
	for i < len(b)-1 {
		if b[i] != '"' {
			return nil, fmt.Errorf("expected a key at offset %d of %.40q", i, b)
		}
		k := valueEnd(b, i)
		if k >= len(b) || b[k] != ':' {
			return nil, fmt.Errorf("expected ':' at offset %d of %.40q", k, b)
		}
		v := valueEnd(b, k+1)
		out = append(out, field{key: string(b[i:k]), value: b[k+1 : v]})
		i = v
		if i < len(b)-1 {
			if b[i] != ',' {
				return nil, fmt.Errorf("expected ',' at offset %d of %.40q", i, b)
			}
			i++
		}
	}
	return out, nil
}

// valueEnd returns the index just past the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '{', '[':
		return objectEnd(b, i)
	case '"':
		escaped := false
		for j := i + 1; j < len(b); j++ {
			switch {
			case escaped:
				escaped = false
			case b[j] == '\\':
				escaped = true
			case b[j] == '"':
				return j + 1
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		return j
	}
}

// encodeObject writes fields back as compact JSON, as encoding/json does.
func encodeObject(fields []field) []byte {
	n := 2
	for _, f := range fields {
		n += len(f.key) + len(f.value) + 2
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '{')
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, f.key...)
		buf = append(buf, ':')
		buf = append(buf, f.value...)
	}
	return append(buf, '}')
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
