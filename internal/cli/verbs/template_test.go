package verbs

import (
	"strings"
	"testing"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

func TestSetImage(t *testing.T) {
	c := newClient(t, canary("web", 1))
	out, _, err := run(t, c, "set", "image", "web", "app=registry.example/app:2", "migrate=registry.example/migrate:2", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout \"web\" image updated\n" {
		t.Fatalf("printed %q", out)
	}
	pod := getRollout(t, c, "web").Spec.Template.Spec
	if pod.Containers[0].Image != "registry.example/app:2" || pod.InitContainers[0].Image != "registry.example/migrate:2" {
		t.Fatalf("images %q, %q", pod.Containers[0].Image, pod.InitContainers[0].Image)
	}
	if pod.Containers[1].Image != "registry.example/proxy:1" {
		t.Fatalf("the proxy container changed to %q", pod.Containers[1].Image)
	}

	if _, _, err := run(t, c, "set", "image", "web", "*=registry.example/all:3", "-n", ns); err != nil {
		t.Fatal(err)
	}
	pod = getRollout(t, c, "web").Spec.Template.Spec
	for _, img := range []string{pod.Containers[0].Image, pod.Containers[1].Image, pod.InitContainers[0].Image} {
		if img != "registry.example/all:3" {
			t.Fatalf("* left image %q", img)
		}
	}
}

func TestSetImageErrors(t *testing.T) {
	wr := canary("wr", 1)
	wr.Spec.Template = canary("x", 0).Spec.Template
	wr.Spec.Template.Spec.Containers = nil
	wr.Spec.Template.Spec.InitContainers = nil
	wr.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "wr-deploy"}
	c := newClient(t, canary("web", 1), wr)
	cases := map[string]struct {
		args []string
		want string
	}{
		"absent container": {[]string{"web", "sidecar=x:1"},
			`container "sidecar" not found in rollout "web"; its containers are "app", "proxy", "migrate" (init)`},
		"workloadRef": {[]string{"wr", "app=x:1"},
			`rollout "wr" takes its Pod template from Deployment "wr-deploy" (spec.workloadRef); set the image there instead: kubectl set image deployment/wr-deploy CONTAINER=IMAGE -n shop`},
		"not NAME=IMAGE": {[]string{"web", "app"}, `"app" is not CONTAINER=IMAGE`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := run(t, c, append([]string{"set", "image"}, append(tc.args, "-n", ns)...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if got := getRollout(t, c, "web").Spec.Template.Spec.Containers[0].Image; got != "registry.example/app:1" {
		t.Fatalf("a failed set image changed the image to %q", got)
	}
}

func TestUndo(t *testing.T) {
	ro := canary("web", 1)
	ro.Spec.Template.Spec.Containers[0].Image = "registry.example/app:3"
	rs1 := replicaSet(ro, "1", "aaa", "registry.example/app:1")
	rs2 := replicaSet(ro, "2", "bbb", "registry.example/app:2")
	rs2.Spec.Template.Labels["role"] = "stable" // put there by the controller for its role
	rs2.Spec.Template.Annotations = map[string]string{"team": "shop"}
	rs2.Spec.Template.Labels[shard.LabelBucket] = "17" // put there by a sharded controller
	rs3 := replicaSet(ro, "3", "ccc", "registry.example/app:3")
	rs3.Spec.Template.Labels["role"] = "canary"
	other := canary("other", 1)
	foreign := replicaSet(other, "7", "fff", "registry.example/other:7")
	foreign.Labels["app"], foreign.Spec.Template.Labels["app"] = "web", "web" // selected, but not owned
	c := newClient(t, ro, rs1, rs2, rs3, foreign)

	out, _, err := run(t, c, "undo", "web", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if out != "rollout 'web' rolled back to revision 2\n" {
		t.Fatalf("printed %q", out)
	}
	tmpl := getRollout(t, c, "web").Spec.Template
	if img := tmpl.Spec.Containers[0].Image; img != "registry.example/app:2" {
		t.Fatalf("image %q, want revision 2's", img)
	}
	if _, has := tmpl.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]; has {
		t.Fatal("the hash label was copied into the spec")
	}
	if _, has := tmpl.Labels["role"]; has {
		t.Fatal("the stable role label was copied into the spec")
	}
	if _, has := tmpl.Labels[shard.LabelBucket]; has {
		t.Fatal("the shard bucket label was copied into the spec")
	}
	if tmpl.Annotations["team"] != "shop" || tmpl.Labels["app"] != "web" {
		t.Fatalf("the revision's own metadata was lost: %v %v", tmpl.Labels, tmpl.Annotations)
	}

	if _, _, err := run(t, c, "undo", "web", "--to-revision", "1", "-n", ns); err != nil {
		t.Fatal(err)
	}
	if img := getRollout(t, c, "web").Spec.Template.Spec.Containers[0].Image; img != "registry.example/app:1" {
		t.Fatalf("image %q, want revision 1's", img)
	}
	out, _, err = run(t, c, "undo", "web", "--to-revision", "1", "-n", ns)
	if err != nil || out != "skipped rollback (current template already matches revision 1)\n" {
		t.Fatalf("undo to the current template: %q, %v", out, err)
	}

	_, _, err = run(t, c, "undo", "web", "--to-revision", "7", "-n", ns)
	if want := `revision 7 of rollout "web" not found; its revisions are 1, 2, 3`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestUndoWithoutHistory(t *testing.T) {
	ro := canary("web", 1)
	wr := canary("wr", 1)
	wr.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "wr-deploy"}
	c := newClient(t, ro, replicaSet(ro, "1", "aaa", "registry.example/app:1"), wr)
	_, _, err := run(t, c, "undo", "web", "-n", ns)
	if want := `rollout "web" has no previous revision to go back to; its revisions are 1`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	_, _, err = run(t, c, "undo", "wr", "-n", ns)
	if want := `rollout "wr" takes its Pod template from Deployment "wr-deploy" (spec.workloadRef); undo that instead: kubectl rollout undo deployment/wr-deploy -n shop`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}
