package verbs

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
)

const ns = "shop"

// newClient returns a fake cluster holding objs, with the status
// subresources the real CRDs have.
func newClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	return newClientWith(t, interceptor.Funcs{}, objs...)
}

func newClientWith(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().
		WithScheme(scheme).
		WithStatusSubresource(&v1alpha1.Rollout{}, &v1alpha1.AnalysisRun{}, &v1alpha1.Experiment{}).
		WithObjects(objs...).
		WithInterceptorFuncs(funcs).
		Build()
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// root mounts the verbs under a root command as cli.NewRootCommand will,
// with c as the cluster. KUBECONFIG points nowhere, so the machine's own
// kubeconfig cannot leak into a test.
func root(t *testing.T, c client.WithWatch, stdout, stderr *syncBuffer) *cobra.Command {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	r := &cobra.Command{Use: "kanaria", SilenceUsage: true, SilenceErrors: true}
	r.AddCommand(NewCommands(func(clientcmd.ClientConfig) (client.WithWatch, error) { return c, nil })...)
	r.SetOut(stdout)
	r.SetErr(stderr)
	return r
}

// run executes one command line against c.
func run(t *testing.T, c client.WithWatch, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut syncBuffer
	r := root(t, c, &out, &errOut)
	r.SetArgs(args)
	err := r.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// exitCode is the code main will exit with for err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

func ptr[T any](v T) *T { return &v }

// canary returns a canary Rollout in the middle of an update: the new
// version "new" runs beside the stable "old", at step stepIndex.
func canary(name string, stepIndex int32) *v1alpha1.Rollout {
	dur := intstr.FromString("1m")
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name + "-uid"), Generation: 2},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.example/migrate:1"}},
					Containers: []corev1.Container{
						{Name: "app", Image: "registry.example/app:1"},
						{Name: "proxy", Image: "registry.example/proxy:1"},
					},
				},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryMetadata: &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}},
				StableMetadata: &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "stable"}},
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptr(int32(20))},
					{Pause: &v1alpha1.RolloutPause{}},
					{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.RolloutAnalysisTemplate{{TemplateName: "success-rate"}}}},
					{SetWeight: ptr(int32(50))},
					{Pause: &v1alpha1.RolloutPause{Duration: &dur}},
				},
			}},
		},
		Status: v1alpha1.RolloutStatus{
			CurrentPodHash:     "new",
			StableRS:           "old",
			CurrentStepIndex:   ptr(stepIndex),
			ObservedGeneration: "2",
			Phase:              v1alpha1.RolloutPhaseProgressing,
			Message:            "waiting for all steps to complete",
		},
	}
}

// blueGreen returns a blue-green Rollout waiting for promotion.
func blueGreen(name string) *v1alpha1.Rollout {
	ro := canary(name, 0)
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: name + "-active", AutoPromotionEnabled: ptr(false)}}
	ro.Status.CurrentStepIndex = nil
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonBlueGreenPause, StartTime: metav1.Now()}}
	ro.Status.ControllerPause = true
	ro.Status.Phase, ro.Status.Message = v1alpha1.RolloutPhasePaused, string(v1alpha1.PauseReasonBlueGreenPause)
	return ro
}

// healthy turns ro into a Rollout that finished its update.
func healthy(ro *v1alpha1.Rollout) *v1alpha1.Rollout {
	ro.Status.StableRS = ro.Status.CurrentPodHash
	ro.Status.PauseConditions = nil
	ro.Status.Phase, ro.Status.Message = v1alpha1.RolloutPhaseHealthy, ""
	if c := ro.Spec.Strategy.Canary; c != nil {
		ro.Status.CurrentStepIndex = ptr(int32(len(c.Steps)))
	}
	return ro
}

// replicaSet returns a ReplicaSet of ro at revision rev running image.
func replicaSet(ro *v1alpha1.Rollout, rev, hash, image string) *appsv1.ReplicaSet {
	tmpl := ro.Spec.Template.DeepCopy()
	tmpl.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] = hash
	tmpl.Spec.Containers[0].Image = image
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ro.Name + "-" + hash,
			Namespace:       ro.Namespace,
			Labels:          map[string]string{"app": ro.Name, v1alpha1.DefaultRolloutUniqueLabelKey: hash},
			Annotations:     map[string]string{v1alpha1.RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": ro.Name, v1alpha1.DefaultRolloutUniqueLabelKey: hash}},
			Template: *tmpl,
		},
	}
}

// getRollout reads a Rollout back from the fake cluster.
func getRollout(t *testing.T, c client.Client, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}
