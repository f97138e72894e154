package verbs

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// jsonPatchOp is one operation of an RFC 6902 JSON patch.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func (e *env) setCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "set image ROLLOUT CONTAINER=IMAGE...",
		Short:   "Change fields of a Rollout (set image)",
		Example: `  kanaria set image guestbook app=registry.example/guestbook:2.0`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "image ROLLOUT CONTAINER=IMAGE...",
		Short: "Change the image of containers of a Rollout",
		Long: `Change the image of the named containers (init containers too) in the Pod
template of a Rollout, which starts an update. CONTAINER may be * for every
container.`,
		Example: `  # Start an update to a new image
  kanaria set image guestbook app=registry.example/guestbook:2.0

  # Two containers at once
  kanaria set image guestbook app=registry.example/app:2.0 proxy=envoyproxy/envoy:v1.30.0`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			images, err := parseImages(args[1:])
			if err != nil {
				return err
			}
			c, ns, err := e.connect()
			if err != nil {
				return err
			}
			name := args[0]
			t := rolloutTarget(name, ns)
			ro := &v1alpha1.Rollout{}
			if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
				return apiError(err, "get", "", t)
			}
			ops, err := setImageOps(ro, images)
			if err != nil {
				return err
			}
			patch, err := json.Marshal(ops)
			if err != nil {
				return fmt.Errorf("encoding the image patch: %w", err)
			}
			if err := c.Patch(cmd.Context(), ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
				return apiError(err, "patch", "", t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %q image updated\n", name)
			return nil
		},
	})
	return cmd
}

// containerImage is one CONTAINER=IMAGE argument.
type containerImage struct {
	container, image string
}

func parseImages(args []string) ([]containerImage, error) {
	out := make([]containerImage, 0, len(args))
	for _, a := range args {
		c, img, ok := strings.Cut(a, "=")
		if !ok || c == "" || img == "" {
			return nil, fmt.Errorf("%q is not CONTAINER=IMAGE, e.g. app=registry.example/app:2.0", a)
		}
		out = append(out, containerImage{container: c, image: img})
	}
	return out, nil
}

// setImageOps returns the JSON patch that sets the images. Each replace is
// preceded by a test of the container's name at that index, so that if the
// containers were reordered since the Rollout was read, the patch fails
// instead of changing the wrong container.
func setImageOps(ro *v1alpha1.Rollout, images []containerImage) ([]jsonPatchOp, error) {
	if ref := ro.Spec.WorkloadRef; ref != nil {
		return nil, fmt.Errorf("rollout %q takes its Pod template from %s %q (spec.workloadRef); set the image there instead: kubectl set image deployment/%s CONTAINER=IMAGE -n %s",
			ro.Name, ref.Kind, ref.Name, ref.Name, ro.Namespace)
	}
	pod := &ro.Spec.Template.Spec
	lists := []struct {
		path       string
		containers []corev1.Container
	}{
		{"/spec/template/spec/initContainers", pod.InitContainers},
		{"/spec/template/spec/containers", pod.Containers},
	}
	var ops []jsonPatchOp
	for _, ci := range images {
		found := false
		for _, l := range lists {
			for i, c := range l.containers {
				if c.Name != ci.container && ci.container != "*" {
					continue
				}
				found = true
				at := l.path + "/" + strconv.Itoa(i)
				ops = append(ops,
					jsonPatchOp{Op: "test", Path: at + "/name", Value: c.Name},
					jsonPatchOp{Op: "replace", Path: at + "/image", Value: ci.image})
			}
		}
		if !found {
			return nil, fmt.Errorf("container %q not found in rollout %q; its containers are %s", ci.container, ro.Name, containerNames(pod))
		}
	}
	return ops, nil
}

