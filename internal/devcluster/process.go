package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane component started by this package.
type process struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string

	cmd *exec.Cmd
	// exited is closed once the process has been reaped; waitErr is valid
	// after that.
	exited  chan struct{}
	waitErr error

	mu       sync.Mutex
	stopping bool
}

// start launches the process with its output appended to logPath. It uses
// exec.Command rather than CommandContext on purpose: the context of a start
// call bounds the start, not the life of the cluster.
func (p *process) start(detached bool, onExit func(p *process)) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", p.name, err)
	}
	// The child holds its own copy of the descriptor.
	defer func() { _ = logFile.Close() }()

	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(detached)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
		if onExit != nil && !p.isStopping() {
			onExit(p)
		}
	}()
	return nil
}

func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// hasExited reports whether the process is gone.
func (p *process) hasExited() bool {
	if p.exited == nil {
		return true
	}
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop asks the component to shut down and kills it if it does not within
// grace. The whole process group is signalled so that nothing it spawned
// survives.
func (p *process) stop(grace time.Duration) error {
	if p.exited == nil {
		return nil
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.hasExited() && !groupAlive(p.pid()) {
		return nil
	}
	if err := signalGroup(p.pid(), syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	// SIGKILL also covers group members that ignored the SIGTERM.
	if err := signalGroup(p.pid(), syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid())
	}
}

// exitError describes how the process ended, with the end of its log.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited unexpectedly (%v)%s", p.name, p.waitErr, p.logTail())
}

// logTail returns the last lines of the log, formatted for appending to an
// error message, or "" if there is nothing to show.
func (p *process) logTail() string {
	text := readTail(p.logPath, 16<<10)
	if text == "" {
		return ""
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", p.logPath, tail(text, 30))
}

// readTail reads at most max bytes from the end of a file.
func readTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := fi.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(buf[:n])
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls check until it reports done, the process dies, or the
// timeout passes. Errors from check are remembered, not fatal, because a
// component that is still starting refuses connections for a while.
func waitFor(ctx context.Context, what string, p *process, timeout time.Duration, check func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		if p != nil && p.hasExited() {
			return fmt.Errorf("waiting for %s: %w", what, p.exitError())
		}
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg = fmt.Sprintf("interrupted while waiting for %s", what)
			}
			if lastErr != nil {
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			if p != nil {
				msg += p.logTail()
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-ticker.C:
		}
	}
}
