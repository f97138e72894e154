package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// pollTimeout is generous on purpose: tests assert on outcomes, never on
// speed, and a 2-core machine may run several test packages at once.
const pollTimeout = 2 * time.Minute

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// testNamespace creates a namespace for one test and deletes it afterwards.
func testNamespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "devcluster-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// eventually polls cond until it holds, failing the test with cond's last
// explanation when the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		ok, why := cond(ctx)
		if ok {
			return
		}
		last = why
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s; last observation: %s", what, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describePods(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		parts = append(parts, fmt.Sprintf("%s phase=%s ready=%t node=%q", p.Name, p.Status.Phase, podReady(&p), p.Spec.NodeName))
	}
	return strings.Join(parts, "; ")
}

func container(image string) []corev1.Container {
	return []corev1.Container{{Name: "app", Image: image}}
}

func TestDeploymentPodsBecomeReadyOnFakeNodes(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()

	labels := map[string]string{"app": "web"}
	replicas := int32(3)
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: container("registry.example/web:v1")},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fake := map[string]bool{}
	for _, n := range nodes.Items {
		if n.Annotations[kwokNodeAnnotation] == "fake" && n.Labels[NodeLabelType] == NodeLabelTypeValue {
			fake[n.Name] = true
		}
	}
	if len(fake) != DefaultNodes {
		t.Fatalf("want %d fake nodes, got %v", DefaultNodes, fake)
	}

	eventually(t, pollTimeout, "3 ready Pods on fake nodes", func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) && fake[p.Spec.NodeName] && p.Status.PodIP != "" {
				ready++
			}
		}
		return ready == 3 && len(pods.Items) == 3, describePods(pods.Items)
	})
	eventually(t, pollTimeout, "the Deployment to report 3 available replicas", func(ctx context.Context) (bool, string) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.AvailableReplicas == 3, fmt.Sprintf("status %+v", d.Status)
	})
}

func newJob(name string, podLabels map[string]string) *batchv1.Job {
	backoff := int32(0)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    container("registry.example/migrate:v1"),
				},
			},
		},
	}
}

func jobCondition(job *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// waitJobPod waits for the single Pod of a Job to reach phase.
func waitJobPod(t *testing.T, cs kubernetes.Interface, ns, job string, phase corev1.PodPhase) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, pollTimeout, "the Job's Pod to be "+string(phase), func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err != nil {
			return false, err.Error()
		}
		if len(pods.Items) != 1 {
			return false, describePods(pods.Items)
		}
		pod = pods.Items[0]
		return pod.Status.Phase == phase, describePods(pods.Items)
	})
	return pod
}

func TestJobCompletes(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, newJob("ok", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, pollTimeout, "Job condition Complete", func(ctx context.Context) (bool, string) {
		job, err := cs.BatchV1().Jobs(ns).Get(ctx, "ok", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return jobCondition(job, batchv1.JobComplete), fmt.Sprintf("status %+v", job.Status)
	})
	pod := waitJobPod(t, cs, ns, "ok", corev1.PodSucceeded)
	for _, st := range pod.Status.ContainerStatuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			t.Errorf("container %s: want terminated with exit code 0, got %+v", st.Name, st.State)
		}
	}
}

func TestJobWithFailLabelFails(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()
	job := newJob("bad", map[string]string{SimulateLabel: SimulateFail})
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, pollTimeout, "Job condition Failed", func(ctx context.Context) (bool, string) {
		job, err := cs.BatchV1().Jobs(ns).Get(ctx, "bad", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if jobCondition(job, batchv1.JobComplete) {
			t.Fatalf("the Job completed although its Pods are labelled to fail: %+v", job.Status)
		}
		return jobCondition(job, batchv1.JobFailed), fmt.Sprintf("status %+v", job.Status)
	})
	pod := waitJobPod(t, cs, ns, "bad", corev1.PodFailed)
	for _, st := range pod.Status.ContainerStatuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode == 0 {
			t.Errorf("container %s: want terminated with a non-zero exit code, got %+v", st.Name, st.State)
		}
	}
}

