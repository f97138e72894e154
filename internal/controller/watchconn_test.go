package controller

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
)

// TestWatchHTTPClientOpensItsOwnConnection: requests through the watches'
// client and through the writes' client of one configuration go over two
// connections, where two clients made the usual way share one.
func TestWatchHTTPClientOpensItsOwnConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}}
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get(srv.URL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	writes, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	same, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get(writes)
	get(same)
	if n := conns.Load(); n != 1 {
		t.Fatalf("two clients of one configuration opened %d connections; the test assumes client-go shares one", n)
	}
	watches, err := WatchHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get(watches)
	get(writes)
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections after the watches' client was used, want 2", n)
	}
}
