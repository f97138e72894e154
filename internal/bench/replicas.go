package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// ReplicaOptions describe controller replicas the benchmark runs itself,
// to measure a controller split into shards.
type ReplicaOptions struct {
	// Replicas is how many controller processes to run; 0 runs none and
	// measures the controller the flags point at.
	Replicas int
	// Shards is the --shards of each.
	Shards int
	// Kubeconfig is the file the replicas connect with.
	Kubeconfig string
	// Namespace is the benchmark's namespace, the only one they watch.
	Namespace string
	// LogDir receives each replica's log.
	LogDir string
	// LeaseGroup is the replicas' --leader-election-id, which prefixes
	// their Lease names; empty picks one of this run's own (newLeaseGroup).
	LeaseGroup string
}

// leaseNamespace holds the replicas' Leases.
const leaseNamespace = "kube-system"

// leaseGroupPrefix starts every benchmark's Lease group, apart from any
// real controller's.
const leaseGroupPrefix = "kanaria-bench-"

// newLeaseGroup is a Lease group no other benchmark run uses. Replicas
// elect who holds each shard among the Leases of their group, so two
// sharded benchmarks sharing one group would hold each other's shards and
// wait on each other's Leases. The group is a label value (at most 63
// characters), and the controller forms its Lease names from it as
// <group>-shard-<k> and <group>-member-<identity>.
func newLeaseGroup() (string, error) {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("picking the replicas' Lease group: %w", err)
	}
	return leaseGroupPrefix + hex.EncodeToString(b), nil
}

// Replicas are controller processes of this binary started for a benchmark.
type Replicas struct {
	opts ReplicaOptions
	// kube deletes the run's Leases when the replicas stop.
	kube    kubernetes.Interface
	procs   []*exec.Cmd
	metrics []string
	logs    []string
	// mu guards killed, which the scrapes read while Kill writes it.
	mu sync.Mutex
	// killed are the replicas Kill ended; they are measured no more.
	killed map[int]bool
}

// isKilled says whether Kill ended replica i.
func (r *Replicas) isKilled(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killed[i]
}

// StartReplicas starts the replicas and waits until every shard is held.
func StartReplicas(ctx context.Context, kube kubernetes.Interface, o ReplicaOptions) (*Replicas, error) {
	if o.Kubeconfig == "" {
		return nil, errors.New("--controller-replicas needs a kubeconfig file (--kubeconfig or $KUBECONFIG) for the replicas")
	}
	if err := shard.ValidateCount(o.Shards); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to run the controller replicas: %w", err)
	}
	if o.LeaseGroup == "" {
		if o.LeaseGroup, err = newLeaseGroup(); err != nil {
			return nil, err
		}
	}
	r := &Replicas{opts: o, kube: kube}
	for i := range o.Replicas {
		metricsAddr, err := freeLoopback()
		if err != nil {
			r.Stop()
			return nil, err
		}
		probeAddr, err := freeLoopback()
		if err != nil {
			r.Stop()
			return nil, err
		}
		args := replicaArgs(o, i, metricsAddr, probeAddr)
		logPath := filepath.Join(o.LogDir, fmt.Sprintf("controller-%d.log", i))
		f, err := os.Create(logPath)
		if err != nil {
			r.Stop()
			return nil, fmt.Errorf("creating the log of replica %d: %w", i, err)
		}
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			_ = f.Close()
			r.Stop()
			return nil, fmt.Errorf("starting controller replica %d: %w", i, err)
		}
		_ = f.Close()
		r.procs = append(r.procs, cmd)
		r.metrics = append(r.metrics, "http://"+metricsAddr+"/metrics")
		r.logs = append(r.logs, logPath)
	}
	if err := r.waitHeld(ctx, kube); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// replicaArgs is the command line of replica i.
func replicaArgs(o ReplicaOptions, i int, metricsAddr, probeAddr string) []string {
	args := []string{"controller", "--kubeconfig", o.Kubeconfig, "--namespace", o.Namespace,
		"--shards", strconv.Itoa(o.Shards), "--leader-election-namespace", leaseNamespace,
		"--leader-election-id", o.LeaseGroup, "--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", probeAddr, "--log-format", "json",
		// A benchmark loads the API server on purpose; long Leases keep a
		// slow renewal from moving shards in the middle of a measurement.
		"--leader-elect-lease-duration", "60s", "--leader-elect-renew-deadline", "40s", "--leader-elect-retry-period", "2s"}
	if i < o.Shards {
		args = append(args, "--shard-home", strconv.Itoa(i))
	}
	return args
}

