package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/dashboard"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
)

// stepRollout is a canary "shop" of two Pods whose second step runs an
// Experiment of a baseline (the stable's Pod template, unchanged) and a
// canary (the new one, with a label of its own) for the given duration, with the given analyses; a pause
// follows so a test can see the Rollout move past the experiment.
func stepRollout(duration, analyses, routing string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: shop
  labels: {team: payments}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: shop
        image: registry.example/shop:1.0
        ports: [{name: http, containerPort: 8080}]
  strategy:
    canary:
      canaryService: shop-canary
      stableService: shop-stable
` + routing + `      steps:
      - setWeight: 50
      - experiment:
          duration: ` + duration + `
          templates:
          - name: baseline
            specRef: stable
          - name: canary
            specRef: canary
            metadata:
              labels: {role: exp-canary}
` + analyses + `      - pause: {}
`
}

var stepServices = servicesYAML("shop", 8080, "shop-stable", "shop-canary")

// failingJobTemplate is an analysis whose Job's Pod the local cluster fails.
var failingJobTemplate = fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: smoke
spec:
  args:
  - name: canary-hash
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              labels: {%q: %q}
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: registry.example/smoke:1
                args: ["{{args.canary-hash}}"]
`, devcluster.SimulateLabel, devcluster.SimulateFail)

const smokeAnalysis = `          analyses:
          - name: smoke
            templateName: smoke
            args:
            - name: canary-hash
              valueFrom: {podTemplateHashValue: Latest}
`

// stepStart applies the Rollout and Services in a new namespace with its
// own controller, waits for the first version, updates the image and waits
// until the Rollout names the Experiment of step 1. It returns the
// namespace, the stable and canary hashes and the Experiment.
func stepStart(t *testing.T, c clients, prefix, manifest string, extra ...string) (string, string, string, *v1alpha1.Experiment) {
	t.Helper()
	ns := newNamespace(t, c, prefix)
	runController(t, ns)
	for _, m := range extra {
		applyYAML(t, ns, m)
	}
	applyYAML(t, ns, stepServices)
	applyYAML(t, ns, manifest)
	v1 := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy)).Status.StableRS
	setImage(t, ns, "shop", "registry.example/shop:2.0")
	ro := waitRollout(t, c, ns, "shop", "waiting on the experiment step", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return derefOr(ro.Status.CurrentStepIndex, -1) == 1 && ro.Status.Canary.CurrentExperiment != ""
	})
	v2 := ro.Status.CurrentPodHash
	ex := stepExperiment(t, c, ns, ro.Status.Canary.CurrentExperiment)
	return ns, v1, v2, ex
}

func stepExperiment(t *testing.T, c clients, ns, name string) *v1alpha1.Experiment {
	t.Helper()
	var ex v1alpha1.Experiment
	if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ex); err != nil {
		t.Fatalf("get Experiment %s: %v", name, err)
	}
	return &ex
}

// stepExperimentPods counts the running Pods of the Experiment's
// ReplicaSets.
func stepExperimentPods(t *testing.T, c clients, ns string, ex *v1alpha1.Experiment) (int, error) {
	var rss appsv1.ReplicaSetList
	if err := c.ctrl.List(context.Background(), &rss, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	owned := map[string]bool{}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == ex.UID {
			owned[string(rs.UID)] = true
		}
	}
	var pods corev1.PodList
	if err := c.ctrl.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && owned[string(ref.UID)] && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

func waitStepExperimentPods(t *testing.T, c clients, ns string, ex *v1alpha1.Experiment, want int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d Pods of Experiment %s", want, ex.Name), func() (bool, error) {
		n, err := stepExperimentPods(t, c, ns, ex)
		if err != nil {
			return false, err
		}
		return n == want, fmt.Errorf("%d Pods", n)
	})
}

