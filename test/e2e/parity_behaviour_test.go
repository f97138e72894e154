package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/devcluster"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/job"
)

// metadataWait bounds how long a metadata change may take to reach running
// Pods on a busy machine; the controller acts on the Rollout's own watch
// event, so in practice it is well under a second.
const metadataWait = 30 * time.Second

// mergePatch sends a JSON merge patch to a Rollout's spec, as kubectl
// patch --type merge (or an Argo CD sync of a changed manifest) does.
func mergePatch(t *testing.T, ns, rollout, patch string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "patch", "rollout", rollout, "--type", "merge", "-p", patch)
}

// podsOfHash lists the live Pods of one pod-template hash.
func podsOfHash(t *testing.T, c clients, ns, hash string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := c.ctrl.List(context.Background(), &pods, client.InNamespace(ns),
		client.MatchingLabels{v1alpha1.DefaultRolloutUniqueLabelKey: hash}); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// metaWant is what a version's Pod template and running Pods must carry:
// labels and annotations with these values, and none of the absent keys.
type metaWant struct {
	labels, annotations map[string]string
	absentLabels        []string
	absentAnnotations   []string
}

func (w metaWant) check(labels, annotations map[string]string) error {
	for k, v := range w.labels {
		if labels[k] != v {
			return fmt.Errorf("label %s=%q, want %q", k, labels[k], v)
		}
	}
	for k, v := range w.annotations {
		if annotations[k] != v {
			return fmt.Errorf("annotation %s=%q, want %q", k, annotations[k], v)
		}
	}
	for _, k := range w.absentLabels {
		if _, ok := labels[k]; ok {
			return fmt.Errorf("label %s still there", k)
		}
	}
	for _, k := range w.absentAnnotations {
		if _, ok := annotations[k]; ok {
			return fmt.Errorf("annotation %s still there", k)
		}
	}
	return nil
}

// waitMetadata waits until the ReplicaSet of hash and every one of its
// running Pods carry want.
func waitMetadata(t *testing.T, c clients, ns, rollout, hash string, replicas int, want metaWant) {
	t.Helper()
	eventually(t, metadataWait, "the metadata of "+hash+" on its ReplicaSet and Pods", func() (bool, error) {
		rs := replicaSetsOf(t, c, ns, getRollout(t, c, ns, rollout))[hash]
		if rs == nil {
			return false, fmt.Errorf("no ReplicaSet %s", hash)
		}
		if err := want.check(rs.Spec.Template.Labels, rs.Spec.Template.Annotations); err != nil {
			return false, fmt.Errorf("ReplicaSet template: %w", err)
		}
		pods := podsOfHash(t, c, ns, hash)
		if len(pods) != replicas {
			return false, fmt.Errorf("%d Pods, want %d", len(pods), replicas)
		}
		for _, p := range pods {
			if err := want.check(p.Labels, p.Annotations); err != nil {
				return false, fmt.Errorf("Pod %s: %w", p.Name, err)
			}
		}
		return true, nil
	})
}

var parityCanary = servicesYAML("web", 0, "web-stable", "web-canary") + `---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: frontend}}
    spec:
      containers: [{name: web, image: registry.example/web:1.0}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      canaryMetadata:
        labels: {role: canary}
      stableMetadata:
        labels: {role: stable, team: checkout}
        annotations: {dashboards.example/board: stable}
      steps:
      - setWeight: 50
      - pause: {}
`

var parityBlueGreen = servicesYAML("api", 0, "api-active", "api-preview") + `---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: registry.example/api:1.0}]
  strategy:
    blueGreen:
      activeService: api-active
      previewService: api-preview
      scaleDownDelaySeconds: 5
      previewMetadata:
        labels: {role: preview}
      activeMetadata:
        labels: {role: active, team: payments}
`

// TestParityEphemeralMetadataReachesPods changes stableMetadata after a
// canary completed and activeMetadata after a blue-green promotion: the
// ReplicaSet's Pod template and its running Pods follow within seconds,
// a key removed with null in a merge patch disappears, and the labels of
// the user's template (the selector's among them) stay.
func TestParityEphemeralMetadataReachesPods(t *testing.T) {
	ensureCRDs(t)
	t.Run("canary stableMetadata after completion", func(t *testing.T) {
		c, ns, _ := controlledNamespace(t, "pb-meta-canary")
		applyYAML(t, ns, parityCanary)
		ro := waitRollout(t, c, ns, "web", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
		v1 := ro.Status.StableRS
		waitMetadata(t, c, ns, "web", v1, 2, metaWant{labels: map[string]string{"role": "stable", "team": "checkout", "app": "web"}})

		setImage(t, ns, "web", "registry.example/web:2.0")
		ro = waitRollout(t, c, ns, "web", "paused at 50%", 2*time.Minute, phaseIs(v1alpha1.RolloutPhasePaused))
		v2 := ro.Status.CurrentPodHash
		waitMetadata(t, c, ns, "web", v2, 1, metaWant{labels: map[string]string{"role": "canary", "tier": "frontend"}, absentLabels: []string{"team"}})
		promote(t, ns, "web")
		waitRollout(t, c, ns, "web", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v2
		})
		waitMetadata(t, c, ns, "web", v2, 2, metaWant{
			labels:      map[string]string{"role": "stable", "team": "checkout", "app": "web"},
			annotations: map[string]string{"dashboards.example/board": "stable"},
		})

		mergePatch(t, ns, "web", `{"spec":{"strategy":{"canary":{"stableMetadata":{
			"labels":{"team":null,"role":"production","owner":"ops"},
			"annotations":{"dashboards.example/board":null,"pager.example/policy":"day"}}}}}}`)
		waitMetadata(t, c, ns, "web", v2, 2, metaWant{
			labels:            map[string]string{"role": "production", "owner": "ops", "app": "web", "tier": "frontend"},
			annotations:       map[string]string{"pager.example/policy": "day"},
			absentLabels:      []string{"team"},
			absentAnnotations: []string{"dashboards.example/board"},
		})
		rs := replicaSetsOf(t, c, ns, getRollout(t, c, ns, "web"))[v2]
		var rec v1alpha1.PodTemplateMetadata
		if err := json.Unmarshal([]byte(rs.Annotations["rollout.argoproj.io/ephemeral-metadata"]), &rec); err != nil {
			t.Fatalf("the ReplicaSet's ephemeral-metadata record %q: %v", rs.Annotations["rollout.argoproj.io/ephemeral-metadata"], err)
		}
		if rec.Labels["role"] != "production" || rec.Labels["team"] != "" || rec.Annotations["pager.example/policy"] != "day" {
			t.Errorf("record %+v does not name the new stableMetadata", rec)
		}
		// The Pods were updated in place, not replaced.
		if got := getRollout(t, c, ns, "web"); got.Status.StableRS != v2 || got.Status.Phase != v1alpha1.RolloutPhaseHealthy {
			t.Errorf("after the metadata change: stable %s phase %s", got.Status.StableRS, got.Status.Phase)
		}
	})

	t.Run("blue-green activeMetadata after promotion", func(t *testing.T) {
		c, ns, _ := controlledNamespace(t, "pb-meta-bg")
		applyYAML(t, ns, parityBlueGreen)
		ro := waitRollout(t, c, ns, "api", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
		v1 := ro.Status.StableRS
		waitMetadata(t, c, ns, "api", v1, 2, metaWant{labels: map[string]string{"role": "active", "team": "payments"}})

		setImage(t, ns, "api", "registry.example/api:2.0")
		ro = waitRollout(t, c, ns, "api", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash && ro.Status.StableRS != v1
		})
		v2 := ro.Status.StableRS
		waitMetadata(t, c, ns, "api", v2, 2, metaWant{labels: map[string]string{"role": "active", "team": "payments"}})

		mergePatch(t, ns, "api", `{"spec":{"strategy":{"blueGreen":{"activeMetadata":{"labels":{"team":null,"role":"live"}}}}}}`)
		waitMetadata(t, c, ns, "api", v2, 2, metaWant{labels: map[string]string{"role": "live", "app": "api"}, absentLabels: []string{"team"}})
		if got := serviceHash(t, c, ns, "api-active"); got != v2 {
			t.Errorf("api-active selects %s after the metadata change, want %s", got, v2)
		}
	})
}

// parityAbortRollout is a 4-replica canary that pauses at 50%; the first
// %s is its trafficRouting block (empty without a router), the second the
// step after the weight. abortScaleDownDelaySeconds is long so a canary
// Service that waits for the canary's scale-down would be seen.
const parityAbortRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0, ports: [{containerPort: 8080}]}]
  strategy:
    canary:
      canaryService: shop-canary
      stableService: shop-stable
      abortScaleDownDelaySeconds: 60
