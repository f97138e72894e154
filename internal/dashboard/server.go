// Package dashboard is Kanaria's web dashboard: a page listing the Rollouts
// of a namespace and a page per Rollout with its steps, revisions, Pods and
// AnalysisRuns, kept live by server-sent events fed from Kubernetes watches,
// and buttons that send the same patches as the kubectl plugin. Everything
// it serves is embedded in the binary.
//
// The JSON API:
//
//	GET  /api/info                                      read-only flag, default namespace, version
//	GET  /api/namespaces                                namespaces to choose from
//	GET  /api/namespaces/{ns}/rollouts                  RolloutList ({ns} "_all": every namespace)
//	GET  /api/namespaces/{ns}/rollouts/{name}           RolloutPage
//	GET  /api/events?namespace={ns}[&rollout={name}]    server-sent "snapshot" events of the above
//	POST /api/namespaces/{ns}/rollouts/{name}/{action}  promote, promote-full, abort, retry, restart, set-image
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/controller"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
	"github.com/kanaria-rollouts/kanaria/internal/version"
)

// AllNamespaces stands for every namespace in the API's paths.
const AllNamespaces = "_all"

// DefaultDebounce is how long the server gathers changes before it pushes a
// fresh snapshot.
const DefaultDebounce = 200 * time.Millisecond

//go:embed assets
var assets embed.FS

// Options configure a Server.
type Options struct {
	// ReadOnly leaves the action buttons out and refuses every POST with 403.
	ReadOnly bool
	// DefaultNamespace is the namespace the rollouts page opens with; empty
	// means "default".
	DefaultNamespace string
	// AllowedHosts are host names, besides "localhost" and IP addresses,
	// that a request's Host header may name. Refusing every other name
	// keeps web pages on other sites from reaching the dashboard through
	// DNS rebinding, wherever it listens.
	AllowedHosts []string
	// Token, when not empty, is required of every request except for the
	// static assets: as "Authorization: Bearer <token>", or as the session
	// cookie the dashboard sets when a browser opens a URL that carries
	// ?token=<token>.
	Token string
	// Debounce is how long changes are gathered before a snapshot is
	// pushed; zero means DefaultDebounce.
	Debounce time.Duration
	// Heartbeat is the interval of keep-alive comments on event streams;
	// zero means 15 seconds.
	Heartbeat time.Duration
	// Now tells the time of a restart and the time pages are built for;
	// nil means time.Now.
	Now func() time.Time
	// Log receives errors of watches and requests; the zero value discards.
	Log logr.Logger
}

// Server serves the dashboard's pages, assets and JSON API.
type Server struct {
	c    client.WithWatch
	opts Options
	hub  *hub
	mux  *http.ServeMux
}

// NewServerForConfig returns a Server that talks to the cluster of cfg.
func NewServerForConfig(cfg *rest.Config, opts Options) (*Server, error) {
	scheme, err := controller.NewScheme()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kanaria-dashboard/" + version.Version
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return NewServer(c, opts), nil
}

// NewServer returns a Server that reads, watches and patches through c,
// whose scheme must hold the types of NewScheme.
func NewServer(c client.WithWatch, opts Options) *Server {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = "default"
	}
	s := &Server{c: c, opts: opts, hub: newHub(c, opts.Debounce, opts.Log), mux: http.NewServeMux()}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.page)
	s.mux.HandleFunc("GET /rollouts/{ns}/{name}", s.page)
	s.mux.HandleFunc("GET /api/info", s.info)
	s.mux.HandleFunc("GET /api/namespaces", s.namespaces)
	s.mux.HandleFunc("GET /api/namespaces/{ns}/rollouts", s.listRollouts)
	s.mux.HandleFunc("GET /api/namespaces/{ns}/rollouts/{name}", s.getRollout)
	s.mux.HandleFunc("POST /api/namespaces/{ns}/rollouts/{name}/{action}", s.act)
	s.mux.HandleFunc("GET /api/events", s.events)
	return s
}

// ServeHTTP serves the dashboard.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !localHost(r.Host) && !allowedHost(r.Host, s.opts.AllowedHosts) {
		http.Error(w, "this dashboard answers only requests for localhost, an IP address or a host named by --allowed-host", http.StatusMisdirectedRequest)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !s.authenticate(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve serves the dashboard on l until ctx ends, then shuts down, ending
// open event streams.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("dashboard server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stopping the dashboard server: %w", err)
	}
	<-done
	return nil
}

