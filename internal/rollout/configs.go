package rollout

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
)

// configRecheck is how often a Rollout with config snapshots on reads its
// ConfigMaps and Secrets again when nothing else wakes it. The controller
// may not list or watch Secrets and ConfigMaps (its role allows reading
// them one by one), so a change of one is found by reading it.
const configRecheck = 30 * time.Second

// ownedCopies remembers the ReplicaSets whose copies were all seen owned by
// them, so their copies are not read again at every reconcile. Ownership,
// once given, is never taken back.
type ownedCopies struct {
	mu   sync.Mutex
	uids map[types.UID]bool
}

func (o *ownedCopies) has(uid types.UID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.uids[uid]
}

func (o *ownedCopies) add(uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.uids == nil {
		o.uids = map[types.UID]bool{}
	}
	o.uids[uid] = true
}

// emptyObject returns an empty object of a referenced kind.
func emptyObject(kind string) client.Object {
	if kind == configsnap.KindSecret {
		return &corev1.Secret{}
	}
	return &corev1.ConfigMap{}
}

// readSource reads a referenced object from the API server and returns its
// content hash; values go no further than the hash. found is false when it
// does not exist.
func readSource(ctx context.Context, api client.Reader, ns string, ref configsnap.Ref) (obj client.Object, hash string, found bool, err error) {
	obj = emptyObject(ref.Kind)
	if err := api.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", false, nil
		}
		return nil, "", false, fmt.Errorf("reading %s: %w", ref, err)
	}
	return obj, contentHash(ref, obj), true, nil
}

// contentHash hashes a ConfigMap's or Secret's content.
func contentHash(ref configsnap.Ref, obj client.Object) string {
	switch o := obj.(type) {
	case *corev1.Secret:
		return configsnap.ContentHash(ref, string(o.Type), o.Data, nil)
	case *corev1.ConfigMap:
		return configsnap.ContentHash(ref, "", o.BinaryData, o.Data)
	}
	return ""
}

// observeConfigs reads every ConfigMap and Secret tmpl references, and the
// ownership of the copies that the current template's ReplicaSet runs,
// into the snapshot. It returns the template pointed at the copies (tmpl
// itself when a required source is missing), which names that ReplicaSet.
func observeConfigs(ctx context.Context, api client.Reader, ro *v1alpha1.Rollout, tmpl *corev1.PodTemplateSpec, s *decide.Snapshot, owned *ownedCopies) (*corev1.PodTemplateSpec, error) {
	cs := &decide.ConfigSnapshots{Sources: map[configsnap.Ref]configsnap.Source{}, CopyOwners: map[configsnap.Ref][]types.UID{},
		MissingCopies: map[configsnap.Ref]bool{}}
	s.Configs = cs
	for ref := range configsnap.References(&tmpl.Spec) {
		obj, hash, found, err := readSource(ctx, api, ro.Namespace, ref)
		switch {
		case err != nil:
			return nil, err
		case !found:
			cs.Sources[ref] = configsnap.Source{Missing: true}
		case configsnap.OptedOut(obj.GetAnnotations()) || obj.GetLabels()[configsnap.CopyLabel] == "true":
			cs.Sources[ref] = configsnap.Source{Keep: true}
		default:
			cs.Sources[ref] = configsnap.Source{Hash: hash}
		}
	}
	rewritten, _, missing := configsnap.Rewrite(tmpl, cs.Sources)
	if len(missing) > 0 {
		return tmpl, nil
	}
	name := ro.Name + "-" + podhash.Template(rewritten, ro.Status.CollisionCount)
	var current *appsv1.ReplicaSet
	for _, rs := range s.ReplicaSets {
		if rs.Name == name {
			current = rs
		}
	}
	if current == nil || owned.has(current.UID) {
		return rewritten, nil
	}
	all := true
	for _, ref := range configsnap.ParseCopies(current.Annotations[configsnap.CopiesAnnotation]) {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(ref.Kind))
		if err := api.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: ref.Name}, meta); err != nil {
			if apierrors.IsNotFound(err) {
				cs.MissingCopies[ref] = true
				all = false
				continue
			}
			return nil, fmt.Errorf("reading the copy %s: %w", ref, err)
		}
		var uids []types.UID
		for _, o := range meta.OwnerReferences {
			uids = append(uids, o.UID)
		}
		cs.CopyOwners[ref] = uids
		if !slices.Contains(uids, current.UID) || slices.Contains(uids, ro.UID) {
			all = false
		}
	}
	if all {
		owned.add(current.UID)
	}
	return rewritten, nil
}