%s
      steps:
      - setWeight: 50
%s
`

// failingTest is an AnalysisTemplate whose test Job fails on the local
// cluster.
const failingTest = `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              labels: {` + devcluster.SimulateLabel + `: ` + devcluster.SimulateFail + `}
            spec:
              restartPolicy: Never
              containers:
              - {name: smoke, image: registry.example/smoke:1}
`

// resourceVersionOf reads an object's resourceVersion as a number. The local
// cluster has one etcd, whose revision every resourceVersion is, so numbers
// of different objects order their writes.
func resourceVersionOf(t *testing.T, rv string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(rv, &n); err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}

// TestParityAbortMovesCanaryServiceFirst aborts a canary, without a router
// and behind an ALB Ingress, by a person while it is paused and by a failed
// step analysis: the write that points the canary Service at the stable
// version comes before the first status write that reads Degraded, the
// stable version has available Pods, and the stable Service never left it.
func TestParityAbortMovesCanaryServiceFirst(t *testing.T) {
	ensureCRDs(t)
	var alb routerCase
	for _, rc := range routerCases() {
		if rc.name == "alb" {
			alb = rc
		}
	}
	const pauseStep = "      - pause: {}"
	const analysisStep = "      - analysis: {templates: [{templateName: smoke}]}"
	cases := []struct {
		name, objects, routing, step string
		// byPerson aborts at the pause; otherwise the analysis fails.
		byPerson bool
	}{
		{name: "no router aborted by a person", step: pauseStep, byPerson: true},
		{name: "alb aborted by a person", objects: alb.objects, routing: "      trafficRouting:\n" + alb.routing, step: pauseStep, byPerson: true},
		{name: "no router failed step analysis", objects: failingTest, step: analysisStep},
		{name: "alb failed step analysis", objects: alb.objects + "\n---\n" + failingTest, routing: "      trafficRouting:\n" + alb.routing, step: analysisStep},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ns, _ := controlledNamespace(t, "pb-abort")
			objects := shopServices
			if tc.objects != "" {
				objects += "\n---\n" + tc.objects
			}
			applyYAML(t, ns, objects)
			applyYAML(t, ns, fmt.Sprintf(parityAbortRollout, tc.routing, tc.step))
			ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
			v1 := ro.Status.StableRS

			// Watch the canary Service and the Rollout from now on, so every
			// write to them is seen in order.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			svc, err := c.kube.CoreV1().Services(ns).Get(ctx, "shop-canary", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			svcWatch, err := c.kube.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{
				FieldSelector: "metadata.name=shop-canary", ResourceVersion: svc.ResourceVersion,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer svcWatch.Stop()
			roWatch, err := c.dynamic.Resource(v1alpha1.GroupVersion.WithResource("rollouts")).Namespace(ns).Watch(ctx, metav1.ListOptions{
				FieldSelector: "metadata.name=shop", ResourceVersion: ro.ResourceVersion,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer roWatch.Stop()

			setImage(t, ns, "shop", "registry.example/shop:2.0")
			if tc.byPerson {
				ro = waitRollout(t, c, ns, "shop", "paused at 50%", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
					return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
				})
				eventually(t, time.Minute, "shop-canary to select the canary", func() (bool, error) {
					h := serviceHash(t, c, ns, "shop-canary")
					return h == ro.Status.CurrentPodHash, fmt.Errorf("shop-canary selects %q", h)
				})
				abort(t, ns, "shop")
			}

			// The first Rollout write that reads Degraded.
			var degradedRV int64
			var degraded v1alpha1.Rollout
			for degradedRV == 0 {
				seen := nextRollout(t, roWatch, "the Rollout read Degraded")
				if seen.Status.Phase == v1alpha1.RolloutPhaseDegraded {
					degradedRV, degraded = resourceVersionOf(t, seen.ResourceVersion), seen
				}
			}
			v2 := degraded.Status.CurrentPodHash
			if !tc.byPerson && !strings.Contains(degraded.Status.Message, "AnalysisRun") {
				t.Errorf("Degraded with message %q, want it to name the failed AnalysisRun", degraded.Status.Message)
			}
			// The canary Service's writes up to that moment: it must have
			// selected the canary and then gone back to the stable.
			var backAt int64
			var history []string
			for backAt == 0 {
				select {
				case ev, ok := <-svcWatch.ResultChan():
					if !ok {
						t.Fatalf("the canary Service's watch ended; selectors seen %v", history)
					}
					s, isSvc := ev.Object.(*corev1.Service)
					if !isSvc {
						t.Fatalf("watch event %v", ev.Object)
					}
					h := s.Spec.Selector[v1alpha1.DefaultRolloutUniqueLabelKey]
					history = append(history, h)
					if h == v1 && len(history) > 1 && history[len(history)-2] == v2 {
						backAt = resourceVersionOf(t, s.ResourceVersion)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("shop-canary never went back to the stable %s; selectors seen %v", v1, history)
				}
			}
			if backAt > degradedRV {
				t.Fatalf("the Rollout read Degraded (resourceVersion %d) before shop-canary went back to the stable %s (%d)", degradedRV, v1, backAt)
			}
			if got := serviceHash(t, c, ns, "shop-stable"); got != v1 {
				t.Errorf("shop-stable selects %s, want the stable %s", got, v1)
			}
			if rs := replicaSetsOf(t, c, ns, getRollout(t, c, ns, "shop"))[v1]; rs == nil || rs.Status.AvailableReplicas == 0 {
				t.Fatalf("the Services select %s, which has no available Pods", v1)
			}
		})
	}
}

// parityDelayRollout is a 2-replica canary behind SMI without steps: each
// new template goes straight to 100% and becomes stable; the replaced
// version waits 10 minutes, and at most one waits at a time.
const parityDelayRollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: registry.example/shop:1.0, ports: [{containerPort: 8080}]}]
  strategy:
    canary:
      canaryService: shop-canary
      stableService: shop-stable
      scaleDownDelaySeconds: 600
      scaleDownDelayRevisionLimit: 1
      trafficRouting:
        smi: {rootService: shop-root, trafficSplitName: shop-split}
`

