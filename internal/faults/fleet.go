package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Leader election timings of the pair mode: short, so a killed leader's
// successor takes over within seconds, and long enough that a loaded
// machine's renewals still make it.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
	leaseName     = "kanaria-faults"
)

// controllerProc is one running `kanaria controller`.
type controllerProc struct {
	id      int
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	// killed marks a process the suite ended on purpose, so the
	// supervisor does not count its exit as a crash.
	killed bool
}

func (p *controllerProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// isLeader reports whether the process has logged that it leads.
func (p *controllerProc) isLeader() bool {
	b, err := os.ReadFile(p.logPath)
	return err == nil && bytes.Contains(b, []byte("elected leader"))
}

// fleet runs the controller processes of one mode and replaces any that
// exits, as a kubelet would.
type fleet struct {
	binary, kubeconfig, namespace, logDir string
	pair                                  bool

	mu     sync.Mutex
	procs  []*controllerProc
	nextID int
	// selfExits counts processes that ended without being killed, e.g. a
	// leader that could not renew its Lease while the API server was away.
	selfExits int
	stopped   bool
	wg        sync.WaitGroup
}

// newFleet starts the mode's processes, numbering them from firstID so
// their logs never overwrite an earlier fleet's.
func newFleet(binary, kubeconfig, namespace, logDir string, pair bool, firstID int) (*fleet, error) {
	f := &fleet{binary: binary, kubeconfig: kubeconfig, namespace: namespace, logDir: logDir, pair: pair, nextID: firstID}
	n := 1
	if pair {
		n = 2
	}
	for range n {
		if err := f.startOne(); err != nil {
			f.stop()
			return nil, err
		}
	}
	return f, nil
}

// startOne launches one more controller process. The caller holds no lock.
func (f *fleet) startOne() error {
	probe, err := freeLoopback()
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil
	}
	id := f.nextID
	f.nextID++
	f.mu.Unlock()

	args := []string{"controller", "--kubeconfig", f.kubeconfig, "--namespace", f.namespace,
		"--health-probe-bind-address", probe, "--metrics-bind-address", "0", "--log-level", "info"}
	if f.pair {
		args = append(args, "--leader-elect=true", "--leader-election-namespace", f.namespace,
			"--leader-election-id", leaseName, "--leader-elect-lease-duration", leaseDuration.String(),
			"--leader-elect-renew-deadline", renewDeadline.String(), "--leader-elect-retry-period", retryPeriod.String())
	} else {
		args = append(args, "--leader-elect=false")
	}
	logPath := filepath.Join(f.logDir, fmt.Sprintf("controller-%03d.log", id))
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("controller log: %w", err)
	}
	cmd := exec.Command(f.binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start controller: %w", err)
	}
	_ = logFile.Close()
	p := &controllerProc{id: id, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = cmd.Wait()
		close(p.exited)
		f.mu.Lock()
		replace := !p.killed && !f.stopped
		if replace {
			f.selfExits++
		}
		f.mu.Unlock()
		if replace {
			// A crashed replica comes back, as under a kubelet; a short
			// pause keeps a crash loop from spinning.
			time.Sleep(time.Second)
			_ = f.startOne()
		}
	}()
	return nil
}

// kill sends SIGKILL to p, waits until it is gone and starts a
// replacement. It returns the moment of the kill.
func (f *fleet) kill(p *controllerProc) (time.Time, error) {
	f.mu.Lock()
	p.killed = true
	f.mu.Unlock()
	at := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return at, fmt.Errorf("kill controller %d: %w", p.id, err)
	}
	<-p.exited
	return at, f.startOne()
}

// living returns the processes that still run.
func (f *fleet) living() []*controllerProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*controllerProc
	for _, p := range f.procs {
		if p.alive() {
			out = append(out, p)
		}
	}
	return out
}

// leader waits until one living process leads and returns it.
func (f *fleet) leader(ctx context.Context) (*controllerProc, error) {
	for {
		for _, p := range f.living() {
			if p.isLeader() {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no controller became leader: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exits returns how many processes ended on their own.
func (f *fleet) exits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.selfExits
}

// stop ends every process with SIGTERM (SIGKILL after ten seconds) and
// waits for them.
func (f *fleet) stop() {
	f.mu.Lock()
	f.stopped = true
	procs := append([]*controllerProc(nil), f.procs...)
	f.mu.Unlock()
	for _, p := range procs {
		if p.alive() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	f.wg.Wait()
}

// freeLoopback returns a 127.0.0.1 address with a port free right now.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}