// TestExperimentStepProgressesOnSuccess: the Rollout creates the step's
// Experiment as the reference names and labels it, waits while it runs and
// moves to the next step when it succeeds; `kanaria get rollout` shows it
// under the new revision.
func TestExperimentStepProgressesOnSuccess(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns, v1, v2, ex := stepStart(t, c, "exstep-ok", stepRollout("5s", "", ""))

	if want := fmt.Sprintf("shop-%s-2-1", v2); ex.Name != want {
		t.Errorf("Experiment name %q, want %q", ex.Name, want)
	}
	if ref := metav1.GetControllerOf(ex); ref == nil || ref.Kind != "Rollout" || ref.Name != "shop" {
		t.Errorf("Experiment controller %+v, want Rollout shop", ref)
	}
	if ex.Labels[v1alpha1.DefaultRolloutUniqueLabelKey] != v2 || ex.Labels["team"] != "payments" || ex.Annotations[v1alpha1.RevisionAnnotation] != "2" {
		t.Errorf("Experiment labels %v annotations %v", ex.Labels, ex.Annotations)
	}
	if len(ex.Spec.Templates) != 2 || ex.Spec.Templates[0].Template.Spec.Containers[0].Image != "registry.example/shop:1.0" ||
		ex.Spec.Templates[1].Template.Spec.Containers[0].Image != "registry.example/shop:2.0" {
		t.Errorf("Experiment templates %+v, want the stable's then the new Pod template", ex.Spec.Templates)
	}

	// The Experiment's Pods run beside the Rollout's, which keep their
	// counts and Services.
	waitStepExperimentPods(t, c, ns, ex, 2, 2*time.Minute)
	waitCounts(t, c, ns, "shop", map[string]int32{v1: 1, v2: 1})
	if s := serviceHash(t, c, ns, "shop-stable"); s != v1 {
		t.Errorf("shop-stable selects %q during the experiment, want %q", s, v1)
	}
	// The baseline runs the stable's Pod template unchanged, yet its Pods
	// do not carry the stable's hash: the stable Service selects only the
	// Rollout's own stable Pod.
	if n := countPods(t, c, ns, v1, func(*corev1.Pod) bool { return true }); n != 1 {
		t.Errorf("%d Pods carry the stable hash %s during the experiment, want the Rollout's 1", n, v1)
	}

	out := mustKanaria(t, "get", "rollout", "shop", "-n", ns)
	if !strings.Contains(out, "Experiment "+ex.Name) {
		t.Errorf("get rollout does not show the Experiment:\n%s", out)
	}
	// The dashboard's rollout page lists it under revision 2.
	resp, err := http.Get(startDashboard(t, dashboard.Options{}) + "/api/namespaces/" + ns + "/rollouts/shop")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Revisions []struct {
			Number      int
			Experiments []struct {
				Name    string
				Current bool
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, rev := range page.Revisions {
		for _, e := range rev.Experiments {
			shown = shown || rev.Number == 2 && e.Name == ex.Name && e.Current
		}
	}
	if !shown {
		t.Errorf("the dashboard does not list Experiment %s as current under revision 2: %+v", ex.Name, page.Revisions)
	}

	ro := waitRollout(t, c, ns, "shop", "past the experiment, paused", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return derefOr(ro.Status.CurrentStepIndex, -1) == 2 && ro.Status.Phase == v1alpha1.RolloutPhasePaused
	})
	if ro.Status.Canary.CurrentExperiment != "" {
		t.Errorf("currentExperiment %q after the step", ro.Status.Canary.CurrentExperiment)
	}
	if got := stepExperiment(t, c, ns, ex.Name); got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || got.Spec.Terminate {
		t.Errorf("Experiment phase %s terminate %v, want Successful on its own", got.Status.Phase, got.Spec.Terminate)
	}
}

// TestExperimentStepFailedAnalysisAborts: the Experiment's analysis (a Job
// the cluster fails) fails it, and the Rollout aborts back to the stable
// version with a message naming the Experiment.
func TestExperimentStepFailedAnalysisAborts(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns, v1, v2, ex := stepStart(t, c, "exstep-fail", stepRollout("1h", smokeAnalysis, ""), failingJobTemplate)
	ro := waitRollout(t, c, ns, "shop", "Degraded by the failed experiment", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseDegraded))
	if !ro.Status.Abort || !strings.Contains(ro.Status.Message, "Experiment "+ex.Name) {
		t.Errorf("abort %v message %q, want an abort naming Experiment %s", ro.Status.Abort, ro.Status.Message, ex.Name)
	}
	waitCounts(t, c, ns, "shop", map[string]int32{v1: 2, v2: 0})
	if s := serviceHash(t, c, ns, "shop-canary"); s != v1 {
		t.Errorf("shop-canary selects %q after the abort, want %q", s, v1)
	}
	if got := stepExperiment(t, c, ns, ex.Name); got.Status.Phase != v1alpha1.AnalysisPhaseFailed && got.Status.Phase != v1alpha1.AnalysisPhaseError {
		t.Errorf("Experiment phase %s (%s), want Failed", got.Status.Phase, got.Status.Message)
	}
	waitStepExperimentPods(t, c, ns, ex, 0, 2*time.Minute)
}