// containerNames lists the containers of pod for an error message.
func containerNames(pod *corev1.PodSpec) string {
	var names []string
	for _, c := range pod.Containers {
		names = append(names, strconv.Quote(c.Name))
	}
	for _, c := range pod.InitContainers {
		names = append(names, strconv.Quote(c.Name)+" (init)")
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (e *env) undoCommand() *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:   "undo ROLLOUT",
		Short: "Go back to an earlier revision of a Rollout",
		Long: `Copy the Pod template of an earlier revision back into the Rollout, which
starts an update to it. The earlier revisions are the Rollout's ReplicaSets,
numbered by their rollout.argoproj.io/revision annotation; by default the one
before the newest.`,
		Example: `  # Go back to the previous revision
  kanaria undo guestbook

  # Go back to revision 3
  kanaria undo guestbook --to-revision 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if toRevision < 0 {
				return fmt.Errorf("--to-revision must be a revision number above 0, or 0 for the previous revision")
			}
			c, ns, err := e.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			name := args[0]
			t := rolloutTarget(name, ns)
			ro := &v1alpha1.Rollout{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
				return apiError(err, "get", "", t)
			}
			if ref := ro.Spec.WorkloadRef; ref != nil {
				return fmt.Errorf("rollout %q takes its Pod template from %s %q (spec.workloadRef); undo that instead: kubectl rollout undo deployment/%s -n %s",
					name, ref.Kind, ref.Name, ref.Name, ns)
			}
			opts := []client.ListOption{client.InNamespace(ns)}
			if ro.Spec.Selector != nil {
				sel, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
				if err != nil {
					return fmt.Errorf("rollout %q has an invalid spec.selector: %w", name, err)
				}
				opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
			}
			var list appsv1.ReplicaSetList
			if err := c.List(ctx, &list, opts...); err != nil {
				return apiError(err, "list", "", target{kind: "replicasets of rollout", resource: "replicasets", name: name, namespace: ns})
			}
			rev, rs, err := pickRevision(ro, list.Items, toRevision)
			if err != nil {
				return err
			}
			tmpl := restoredTemplate(ro, rs)
			if equality.Semantic.DeepEqual(withoutHash(&ro.Spec.Template), tmpl) {
				fmt.Fprintf(cmd.OutOrStdout(), "skipped rollback (current template already matches revision %d)\n", rev)
				return nil
			}
			patch, err := json.Marshal([]jsonPatchOp{{Op: "replace", Path: "/spec/template", Value: tmpl}})
			if err != nil {
				return fmt.Errorf("encoding the template of revision %d: %w", rev, err)
			}
			if err := c.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
				return apiError(err, "patch", "", t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout '%s' rolled back to revision %d\n", name, rev)
			return nil
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to go back to; 0 is the one before the newest")
	return cmd
}

// pickRevision finds the ReplicaSet of revision want among the Rollout's own
// (controlled by it); want 0 means the second-newest revision.
func pickRevision(ro *v1alpha1.Rollout, all []appsv1.ReplicaSet, want int64) (int64, *appsv1.ReplicaSet, error) {
	byRev := map[int64]*appsv1.ReplicaSet{}
	for i := range all {
		rs := &all[i]
		if !metav1.IsControlledBy(rs, ro) {
			continue
		}
		// ReplicaSets without a readable revision cannot be asked for by
		// number, so they are left out rather than guessed at.
		n, err := strconv.ParseInt(rs.Annotations[v1alpha1.RevisionAnnotation], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		byRev[n] = rs
	}
	revs := make([]int64, 0, len(byRev))
	for n := range byRev {
		revs = append(revs, n)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	if want > 0 {
		if rs, ok := byRev[want]; ok {
			return want, rs, nil
		}
		return 0, nil, fmt.Errorf("revision %d of rollout %q not found; its revisions are %s", want, ro.Name, revisionList(revs))
	}
	if len(revs) < 2 {
		return 0, nil, fmt.Errorf("rollout %q has no previous revision to go back to; its revisions are %s", ro.Name, revisionList(revs))
	}
	prev := revs[len(revs)-2]
	return prev, byRev[prev], nil
}

func revisionList(revs []int64) string {
	if len(revs) == 0 {
		return "none (revisionHistoryLimit may have removed them)"
	}
	s := make([]string, len(revs))
	for i, n := range revs {
		s[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(s, ", ")
}

// restoredTemplate is rs's Pod template as it belongs in the Rollout's spec:
// without the hash label the controller adds, and without the canary/stable
// (or active/preview) metadata the controller puts on a ReplicaSet for the
// role it plays. A key the current template itself sets with the same value
// is kept, as the controller keeps it.
func restoredTemplate(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) *corev1.PodTemplateSpec {
	t := withoutHash(&rs.Spec.Template)
	keepL, keepA := ro.Spec.Template.Labels, ro.Spec.Template.Annotations
	for _, m := range ephemeralMetadata(ro) {
		for k := range m.Labels {
			if v, ok := keepL[k]; !ok || v != t.Labels[k] {
				delete(t.Labels, k)
			}
		}
		for k := range m.Annotations {
			if v, ok := keepA[k]; !ok || v != t.Annotations[k] {
				delete(t.Annotations, k)
			}
		}
	}
	return t
}

// ephemeralMetadata lists the per-role metadata blocks of the strategy.
func ephemeralMetadata(ro *v1alpha1.Rollout) []*v1alpha1.PodTemplateMetadata {
	var out []*v1alpha1.PodTemplateMetadata
	if c := ro.Spec.Strategy.Canary; c != nil {
		out = append(out, c.CanaryMetadata, c.StableMetadata)
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		out = append(out, b.ActiveMetadata, b.PreviewMetadata)
	}
	return slices.DeleteFunc(out, func(m *v1alpha1.PodTemplateMetadata) bool { return m == nil })
}

// withoutHash returns a copy of t without the pod-template-hash label and
// the shard bucket label, which the controller adds to ReplicaSets and never
// belong in a Rollout's spec: copied there, the bucket would change the
// template's hash, and an undo would make a new ReplicaSet instead of
// scaling up the old one.
func withoutHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	delete(c.Labels, v1alpha1.DefaultRolloutUniqueLabelKey)
	delete(c.Labels, shard.LabelBucket)
	return c
}
