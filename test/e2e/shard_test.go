package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// runShardedController starts one replica of a controller split into
// shards, with short Leases so that a fail-over fits in a test.
func runShardedController(t *testing.T, ns string, shards, home int) *controllerProcess {
	t.Helper()
	p := startController(t, fmt.Sprintf("controller-%s-home-%d", ns, home), cluster.KubeconfigPath(),
		"--namespace", ns, "--log-level", "debug",
		"--shards", strconv.Itoa(shards), "--shard-home", strconv.Itoa(home),
		"--leader-election-namespace", ns, "--leader-election-id", "kanaria-shard-e2e",
		"--leader-elect-lease-duration", "6s", "--leader-elect-renew-deadline", "4s", "--leader-elect-retry-period", "1s")
	p.waitServing(t)
	return p
}

// shardRolloutNames picks perShard Rollout names for each of n shards, so
// that the test lands on every shard whatever the namespace is.
func shardRolloutNames(ns string, n, perShard int) map[int][]string {
	out := map[int][]string{}
	for i := 0; len(out) < n || !allFull(out, n, perShard); i++ {
		name := fmt.Sprintf("svc-%d", i)
		k := shard.ShardOf(shard.Bucket(ns, name), n)
		if len(out[k]) < perShard {
			out[k] = append(out[k], name)
		}
	}
	return out
}

func allFull(m map[int][]string, n, per int) bool {
	for k := 0; k < n; k++ {
		if len(m[k]) < per {
			return false
		}
	}
	return true
}

const shardRolloutManifest = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: registry.example/app:1
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {}
      - analysis:
          templates: [{templateName: ok}]
`

// cachedRollouts are the Rollouts a replica's cache holds, as its
// rollout_info metric (read from the cache on each scrape) lists them.
func cachedRollouts(t *testing.T, p *controllerProcess, ns string) ([]string, error) {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/metrics answered %d", code)
	}
	re := regexp.MustCompile(`(?m)^rollout_info\{[^}]*name="([^"]+)"[^}]*namespace="` + regexp.QuoteMeta(ns) + `"`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	return names, nil
}

