// Package gcpfake is a local Google OAuth2 token endpoint for tests: it
// makes a throwaway service-account key whose token_uri points at itself,
// checks each signed assertion against the key's public half, and hands out
// an access token of its own, so the Google OAuth2 library runs its real
// service-account flow without reaching Google.
package gcpfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TokenServer is the token endpoint of one service account.
type TokenServer struct {
	*httptest.Server
	// Email is the service account's client_email, the assertion's issuer.
	Email string
	// Scope is the scope every assertion must ask for.
	Scope string
	// AccessToken is what a valid assertion is exchanged for.
	AccessToken string
	// Key is the service-account key file (JSON) with the private key and
	// a token_uri pointing at this server.
	Key string
	// PrivateKeyPEM is the key's private half as the file holds it.
	PrivateKeyPEM string

	pub *rsa.PublicKey

	mu     sync.Mutex
	calls  int
	status int
	body   string
	errs   []string
}

// New starts a token endpoint for a fresh key that grants scope; it stops
// when the test ends.
func New(t testing.TB, scope string) *TokenServer {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ts := &TokenServer{
		Email:         "reader@my-proj.iam.gserviceaccount.com",
		Scope:         scope,
		AccessToken:   "ya29.fake-" + base64.RawURLEncoding.EncodeToString(der[len(der)-12:]),
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		pub:           &priv.PublicKey,
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	key, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "my-proj",
		"private_key_id": "k1",
		"private_key":    ts.PrivateKeyPEM,
		"client_email":   ts.Email,
		"client_id":      "1234",
		"token_uri":      ts.URL + "/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Key = string(key)
	return ts
}

// Refuse makes the endpoint answer every request with status and body; the
// text ASSERTION in body is replaced by the assertion received, as a
// careless endpoint may echo it.
func (ts *TokenServer) Refuse(status int, body string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.status, ts.body = status, body
}

// Calls returns how many token requests arrived, and reports on t every
// request that was not a valid service-account token request.
func (ts *TokenServer) Calls(t testing.TB) int {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, e := range ts.errs {
		t.Error("token endpoint: " + e)
	}
	ts.errs = nil
	return ts.calls
}

func (ts *TokenServer) fail(format string, args ...any) {
	ts.errs = append(ts.errs, fmt.Sprintf(format, args...))
}

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls++
	if err := r.ParseForm(); err != nil {
		ts.fail("form: %v", err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		ts.fail("request %s %s, want POST /token", r.Method, r.URL.Path)
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		ts.fail("grant_type %q", g)
	}
	assertion := r.PostForm.Get("assertion")
	ts.verify(assertion)
	w.Header().Set("Content-Type", "application/json")
	if ts.status != 0 {
		w.WriteHeader(ts.status)
		fmt.Fprint(w, strings.ReplaceAll(ts.body, "ASSERTION", assertion))
		return
	}
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, ts.AccessToken)
}

// verify checks the assertion's RS256 signature and its claims.
func (ts *TokenServer) verify(assertion string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		ts.fail("the assertion has %d parts, want 3", len(parts))
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		ts.fail("assertion signature: %v", err)
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(ts.pub, crypto.SHA256, sum[:], sig); err != nil {
		ts.fail("assertion signature: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		ts.fail("assertion claims: %v", err)
		return
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		ts.fail("assertion claims: %v", err)
	}
	if claims.Iss != ts.Email || claims.Scope != ts.Scope || claims.Aud != ts.URL+"/token" {
		ts.fail("claims %+v, want iss %s, scope %s, aud %s/token", claims, ts.Email, ts.Scope, ts.URL)
	}
}
