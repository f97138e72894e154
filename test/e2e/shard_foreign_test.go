package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rollout/podhash"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

const foreignDeploymentManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: plain
spec:
  replicas: 2
  selector:
    matchLabels: {app: plain}
  template:
    metadata:
      labels: {app: plain}
    spec:
      containers:
      - name: app
        image: registry.example/plain:1
`

// foreignRolloutManifest is a Rollout of another controller instance: this
// test's controllers, started without an instance id, must leave it and
// everything it owns alone.
const foreignRolloutManifest = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: foreign
  labels: {argo-rollouts.argoproj.io/controller-instance-id: other}
spec:
  replicas: 1
  selector:
    matchLabels: {app: foreign}
  template:
    metadata:
      labels: {app: foreign}
    spec:
      containers:
      - name: app
        image: registry.example/foreign:1
  strategy:
    canary: {}
`

// TestShardLabellerLeavesOthersObjectsAlone turns sharding on in a namespace
// that also holds a plain Deployment and a Rollout of another controller
// instance (with a ReplicaSet that instance would have made). The labeller
// gives this controller's Rollout's existing ReplicaSet and Pods their
// bucket, and never labels the Deployment's ReplicaSet or Pods (the
// Deployment keeps its one ReplicaSet and its Pods) nor the other instance's
// Rollout, ReplicaSet or Pod. An orphan ReplicaSet made before its Rollout
// is labelled once the Rollout exists, and the Rollout adopts it.
func TestShardLabellerLeavesOthersObjectsAlone(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c, "shardforeign")
	applyYAML(t, ns, foreignDeploymentManifest)
	applyYAML(t, ns, foreignRolloutManifest)
	applyYAML(t, ns, fmt.Sprintf(plainCanaryManifest, "mine"))

	// The ReplicaSet the other instance would have made for its Rollout,
	// with the reference's pod-template hash label on it and its Pods.
	foreign := getRollout(t, c, ns, "foreign")
	hashed := map[string]string{"app": "foreign", v1alpha1.DefaultRolloutUniqueLabelKey: "f00d"}
	one := int32(1)
	frs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign-f00d", Namespace: ns, Labels: hashed,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(foreign, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: hashed},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: hashed}, Spec: foreign.Spec.Template.Spec}},
	}
	if err := c.ctrl.Create(ctx, frs); err != nil {
		t.Fatal(err)
	}

	// Everything runs unsharded first, so that the Rollout's ReplicaSet and
	// Pods exist without a bucket and only the labeller can give them one.
	single := runController(t, ns)
	ro := waitRollout(t, c, ns, "mine", "Healthy", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	mineRS := ro.Status.StableRS
	var before corev1.PodList
	eventually(t, 2*time.Minute, "two Pods of the Deployment, two of the Rollout and one of the other instance", func() (bool, error) {
		if err := c.ctrl.List(ctx, &before, client.InNamespace(ns)); err != nil {
			return false, err
		}
		count := map[string]int{}
		for _, p := range before.Items {
			count[p.Labels["app"]]++
		}
		return count["plain"] == 2 && count["mine"] == 2 && count["foreign"] == 1, fmt.Errorf("Pods by app %v", count)
	})
	podUIDs := map[string]string{}
	for _, p := range before.Items {
		podUIDs[string(p.UID)] = p.Name
	}
	deployRS := deploymentReplicaSets(t, c, ns, "plain")
	if len(deployRS) != 1 {
		t.Fatalf("the Deployment has ReplicaSets %v, want one", deployRS)
	}
	_ = single.cmd.Process.Signal(os.Interrupt)
	<-single.exited

	runShardedController(t, ns, 2, 0)
	runShardedController(t, ns, 2, 1)
	want := shard.BucketLabel(ns, "mine")
	eventually(t, 2*time.Minute, "the Rollout's ReplicaSet and Pods labelled with its bucket", func() (bool, error) {
		rss := replicaSetsOf(t, c, ns, getRollout(t, c, ns, "mine"))
		rs := rss[mineRS]
		if len(rss) != 1 || rs == nil {
			return false, fmt.Errorf("the Rollout has ReplicaSets %s, want only %s", specCounts(rss), mineRS)
		}
		if rs.Labels[shard.LabelBucket] != want || rs.Spec.Template.Labels[shard.LabelBucket] != want {
			return false, fmt.Errorf("ReplicaSet %s labels %v, template %v, want bucket %s", rs.Name, rs.Labels, rs.Spec.Template.Labels, want)
		}
		var pods corev1.PodList
		if err := c.ctrl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "mine"}); err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Labels[shard.LabelBucket] != want {
				return false, fmt.Errorf("Pod %s labels %v", p.Name, p.Labels)
			}
		}
		return len(pods.Items) == 2, fmt.Errorf("%d Pods of the Rollout, want 2", len(pods.Items))
	})

	// The labeller queued every candidate when it started; keep looking for
	// a while after it reached the Rollout's objects, so that a late patch
	// of someone else's object is seen too.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		assertOthersUntouched(t, c, ns, deployRS[0], podUIDs)
		time.Sleep(time.Second)
	}

	// An orphan ReplicaSet named after a Rollout that does not exist yet is
	// left alone until the Rollout comes, then labelled, so the Rollout's
	// replica sees it and adopts it rather than make a new one.
	adopter := trustRollout(ns, "adopter", "registry.example/web:1.0")
	adopter.Spec.Replicas = ptrTo(int32(1))
	h := podhash.Template(&adopter.Spec.Template, nil)
	orphanLabels := map[string]string{"app": adopter.Name, v1alpha1.DefaultRolloutUniqueLabelKey: h}
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: adopter.Name + "-" + h, Namespace: ns, Labels: orphanLabels,
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: "1"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: orphanLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: orphanLabels}, Spec: adopter.Spec.Template.Spec}},
	}
	if err := c.ctrl.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	var got appsv1.ReplicaSet
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(orphan), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Labels[shard.LabelBucket]; ok {
		t.Fatalf("the orphan got bucket %s before any Rollout of its name existed", v)
	}
	if err := c.ctrl.Create(ctx, adopter); err != nil {
		t.Fatal(err)
	}
	ro = waitRollout(t, c, ns, adopter.Name, "Healthy on the adopted ReplicaSet", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	rss := replicaSetsOf(t, c, ns, ro)
	if ro.Status.StableRS != h || len(rss) != 1 || rss[h] == nil {
		t.Fatalf("stable %q with ReplicaSets %s, want only the adopted %s", ro.Status.StableRS, specCounts(rss), orphan.Name)
	}
	if got, want := rss[h].Labels[shard.LabelBucket], shard.BucketLabel(ns, adopter.Name); got != want {
		t.Fatalf("the adopted ReplicaSet's bucket %q, want its Rollout's %q", got, want)
	}
}