func TestJobWithRunForeverLabelKeepsRunning(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()
	job := newJob("hang", map[string]string{SimulateLabel: SimulateRunForever})
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitJobPod(t, cs, ns, "hang", corev1.PodRunning)
	if !podReady(&pod) {
		t.Errorf("the Pod of a run-forever Job runs but is not ready: %s", describePods([]corev1.Pod{pod}))
	}
	// Other Job Pods end a second after they start; this one must not.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "hang", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if jobCondition(j, batchv1.JobComplete) || jobCondition(j, batchv1.JobFailed) {
			t.Fatalf("the run-forever Job finished: %+v", j.Status)
		}
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Fatalf("the run-forever Pod left Running: %s", describePods([]corev1.Pod{*p}))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestNeverReadyPods(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()

	pods := []*corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "by-image"},
			Spec:       corev1.PodSpec{Containers: container("registry.example/app:" + NeverReadyImageMarker)},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "by-label", Labels: map[string]string{SimulateLabel: SimulateNeverReady}},
			Spec:       corev1.PodSpec{Containers: container("registry.example/app:v1")},
		},
	}
	for _, pod := range pods {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	notReady := func(ctx context.Context, name string) (bool, string) {
		pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		desc := describePods([]corev1.Pod{*pod})
		if pod.Status.Phase != corev1.PodRunning || podReady(pod) {
			return false, desc
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
				return false, desc
			}
		}
		if len(pod.Status.ContainerStatuses) == 0 {
			return false, desc + " (no container statuses)"
		}
		for _, st := range pod.Status.ContainerStatuses {
			if st.Ready || st.State.Running == nil {
				return false, fmt.Sprintf("%s container %s: %+v", desc, st.Name, st)
			}
		}
		return true, desc
	}
	for _, pod := range pods {
		eventually(t, pollTimeout, pod.Name+" Running and not ready", func(ctx context.Context) (bool, string) {
			return notReady(ctx, pod.Name)
		})
	}
	// They must stay that way, not just start that way.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		for _, pod := range pods {
			if ok, why := notReady(ctx, pod.Name); !ok {
				t.Fatalf("%s changed: %s", pod.Name, why)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestPodDeletion(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "short-lived"},
		Spec:       corev1.PodSpec{Containers: container("registry.example/app:v1")},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, pollTimeout, "the Pod to run", func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return podReady(p), describePods([]corev1.Pod{*p})
	})
	if err := cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, pollTimeout, "the Pod to be gone", func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("still there, deletionTimestamp=%v finalizers=%v", p.DeletionTimestamp, p.Finalizers)
	})
}

func TestRBACIsEnforced(t *testing.T) {
	needCluster(t)
	cfg := cluster.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "someone-without-roles"}
	_, err := clientFor(t, cfg).CoreV1().Pods(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want Forbidden for a user without roles, got %v", err)
	}
}

// assertGone checks that none of the recorded processes still runs.
func assertGone(t *testing.T, procs []ProcessState) {
	t.Helper()
	if len(procs) != 5 {
		t.Errorf("want 5 recorded processes, got %+v", procs)
	}
	for _, p := range procs {
		if processAlive(p.PID) && !isZombie(p.PID) {
			t.Errorf("%s (pid %d) is still running", p.Name, p.PID)
		}
	}
}

func TestSecondClusterBesideTheFirst(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	second, err := Start(ctx, Options{Name: "second", Nodes: 1, Binaries: cluster.Binaries(), Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = second.Stop()
		}
	})

	if second.RESTConfig().Host == cluster.RESTConfig().Host {
		t.Fatalf("both clusters serve at %s", second.RESTConfig().Host)
	}
	nodes, err := clientFor(t, second.RESTConfig()).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 || !nodeReady(&nodes.Items[0]) {
		t.Fatalf("want one ready node in the second cluster, got %d", len(nodes.Items))
	}
	if _, err := clientFor(t, cluster.RESTConfig()).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("the first cluster stopped serving: %v", err)
	}

	procs := second.State().Processes
	dir := second.Dir()
	stopped = true
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, procs)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary data directory %s is still there: %v", dir, err)
	}
}

func TestDetachedClusterIsFoundAndStoppedByName(t *testing.T) {
	needCluster(t)
	t.Setenv(EnvCacheDir, t.TempDir())
	for _, tc := range []struct {
		name    string
		dataDir string
	}{
		{name: "detached-named"},
		// Data elsewhere: found through the registration under the name,
		// and kept by Down.
		{name: "detached-own-dir", dataDir: t.TempDir()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testDetached(t, tc.name, tc.dataDir)
		})
	}
}

