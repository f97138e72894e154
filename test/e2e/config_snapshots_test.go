package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/configsnap"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/decide"
)

// setSecretValue changes api-secret's data in place, as a user editing the
// one plain Secret would.
func setSecretValue(t *testing.T, ns, value string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "secret", "api-secret", "--type", "merge",
		"-p", fmt.Sprintf(`{"stringData":{"db-password":%q}}`, value))
}

// secretCopy reads a copy and checks it is one: immutable, the source's
// type and value, labelled and annotated as documented, owned by the
// ReplicaSet of hash owner.
func secretCopy(t *testing.T, c clients, ns, name, value, ownerHash string) {
	t.Helper()
	eventually(t, time.Minute, "copy "+name+" owned by the ReplicaSet of "+ownerHash, func() (bool, error) {
		s, err := c.kube.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if s.Immutable == nil || !*s.Immutable || s.Type != corev1.SecretTypeOpaque || string(s.Data["db-password"]) != value {
			t.Fatalf("copy %s: immutable %v type %s value %q, want an immutable Opaque copy of %q", name, s.Immutable, s.Type, s.Data["db-password"], value)
		}
		if s.Labels[configsnap.CopyLabel] != "true" || s.Annotations[configsnap.SourceAnnotation] != "api-secret" {
			t.Fatalf("copy %s labels %v annotations %v", name, s.Labels, s.Annotations)
		}
		for _, o := range s.OwnerReferences {
			if o.Kind == "Rollout" {
				return false, fmt.Errorf("still owned by the Rollout: %v", s.OwnerReferences)
			}
		}
		for _, o := range s.OwnerReferences {
			if o.Kind == "ReplicaSet" && strings.HasSuffix(o.Name, "-"+ownerHash) {
				return true, nil
			}
		}
		return false, fmt.Errorf("owners %v", s.OwnerReferences)
	})
}

// TestConfigSnapshotsSecret runs canary-versioned-secret.yaml rewritten to
// one plain Secret and the config-snapshots annotation: a change of the
// Secret's data is a canary whose Pods alone mount the new copy, an abort
// puts everyone back on the old copy, a promotion makes the new copy
// stable, and copies go with their ReplicaSets beyond revisionHistoryLimit.
func TestConfigSnapshotsSecret(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cfgsnap")
	runController(t, ns)

	mustKubectl(t, "apply", "-n", ns, "-f", "testdata/canary-config-snapshots.yaml")
	mustKubectl(t, "-n", ns, "patch", "rollout", "monolith-api", "--type", "merge", "-p", `{"spec":{"revisionHistoryLimit":1}}`)
	ro := waitRollout(t, c, ns, "monolith-api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	waitCounts(t, c, ns, "monolith-api", map[string]int32{v1: 10})
	copy1 := ""
	eventually(t, time.Minute, "stable Pods mounting a copy of api-secret", func() (bool, error) {
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v1})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		copy1 = secretOf(&pods.Items[0])
		return strings.HasPrefix(copy1, "api-secret-"), fmt.Errorf("mounts %q", copy1)
	})
	secretCopy(t, c, ns, copy1, "old", v1)
	if got := getRollout(t, c, ns, "monolith-api").Spec.Template.Spec.Volumes[0].Secret.SecretName; got != "api-secret" {
		t.Fatalf("the Rollout's own template was rewritten to %s", got)
	}
	rs := replicaSetsOf(t, c, ns, ro)[v1]
	if got := rs.Annotations[configsnap.CopiesAnnotation]; got != "Secret/"+copy1 {
		t.Fatalf("ReplicaSet copies annotation %q, want Secret/%s", got, copy1)
	}

	// The Secret's data changes: a new revision, paused at 10%.
	setSecretValue(t, ns, "new")
	ro = waitRollout(t, c, ns, "monolith-api", "a new revision paused at 10%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash != v1
	})
	v2 := ro.Status.CurrentPodHash
	var copy2 string
	eventually(t, time.Minute, "only canary Pods mounting the new copy", func() (bool, error) {
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v2})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		copy2 = secretOf(&pods.Items[0])
		canary := countPods(t, c, ns, v2, func(p *corev1.Pod) bool { return p.Labels["role"] == "canary" && secretOf(p) == copy2 })
		stable := countPods(t, c, ns, v1, func(p *corev1.Pod) bool { return p.Labels["role"] == "stable" && secretOf(p) == copy1 })
		return copy2 != copy1 && canary >= 1 && stable >= 9, fmt.Errorf("canary %d on %s, stable %d on %s", canary, copy2, stable, copy1)
	})
	secretCopy(t, c, ns, copy2, "new", v2)

	// Abort: every Pod back on the old copy, which is still there.
	abort(t, ns, "monolith-api")
	waitRollout(t, c, ns, "monolith-api", "aborted", time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Abort && ro.Status.Phase == v1alpha1.RolloutPhaseDegraded
	})
	waitCounts(t, c, ns, "monolith-api", map[string]int32{v1: 10, v2: 0})
	eventually(t, time.Minute, "every Pod on the old copy", func() (bool, error) {
		all := countPods(t, c, ns, "", func(*corev1.Pod) bool { return true })
		old := countPods(t, c, ns, v1, func(p *corev1.Pod) bool { return secretOf(p) == copy1 })
		return all == 10 && old == 10, fmt.Errorf("%d Pods, %d on %s", all, old, copy1)
	})

	// Retry and promote: the new copy is stable.
	retry(t, ns, "monolith-api")
	waitRollout(t, c, ns, "monolith-api", "paused at 10% again", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash == v2
	})
	promote(t, ns, "monolith-api")
	waitRollout(t, c, ns, "monolith-api", "Healthy on the new copy", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "monolith-api", map[string]int32{v2: 10, v1: 0})
	if n := countPods(t, c, ns, "", func(p *corev1.Pod) bool { return secretOf(p) != copy2 }); n != 0 {
		t.Fatalf("%d Pods do not mount %s after the promotion", n, copy2)
	}

	// One more release: with revisionHistoryLimit 1 the first revision's
	// ReplicaSet goes, and its copy with it.
	setSecretValue(t, ns, "third")
	ro = waitRollout(t, c, ns, "monolith-api", "a third revision paused", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash != v2
	})
	v3 := ro.Status.CurrentPodHash
	promote(t, ns, "monolith-api")
	waitRollout(t, c, ns, "monolith-api", "Healthy on the third copy", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v3
	})
	eventually(t, 2*time.Minute, "the first revision's copy deleted with its ReplicaSet", func() (bool, error) {
		_, err := c.kube.CoreV1().Secrets(ns).Get(context.Background(), copy1, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("Secret %s: %v", copy1, err)
	})
	if _, err := c.kube.CoreV1().Secrets(ns).Get(context.Background(), copy2, metav1.GetOptions{}); err != nil {
		t.Fatalf("the previous stable's copy %s: %v", copy2, err)
	}
}

