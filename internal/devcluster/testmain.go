package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// EnvTestKubeconfig, when set, makes RunTests use the cluster of that
// kubeconfig instead of starting one, e.g. a `kanaria dev up` cluster kept
// running across test runs.
const EnvTestKubeconfig = "KANARIA_TEST_KUBECONFIG"

// RunTests is the body of a test package's TestMain: it starts one cluster
// for the package (building the binaries first if needed, with progress on
// stderr), stores it in *cluster, runs the tests and stops the cluster. It
// returns the exit code for os.Exit:
//
//	var cluster *devcluster.Cluster
//
//	func TestMain(m *testing.M) {
//		os.Exit(devcluster.RunTests(m, devcluster.Options{}, &cluster))
//	}
//
// With $KANARIA_TEST_KUBECONFIG set, *cluster is attached to that cluster
// instead (see Attach) and nothing is started or stopped.
func RunTests(m *testing.M, opts Options, cluster **Cluster) int {
	if opts.Log == nil {
		opts.Log = &prefixWriter{w: os.Stderr, prefix: "devcluster: "}
	}
	if path := os.Getenv(EnvTestKubeconfig); path != "" {
		c, err := Attach(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "devcluster: cannot use %s=%s: %v\n", EnvTestKubeconfig, path, err)
			return 1
		}
		// Tests run kubectl and other tools of the cluster's build, so an
		// attached cluster carries the same binaries a started one would.
		bins := opts.Binaries
		if bins == nil {
			if bins, err = EnsureBinaries(context.Background(), opts.Build); err != nil {
				fmt.Fprintf(os.Stderr, "devcluster: binaries for the tests: %v\n", err)
				return 1
			}
		}
		c.bins = bins
		fmt.Fprintf(os.Stderr, "devcluster: using the existing cluster of %s\n", path)
		*cluster = c
		return m.Run()
	}

	// An interrupt during the tests would otherwise kill the binary and
	// leave the temporary data behind; the kernel already takes care of
	// the processes.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		started *Cluster
	)
	go func() {
		select {
		case sig := <-signals:
			cancel()
			mu.Lock()
			if started != nil {
				_ = started.Stop()
			}
			mu.Unlock()
			fmt.Fprintf(os.Stderr, "devcluster: %v: stopped the local cluster\n", sig)
			os.Exit(130)
		case <-ctx.Done():
		}
	}()

	c, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: cannot start the local cluster for this test package: %v\n", err)
		return 1
	}
	mu.Lock()
	started = c
	mu.Unlock()
	*cluster = c

	code := m.Run()

	mu.Lock()
	defer mu.Unlock()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: stopping the local cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// prefixWriter prefixes each line, so that progress stands out among test
// output.
type prefixWriter struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !p.midLine {
			out.WriteString(p.prefix)
		}
		out.Write(line)
		p.midLine = line[len(line)-1] != '\n'
	}
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, fmt.Errorf("write progress: %w", err)
	}
	return len(b), nil
}
