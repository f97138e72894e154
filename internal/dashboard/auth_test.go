package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLoopbackAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "localhost": true, "::1": true, "[::1]": true, "127.0.0.2": true,
		"0.0.0.0": false, "": false, "10.0.0.5": false, "::": false, "dashboard.example": false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestHostCheckHoldsOffLoopback(t *testing.T) {
	e := newEnv(t, Options{AllowedHosts: []string{"dashboard.example"}})
	get := func(host string) int {
		r := httptest.NewRequest(http.MethodGet, "/api/info", nil)
		r.Host = host
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w.Code
	}
	for host, want := range map[string]int{
		"dashboard.example:3100":   http.StatusOK,
		"DASHBOARD.example":        http.StatusOK,
		"10.1.2.3:3100":            http.StatusOK,
		"localhost:3100":           http.StatusOK,
		"rebound.evil.example":     http.StatusMisdirectedRequest,
		"dashboard.example.evil":   http.StatusMisdirectedRequest,
		"evil.dashboard.example:1": http.StatusMisdirectedRequest,
	} {
		if got := get(host); got != want {
			t.Errorf("Host %q: %d, want %d", host, got, want)
		}
	}
}

func TestTokenIsRequired(t *testing.T) {
	const token = "s3cret-token"
	e := newEnv(t, Options{Token: token})
	serve := func(method, target string, mutate func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://127.0.0.1:3100"+target, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		if mutate != nil {
			mutate(r)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		return w
	}

	for _, target := range []string{"/", "/api/info", "/api/namespaces/shop/rollouts", "/api/events?namespace=shop"} {
		if w := serve(http.MethodGet, target, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d", target, w.Code)
		}
	}
	if w := serve(http.MethodPost, "/api/namespaces/shop/rollouts/web/abort", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("abort without a token: %d", w.Code)
	}
	if w := serve(http.MethodPost, "/api/namespaces/shop/rollouts/web/abort", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer wrong")
	}); w.Code != http.StatusUnauthorized {
		t.Errorf("abort with a wrong token: %d", w.Code)
	}
	if p := e.sent(); len(p) != 0 {
		t.Fatalf("unauthenticated requests patched: %+v", p)
	}
	if w := serve(http.MethodGet, "/assets/app.js", nil); w.Code != http.StatusOK {
		t.Errorf("assets need no token: %d", w.Code)
	}

	// A browser opens the printed URL: the token becomes a cookie and
	// leaves the address.
	w := serve(http.MethodGet, "/rollouts/shop/web?token="+token+"&tab=runs", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/rollouts/shop/web?tab=runs" {
		t.Fatalf("token URL: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != SessionCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %+v", cookies)
	}
	if w := serve(http.MethodGet, "/?token=wrong", nil); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("a wrong token URL: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	withCookie := func(r *http.Request) { r.AddCookie(cookies[0]) }
	if w := serve(http.MethodGet, "/api/info", withCookie); w.Code != http.StatusOK {
		t.Errorf("GET with the cookie: %d %s", w.Code, w.Body)
	}
	if w := serve(http.MethodPost, "/api/namespaces/shop/rollouts/web/abort", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
	}); w.Code != http.StatusOK {
		t.Errorf("abort with the token: %d %s", w.Code, w.Body)
	}
	if p := e.sent(); len(p) != 1 || p[0].Data != abortPatch {
		t.Errorf("patches %+v, want one abort", p)
	}
}

func TestNewTokensDiffer(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) != 64 {
		t.Errorf("tokens %q and %q", a, b)
	}
}

func TestExposureNoticeSaysWhatIsExposed(t *testing.T) {
	n := exposureNotice("0.0.0.0:3100", `context "prod" (user "admin")`, false, []string{"dashboard.example"})
	for _, want := range []string{"0.0.0.0:3100", "reachable from the network", "promote, abort", `context "prod" (user "admin")`, "dashboard.example"} {
		if !strings.Contains(n, want) {
			t.Errorf("notice lacks %q:\n%s", want, n)
		}
	}
	if ro := exposureNotice("0.0.0.0:3100", "x", true, nil); strings.Contains(ro, "promote") || !strings.Contains(ro, "read Rollouts") {
		t.Errorf("read-only notice:\n%s", ro)
	}
}
