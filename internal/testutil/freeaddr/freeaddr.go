// Package freeaddr finds loopback addresses nobody listens on, for tests
// that start servers of their own (probe and metrics endpoints).
package freeaddr

import (
	"net"
	"testing"
)

// Loopback returns a 127.0.0.1 host:port that was free a moment ago. The
// port is released before returning, so the code under test can bind it.
func Loopback(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free loopback address: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