func testDetached(t *testing.T, name, dataDir string) {
	ctx := context.Background()
	if _, err := Lookup(name); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("before start: want ErrNotRunning, got %v", err)
	}

	opts := Options{Name: name, Dir: dataDir, Nodes: 1, Detached: true, Binaries: cluster.Binaries(), Log: testLog{t}}
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			_ = Down(ctx, name)
		}
	})
	namedDir, err := NamedDir(name)
	if err != nil {
		t.Fatal(err)
	}
	wantDir := dataDir
	if wantDir == "" {
		wantDir = namedDir
	}
	if c.Dir() != wantDir {
		t.Errorf("detached data in %s, want %s", c.Dir(), wantDir)
	}

	if _, err := Start(ctx, Options{Name: name, Nodes: 1, Detached: true, Binaries: cluster.Binaries()}); err == nil ||
		!strings.Contains(err.Error(), "already running") {
		t.Errorf("a second start under the same name: want an 'already running' error, got %v", err)
	}

	st, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kubeconfig != filepath.Join(wantDir, kubeconfigFile) {
		t.Errorf("kubeconfig %s, want it in %s", st.Kubeconfig, wantDir)
	}
	cfg, err := restConfigFromKubeconfig(st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The kubeconfig must verify the serving certificate, not skip it.
	if cfg.Insecure || len(cfg.CAData) == 0 {
		t.Errorf("kubeconfig does not carry the CA: insecure=%t", cfg.Insecure)
	}
	if _, err := clientFor(t, cfg).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("the detached cluster does not serve through its kubeconfig: %v", err)
	}

	downed = true
	if err := Down(ctx, name); err != nil {
		t.Fatal(err)
	}
	assertGone(t, st.Processes)
	if _, err := os.Stat(namedDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s is still there: %v", namedDir, err)
	}
	if dataDir != "" {
		if _, err := os.Stat(filepath.Join(dataDir, logsDir)); err != nil {
			t.Errorf("the data directory given in Options.Dir lost its logs: %v", err)
		}
	}
	if _, err := Lookup(name); !errors.Is(err, ErrNotRunning) {
		t.Errorf("after down: want ErrNotRunning, got %v", err)
	}
	if err := Down(ctx, name); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second down: want ErrNotRunning, got %v", err)
	}
}

func TestFailedStartReportsTheComponentLog(t *testing.T) {
	needCluster(t)
	bins := *cluster.Binaries()
	if bins.Etcd == "" {
		t.Skip("needs the binaries of a started cluster")
	}
	broken := filepath.Join(t.TempDir(), "kwok")
	script := "#!/bin/sh\necho 'simulated kwok crash' >&2\nexit 3\n"
	if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bins.Kwok = broken

	_, err := Start(context.Background(), Options{Name: "broken", Nodes: 1, Binaries: &bins, StartTimeout: time.Minute})
	if err == nil {
		t.Fatal("start succeeded with a kwok that exits at once")
	}
	for _, want := range []string{"kwok exited unexpectedly", "simulated kwok crash", "logs kept in"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Log(err)
	// Nothing of the failed start may keep running: every component has
	// the data directory on its command line.
	msg := err.Error()
	logDir := strings.TrimSuffix(strings.TrimSpace(msg[strings.LastIndex(msg, "logs kept in ")+len("logs kept in "):]), ")")
	dataDir := filepath.Dir(logDir)
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	if pids := pidsMentioning(t, dataDir); len(pids) > 0 {
		t.Errorf("processes of the failed start still run: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(dataDir, etcdDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etcd data of the failed start is still there: %v", err)
	}
}

// pidsMentioning lists live processes whose command line mentions s.
func pidsMentioning(t *testing.T, s string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to list processes")
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) && !isZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestStaysHealthyPastNodeMonitorGracePeriod guards the node leases: without
// them the node lifecycle controller declares every node unreachable once
// its grace period (50 s) passes and Pods turn NotReady for good. It waits
// until the cluster is old enough, so it runs last and costs little after
// the other tests.
func TestStaysHealthyPastNodeMonitorGracePeriod(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "long-lived"},
		Spec:       corev1.PodSpec{Containers: container("registry.example/app:v1")},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, pollTimeout, "the Pod to become ready", func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return podReady(p), describePods([]corev1.Pod{*p})
	})

	since := cluster.State().StartedAt
	if since.IsZero() {
		since = time.Now()
	}
	const age = 90 * time.Second
	if wait := time.Until(since.Add(age)); wait > 0 {
		t.Logf("waiting %s until the cluster is %s old", wait.Round(time.Second), age)
		time.Sleep(wait)
	}

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: NodeLabelType + "=" + NodeLabelTypeValue})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if !nodeReady(&n) || len(n.Spec.Taints) > 0 {
			t.Errorf("node %s: ready=%t taints=%v", n.Name, nodeReady(&n), n.Spec.Taints)
		}
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !podReady(p) || p.DeletionTimestamp != nil {
		t.Errorf("the Pod did not stay ready: %s deleting=%v", describePods([]corev1.Pod{*p}), p.DeletionTimestamp)
	}
}

// testLog sends cluster progress to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
