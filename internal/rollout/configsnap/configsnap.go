// Package configsnap gives every revision of a Rollout its own immutable
// copies of the ConfigMaps and Secrets its Pod template references, so a
// configuration change is released, measured and rolled back like an image
// change instead of reaching every Pod at once. It holds the pure parts:
// which references a Pod template makes, how copies are named, what
// identifies a source's content, and how a template is pointed at copies.
package configsnap

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Annotation keys and labels of the feature. They live under Kanaria's own
// prefix because the reference's CRD has no field for it.
const (
	// EnabledAnnotation on a Rollout, set to "true", turns the feature on.
	// On a ConfigMap or Secret, set to "false", it keeps that object out:
	// it is referenced as is and its changes start no revision.
	EnabledAnnotation = "rollouts.kanaria.dev/config-snapshots"
	// SourceAnnotation on a copy names the object it was copied from.
	SourceAnnotation = "rollouts.kanaria.dev/config-snapshot-source"
	// HashAnnotation on a copy is the whole content hash its name ends with
	// a part of; it tells a copy from an unrelated object of the same name.
	HashAnnotation = "rollouts.kanaria.dev/config-snapshot-hash"
	// CopyLabel marks a copy, so a template that already points at one (an
	// undo of a snapshotted revision) is not copied again.
	CopyLabel = "rollouts.kanaria.dev/config-snapshot"
	// CopiesAnnotation on a ReplicaSet lists the copies its Pods run, as
	// "Kind/name" joined by commas: the CLI and the dashboard show it, and
	// the controller finds the copies to make the ReplicaSet their owner.
	CopiesAnnotation = "rollouts.kanaria.dev/config-snapshot-copies"
)

// Kinds of referenced objects.
const (
	KindConfigMap = "ConfigMap"
	KindSecret    = "Secret"
)

// maxNameLength is the longest name a ConfigMap or Secret may have (a DNS
// subdomain).
const maxNameLength = 253

// nameHashLength is how many hex digits of the content hash end a copy's
// name: 40 bits, so two contents of one source collide by chance about once
// in a trillion pairs, and a collision is detected by HashAnnotation anyway.
const nameHashLength = 10

// Ref names a referenced ConfigMap or Secret in the Rollout's namespace.
type Ref struct {
	Kind string
	Name string
}

// String writes r as "Kind/name".
func (r Ref) String() string { return r.Kind + "/" + r.Name }

// Enabled tells whether a Rollout's annotations turn the feature on.
func Enabled(annotations map[string]string) bool {
	return annotations[EnabledAnnotation] == "true"
}

// OptedOut tells whether a source's annotations keep it out of the feature.
func OptedOut(annotations map[string]string) bool {
	return annotations[EnabledAnnotation] == "false"
}

// References returns every ConfigMap and Secret that spec's volumes,
// projected volumes, env and envFrom of its init and regular containers
// name, each with whether some reference requires it (is not optional).
// Image pull Secrets are not configuration and are left out.
func References(spec *corev1.PodSpec) map[Ref]bool {
	out := map[Ref]bool{}
	use := func(kind, name string, optional *bool) {
		if name == "" {
			return
		}
		r := Ref{Kind: kind, Name: name}
		out[r] = out[r] || optional == nil || !*optional
	}
	walk(spec, func(kind string, name *string, optional *bool) { use(kind, *name, optional) })
	return out
}

