package devcluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotStarted is returned for an operation on the processes of a cluster
// that this process did not start (an attached cluster, say): it cannot
// signal or relaunch them.
var ErrNotStarted = errors.New("the local cluster was not started by this process")

// RestartAPIServer kills kube-apiserver with SIGKILL, waits down, and
// starts it again with the same flags, port, certificates and etcd, and
// returns once it serves /readyz. etcd and the other components keep
// running and reconnect by themselves, so what clients see is an API
// server that vanished mid-request and came back with every object intact:
// the fault that tests of controller resilience need, which stopping the
// whole cluster cannot give.
func (c *Cluster) RestartAPIServer(ctx context.Context, down time.Duration) error {
	return c.restart(ctx, "kube-apiserver", down, func() func(context.Context) (bool, error) {
		return httpCheck(c.state.Server+"/readyz", c.config.BearerToken, "")
	})
}

// RestartComponent kills one of the components that talk to the API
// server (kube-controller-manager, kube-scheduler or kwok) and starts it
// again, returning once it is healthy. After a restart of the API server
// the local controller manager and scheduler have been seen to keep stale
// watches for minutes (ReplicaSet status no longer following its Pods, new
// Pods left unscheduled); restarting them gives them fresh ones.
func (c *Cluster) RestartComponent(ctx context.Context, name string) error {
	var url string
	switch name {
	case "kube-controller-manager":
		url = "https://" + hostPort(c.state.Ports.ControllerManager) + "/healthz"
	case "kube-scheduler":
		url = "https://" + hostPort(c.state.Ports.Scheduler) + "/healthz"
	case "kwok":
		url = "http://" + hostPort(c.state.Ports.Kwok) + "/healthz"
	default:
		return fmt.Errorf("restart %s: not a component that can be restarted alone", name)
	}
	return c.restart(ctx, name, 0, func() func(context.Context) (bool, error) {
		return httpCheck(url, "", "")
	})
}

// restart kills the named component, waits down, starts it again with the
// same command line and waits until check passes.
func (c *Cluster) restart(ctx context.Context, name string, down time.Duration, check func() func(context.Context) (bool, error)) error {
	c.procsMu.Lock()
	defer c.procsMu.Unlock()
	if c.stopped {
		return fmt.Errorf("restart %s: the cluster was stopped", name)
	}
	idx := -1
	for i, p := range c.procs {
		if p.name == name {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("restart %s: %w", name, ErrNotStarted)
	}
	old := c.procs[idx]
	// A zero grace sends SIGKILL right after SIGTERM: the component gets
	// no time to drain, as after a crash.
	if err := old.stop(0); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if down > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(down):
		}
	}
	p := &process{name: old.name, path: old.path, args: old.args, env: old.env, logPath: old.logPath}
	if err := p.start(c.detached, c.processExited); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	c.procs[idx] = p
	for i := range c.state.Processes {
		if c.state.Processes[i].Name == p.name {
			c.state.Processes[i].PID = p.pid()
		}
	}
	// Down and Lookup find the new pid through the state file.
	if err := writeState(c.dir, c.state); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if c.registration != "" {
		if err := writeState(c.registration, c.state); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
	}
	if err := waitFor(ctx, name+" after its restart", p, DefaultStartTimeout, check()); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	return nil
}
