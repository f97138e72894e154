// Package providertest helps test metric providers against a local server
// that speaks the backend's documented API: it checks every request the
// provider sends (method, path, query, headers, body) and answers with a
// response of the backend's recorded shape.
package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
)

// Secrets is a SecretReader over a map keyed by "namespace/name/key".
type Secrets map[string]string

// SecretValue returns the value stored under namespace/name/key.
func (s Secrets) SecretValue(_ context.Context, namespace, name, key string) (string, error) {
	v, ok := s[namespace+"/"+name+"/"+key]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s has no key %q", namespace, name, key)
	}
	return v, nil
}

// Want is a request the provider must send.
type Want struct {
	Method string
	Path   string
	// Query is compared whole: no parameter may be missing or extra.
	Query url.Values
	// Header lists headers that must have exactly these values.
	Header map[string]string
	// Body, when set, is compared as JSON when it parses as JSON, else as
	// text.
	Body string
}

// Reply is how the server answers.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
}

// Exchange is one expected request and its answer.
type Exchange struct {
	Want  Want
	Reply Reply
}

// Server answers the exchanges in order and fails the test on any request
// that differs from the expected one, that comes after the last one, or
// on an expected one that never came.
type Server struct {
	*httptest.Server
	t         *testing.T
	mu        sync.Mutex
	exchanges []Exchange
	calls     int
}

// Serve starts a Server for the exchanges; it is closed with the test.
func Serve(t *testing.T, exchanges ...Exchange) *Server {
	t.Helper()
	s := &Server{t: t, exchanges: exchanges}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(func() {
		s.Close()
		if n := s.Calls(); n < len(s.exchanges) {
			t.Errorf("the server got %d of the %d requests it expected", n, len(s.exchanges))
		}
	})
	return s
}

// Calls is how many requests the server has received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := s.calls
	s.calls++
	s.mu.Unlock()
	if i >= len(s.exchanges) {
		s.t.Errorf("unexpected request %d: %s %s", i+1, r.Method, r.URL)
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	ex := s.exchanges[i]
	body, _ := io.ReadAll(r.Body)
	Check(s.t, fmt.Sprintf("request %d", i+1), ex.Want, r, body)
	for k, v := range ex.Reply.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := ex.Reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, ex.Reply.Body)
}

// Check compares one received request with want.
func Check(t *testing.T, what string, want Want, r *http.Request, body []byte) {
	t.Helper()
	if r.Method != want.Method {
		t.Errorf("%s: method = %s, want %s", what, r.Method, want.Method)
	}
	if r.URL.Path != want.Path {
		t.Errorf("%s: path = %s, want %s", what, r.URL.Path, want.Path)
	}
	got := r.URL.Query()
	wantQ := want.Query
	if wantQ == nil {
		wantQ = url.Values{}
	}
	if !reflect.DeepEqual(got, wantQ) {
		t.Errorf("%s: query = %v, want %v", what, got, wantQ)
	}
	for k, v := range want.Header {
		if g := r.Header.Get(k); g != v {
			t.Errorf("%s: header %s = %q, want %q", what, k, g, v)
		}
	}
	if want.Body == "" {
		if len(bytes.TrimSpace(body)) != 0 && want.Method == http.MethodGet {
			t.Errorf("%s: unexpected body %q", what, body)
		}
		return
	}
	var wj, gj any
	if json.Unmarshal([]byte(want.Body), &wj) == nil {
		if err := json.Unmarshal(body, &gj); err != nil {
			t.Errorf("%s: body is not JSON: %v\n%s", what, err, body)
			return
		}
		if !reflect.DeepEqual(wj, gj) {
			t.Errorf("%s: body =\n%s\nwant\n%s", what, body, want.Body)
		}
		return
	}
	if string(body) != want.Body {
		t.Errorf("%s: body = %q, want %q", what, body, want.Body)
	}
}