// assertOthersUntouched fails when the Deployment's or the other instance's
// objects carry a bucket label, when the Deployment has made another
// ReplicaSet, or when any Pod from before sharding was replaced.
func assertOthersUntouched(t *testing.T, c clients, ns, deployRS string, podUIDs map[string]string) {
	t.Helper()
	ctx := context.Background()
	if got := deploymentReplicaSets(t, c, ns, "plain"); len(got) != 1 || got[0] != deployRS {
		t.Fatalf("the Deployment has ReplicaSets %v, want only %s", got, deployRS)
	}
	for _, name := range []string{deployRS, "foreign-f00d"} {
		var rs appsv1.ReplicaSet
		if err := c.ctrl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rs); err != nil {
			t.Fatal(err)
		}
		if _, ok := rs.Labels[shard.LabelBucket]; ok {
			t.Fatalf("ReplicaSet %s was labelled: %v", name, rs.Labels)
		}
		if _, ok := rs.Spec.Template.Labels[shard.LabelBucket]; ok {
			t.Fatalf("ReplicaSet %s's template was labelled: %v", name, rs.Spec.Template.Labels)
		}
	}
	if ro := getRollout(t, c, ns, "foreign"); ro.Labels[shard.LabelBucket] != "" {
		t.Fatalf("the other instance's Rollout was labelled: %v", ro.Labels)
	}
	var pods corev1.PodList
	if err := c.ctrl.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if podUIDs[string(p.UID)] == "" {
			t.Fatalf("Pod %s (labels %v) was not there before sharding was turned on", p.Name, p.Labels)
		}
		if app := p.Labels["app"]; app != "mine" {
			if _, ok := p.Labels[shard.LabelBucket]; ok {
				t.Fatalf("Pod %s of %s was labelled: %v", p.Name, app, p.Labels)
			}
		}
	}
	if len(pods.Items) != len(podUIDs) {
		t.Fatalf("%d Pods, want the %d from before", len(pods.Items), len(podUIDs))
	}
}

// deploymentReplicaSets names the ReplicaSets a Deployment controls.
func deploymentReplicaSets(t *testing.T, c clients, ns, deployment string) []string {
	t.Helper()
	var d appsv1.Deployment
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: deployment}, &d); err != nil {
		t.Fatal(err)
	}
	var list appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs.Name)
		}
	}
	return out
}
