package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

const secretValue = "s3cr3t-value"

func configClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func apiSecretObject() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "api-secret", Namespace: "shop",
			Labels:      map[string]string{"app": "api", "app.kubernetes.io/instance": "shop"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"db-password":"` + secretValue + `"}}`}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"db-password": []byte(secretValue)},
	}
}

func snapshotRollout() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", UID: "ro-uid",
			Annotations: map[string]string{configsnap.EnabledAnnotation: "true"}},
		Spec: v1alpha1.RolloutSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-secret"}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shared"}}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "api-secret-0123456789"}}},
			},
			Containers: []corev1.Container{{Name: "api"}},
		}}},
	}
}

// TestObserveConfigs reads every referenced object once: hashed, opted
// out, already a copy, or missing.
func TestObserveConfigs(t *testing.T) {
	shared := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "shop",
		Annotations: map[string]string{configsnap.EnabledAnnotation: "false"}}}
	copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api-secret-0123456789", Namespace: "shop",
		Labels: map[string]string{configsnap.CopyLabel: "true"}}}
	c := configClient(t, apiSecretObject(), shared, copied)
	ro := snapshotRollout()
	var s decide.Snapshot
	tmpl, err := observeConfigs(context.Background(), c, ro, &ro.Spec.Template, &s, &ownedCopies{})
	if err != nil {
		t.Fatal(err)
	}
	src := s.Configs.Sources
	secret := configsnap.Ref{Kind: configsnap.KindSecret, Name: "api-secret"}
	if want := contentHash(secret, apiSecretObject()); src[secret].Hash != want || want == "" {
		t.Errorf("api-secret: %+v, want hash %s", src[secret], want)
	}
	if !src[configsnap.Ref{Kind: configsnap.KindConfigMap, Name: "shared"}].Keep {
		t.Error("an opted-out ConfigMap is not kept as is")
	}
	if !src[configsnap.Ref{Kind: configsnap.KindSecret, Name: "api-secret-0123456789"}].Keep {
		t.Error("a copy is copied again")
	}
	if !src[configsnap.Ref{Kind: configsnap.KindConfigMap, Name: "gone"}].Missing {
		t.Error("a missing ConfigMap is not reported missing")
	}
	// With a required source missing, the ReplicaSet name is computed from
	// the template as written.
	if tmpl != &ro.Spec.Template {
		t.Error("a template with a missing source was rewritten")
	}
}

// TestCreateConfigCopy makes an immutable copy with the source's type and
// data, the documented labels, no source annotations, owned by the
// Rollout; it refuses changed content and a foreign object of the name,
// and never says a value.
func TestCreateConfigCopy(t *testing.T) {
	ctx := context.Background()
	src := apiSecretObject()
	c := configClient(t, src)
	ro := snapshotRollout()
	e := &executor{c: c, api: c, ro: ro, log: logr.Discard()}
	ref := configsnap.Ref{Kind: configsnap.KindSecret, Name: "api-secret"}
	hash := contentHash(ref, src)
	cp := configsnap.Copy{Source: ref, Name: configsnap.CopyName("api-secret", hash), Hash: hash}
	if err := e.one(ctx, decide.CreateConfigCopy{Copy: cp}); err != nil {
		t.Fatal(err)
	}
	var got corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: cp.Name}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Immutable == nil || !*got.Immutable || got.Type != corev1.SecretTypeOpaque || string(got.Data["db-password"]) != secretValue {
		t.Errorf("copy: immutable %v type %s data %v", got.Immutable, got.Type, got.Data)
	}
	if got.Labels["app"] != "api" || got.Labels[configsnap.CopyLabel] != "true" || got.Labels["app.kubernetes.io/instance"] != "" {
		t.Errorf("copy labels %v", got.Labels)
	}
	if _, ok := got.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok || got.Annotations[configsnap.HashAnnotation] != hash || got.Annotations[configsnap.SourceAnnotation] != "api-secret" {
		t.Errorf("copy annotations %v", got.Annotations)
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != ro.UID || got.OwnerReferences[0].Kind != "Rollout" {
		t.Errorf("copy owners %v", got.OwnerReferences)
	}
	// The same copy again (another revision with the same content) is fine.
	if err := e.one(ctx, decide.CreateConfigCopy{Copy: cp}); err != nil {
		t.Errorf("copying the same content twice: %v", err)
	}

	// The source changed since the decision: no copy of the new content
	// under the old hash.
	stale := configsnap.Copy{Source: ref, Name: configsnap.CopyName("api-secret", "ffff"), Hash: "ffff"}
	err := e.one(ctx, decide.CreateConfigCopy{Copy: stale})
	if err == nil || strings.Contains(err.Error(), secretValue) {
		t.Errorf("stale copy: %v", err)
	}

	// A foreign object holds the copy's name.
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cp.Name + "x", Namespace: "shop"}}
	c2 := configClient(t, src, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cp.Name, Namespace: "shop"}}, foreign)
	e.c, e.api = c2, c2
	err = e.one(ctx, decide.CreateConfigCopy{Copy: cp})
	if err == nil || !strings.Contains(err.Error(), "is not a copy") || strings.Contains(err.Error(), secretValue) {
		t.Errorf("foreign object: %v", err)
	}
}

// TestOwnConfigCopy hands a copy to a ReplicaSet and drops the Rollout,
// keeping the copy's other owners.
func TestOwnConfigCopy(t *testing.T) {
	ctx := context.Background()
	cp := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared-0a1b2c3d4e", Namespace: "shop", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-old", UID: "rs-old"},
		{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout", Name: "api", UID: "ro-uid"},
	}}}
	c := configClient(t, cp)
	e := &executor{c: c, api: c, ro: snapshotRollout(), log: logr.Discard()}
	if err := e.one(ctx, decide.OwnConfigCopy{Copy: configsnap.Ref{Kind: configsnap.KindConfigMap, Name: cp.Name},
		ReplicaSet: "api-new", ReplicaSetUID: "rs-new", RolloutUID: "ro-uid"}); err != nil {
		t.Fatal(err)
	}
	var got corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKeyFromObject(cp), &got); err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, o := range got.OwnerReferences {
		uids[string(o.UID)] = true
	}
	if len(uids) != 2 || !uids["rs-old"] || !uids["rs-new"] {
		t.Errorf("owners %v, want the two ReplicaSets", got.OwnerReferences)
	}
}
