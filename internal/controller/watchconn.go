package controller

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

// WatchHTTPClient is the HTTP client of the controller's caches (and of
// `kanaria bench abort-floor --separate-watch-connection`): the same
// configuration as its writes (limiter, metrics, credentials), but its own
// connection to the API server. client-go hands every configuration it can
// cache one shared transport, and so one HTTP/2 connection, carrying every
// watch and every write; with 200 aborts at once the Rollout watch's
// events then reached the controller seconds after the API server had
// answered the aborts, while a watch on a connection of its own got them
// as soon as other clients did. A dialer of the watches' own makes the
// configuration one client-go does not cache.
func WatchHTTPClient(cfg *rest.Config) (*http.Client, error) {
	wc := rest.CopyConfig(cfg)
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	wc.Dial = dialer.DialContext
	hc, err := rest.HTTPClientFor(wc)
	if err != nil {
		return nil, fmt.Errorf("creating the watches' HTTP client: %w", err)
	}
	return hc, nil
}
