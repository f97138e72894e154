package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// shardsValue is the --shards flag: a count, or auto.
type shardsValue struct {
	n    *int
	auto *bool
}

// String implements pflag.Value.
func (v *shardsValue) String() string {
	if v.auto != nil && *v.auto {
		return "auto"
	}
	if v.n == nil {
		return "1"
	}
	return strconv.Itoa(*v.n)
}

// Set implements pflag.Value.
func (v *shardsValue) Set(s string) error {
	if s == "auto" {
		*v.auto, *v.n = true, 1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a number or auto, got %q", s)
	}
	*v.auto, *v.n = false, n
	return nil
}

// Type implements pflag.Value.
func (v *shardsValue) Type() string { return "count|auto" }

// podName is the controller's own Pod: POD_NAME from the downward API, or
// the hostname, which Kubernetes sets to the Pod's name.
func podName() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	name, _ := os.Hostname()
	return name
}

// autoRecheckInterval is how often --shards auto reads the replica count
// again: two reads per interval, of the Pod's owner and of its workload.
const autoRecheckInterval = 30 * time.Second

// runAutoSharded runs the controller with one shard per replica of its own
// StatefulSet or Deployment, and when that count changes stops and starts
// again in the same process with the new count. Stopping releases the
// Leases, so the replicas, which all see the new count within one
// interval, re-split without waiting for Leases to expire.
func runAutoSharded(ctx context.Context, cfg *rest.Config, opts controller.Options, log logr.Logger) error {
	ns, name := os.Getenv("POD_NAMESPACE"), podName()
	if ns == "" || name == "" {
		return errors.New("--shards auto reads the controller's own StatefulSet or Deployment: run it in a Pod with POD_NAMESPACE set (and POD_NAME, or the hostname, naming the Pod)")
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the client that counts the controller's replicas: %w", err)
	}
	count := func(ctx context.Context) (int, error) {
		r, err := shard.ReplicaCount(ctx, kube, ns, name)
		return shard.AutoCount(r), err
	}
	n, err := count(ctx)
	if err != nil {
		return fmt.Errorf("--shards auto: %w", err)
	}
	return followCount(ctx, n, autoRecheckInterval, count, func(ctx context.Context, n int) error {
		o := opts
		o.Shards = n
		if o.ShardHome >= n {
			o.ShardHome = -1
		}
		log.Info("shard count from the controller's replicas", "shards", n, "pod", ns+"/"+name)
		return runFixed(ctx, cfg, o, log)
	}, log)
}

// followCount runs run with n until ctx ends, reading the count every
// interval; when it changes, run's context is cancelled and run starts
// again with the new count. A failed read keeps the count it has. An error
// of run that is not due to a change ends followCount.
func followCount(ctx context.Context, n int, interval time.Duration, count func(context.Context) (int, error),
	run func(context.Context, int) error, log logr.Logger) error {
	for {
		runCtx, stop := context.WithCancel(ctx)
		changed := make(chan int, 1)
		go func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
				}
				m, err := count(runCtx)
				if err != nil {
					if runCtx.Err() == nil {
						log.Info("reading the controller's replica count failed, keeping the shard count", "shards", n, "error", err.Error())
					}
					continue
				}
				if m != n {
					changed <- m
					stop()
					return
				}
			}
		}()
		err := run(runCtx, n)
		stop()
		if ctx.Err() != nil {
			return err
		}
		select {
		case m := <-changed:
			log.Info("controller replica count changed, splitting again", "shards", m, "was", n)
			n = m
		default:
			if err == nil {
				err = errors.New("the controller stopped on its own")
			}
			return err
		}
	}
}
