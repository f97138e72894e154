package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// SessionCookie is the cookie that carries the dashboard's token for a
// browser after it opened a URL with ?token=.
const SessionCookie = "kanaria-dashboard"

// NewToken returns a random token for a dashboard that must authenticate
// its users: 32 bytes from the system's random source, in hex.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a dashboard token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Loopback reports whether a listen address keeps the dashboard on this
// machine: "localhost" or a loopback IP address. Anything else, including
// an empty address or 0.0.0.0, is reachable from the network.
func Loopback(address string) bool {
	if address == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(address, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// allowedHost reports whether a Host header names one of the hosts the
// operator allowed, ignoring case and the port.
func allowedHost(hostport string, allowed []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	for _, a := range allowed {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// authenticate checks the token of a request when the dashboard requires
// one, and answers the request itself when it does not pass: 401 for a
// missing or wrong token, or a redirect that trades a ?token= in the URL for
// the session cookie, so the token leaves the address bar and the history.
// Static assets need no token: they hold no data.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Token == "" || strings.HasPrefix(r.URL.Path, "/assets/") {
		return true
	}
	q := r.URL.Query()
	if tok := q.Get("token"); tok != "" && r.Method == http.MethodGet {
		if !s.tokenMatches(tok) {
			http.Error(w, "wrong dashboard token", http.StatusUnauthorized)
			return false
		}
		http.SetCookie(w, &http.Cookie{
			Name: SessionCookie, Value: s.opts.Token, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode,
		})
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") && s.tokenMatches(strings.TrimPrefix(auth, "Bearer ")) {
		return true
	}
	if c, err := r.Cookie(SessionCookie); err == nil && s.tokenMatches(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="kanaria-dashboard"`)
	http.Error(w, "this dashboard needs its token: open the URL it printed at start, or send Authorization: Bearer <token>", http.StatusUnauthorized)
	return false
}

// tokenMatches compares in constant time, so the answer's timing tells
// nothing about how much of a guess was right.
func (s *Server) tokenMatches(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) == 1
}