// cachedCount is how many objects of kind a replica's caches hold, from its
// kanaria_controller_cached_objects metric.
func cachedCount(p *controllerProcess, kind string) (int, error) {
	code, body, err := p.get("/metrics")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("/metrics answered %d", code)
	}
	m := regexp.MustCompile(`(?m)^kanaria_controller_cached_objects\{kind="` + kind + `"\} ([0-9]+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no cached %s count on /metrics", kind)
	}
	return strconv.Atoi(m[1])
}

// waitCached waits until a replica's caches hold want ReplicaSets and Pods.
func waitCached(t *testing.T, p *controllerProcess, what string, wantRS, wantPods int) {
	t.Helper()
	eventually(t, time.Minute, what, func() (bool, error) {
		rs, err := cachedCount(p, "ReplicaSet")
		if err != nil {
			return false, err
		}
		pods, err := cachedCount(p, "Pod")
		if err != nil {
			return false, err
		}
		return rs == wantRS && pods == wantPods, fmt.Errorf("caches %d ReplicaSets and %d Pods, want %d and %d", rs, pods, wantRS, wantPods)
	})
}

// TestShardsSplitRolloutsAndFailOver runs two replicas with --shards 2,
// each homed on one shard, and eight canary Rollouts spread over both. Each
// replica caches only its shard's Rollouts, ReplicaSets and Pods. Mid-release the owner of shard 0
// is killed with SIGKILL: the other replica takes its Lease after it expires
// and finishes every release, with one new ReplicaSet and one AnalysisRun
// per Rollout and the stable Pods kept ready throughout.
func TestShardsSplitRolloutsAndFailOver(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "shard")
	target := newWebTarget(t)
	applyYAML(t, ns, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: ok}
spec:
  metrics:
  - name: check
    successCondition: result.ok == true
    provider: {web: {url: "%s/ok"}}
`, target.URL))

	p0 := runShardedController(t, ns, 2, 0)
	p1 := runShardedController(t, ns, 2, 1)
	names := shardRolloutNames(ns, 2, 4)
	var all []string
	for k := 0; k < 2; k++ {
		all = append(all, names[k]...)
	}
	var manifest []string
	for _, name := range all {
		manifest = append(manifest, fmt.Sprintf(shardRolloutManifest, name))
	}
	manifestPath := filepath.Join(t.TempDir(), "rollouts.yaml")
	if err := os.WriteFile(manifestPath, []byte(strings.Join(manifest, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", manifestPath)

	stable := map[string]string{}
	for _, name := range all {
		ro := waitRollout(t, c, ns, name, "Healthy", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
		stable[name] = ro.Status.StableRS
		if got, want := ro.Labels[shard.LabelBucket], shard.BucketLabel(ns, name); got != want {
			t.Fatalf("rollout %s bucket label %q, want %q", name, got, want)
		}
	}
	// The bucket label is not in the manifest, so a three-way diff (kubectl's,
	// and Argo CD's default, both against last-applied-configuration) finds
	// nothing to change, and a server-side diff (the label belongs to another
	// field manager) leaves it alone: it only rewrites last-applied-configuration
	// for the switch from client-side apply.
	if r := kubectl(t, "diff", "-n", ns, "-f", manifestPath); r.err != nil {
		t.Fatalf("kubectl diff after labelling: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if r := kubectl(t, "diff", "--server-side", "-n", ns, "-f", manifestPath); strings.Contains(r.stdout, shard.LabelBucket) || r.stderr != "" {
		t.Fatalf("kubectl diff --server-side touches the bucket label: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	// Each replica's cache holds its own shard's Rollouts and no other.
	for k, p := range []*controllerProcess{p0, p1} {
		want := append([]string(nil), names[k]...)
		sort.Strings(want)
		eventually(t, time.Minute, fmt.Sprintf("replica %d caching only shard %d", k, k), func() (bool, error) {
			got, err := cachedRollouts(t, p, ns)
			if err != nil {
				return false, err
			}
			return strings.Join(got, ",") == strings.Join(want, ","), fmt.Errorf("caches %v, want %v", got, want)
		})
	}
	assertShardHolders(t, c, ns, map[int]string{0: "home-0", 1: "home-1"}, p0, p1)
	// And only its shard's ReplicaSets and Pods: one ReplicaSet of two Pods
	// for each of its four Rollouts.
	for k, p := range []*controllerProcess{p0, p1} {
		waitCached(t, p, fmt.Sprintf("replica %d caching only shard %d's ReplicaSets and Pods", k, k), 4, 8)
	}

	watches := map[string]*podWatch{}
	for _, name := range all {
		// 2 replicas: a surge of 1 Pod, and none may be unavailable.
		watches[name] = watchPods(t, c, ns, map[string]string{"app": name}, 3, 2)
		setImage(t, ns, name, "registry.example/app:2")
	}
	canary := map[string]string{}
	for _, name := range all {
		ro := waitRollout(t, c, ns, name, "paused at the pause step", 2*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && derefOr(ro.Status.CurrentStepIndex, -1) == 1
		})
		canary[name] = ro.Status.CurrentPodHash
	}
	for _, name := range all {
		promote(t, ns, name)
	}
	// Shard 0's owner dies mid-release, with its Rollouts on their way to
	// the analysis step.
	_ = p0.cmd.Process.Kill()
	<-p0.exited

	for _, name := range all {
		waitRollout(t, c, ns, name, "Healthy on the new version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == canary[name]
		})
	}
	for _, name := range all {
		ro := getRollout(t, c, ns, name)
		if rss := replicaSetsOf(t, c, ns, ro); len(rss) != 2 || rss[stable[name]] == nil || rss[canary[name]] == nil {
			t.Errorf("rollout %s: want the ReplicaSets %s and %s only, have %s", name, stable[name], canary[name], specCounts(rss))
		}
		waitCounts(t, c, ns, name, map[string]int32{canary[name]: 2, stable[name]: 0})
		watches[name].check(t)
		var runs v1alpha1.AnalysisRunList
		if err := c.ctrl.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, r := range runs.Items {
			if ref := metav1.GetControllerOf(&r); ref != nil && ref.UID == ro.UID {
				mine = append(mine, r.Name+"("+string(r.Status.Phase)+")")
				if got, want := r.Labels[shard.LabelBucket], shard.BucketLabel(ns, name); got != want {
					t.Errorf("AnalysisRun %s bucket label %q, want its Rollout's %q", r.Name, got, want)
				}
			}
		}
		if len(mine) != 1 || !strings.HasSuffix(mine[0], "(Successful)") {
			t.Errorf("rollout %s: want one successful AnalysisRun, have %v", name, mine)
		}
	}
	// The survivor now holds both shards and caches every Rollout.
	assertShardHolders(t, c, ns, map[int]string{0: "home-1", 1: "home-1"}, p1)
	sort.Strings(all)
	eventually(t, time.Minute, "the survivor caching every Rollout", func() (bool, error) {
		got, err := cachedRollouts(t, p1, ns)
		if err != nil {
			return false, err
		}
		return strings.Join(got, ",") == strings.Join(all, ","), fmt.Errorf("caches %v", got)
	})

	// Two ReplicaSets per Rollout now (the old one scaled to zero), and the
	// two Pods of the new one.
	waitCached(t, p1, "the survivor caching every ReplicaSet and Pod", 16, 16)

	// The home replica of shard 0 comes back and is handed its shard.
	p0 = runShardedController(t, ns, 2, 0)
	assertShardHolders(t, c, ns, map[int]string{0: "home-0", 1: "home-1"}, p0, p1)
	want0 := append([]string(nil), names[0]...)
	sort.Strings(want0)
	eventually(t, time.Minute, "the returning replica caching shard 0", func() (bool, error) {
		got, err := cachedRollouts(t, p0, ns)
		if err != nil {
			return false, err
		}
		return strings.Join(got, ",") == strings.Join(want0, ","), fmt.Errorf("caches %v, want %v", got, want0)
	})
}

// assertShardHolders waits until each shard's Lease is held by the replica
// whose process name ends in the given suffix, reading each replica's
// identity from its log.
func assertShardHolders(t *testing.T, c clients, ns string, want map[int]string, procs ...*controllerProcess) {
	t.Helper()
	idOf := func(suffix string) string {
		for _, p := range procs {
			if strings.HasSuffix(p.name, suffix) {
				m := regexp.MustCompile(`"identity":\s*"([^"]+)"|identity=(\S+)`).FindStringSubmatch(p.log.String())
				if m != nil {
					return m[1] + m[2]
				}
			}
		}
		return ""
	}
	eventually(t, 2*time.Minute, fmt.Sprintf("shard leases held as %v", want), func() (bool, error) {
		for k, suffix := range want {
			var l coordinationv1.Lease
			if err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("kanaria-shard-e2e-shard-%d", k)}, &l); err != nil {
				return false, err
			}
			id := idOf(suffix)
			if h := derefOr(l.Spec.HolderIdentity, ""); id == "" || h != id {
				return false, fmt.Errorf("shard %d held by %q, want %s (%q)", k, h, suffix, id)
			}
		}
		return true, nil
	})
}

const plainCanaryManifest = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: registry.example/app:1
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {duration: 1s}
`

// TestTurningShardsOnKeepsRunningPods runs two Rollouts under one
// unsharded controller, then replaces it with two replicas of --shards 2.
// The existing ReplicaSets (metadata and Pod template) and Pods get their
// Rollout's bucket label in place: no Pod is replaced, no ReplicaSet is
// added, each replica caches only its own Rollout's ReplicaSet and Pods,
// and a release afterwards finishes with one new ReplicaSet.
func TestTurningShardsOnKeepsRunningPods(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "shardon")
	names := shardRolloutNames(ns, 2, 1)
	all := []string{names[0][0], names[1][0]}
	for _, name := range all {
		applyYAML(t, ns, fmt.Sprintf(plainCanaryManifest, name))
	}
	single := runController(t, ns)
	pods := map[string]string{} // Pod UID -> name
	stable := map[string]string{}
	for _, name := range all {
		ro := waitRollout(t, c, ns, name, "Healthy", 3*time.Minute, phaseIs(v1alpha1.RolloutPhaseHealthy))
		stable[name] = ro.Status.StableRS
		for rsName, rs := range replicaSetsOf(t, c, ns, ro) {
			if _, ok := rs.Labels[shard.LabelBucket]; ok {
				t.Fatalf("unsharded controller labelled ReplicaSet %s with a bucket: %v", rsName, rs.Labels)
			}
		}
	}
	var list corev1.PodList
	if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if _, ok := p.Labels[shard.LabelBucket]; ok {
			t.Fatalf("unsharded controller's Pod %s carries a bucket: %v", p.Name, p.Labels)
		}
		pods[string(p.UID)] = p.Name
	}
	if len(pods) != 4 {
		t.Fatalf("want 4 Pods, have %v", pods)
	}
	_ = single.cmd.Process.Signal(os.Interrupt)
	<-single.exited

	p0 := runShardedController(t, ns, 2, 0)
	p1 := runShardedController(t, ns, 2, 1)
	eventually(t, 2*time.Minute, "existing ReplicaSets and Pods labelled with their Rollout's bucket", func() (bool, error) {
		for _, name := range all {
			want := shard.BucketLabel(ns, name)
			ro := getRollout(t, c, ns, name)
			rss := replicaSetsOf(t, c, ns, ro)
			if len(rss) != 1 || rss[stable[name]] == nil {
				return false, fmt.Errorf("rollout %s has ReplicaSets %s, want only %s", name, specCounts(rss), stable[name])
			}
			rs := rss[stable[name]]
			if rs.Labels[shard.LabelBucket] != want || rs.Spec.Template.Labels[shard.LabelBucket] != want {
				return false, fmt.Errorf("ReplicaSet %s labels %v, template %v, want bucket %s", rs.Name, rs.Labels, rs.Spec.Template.Labels, want)
			}
		}
		var list corev1.PodList
		if err := c.ctrl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, p := range list.Items {
			if pods[string(p.UID)] == "" {
				return false, fmt.Errorf("a new Pod %s appeared after sharding was turned on", p.Name)
			}
			if p.Labels[shard.LabelBucket] != shard.BucketLabel(ns, p.Labels["app"]) {
				return false, fmt.Errorf("Pod %s labels %v", p.Name, p.Labels)
			}
		}
		return len(list.Items) == len(pods), fmt.Errorf("have %d Pods, want the %d from before", len(list.Items), len(pods))
	})
	for k, p := range []*controllerProcess{p0, p1} {
		waitCached(t, p, fmt.Sprintf("replica %d caching only its Rollout's ReplicaSet and Pods", k), 1, 2)
	}
	for _, name := range all {
		setImage(t, ns, name, "registry.example/app:2")
	}
	for _, name := range all {
		ro := waitRollout(t, c, ns, name, "Healthy on the new version", 3*time.Minute, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != stable[name]
		})
		rss := replicaSetsOf(t, c, ns, ro)
		if len(rss) != 2 || rss[stable[name]] == nil {
			t.Errorf("rollout %s: want its old and one new ReplicaSet, have %s", name, specCounts(rss))
		}
		for _, rs := range rss {
			if rs.Labels[shard.LabelBucket] != shard.BucketLabel(ns, name) {
				t.Errorf("ReplicaSet %s labels %v", rs.Name, rs.Labels)
			}
		}
	}
}

// TestShardsAutoFollowsTheStatefulSet runs a controller with --shards auto
// as if it were Pod 0 of a StatefulSet (POD_NAMESPACE and POD_NAME name a
// Pod the StatefulSet made): it takes one shard per replica, and when the
// StatefulSet is scaled it splits again in the same process.
func TestShardsAutoFollowsTheStatefulSet(t *testing.T) {
	ensureCRDs(t)
	c := newClients(t)
	ns := newNamespace(t, c, "shardauto")
	applyYAML(t, ns, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ctl}
spec:
  replicas: 2
  serviceName: ctl
  selector:
    matchLabels: {app: ctl}
  template:
    metadata:
      labels: {app: ctl}
    spec:
      containers:
      - name: ctl
        image: registry.example/ctl:1
`)
	eventually(t, 2*time.Minute, "the StatefulSet's first Pod", func() (bool, error) {
		var p corev1.Pod
		err := c.ctrl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ctl-0"}, &p)
		return err == nil, err
	})
	t.Setenv("POD_NAMESPACE", ns)
	t.Setenv("POD_NAME", "ctl-0")
	p := startController(t, "controller-"+ns+"-auto", cluster.KubeconfigPath(),
		"--namespace", ns, "--shards", "auto",
		"--leader-election-namespace", ns, "--leader-election-id", "kanaria-auto-e2e",
		"--leader-elect-lease-duration", "6s", "--leader-elect-renew-deadline", "4s", "--leader-elect-retry-period", "1s")
	p.waitServing(t)
	held := func(n int) func() (bool, error) {
		want := regexp.MustCompile(`holding shards[^\n]*"shards":\s*\[0[0-9, ]*\][^\n]*"of":\s*` + strconv.Itoa(n) + `\b`)
		return func() (bool, error) {
			return want.MatchString(p.log.String()), fmt.Errorf("no line holding shard 0 of %d in the log", n)
		}
	}
	// Pod 0 homes on shard 0 of 2 (and, the only live replica, holds shard
	// 1 as well).
	eventually(t, 2*time.Minute, "holding shard 0 of 2", held(2))
	mustKubectl(t, "-n", ns, "scale", "statefulset", "ctl", "--replicas", "3")
	// Read again within 30 seconds, then split again without a restart.
	eventually(t, 2*time.Minute, "holding shard 0 of 3", held(3))
	select {
	case <-p.exited:
		t.Fatalf("the controller exited: %v", p.exitErr)
	default:
	}
}