// TestParityScaleDownDeadlinesFollowTheReplicaSet releases three revisions
// and goes back to the second: a ReplicaSet scaled to 0 keeps no
// scale-down-deadline, the one that becomes stable again carries none, and
// only the version just replaced does.
func TestParityScaleDownDeadlinesFollowTheReplicaSet(t *testing.T) {
	ensureRouterCRDs(t)
	c, ns, _ := controlledNamespace(t, "pb-deadline")
	applyYAML(t, ns, shopServices)
	applyYAML(t, ns, parityDelayRollout)
	ro := waitRollout(t, c, ns, "shop", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	v1 := ro.Status.StableRS
	key := v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey

	release := func(image, old string) string {
		t.Helper()
		setImage(t, ns, "shop", image)
		ro := waitRollout(t, c, ns, "shop", "Healthy on "+image, 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash && ro.Status.StableRS != old
		})
		return ro.Status.StableRS
	}
	// deadlines waits until exactly the hashes in want carry a deadline and
	// the ReplicaSets have the given sizes.
	deadlines := func(what string, sizes map[string]int32, want ...string) {
		t.Helper()
		sort.Strings(want)
		eventually(t, time.Minute, what, func() (bool, error) {
			rss := replicaSetsOf(t, c, ns, getRollout(t, c, ns, "shop"))
			var have []string
			for h, rs := range rss {
				if _, ok := rs.Annotations[key]; ok {
					have = append(have, h)
				}
			}
			sort.Strings(have)
			for h, n := range sizes {
				if rs := rss[h]; rs == nil || derefOr(rs.Spec.Replicas, 0) != n {
					return false, fmt.Errorf("sizes %s, want %v; deadlines on %v", specCounts(rss), sizes, have)
				}
			}
			if strings.Join(have, ",") != strings.Join(want, ",") {
				return false, fmt.Errorf("deadlines on %v, want on %v (sizes %s)", have, want, specCounts(rss))
			}
			return true, nil
		})
	}

	v2 := release("registry.example/shop:2.0", v1)
	deadlines("revision 1 waiting after revision 2", map[string]int32{v2: 2, v1: 2}, v1)
	v3 := release("registry.example/shop:3.0", v2)
	deadlines("revision 1 at 0 without a deadline, revision 2 waiting", map[string]int32{v3: 2, v2: 2, v1: 0}, v2)
	back := release("registry.example/shop:2.0", v3)
	if back != v2 {
		t.Fatalf("going back to the second template made %s stable, want its ReplicaSet %s", back, v2)
	}
	deadlines("only revision 3, just replaced, waiting", map[string]int32{v2: 2, v3: 2, v1: 0}, v3)
	rs := replicaSetsOf(t, c, ns, getRollout(t, c, ns, "shop"))[v3]
	at, err := time.Parse(time.RFC3339, rs.Annotations[key])
	if err != nil || at.Before(time.Now().Add(5*time.Minute)) {
		t.Errorf("revision 3's deadline %q, want about 10 minutes ahead (%v)", rs.Annotations[key], err)
	}
}