// createConfigCopy makes the immutable copy a new ReplicaSet's Pods run. It
// reads the source again and refuses to copy content other than what the
// decision saw; the next reconcile decides on the new content. A copy that
// exists already is kept if it holds the same content (another revision, or
// another Rollout, runs the same configuration).
func (e *executor) createConfigCopy(ctx context.Context, a decide.CreateConfigCopy) error {
	api := e.api
	if api == nil {
		api = e.c
	}
	ns := e.ro.Namespace
	src, hash, found, err := readSource(ctx, api, ns, a.Copy.Source)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s no longer exists", a.Copy.Source)
	}
	if hash != a.Copy.Hash {
		return fmt.Errorf("%s changed while it was being copied; deciding again", a.Copy.Source)
	}
	meta := metav1.ObjectMeta{
		Name:      a.Copy.Name,
		Namespace: ns,
		Labels:    configsnap.CopyLabels(src.GetLabels()),
		Annotations: map[string]string{
			configsnap.SourceAnnotation: a.Copy.Source.Name,
			configsnap.HashAnnotation:   a.Copy.Hash,
		},
		// The Rollout owns the copy until its ReplicaSet does, so a copy
		// whose ReplicaSet was never created goes with the Rollout.
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout", Name: e.ro.Name, UID: e.ro.UID,
		}},
	}
	immutable := true
	var cp client.Object
	switch s := src.(type) {
	case *corev1.Secret:
		cp = &corev1.Secret{ObjectMeta: meta, Immutable: &immutable, Type: s.Type, Data: s.Data}
	case *corev1.ConfigMap:
		cp = &corev1.ConfigMap{ObjectMeta: meta, Immutable: &immutable, Data: s.Data, BinaryData: s.BinaryData}
	}
	err = e.c.Create(ctx, cp)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := &metav1.PartialObjectMetadata{}
	existing.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(a.Copy.Source.Kind))
	if err := api.Get(ctx, client.ObjectKey{Namespace: ns, Name: a.Copy.Name}, existing); err != nil {
		return fmt.Errorf("reading the existing %s %s: %w", a.Copy.Source.Kind, a.Copy.Name, err)
	}
	if existing.Annotations[configsnap.HashAnnotation] != a.Copy.Hash {
		return fmt.Errorf("%s %s exists and is not a copy of this content of %s; rename or delete it", a.Copy.Source.Kind, a.Copy.Name, a.Copy.Source)
	}
	if !existing.DeletionTimestamp.IsZero() {
		// Its last ReplicaSet just went: wait for it to go, then copy anew.
		return fmt.Errorf("%s %s is being deleted; copying again once it is gone", a.Copy.Source.Kind, a.Copy.Name)
	}
	return nil
}

// ownConfigCopy adds a ReplicaSet to a copy's owners and drops the Rollout,
// in one strategic merge patch: owner references merge by uid, so owners
// other writers added are kept.
func (e *executor) ownConfigCopy(ctx context.Context, a decide.OwnConfigCopy) error {
	body := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":%q,"uid":%q},{"$patch":"delete","uid":%q}]}}`,
		a.ReplicaSet, a.ReplicaSetUID, a.RolloutUID)
	obj := emptyObject(a.Copy.Kind)
	obj.SetNamespace(e.ro.Namespace)
	obj.SetName(a.Copy.Name)
	return ignoreNotFound(e.c.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, []byte(body))))
}