// localHost reports whether a Host header names this machine by a name a
// foreign site cannot rebind: localhost or an IP address.
func localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	return net.ParseIP(host) != nil
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// Info is the JSON of /api/info.
type Info struct {
	// ReadOnly is true when actions are refused.
	ReadOnly bool `json:"readOnly"`
	// DefaultNamespace is the namespace the rollouts page opens with.
	DefaultNamespace string `json:"defaultNamespace"`
	// Version of Kanaria.
	Version string `json:"version"`
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Info{ReadOnly: s.opts.ReadOnly, DefaultNamespace: s.opts.DefaultNamespace, Version: version.Version})
}

// NamespaceList is the JSON of /api/namespaces.
type NamespaceList struct {
	// Namespaces sorted by name; only the default one when listing is forbidden.
	Namespaces []string `json:"namespaces"`
	// Error says why the list is incomplete.
	Error string `json:"error,omitempty"`
}

func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	var list corev1.NamespaceList
	if err := s.c.List(r.Context(), &list); err != nil {
		writeJSON(w, http.StatusOK, NamespaceList{Namespaces: []string{s.opts.DefaultNamespace}, Error: err.Error()})
		return
	}
	out := NamespaceList{Namespaces: []string{}}
	for _, ns := range list.Items {
		out.Namespaces = append(out.Namespaces, ns.Name)
	}
	sort.Strings(out.Namespaces)
	writeJSON(w, http.StatusOK, out)
}

// namespaceParam reads a namespace of the API: "" for AllNamespaces.
func namespaceParam(ns string) (string, error) {
	if ns == AllNamespaces {
		return "", nil
	}
	if ns == "" || len(ns) > 253 || strings.ContainsAny(ns, "/ ?#") {
		return "", fmt.Errorf("invalid namespace %q", ns)
	}
	return ns, nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) {
	ns, err := namespaceParam(r.PathValue("ns"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	list, err := s.rolloutList(r.Context(), s.c, ns)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) {
	ns, err := namespaceParam(r.PathValue("ns"))
	if err != nil || ns == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("a rollout needs a namespace, not %q", r.PathValue("ns")))
		return
	}
	d, err := s.rolloutDetail(r.Context(), s.c, ns, r.PathValue("name"))
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// rolloutList reads the rollouts page of a namespace ("" for all) through
// c: the API server, or a stream's shared cache.
func (s *Server) rolloutList(ctx context.Context, c client.Reader, ns string) (*RolloutList, error) {
	var ros v1alpha1.RolloutList
	if err := c.List(ctx, &ros, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing Rollouts: %w", err)
	}
	var rss appsv1.ReplicaSetList
	if err := c.List(ctx, &rss, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	// Grouped by controller so that each Rollout's view reads only its own.
	byOwner := map[types.UID][]appsv1.ReplicaSet{}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil {
			byOwner[ref.UID] = append(byOwner[ref.UID], rs)
		}
	}
	out := &RolloutList{Namespace: ns, ReadOnly: s.opts.ReadOnly, Rollouts: []rolloutview.Rollout{}}
	now := s.opts.Now()
	for i := range ros.Items {
		ro := &ros.Items[i]
		out.Rollouts = append(out.Rollouts, listed(view(ro, byOwner[ro.UID], nil, nil, nil, now)))
	}
	sort.Slice(out.Rollouts, func(i, j int) bool {
		a, b := out.Rollouts[i], out.Rollouts[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

// rolloutDetail reads the rollout page of one Rollout through c: the API
// server, or a stream's shared cache.
func (s *Server) rolloutDetail(ctx context.Context, c client.Reader, ns, name string) (*RolloutPage, error) {
	var ro v1alpha1.Rollout
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ro); err != nil {
		return nil, err
	}
	var rss appsv1.ReplicaSetList
	if err := c.List(ctx, &rss, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing Pods: %w", err)
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.List(ctx, &runs, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	var exps v1alpha1.ExperimentList
	if err := c.List(ctx, &exps, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing Experiments: %w", err)
	}
	p := page(&ro, view(&ro, rss.Items, pods.Items, runs.Items, exps.Items, s.opts.Now()), s.opts.ReadOnly)
	return &p, nil
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

// writeAPIError answers with the status code of a Kubernetes API error
// (404, 403, 409, 422, ...) or 502 for a cluster that cannot be reached.
func writeAPIError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code != 0 {
		code = int(status.Status().Code)
	}
	writeError(w, code, err)
}

// sameOrigin reports whether a browser request comes from the dashboard's
// own pages: an Origin header, when present, must name the request's host.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}
