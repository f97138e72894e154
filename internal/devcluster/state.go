package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Lookup and Down when no cluster of that name
// is running.
var ErrNotRunning = errors.New("no local cluster is running")

// State is what a running cluster records in <dir>/state.json, so that a
// detached cluster can be found and stopped by a later command.
type State struct {
	Name       string         `json:"name"`
	Dir        string         `json:"dir"`
	Kubeconfig string         `json:"kubeconfig"`
	Server     string         `json:"server"`
	Detached   bool           `json:"detached"`
	StartedAt  time.Time      `json:"startedAt"`
	Ports      Ports          `json:"ports"`
	Processes  []ProcessState `json:"processes"`
}

// Ports are the 127.0.0.1 ports a cluster listens on.
type Ports struct {
	EtcdClient        int `json:"etcdClient"`
	EtcdPeer          int `json:"etcdPeer"`
	APIServer         int `json:"apiServer"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Kwok              int `json:"kwok"`
}

// ProcessState identifies one component process, in start order.
type ProcessState struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Path is the executable, used to tell the component from an unrelated
	// process that later got the same pid.
	Path string `json:"path"`
}

// Running reports whether any component of the cluster is still alive.
func (s State) Running() bool {
	for _, p := range s.Processes {
		if p.alive() {
			return true
		}
	}
	return false
}

// alive reports whether the pid still belongs to this component. Where the
// executable of a pid cannot be read (not Linux), the pid alone decides.
func (p ProcessState) alive() bool {
	if !processAlive(p.PID) || isZombie(p.PID) {
		return false
	}
	if runtime.GOOS != "linux" {
		return true
	}
	exe, err := os.Readlink(filepath.Join("/proc", fmt.Sprint(p.PID), "exe"))
	if err != nil {
		// Exists but unreadable: treat it as ours rather than leak it.
		return true
	}
	// The kernel marks an executable replaced since the start, e.g. by a
	// rebuild of the cache, with this suffix.
	exe = strings.TrimSuffix(exe, " (deleted)")
	return exe == p.Path || filepath.Base(exe) == filepath.Base(p.Path)
}

func writeState(dir string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	// Write then rename, so a reader never sees half a file.
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func readState(dir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, fmt.Errorf("read cluster state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("decode %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// NamedDir returns the data directory of the named cluster under the cache
// root: <cache>/dev/<name>. It is where detached clusters and clusters
// started by `kanaria dev up` keep their data.
func NamedDir(name string) (string, error) {
	if name == "" {
		name = DefaultName
	}
	if err := validateName(name); err != nil {
		return "", err
	}
	root, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "dev", name), nil
}

// Lookup returns the state of the named cluster if it is running, and an
// error wrapping ErrNotRunning otherwise.
func Lookup(name string) (State, error) {
	dir, err := NamedDir(name)
	if err != nil {
		return State{}, err
	}
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%w under the name %q", ErrNotRunning, nameOrDefault(name))
	}
	if err != nil {
		return State{}, err
	}
	if !st.Running() {
		return State{}, fmt.Errorf("%w under the name %q (its processes are gone; `kanaria dev down` removes the leftovers)", ErrNotRunning, nameOrDefault(name))
	}
	return st, nil
}

func nameOrDefault(name string) string {
	if name == "" {
		return DefaultName
	}
	return name
}

// Down stops the named cluster, whichever process started it, and removes
// its data directory under the cache; a data directory chosen with
// Options.Dir is kept, minus its state file. It returns an error wrapping
// ErrNotRunning if nothing was running; leftovers of a crashed cluster are
// removed all the same.
func Down(ctx context.Context, name string) error {
	dir, err := NamedDir(name)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	running := err == nil && st.Running()
	if running {
		if err := stopRecorded(ctx, st.Processes); err != nil {
			return err
		}
	}
	if st.Dir != "" && filepath.Clean(st.Dir) != dir {
		if err := os.Remove(filepath.Join(st.Dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove state file: %w", err)
		}
	}
	if _, statErr := os.Stat(dir); statErr == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	if !running {
		return fmt.Errorf("%w under the name %q", ErrNotRunning, nameOrDefault(name))
	}
	return nil
}

// stopRecorded stops processes this process did not start and so cannot
// wait for: it signals them, dependants first, and polls until they are gone.
func stopRecorded(ctx context.Context, procs []ProcessState) error {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if !p.alive() {
			continue
		}
		if err := signalGroup(p.PID, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop %s: %w", p.Name, err)
		}
		if waitGone(ctx, p.PID, stopGrace) {
			continue
		}
		if err := signalGroup(p.PID, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %s: %w", p.Name, err)
		}
		if !waitGone(ctx, p.PID, 10*time.Second) {
			return fmt.Errorf("%s (pid %d) is still running after SIGKILL", p.Name, p.PID)
		}
	}
	return nil
}

// waitGone polls until the process group led by pid is gone. A process
// that is a zombie of some other parent still counts as present until that
// parent reaps it, which init does promptly for orphans.
func waitGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !groupAlive(pid) || isZombie(pid) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return !groupAlive(pid)
}

// isZombie reports whether pid has exited and awaits reaping by a parent
// other than this process; it is as good as gone.
func isZombie(pid int) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	data, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] == 'Z'
}