// waitHeld waits until every shard is held and each replica (up to the
// shard count) holds some, so the measurement starts from the steady split.
func (r *Replicas) waitHeld(ctx context.Context, kube kubernetes.Interface) error {
	deadline := time.Now().Add(3 * time.Minute)
	want := min(r.opts.Replicas, r.opts.Shards)
	for {
		held, err := r.holders(ctx, kube)
		holders := map[string]bool{}
		for _, h := range held {
			holders[h] = true
		}
		if err == nil && len(held) == r.opts.Shards && len(holders) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller replicas did not split the %d shards within 3 minutes (held: %v, last error: %v; logs in %s)",
				r.opts.Shards, held, err, r.opts.LogDir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// holders reads who holds each shard; one shard is the leader election
// Lease.
func (r *Replicas) holders(ctx context.Context, kube kubernetes.Interface) (map[int]string, error) {
	if r.opts.Shards > 1 {
		return shard.Holders(ctx, kube, leaseNamespace, r.opts.LeaseGroup)
	}
	l, err := kube.CoordinationV1().Leases(leaseNamespace).Get(ctx, r.opts.LeaseGroup, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the leader election lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return map[int]string{}, nil
	}
	return map[int]string{0: *l.Spec.HolderIdentity}, nil
}

// Stop ends the replicas with SIGTERM, so they hand their Leases back,
// waits for them, and deletes the Leases of the run's group, which no
// later run uses.
func (r *Replicas) Stop() {
	for _, p := range r.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range r.procs {
		_ = p.Wait()
	}
	r.procs = nil
	if r.kube == nil || r.opts.LeaseGroup == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shard.DeleteLeases(ctx, r.kube, leaseNamespace, r.opts.LeaseGroup); err != nil {
		fmt.Fprintf(os.Stderr, "the controller replicas' Leases of group %s stay in %s: %v\n", r.opts.LeaseGroup, leaseNamespace, err)
	}
}

// Scraper scrapes every replica's /metrics as one page: counters of the same
// series add up, so request counts are the controller's as a whole.
func (r *Replicas) Scraper() Scraper {
	hc := &http.Client{Timeout: 30 * time.Second}
	return ScraperFunc(func(ctx context.Context) ([]byte, error) {
		var all bytes.Buffer
		for i, u := range r.metrics {
			if r.isKilled(i) {
				// Its counters died with it; the totals count the others'.
				continue
			}
			b, err := HTTPScraper(u, hc).Scrape(ctx)
			if err != nil {
				return nil, err
			}
			all.Write(b)
			all.WriteByte('\n')
		}
		return all.Bytes(), nil
	})
}

// Process reads the replicas together: CPU and memory are their sums.
func (r *Replicas) Process() ProcReader { return replicaProcs{r: r} }

type replicaProcs struct{ r *Replicas }

func (p replicaProcs) Read() (ProcSample, error) {
	var sum ProcSample
	for i, c := range p.r.procs {
		if p.r.isKilled(i) {
			continue
		}
		s, err := ProcFS{PID: c.Process.Pid}.Read()
		if err != nil {
			return ProcSample{}, err
		}
		sum.CPUSeconds += s.CPUSeconds
		sum.RSSBytes += s.RSSBytes
		sum.HWMBytes += s.HWMBytes
		sum.AnonBytes += s.AnonBytes
	}
	return sum, nil
}

var rolloutInfoLine = regexp.MustCompile(`(?m)^rollout_info\{`)

// heapAllocLine is the Go runtime's allocated heap on a replica's /metrics.
var heapAllocLine = regexp.MustCompile(`(?m)^go_memstats_heap_alloc_bytes ([0-9.e+]+)$`)

// cachedObjectsLine finds a replica's count of cached objects of kind.
func cachedObjectsLine(kind string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^kanaria_controller_cached_objects\{kind="` + kind + `"\} ([0-9]+)$`)
}

// Describe says, per replica, which shards it holds, how many Rollouts its
// cache holds (its rollout_info series) and its memory now.
func (r *Replicas) Describe(ctx context.Context, kube kubernetes.Interface) []string {
	held, _ := r.holders(ctx, kube)
	byHolder := map[string][]int{}
	for k, h := range held {
		byHolder[h] = append(byHolder[h], k)
	}
	var out []string
	for i, c := range r.procs {
		if r.isKilled(i) {
			out = append(out, fmt.Sprintf("replica %d of %d (--shards %d) was killed", i+1, len(r.procs), r.opts.Shards))
			continue
		}
		id := identityFromLog(r.logs[i])
		shards := byHolder[id]
		if r.opts.Shards == 1 && len(r.procs) == 1 && len(held) == 1 {
			// The leader election identity is not logged; alone, it is this one.
			shards = []int{0}
		}
		sort.Ints(shards)
		cached, heap := "unknown", "heap unknown"
		if b, err := HTTPScraper(r.metrics[i], nil).Scrape(ctx); err == nil {
			cached = strconv.Itoa(len(rolloutInfoLine.FindAll(b, -1))) + " Rollouts"
			for _, kind := range []string{"ReplicaSet", "Pod", "Job"} {
				if m := cachedObjectsLine(kind).FindSubmatch(b); m != nil {
					cached += fmt.Sprintf(", %s %ss", m[1], kind)
				}
			}
			if m := heapAllocLine.FindSubmatch(b); m != nil {
				if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
					heap = "Go heap allocated " + iec(v)
				}
			}
		}
		mem := "unknown"
		if s, err := (ProcFS{PID: c.Process.Pid}).Read(); err == nil {
			mem = fmt.Sprintf("RSS %s, RssAnon %s, VmHWM %s", iec(float64(s.RSSBytes)), iec(float64(s.AnonBytes)), iec(float64(s.HWMBytes)))
		}
		out = append(out, fmt.Sprintf("replica %d of %d (--shards %d) holds shards %v, caches %s, %s, %s",
			i+1, len(r.procs), r.opts.Shards, shards, cached, mem, heap))
	}
	return out
}

var identityField = regexp.MustCompile(`"identity":"([^"]+)"`)

// identityFromLog finds the Lease identity a replica logged at its start.
func identityFromLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if m := identityField.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// freeLoopback returns a loopback address with a port free right now.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for a controller replica: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("finding a free port for a controller replica: %w", err)
	}
	return addr, nil
}
