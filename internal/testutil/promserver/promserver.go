// Package promserver runs a real Prometheus server for tests, and a scrape
// target whose counters the test controls, so that providers and analyses
// are exercised against genuine PromQL evaluation rather than canned JSON.
package promserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// EnvRequire, when "1", turns a missing prometheus binary from a
	// skipped test into a failed one. CI sets it so that a broken install
	// cannot silently skip the real-server tests.
	EnvRequire = "KANARIA_REQUIRE_PROMETHEUS"

	// EnvBinary optionally names the prometheus binary to run; by default
	// it is looked up on PATH, then at /usr/bin/prometheus (Debian's
	// package).
	EnvBinary = "KANARIA_PROMETHEUS_BIN"

	// startTimeout bounds how long Start waits for /-/ready. A cold
	// start with an empty TSDB takes well under a second; the margin is
	// for loaded CI machines.
	startTimeout = 60 * time.Second
)

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	// exitErr is set before done is closed.
	exitErr error
}

// Binary returns the path of the prometheus binary tests would run, or ""
// if none is installed.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus"
	}
	return ""
}

// Start starts a real Prometheus on a free 127.0.0.1 port, scraping the
// given targets (host:port) every scrapeInterval, with its own temporary
// data directory; t.Cleanup stops it. It skips the test, saying why, when
// the prometheus binary is not installed and EnvRequire is not "1" (then
// it fails instead).
func Start(t testing.TB, targets []string, scrapeInterval time.Duration) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "prometheus binary not found (install Debian's prometheus package: apt-get install -y prometheus, or set " + EnvBinary + ")"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s; %s=1 requires it", msg, EnvRequire)
		}
		t.Skipf("%s; set %s=1 to fail instead of skipping", msg, EnvRequire)
	}
	if scrapeInterval <= 0 {
		scrapeInterval = time.Second
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, config(targets, scrapeInterval), 0o600); err != nil {
		t.Fatalf("writing prometheus config: %v", err)
	}

	// The free port is found by binding and releasing it, so another
	// process may grab it before Prometheus does; retry on that race.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(t, bin, cfgPath, filepath.Join(dir, fmt.Sprintf("data-%d", attempt)))
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting prometheus: %v", lastErr)
	return nil
}

// config renders a minimal prometheus.yml. The scrape timeout must not
// exceed the interval, and Prometheus rejects timeouts that do.
func config(targets []string, interval time.Duration) []byte {
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	iv := model(interval)
	return []byte(fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: 1m
scrape_configs:
  - job_name: kanaria-test
    static_configs:
      - targets: [%[2]s]
`, iv, strings.Join(quoted, ", ")))
}

// model formats d as a Prometheus duration (milliseconds suffice here).
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// launch runs one Prometheus process and waits until it is ready.
func launch(t testing.TB, bin, cfgPath, dataDir string) (*Server, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logs := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+dataDir,
		"--web.listen-address="+addr,
		"--storage.tsdb.retention.time=1h",
		// The active-query log is preallocated per concurrent query;
		// tests need few.
		"--query.max-concurrency=4",
		"--web.max-connections=64",
		// Nothing here serves consoles; pointing at the temp dir keeps
		// the server from depending on /etc/prometheus.
		"--web.console.templates="+filepath.Dir(cfgPath),
		"--web.console.libraries="+filepath.Dir(cfgPath),
		"--log.level=info",
	)
	cmd.Stdout = logs
	cmd.Stderr = logs
	// A process group of its own, so stopping it cannot touch the test
	// binary's group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		close(s.done)
	}()

	if err := s.waitReady(startTimeout); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; prometheus output:\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	return s, nil
}

// waitReady polls /-/ready, which answers 200 once the TSDB is open and
// the server accepts queries.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before becoming ready: %v", s.exitErr)
		default:
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("prometheus at %s not ready after %s", s.URL, timeout)
}

// stop asks Prometheus to shut down cleanly and kills it if it does not.
func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// WaitForSeries waits until query returns at least one series (or a
// scalar), i.e. until the scrapes it depends on have happened, and fails
// the test after timeout.
func (s *Server) WaitForSeries(t testing.TB, query string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		n, err := s.count(query)
		switch {
		case err != nil:
			last = err.Error()
		case n > 0:
			return
		default:
			last = "no series yet"
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q returned no series within %s: %s", query, timeout, last)
		}
		select {
		case <-s.done:
			t.Fatalf("prometheus exited: %v\n%s", s.exitErr, s.logs.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// count runs an instant query and returns how many series (or 1 for a
// scalar) it returned.
func (s *Server) count(query string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decoding response (HTTP %d): %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", body.Error)
	}
	switch body.Data.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(body.Data.Result, &series); err != nil {
			return 0, err
		}
		return len(series), nil
	case "scalar", "string":
		return 1, nil
	}
	return 0, errors.New("unknown result type " + body.Data.ResultType)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects process output written from os/exec's copying
// goroutines while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