// TestConfigSnapshotsConfigMapEnvFrom: a ConfigMap referenced through
// envFrom. The release waits with ConfigSnapshotMissing until it exists;
// a change of its data is released to the canary Pods first and becomes
// stable on promotion.
func TestConfigSnapshotsConfigMapEnvFrom(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cfgsnapcm")
	runController(t, ns)

	mustKubectl(t, "apply", "-n", ns, "-f", "testdata/canary-config-snapshots-configmap.yaml")
	ro := waitRollout(t, c, ns, "web", "held for the missing ConfigMap", time.Minute, func(ro *v1alpha1.Rollout) bool {
		cond := decide.FindCondition(&ro.Status, decide.ConditionConfigSnapshotMissing)
		return cond != nil && cond.Reason == decide.ReasonConfigSnapshotMissing && strings.Contains(cond.Message, "ConfigMap/web-config")
	})
	if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 0 {
		t.Fatalf("ReplicaSets created while the ConfigMap is missing: %s", specCounts(rss))
	}

	envCopy := func(p *corev1.Pod) string {
		for _, e := range p.Spec.Containers[0].EnvFrom {
			if e.ConfigMapRef != nil {
				return e.ConfigMapRef.Name
			}
		}
		return ""
	}
	mustKubectl(t, "-n", ns, "create", "configmap", "web-config", "--from-literal", "MODE=blue")
	ro = waitRollout(t, c, ns, "web", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	if decide.FindCondition(&ro.Status, decide.ConditionConfigSnapshotMissing) != nil {
		t.Fatal("the condition stayed after the ConfigMap was created")
	}
	v1 := ro.Status.StableRS
	waitCounts(t, c, ns, "web", map[string]int32{v1: 2})
	var copy1 string
	eventually(t, time.Minute, "Pods on a copy of web-config", func() (bool, error) {
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v1})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		copy1 = envCopy(&pods.Items[0])
		return strings.HasPrefix(copy1, "web-config-"), fmt.Errorf("envFrom %q", copy1)
	})
	cm, err := c.kube.CoreV1().ConfigMaps(ns).Get(context.Background(), copy1, metav1.GetOptions{})
	if err != nil || cm.Data["MODE"] != "blue" || cm.Immutable == nil || !*cm.Immutable {
		t.Fatalf("copy %s: %v %+v", copy1, err, cm)
	}

	mustKubectl(t, "-n", ns, "patch", "configmap", "web-config", "--type", "merge", "-p", `{"data":{"MODE":"green"}}`)
	ro = waitRollout(t, c, ns, "web", "a new revision paused at 50%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash != v1
	})
	v2 := ro.Status.CurrentPodHash
	var copy2 string
	eventually(t, time.Minute, "the canary Pod alone on the new copy", func() (bool, error) {
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v2})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		copy2 = envCopy(&pods.Items[0])
		stable := countPods(t, c, ns, v1, func(p *corev1.Pod) bool { return envCopy(p) == copy1 })
		return copy2 != copy1 && strings.HasPrefix(copy2, "web-config-") && stable >= 1, fmt.Errorf("canary on %s, %d stable on %s", copy2, stable, copy1)
	})
	cm, err = c.kube.CoreV1().ConfigMaps(ns).Get(context.Background(), copy2, metav1.GetOptions{})
	if err != nil || cm.Data["MODE"] != "green" {
		t.Fatalf("copy %s: %v %+v", copy2, err, cm)
	}

	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "Healthy on the new copy", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	waitCounts(t, c, ns, "web", map[string]int32{v2: 2})
	eventually(t, time.Minute, "every Pod on the new copy", func() (bool, error) {
		n := countPods(t, c, ns, "", func(p *corev1.Pod) bool { return envCopy(p) != copy2 })
		return n == 0, fmt.Errorf("%d Pods elsewhere", n)
	})
}

