package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// BackendMode is how the metrics backend answers at a moment.
type BackendMode int

// The backend's modes.
const (
	// BackendHealthy answers every measurement with the release's scripted
	// verdict.
	BackendHealthy BackendMode = iota
	// BackendErroring answers 500.
	BackendErroring
	// BackendHanging holds each request without answering until the
	// client gives up or the mode changes.
	BackendHanging
)

// String names the mode in progress lines.
func (m BackendMode) String() string {
	switch m {
	case BackendErroring:
		return "erroring"
	case BackendHanging:
		return "hanging"
	default:
		return "healthy"
	}
}

// Backend is the web metrics endpoint the suite's analyses measure. It
// answers {"ok": true} or {"ok": false} by the release named in the
// request, as the runner scripted it, and can be made to error or hang.
type Backend struct {
	mu       sync.Mutex
	mode     BackendMode
	failing  map[string]bool
	released chan struct{} // closed when a hang ends

	requests, errored, hung atomic.Int64

	srv *http.Server
	url string
}

// NewBackend starts the backend on addr (host:port; port 0 picks one).
func NewBackend(addr string) (*Backend, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics backend: listen on %s: %w", addr, err)
	}
	b := &Backend{failing: map[string]bool{}, released: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/measure", b.measure)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	b.url = "http://" + l.Addr().String() + "/measure"
	go func() { _ = b.srv.Serve(l) }()
	return b, nil
}

// URL is the endpoint analyses measure.
func (b *Backend) URL() string { return b.url }

// Close stops the backend, ending any hanging request.
func (b *Backend) Close() error {
	b.SetMode(BackendHealthy)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics backend: shutdown: %w", err)
	}
	return nil
}

// Fail scripts the release's measurements to fail.
func (b *Backend) Fail(release string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing[release] = true
}

// SetMode switches how the backend answers; leaving BackendHanging
// releases the requests it holds.
func (b *Backend) SetMode(m BackendMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mode == BackendHanging && m != BackendHanging {
		close(b.released)
		b.released = make(chan struct{})
	}
	b.mode = m
}

// Counts returns the measurements served, answered with an error, and
// held while hanging.
func (b *Backend) Counts() (requests, errored, hung int64) {
	return b.requests.Load(), b.errored.Load(), b.hung.Load()
}

func (b *Backend) measure(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	release := r.URL.Query().Get(argRelease)
	b.mu.Lock()
	mode, fail, released := b.mode, b.failing[release], b.released
	b.mu.Unlock()
	switch mode {
	case BackendErroring:
		b.errored.Add(1)
		http.Error(w, "injected backend error", http.StatusInternalServerError)
		return
	case BackendHanging:
		b.hung.Add(1)
		select {
		case <-r.Context().Done():
			return
		case <-released:
		}
		// Once released, an answer written to a client that has given up
		// goes nowhere; one still waiting gets the normal verdict.
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]bool{"ok": !fail})
}
