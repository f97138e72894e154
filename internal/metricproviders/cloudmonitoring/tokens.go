package cloudmonitoring

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders/httpcall"
)

// maxKeys bounds the cached service-account keys; past it the cache starts
// afresh, so keys rotated away do not accumulate.
const maxKeys = 64

// tokens caches one token source per credential, so a token is minted when
// the last one nears expiry and not for every measurement.
type tokens struct {
	// base carries the HTTP client token requests go through; token
	// sources outlive any one measurement, so it is not a request's
	// context.
	base context.Context

	// adcMu is held while Application Default Credentials are looked for,
	// which may probe the metadata server for seconds; keys stay usable
	// meanwhile under mu.
	adcMu sync.Mutex
	adc   oauth2.TokenSource

	mu   sync.Mutex
	keys map[[sha256.Size]byte]oauth2.TokenSource
}

func newTokens(hc *http.Client, timeout time.Duration) *tokens {
	if timeout <= 0 {
		timeout = httpcall.DefaultTimeout
	}
	// A copy with a timeout of its own: the oauth2 library sends token
	// requests without a deadline otherwise.
	th := *hc
	th.Timeout = timeout
	return &tokens{
		base: context.WithValue(context.Background(), oauth2.HTTPClient, &th),
		keys: map[[sha256.Size]byte]oauth2.TokenSource{},
	}
}

// token returns a valid access token for creds: from the service-account
// key the Secret holds, or from Application Default Credentials.
func (t *tokens) token(ctx context.Context, req metricproviders.Request, creds *Credentials) (string, error) {
	var (
		src oauth2.TokenSource
		err error
	)
	if creds != nil && creds.SecretRef != nil {
		src, err = t.fromSecret(ctx, req, creds.SecretRef)
	} else {
		src, err = t.fromADC()
	}
	if err != nil {
		return "", err
	}
	start := time.Now()
	tok, err := src.Token()
	if err != nil {
		err = tokenError(err)
		// Token requests are requests to Google too; count them so a
		// failing credential shows on /metrics.
		metricproviders.Observe(Name, start, err)
		return "", err
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("%s: the token endpoint returned no access token", Name)
	}
	return tok.AccessToken, nil
}

func (t *tokens) fromSecret(ctx context.Context, req metricproviders.Request, ref *SecretRef) (oauth2.TokenSource, error) {
	if req.Secrets == nil {
		return nil, fmt.Errorf("%s: cannot read Secret %s: no Secret reader", Name, ref.Name)
	}
	key, err := req.Secrets.SecretValue(ctx, req.Namespace, ref.Name, ref.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the service-account key from Secret %s: %w", Name, ref.Name, err)
	}
	sum := sha256.Sum256([]byte(key))
	t.mu.Lock()
	defer t.mu.Unlock()
	if src, ok := t.keys[sum]; ok {
		return src, nil
	}
	// Only service-account keys: other credential files (external
	// accounts) make the library call URLs or run commands they name,
	// which a Secret's writer must not be able to choose.
	creds, err := google.CredentialsFromJSONWithType(t.base, []byte(key), google.ServiceAccount, Scope)
	if err != nil {
		// The library's messages name the problem (a wrong type, a key
		// that does not parse) without quoting the key.
		return nil, fmt.Errorf("%s: key %s of Secret %s is not a usable service-account key: %w", Name, ref.Key, ref.Name, scrub(err))
	}
	if len(t.keys) >= maxKeys {
		t.keys = map[[sha256.Size]byte]oauth2.TokenSource{}
	}
	t.keys[sum] = creds.TokenSource
	return creds.TokenSource, nil
}

// fromADC finds Application Default Credentials once; a failure is not
// kept, so credentials that appear later (a mounted key, the metadata
// server coming up) are found by the next measurement.
func (t *tokens) fromADC() (oauth2.TokenSource, error) {
	t.adcMu.Lock()
	defer t.adcMu.Unlock()
	if t.adc != nil {
		return t.adc, nil
	}
	creds, err := google.FindDefaultCredentials(t.base, Scope)
	if err != nil {
		return nil, fmt.Errorf("%s: no Application Default Credentials (use workload identity, set GOOGLE_APPLICATION_CREDENTIALS, or set credentials.secretRef): %w", Name, scrub(err))
	}
	t.adc = oauth2.ReuseTokenSource(nil, creds.TokenSource)
	return t.adc, nil
}

// tokenError describes a failed token request by the endpoint's status and
// OAuth2 error code. The library's own message carries the whole response
// body, which may echo the signed assertion; it is left out.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("%s: the token endpoint refused the credentials", Name)
		if re.Response != nil {
			msg += fmt.Sprintf(" (HTTP %d)", re.Response.StatusCode)
		}
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" {
			// The JWT flow leaves the RFC 6749 error fields unparsed.
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &body) == nil {
				code, desc = body.Error, body.Description
			}
		}
		if code != "" {
			msg += ": " + httpcall.Truncate(scrubText(code))
		}
		if desc != "" {
			msg += ": " + httpcall.Truncate(scrubText(desc))
		}
		return errors.New(msg)
	}
	return fmt.Errorf("%s: getting an access token: %w", Name, scrub(err))
}

// tokenLike matches what may be a credential in a message: a JWT (a signed
// assertion or an identity token) or a Google access token.
var tokenLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|ya29\.[A-Za-z0-9_.-]+`)

func scrubText(s string) string { return tokenLike.ReplaceAllString(s, "[redacted]") }

// scrub removes token-like text from err's message.
func scrub(err error) error {
	msg := err.Error()
	if clean := scrubText(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}