// walk calls f with a pointer to the name of every reference in spec, so
// the same walk both reads and rewrites.
func walk(spec *corev1.PodSpec, f func(kind string, name *string, optional *bool)) {
	for i := range spec.Volumes {
		v := &spec.Volumes[i].VolumeSource
		if v.ConfigMap != nil {
			f(KindConfigMap, &v.ConfigMap.Name, v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			f(KindSecret, &v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					f(KindConfigMap, &s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					f(KindSecret, &s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	containers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			for j := range c.EnvFrom {
				e := &c.EnvFrom[j]
				if e.ConfigMapRef != nil {
					f(KindConfigMap, &e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
				}
				if e.SecretRef != nil {
					f(KindSecret, &e.SecretRef.Name, e.SecretRef.Optional)
				}
			}
			for j := range c.Env {
				vf := c.Env[j].ValueFrom
				if vf == nil {
					continue
				}
				if vf.ConfigMapKeyRef != nil {
					f(KindConfigMap, &vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Optional)
				}
				if vf.SecretKeyRef != nil {
					f(KindSecret, &vf.SecretKeyRef.Name, vf.SecretKeyRef.Optional)
				}
			}
		}
	}
	containers(spec.InitContainers)
	containers(spec.Containers)
}

// ContentHash identifies a source's content: its kind, its name (so two
// sources whose names share a long prefix never share a copy), its Secret
// type and every key and value: bin holds a Secret's data or a
// ConfigMap's binaryData, text a ConfigMap's data. Keys are sorted and every
// part is length prefixed, so no two different contents encode alike. It is
// hex SHA-256.
func ContentHash(ref Ref, secretType string, bin map[string][]byte, text map[string]string) string {
	h := sha256.New()
	part := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		_, _ = h.Write(n[:]) // hash.Hash writes never fail
		_, _ = h.Write(b)
	}
	part([]byte(ref.Kind))
	part([]byte(ref.Name))
	part([]byte(secretType))
	section := func(tag string, keys []string, value func(string) []byte) {
		sort.Strings(keys)
		part([]byte(tag))
		for _, k := range keys {
			part([]byte(k))
			part(value(k))
		}
	}
	keys := make([]string, 0, len(bin))
	for k := range bin {
		keys = append(keys, k)
	}
	section("binary", keys, func(k string) []byte { return bin[k] })
	keys = make([]string, 0, len(text))
	for k := range text {
		keys = append(keys, k)
	}
	section("text", keys, func(k string) []byte { return []byte(text[k]) })
	return hex.EncodeToString(h.Sum(nil))
}

// CopyName is the name of the copy of source with content hash hash: the
// source's name, cut so the whole fits a Kubernetes name, a dash, and the
// first hex digits of the hash. The cut drops trailing dots and dashes, which
// would make an invalid name before the dash.
func CopyName(source string, hash string) string {
	suffix := hash
	if len(suffix) > nameHashLength {
		suffix = suffix[:nameHashLength]
	}
	base := source
	if limit := maxNameLength - 1 - len(suffix); len(base) > limit {
		base = strings.TrimRight(base[:limit], ".-")
	}
	return base + "-" + suffix
}

// Source is what observe learned of one referenced object.
type Source struct {
	// Hash is the content hash; empty when the object is missing or kept.
	Hash string
	// Missing is true when the object does not exist.
	Missing bool
	// Keep is true when the object is referenced as is: it opted out, or it
	// is itself a copy.
	Keep bool
}

// Copy is one copy a revision runs.
type Copy struct {
	// Source is the referenced object.
	Source Ref
	// Name is the copy's name.
	Name string
	// Hash is the source's content hash the copy holds.
	Hash string
}

// Ref returns the copy's own reference.
func (c Copy) Ref() Ref { return Ref{Kind: c.Source.Kind, Name: c.Name} }

// Rewrite returns tmpl pointed at the copies of the sources observed, the
// copies (sorted by kind and name) and the required sources that are
// missing (sorted). A missing optional source and a kept one are referenced
// as they are. tmpl is not modified.
func Rewrite(tmpl *corev1.PodTemplateSpec, observed map[Ref]Source) (*corev1.PodTemplateSpec, []Copy, []Ref) {
	out := tmpl.DeepCopy()
	copies := map[Ref]Copy{}
	var missing []Ref
	for r, required := range References(&tmpl.Spec) {
		s, ok := observed[r]
		switch {
		case !ok || s.Missing:
			if required {
				missing = append(missing, r)
			}
		case s.Keep || s.Hash == "":
		default:
			copies[r] = Copy{Source: r, Name: CopyName(r.Name, s.Hash), Hash: s.Hash}
		}
	}
	walk(&out.Spec, func(kind string, name *string, _ *bool) {
		if c, ok := copies[Ref{Kind: kind, Name: *name}]; ok {
			*name = c.Name
		}
	})
	list := make([]Copy, 0, len(copies))
	for _, c := range copies {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return refLess(list[i].Source, list[j].Source) })
	sort.Slice(missing, func(i, j int) bool { return refLess(missing[i], missing[j]) })
	return out, list, missing
}

func refLess(a, b Ref) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Name < b.Name
}

// FormatCopies writes copies as CopiesAnnotation's value.
func FormatCopies(copies []Copy) string {
	parts := make([]string, 0, len(copies))
	for _, c := range copies {
		parts = append(parts, c.Ref().String())
	}
	return strings.Join(parts, ",")
}

// ParseCopies reads CopiesAnnotation's value; entries it cannot read are
// skipped.
func ParseCopies(v string) []Ref {
	var out []Ref
	for _, p := range strings.Split(v, ",") {
		kind, name, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || name == "" || (kind != KindConfigMap && kind != KindSecret) {
			continue
		}
		out = append(out, Ref{Kind: kind, Name: name})
	}
	return out
}

// CopyLabels returns the labels of a copy of a source with labels: the
// source's own, except Argo CD's default tracking label (a copy labelled
// with it would show as an extra resource of the Application, to prune), and
// CopyLabel. Annotations are never copied: kubectl's last-applied
// annotation of a Secret holds its values in clear.
func CopyLabels(source map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range source {
		if k == argoCDInstanceLabel {
			continue
		}
		out[k] = v
	}
	out[CopyLabel] = "true"
	return out
}

// argoCDInstanceLabel is the label Argo CD tracks an Application's
// resources by, by default.
const argoCDInstanceLabel = "app.kubernetes.io/instance"

// MissingMessage says which required sources are missing, in the words of
// the ConfigSnapshotMissing condition. It names objects, never values.
func MissingMessage(missing []Ref) string {
	names := make([]string, 0, len(missing))
	for _, r := range missing {
		names = append(names, r.String())
	}
	return fmt.Sprintf("the Pod template references %s, which does not exist; the release waits until it is created (or the reference is marked optional)",
		strings.Join(names, ", "))
}