// TestExperimentStepEndsWithPromoteFullAndAbort: promoting fully or aborting
// while the step's Experiment runs terminates it, and its Pods go.
func TestExperimentStepEndsWithPromoteFullAndAbort(t *testing.T) {
	ensureCRDs(t)
	for _, tc := range []struct {
		name  string
		act   []string
		phase v1alpha1.RolloutPhase
	}{
		{"promote-full", []string{"promote", "shop", "--full"}, v1alpha1.RolloutPhaseHealthy},
		{"abort", []string{"abort", "shop"}, v1alpha1.RolloutPhaseDegraded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClients(t)
			ns, _, _, ex := stepStart(t, c, "exstep-"+tc.name, stepRollout("1h", "", ""))
			waitStepExperimentPods(t, c, ns, ex, 2, 2*time.Minute)
			mustKanaria(t, append(tc.act, "-n", ns)...)
			waitRollout(t, c, ns, "shop", string(tc.phase), 3*time.Minute, phaseIs(tc.phase))
			eventually(t, time.Minute, "Experiment "+ex.Name+" terminated", func() (bool, error) {
				got := stepExperiment(t, c, ns, ex.Name)
				return got.Spec.Terminate, fmt.Errorf("terminate %v phase %s", got.Spec.Terminate, got.Status.Phase)
			})
			// The Experiment keeps its Pods for its scale-down delay (30 s).
			waitStepExperimentPods(t, c, ns, ex, 0, 2*time.Minute)
		})
	}
}

