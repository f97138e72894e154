package devcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// freePorts reserves n distinct ports on 127.0.0.1. The listeners stay open
// until all are chosen so that one call never returns a port twice; another
// process can still take a port before a component binds it, which Start
// handles by trying again.
func freePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// mkdirs creates directories below root.
func mkdirs(root string, names ...string) error {
	for _, name := range names {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
	}
	return nil
}