// TestConfigSnapshotsBlueGreenWorkloadRef: a blue-green Rollout with a
// workloadRef whose template reads a Secret key. A change of the Secret
// brings up a preview version on the new copy while the active Service
// keeps the old one; promotion switches it. The Deployment is not changed.
func TestConfigSnapshotsBlueGreenWorkloadRef(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "cfgsnapbg")
	runController(t, ns)

	mustKubectl(t, "apply", "-n", ns, "-f", "testdata/bluegreen-config-snapshots-workloadref.yaml")
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	keyRef := func(p *corev1.Pod) string {
		for _, e := range p.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name
			}
		}
		return ""
	}
	var copy1 string
	eventually(t, time.Minute, "active Pods reading a copy of db", func() (bool, error) {
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: v1alpha1.DefaultRolloutUniqueLabelKey + "=" + v1})
		if err != nil || len(pods.Items) != 2 {
			return false, err
		}
		copy1 = keyRef(&pods.Items[0])
		return strings.HasPrefix(copy1, "db-"), fmt.Errorf("secretKeyRef %q", copy1)
	})

	mustKubectl(t, "-n", ns, "patch", "secret", "db", "--type", "merge", "-p", `{"stringData":{"password":"second"}}`)
	ro = waitRollout(t, c, ns, "shop", "a preview version paused", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentPodHash != v1
	})
	v2 := ro.Status.CurrentPodHash
	if got := serviceHash(t, c, ns, "shop-active"); got != v1 {
		t.Fatalf("active Service selects %s before promotion, want %s", got, v1)
	}
	eventually(t, time.Minute, "preview Pods on the new copy, active on the old", func() (bool, error) {
		preview := countPods(t, c, ns, v2, func(p *corev1.Pod) bool { return keyRef(p) != copy1 && strings.HasPrefix(keyRef(p), "db-") })
		active := countPods(t, c, ns, v1, func(p *corev1.Pod) bool { return keyRef(p) == copy1 })
		return preview == 2 && active == 2 && serviceHash(t, c, ns, "shop-preview") == v2, fmt.Errorf("preview %d, active %d", preview, active)
	})

	promote(t, ns, "shop")
	waitRollout(t, c, ns, "shop", "Healthy on the new copy", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
	})
	if got := serviceHash(t, c, ns, "shop-active"); got != v2 {
		t.Fatalf("active Service selects %s after promotion, want %s", got, v2)
	}
	dep, err := c.kube.AppsV1().Deployments(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name; got != "db" {
		t.Fatalf("the Deployment's template was rewritten to %s", got)
	}
}