// parityJobAnalysis is a canary with a background analysis whose test Job
// runs far longer than the release (it never ends on the local cluster).
const parityJobAnalysis = `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: soak}
spec:
  metrics:
  - name: soak-test
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              labels: {` + devcluster.SimulateLabel + `: ` + devcluster.SimulateRunForever + `}
            spec:
              restartPolicy: Never
              containers:
              - {name: soak, image: registry.example/soak:1, command: [sleep, "86400"]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example/web:1.0}]
  strategy:
    canary:
      analysis:
        templates: [{templateName: soak}]
      steps:
      - setWeight: 50
      - pause: {}
`

// TestParityBackgroundJobAnalysisOnCompletion promotes a canary to the end
// while its background analysis's Job still runs: the run is terminated,
// its Job deleted, and the metric and the run end Inconclusive, since the
// test never finished; the release itself is Healthy.
func TestParityBackgroundJobAnalysisOnCompletion(t *testing.T) {
	c, ns, _ := controlledNamespace(t, "pb-bgjob")
	applyYAML(t, ns, parityJobAnalysis)
	waitRollout(t, c, ns, "web", "Healthy", 2*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
	setImage(t, ns, "web", "registry.example/web:2.0")
	ro := waitRollout(t, c, ns, "web", "paused at 50% with a background run", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.Canary.CurrentBackgroundAnalysisRunStatus != nil
	})
	runName := ro.Status.Canary.CurrentBackgroundAnalysisRunStatus.Name

	// The run's Job is running, and stays so.
	var jobName string
	eventually(t, time.Minute, "the soak Job's Pod to run", func() (bool, error) {
		var run v1alpha1.AnalysisRun
		if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: runName}, &run); err != nil {
			return false, err
		}
		if len(run.Status.MetricResults) == 0 || len(run.Status.MetricResults[0].Measurements) == 0 {
			return false, fmt.Errorf("run %s has no measurement yet (phase %q)", runName, run.Status.Phase)
		}
		jobName = run.Status.MetricResults[0].Measurements[0].Metadata[job.MetadataJobName]
		pods, err := c.kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + jobName})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning, fmt.Errorf("Job %s has %d Pods", jobName, len(pods.Items))
	})
	holdFor(t, 3*time.Second, "the soak Job keeps running", func() error {
		j, err := c.kube.BatchV1().Jobs(ns).Get(context.Background(), jobName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if f := jobFinished(j); f != "" {
			return fmt.Errorf("the Job labelled %s=%s finished (%s): the local cluster predates that simulation; restart it",
				devcluster.SimulateLabel, devcluster.SimulateRunForever, f)
		}
		return nil
	})

	promote(t, ns, "web")
	waitRollout(t, c, ns, "web", "Healthy on the new version", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	run := waitRun(t, c, ns, runName, time.Minute)
	if !run.Spec.Terminate {
		t.Errorf("run %s ended %s without being terminated", runName, run.Status.Phase)
	}
	if run.Status.Phase != v1alpha1.AnalysisPhaseInconclusive {
		t.Fatalf("run %s = %s (%s), want Inconclusive: its Job never finished", runName, run.Status.Phase, run.Status.Message)
	}
	m := run.Status.MetricResults[0]
	if m.Phase != v1alpha1.AnalysisPhaseInconclusive || m.Successful != 0 {
		t.Errorf("metric %s = %s (successful %d), want Inconclusive", m.Name, m.Phase, m.Successful)
	}
	if last := m.Measurements[len(m.Measurements)-1]; last.Phase != v1alpha1.AnalysisPhaseInconclusive || last.FinishedAt == nil {
		t.Errorf("last measurement %+v, want Inconclusive and finished", last)
	}
	eventually(t, time.Minute, "the soak Job to be deleted", func() (bool, error) {
		j, err := c.kube.BatchV1().Jobs(ns).Get(context.Background(), jobName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, fmt.Errorf("Job %s still there (deleting: %v)", j.Name, j.DeletionTimestamp != nil)
	})
}
