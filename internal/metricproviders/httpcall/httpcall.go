// Package httpcall sends the HTTP requests of the metric providers that talk
// to their backend with plain net/http: one bounded request, recorded on the
// controller's metrics, whose failures read the same whatever the backend
// (the status, how long a rate limit asks to wait, the backend's own words,
// never a credential).
package httpcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
)

const (
	// DefaultTimeout bounds one request when a Client sets none.
	DefaultTimeout = 30 * time.Second
	// maxBody caps how much of a response is read so a misbehaving endpoint
	// cannot exhaust the controller's memory.
	maxBody = 16 << 20
	// maxMessage caps how much of a backend's error text reaches status.
	maxMessage = 512
)

// Client sends one provider's requests.
type Client struct {
	// Provider names the provider in metrics and messages.
	Provider string
	// HTTP sends the requests; nil means a fresh http.Client.
	HTTP *http.Client
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Options configure an HTTP provider: the same three settings for each.
type Options struct {
	// HTTPClient sends the requests; nil means a fresh http.Client.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client returns the Client of the named provider with these options.
func (o Options) Client(provider string) Client {
	return Client{Provider: provider, HTTP: o.HTTPClient, Timeout: o.Timeout}
}

// Clock returns Now, or time.Now when it is nil.
func (o Options) Clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// StatusError is a non-2xx answer.
type StatusError struct {
	// What names the request, e.g. "graphite: GET /render".
	What string
	// Code is the HTTP status.
	Code int
	// RetryAfter is the Retry-After header of a 429 or 503, as sent.
	RetryAfter string
	// Message is the backend's explanation, if it gave one.
	Message string
}

// Error says what failed in words an operator can act on.
func (e *StatusError) Error() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("%s: the server rejected the credentials (HTTP %d)%s", e.What, e.Code, msg)
	case http.StatusTooManyRequests:
		wait := ""
		if e.RetryAfter != "" {
			wait = ", retry after " + e.RetryAfter
		}
		return fmt.Sprintf("%s: rate limited (HTTP 429%s)%s", e.What, wait, msg)
	}
	if e.RetryAfter != "" {
		return fmt.Sprintf("%s: HTTP %d, retry after %s%s", e.What, e.Code, e.RetryAfter, msg)
	}
	return fmt.Sprintf("%s: HTTP %d%s", e.What, e.Code, msg)
}

// Do sends r under the client's timeout and returns the body of a 2xx
// answer. Every request is counted on /metrics.
func (c *Client) Do(r *http.Request) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	r = r.WithContext(ctx)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	start := time.Now()
	body, err := c.do(hc, r, timeout)
	metricproviders.Observe(c.Provider, start, err)
	return body, err
}

func (c *Client) do(hc *http.Client, r *http.Request, timeout time.Duration) ([]byte, error) {
	what := c.Provider + ": " + r.Method + " " + r.URL.Path
	resp, err := hc.Do(r)
	if err != nil {
		return nil, transportError(r.Context(), what, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, transportError(r.Context(), what+": reading response", timeout, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{What: what, Code: resp.StatusCode, Message: Message(body)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			se.RetryAfter = strings.TrimSpace(resp.Header.Get("Retry-After"))
		}
		return nil, se
	}
	return body, nil
}

func transportError(ctx context.Context, what string, timeout time.Duration, err error) error {
	// url.Error repeats the whole URL, which may carry a query the user
	// wrote; the path in what is enough to say which call failed.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out after %s: %w", what, timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Message extracts a backend's explanation from an error body: the common
// JSON shapes ({"message": ...}, {"error": ...}, {"errors": [...]}) or
// plain text; HTML pages from proxies are dropped as noise.
func Message(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		var parts []string
		for _, k := range []string{"message", "error", "errors", "status"} {
			switch v := obj[k].(type) {
			case string:
				if v != "" && !(k == "status" && len(parts) > 0) {
					parts = append(parts, v)
				}
			case []any:
				for _, e := range v {
					switch e := e.(type) {
					case string:
						parts = append(parts, e)
					case map[string]any:
						if m, ok := e["message"].(string); ok {
							parts = append(parts, m)
						}
					}
				}
			case map[string]any:
				if m, ok := v["message"].(string); ok {
					parts = append(parts, m)
				}
			}
		}
		return Truncate(strings.Join(parts, "; "))
	}
	if strings.HasPrefix(s, "<") {
		return ""
	}
	return Truncate(s)
}

// Truncate caps a backend's text before it reaches an error or a status.
func Truncate(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}

// BaseURL checks an address a user or a Secret gave so a typo fails with a
// clear message instead of a transport error. It returns the address
// without a trailing slash. An empty provider leaves the message without
// the provider's name, for callers that name the field themselves.
func BaseURL(provider, addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if provider == "" {
			return "", fmt.Errorf("%q is not an http(s) URL", addr)
		}
		return "", fmt.Errorf("%s: address %q is not an http(s) URL", provider, addr)
	}
	return strings.TrimRight(addr, "/"), nil
}

// redactedError hides credentials a backend's message might echo. It does
// not unwrap, so the original text cannot be reached, but errors.Is still
// sees the cause (e.g. a deadline).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// Redact replaces every occurrence of the secrets in err's message.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := msg
	for _, s := range secrets {
		if s != "" {
			out = strings.ReplaceAll(out, s, "[redacted]")
		}
	}
	if out == msg {
		return err
	}
	return &redactedError{msg: out, err: err}
}
