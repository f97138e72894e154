package devcluster

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRestartAPIServerKeepsObjects restarts kube-apiserver, then
// kube-controller-manager and kube-scheduler, under a running cluster: objects written before
// survive, writes work again afterwards, the state file names the new
// process, the cluster is not reported broken, and its nodes stay Ready.
func TestRestartAPIServerKeepsObjects(t *testing.T) {
	needCluster(t)
	cs := clientFor(t, cluster.RESTConfig())
	ns := testNamespace(t, cs)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before", Namespace: ns}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pidBefore := apiserverPID(t)

	if err := cluster.RestartAPIServer(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "before", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Fatalf("ConfigMap after the restart: %v %v", got, err)
	}
	after := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: ns}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, after, metav1.CreateOptions{}); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	if pid := apiserverPID(t); pid == pidBefore || pid == 0 {
		t.Fatalf("state file names pid %d for kube-apiserver, before the restart %d", pid, pidBefore)
	}
	select {
	case <-cluster.Done():
		t.Fatalf("the cluster counts the restart as a component failure: %v", cluster.Err())
	default:
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		if err := cluster.RestartComponent(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.RestartComponent(ctx, "etcd"); err == nil {
		t.Fatal("etcd restarted alone: its data directory would be shared by two processes")
	}
	eventually(t, pollTimeout, "nodes Ready after the restart", func(ctx context.Context) (bool, string) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, n := range nodes.Items {
			if !nodeReady(&n) {
				return false, n.Name + " not Ready"
			}
		}
		return len(nodes.Items) > 0, "no nodes"
	})
}

// TestRestartAPIServerOfAttachedCluster refuses: an attached cluster's
// processes belong to someone else.
func TestRestartAPIServerOfAttachedCluster(t *testing.T) {
	c := &Cluster{}
	if err := c.RestartAPIServer(context.Background(), 0); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("got %v, want ErrNotStarted", err)
	}
}

func apiserverPID(t *testing.T) int {
	t.Helper()
	st, err := readState(cluster.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		if p.Name == "kube-apiserver" {
			return p.PID
		}
	}
	return 0
}