// TestExperimentStepRoutedWeight: with an SMI, Istio or ALB router a
// template's weight sends that share to the Service the Experiment made,
// taken from the stable's share, and status.canary.weights.additional reports it; after
// the step the router object sends to the canary and stable only.
func TestExperimentStepRoutedWeight(t *testing.T) {
	ensureRouterCRDs(t)
	for _, tc := range []struct {
		name, objects, routing string
		// shares reads the router object's destinations: Service name to
		// weight.
		shares func(t *testing.T, c clients, ns string) map[string]int64
	}{
		{
			name:    "smi",
			routing: "        smi: {trafficSplitName: shop-split}\n",
			shares: func(t *testing.T, c clients, ns string) map[string]int64 {
				u, err := c.dynamic.Resource(gvrTrafficSplit).Namespace(ns).Get(context.Background(), "shop-split", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				list, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
				out := map[string]int64{}
				for _, b := range list {
					m, _ := b.(map[string]any)
					w, err := strconv.ParseInt(fmt.Sprint(m["weight"]), 10, 64)
					if err != nil {
						t.Fatalf("backend %v: %v", m, err)
					}
					out[fmt.Sprint(m["service"])] = w
				}
				return out
			},
		},
		{
			name: "istio",
			objects: `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  http:
  - name: primary
    route:
    - destination: {host: shop-stable, port: {number: 80}}
      weight: 100
    - destination: {host: shop-canary, port: {number: 80}}
      weight: 0
`,
			routing: "        istio:\n          virtualService: {name: shop, routes: [primary]}\n",
			shares: func(t *testing.T, c clients, ns string) map[string]int64 {
				u, err := c.dynamic.Resource(gvrVirtualService).Namespace(ns).Get(context.Background(), "shop", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]int64{}
				dests, _ := istioRoute(u, "primary")["route"].([]any)
				for _, d := range dests {
					m, _ := d.(map[string]any)
					host, _, _ := unstructured.NestedString(m, "destination", "host")
					w, _, _ := unstructured.NestedInt64(m, "weight")
					out[host] = w
				}
				return out
			},
		},
		{
			name: "alb",
			objects: servicesYAML("shop", 8080, "shop-root") + `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop-alb}
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop-root, port: {name: use-annotation}}}}
`,
			routing: "        alb: {ingress: shop-alb, rootService: shop-root, servicePort: 80}\n",
			shares: func(t *testing.T, c clients, ns string) map[string]int64 {
				ing, err := c.kube.NetworkingV1().Ingresses(ns).Get(context.Background(), "shop-alb", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var action struct {
					ForwardConfig struct {
						TargetGroups []struct {
							ServiceName string
							ServicePort string
							Weight      int64
						}
					}
				}
				if err := json.Unmarshal([]byte(ing.Annotations["alb.ingress.kubernetes.io/actions.shop-root"]), &action); err != nil {
					t.Fatalf("forward action: %v", err)
				}
				out := map[string]int64{}
				for _, tg := range action.ForwardConfig.TargetGroups {
					if tg.ServicePort != "80" {
						t.Fatalf("target group %+v, want port 80", tg)
					}
					out[tg.ServiceName] = tg.Weight
				}
				return out
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClients(t)
			manifest := strings.Replace(stepRollout("20s", "", "      trafficRouting:\n"+tc.routing),
				"            metadata:\n              labels: {role: exp-canary}\n",
				"            weight: 10\n            metadata:\n              labels: {role: exp-canary}\n", 1)
			var extra []string
			if tc.objects != "" {
				extra = append(extra, tc.objects)
			}
			ns, _, _, ex := stepStart(t, c, "exstep-"+tc.name, manifest, extra...)
			ro := waitRollout(t, c, ns, "shop", "experiment weight in the status", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
				w := ro.Status.Canary.Weights
				return w != nil && len(w.Additional) == 1
			})
			w := ro.Status.Canary.Weights
			svc := w.Additional[0].ServiceName
			if w.Additional[0].Weight != 10 || w.Canary.Weight != 50 || w.Stable.Weight != 40 || svc == "" {
				t.Fatalf("status.canary.weights %+v, want canary 50, stable 40 and 10 to the experiment's Service", w)
			}
			if got := tc.shares(t, c, ns); len(got) != 3 || got[svc] != 10 || got["shop-stable"] != 40 || got["shop-canary"] != 50 {
				t.Fatalf("router shares %v, want shop-canary 50, shop-stable 40, %s 10", got, svc)
			}
			waitRollout(t, c, ns, "shop", "past the experiment", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
				return derefOr(ro.Status.CurrentStepIndex, -1) == 2 && ro.Status.Canary.Weights != nil && len(ro.Status.Canary.Weights.Additional) == 0
			})
			if got := tc.shares(t, c, ns); len(got) != 2 || got["shop-stable"] != 50 || got["shop-canary"] != 50 {
				t.Fatalf("router shares %v after the experiment, want canary and stable at 50", got)
			}
			if got := stepExperiment(t, c, ns, ex.Name); got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
				t.Fatalf("Experiment phase %s", got.Status.Phase)
			}
		})
	}
}
