package controller

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// requiredResources are the argoproj.io/v1alpha1 resources the controller
// watches; its caches cannot start before the cluster serves all of them.
var requiredResources = []string{"rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates"}

// apiWaitLogEvery spaces the lines that say the controller still waits.
const apiWaitLogEvery = 30 * time.Second

// WaitForAPI returns once the cluster serves every argoproj.io/v1alpha1
// resource the controller watches, checking every interval. A controller
// started before its CustomResourceDefinitions (installed by another tool,
// or in the same apply) would otherwise exit at once and wait out the
// kubelet's growing restart back-off, up to five minutes, after the
// definitions arrived. If ctx ends first it returns ctx's error wrapped
// with what discovery last lacked, so a caller with a deadline can say why
// it gave up.
func WaitForAPI(ctx context.Context, disco discovery.DiscoveryInterface, log logr.Logger, interval time.Duration) error {
	gv := v1alpha1.GroupVersion.String()
	var lastLog time.Time
	for {
		missing, err := MissingResources(disco)
		if err == nil && len(missing) == 0 {
			if !lastLog.IsZero() {
				log.Info("the cluster serves the API now", "groupVersion", gv)
			}
			return nil
		}
		lacking := err
		if lacking == nil {
			lacking = fmt.Errorf("%s lacks %v", gv, missing)
		}
		if time.Since(lastLog) >= apiWaitLogEvery {
			if err != nil {
				log.Info("waiting for the API's CustomResourceDefinitions", "groupVersion", gv, "error", err.Error())
			} else {
				log.Info("waiting for the API's CustomResourceDefinitions", "groupVersion", gv, "missing", missing)
			}
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the %s CustomResourceDefinitions (%v): %w", gv, lacking, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// MissingResources lists the argoproj.io/v1alpha1 resources the controller
// watches that the cluster does not serve.
func MissingResources(disco discovery.DiscoveryInterface) ([]string, error) {
	gv := v1alpha1.GroupVersion.String()
	list, err := disco.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", gv, err)
	}
	var missing []string
	for _, want := range requiredResources {
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == want }) {
			missing = append(missing, want)
		}
	}
	return missing, nil
}

// ServeWaitingProbes answers the liveness and readiness probes at addr
// while the controller waits for its API, so the kubelet neither restarts
// a process that is only waiting nor sends it traffic: /healthz is ok,
// /readyz is not. The returned function stops the server before the
// manager binds the same address. An addr of "0" serves nothing.
func ServeWaitingProbes(addr string) (stop func(), err error) {
	if addr == "0" || addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving probes at %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "waiting for the argoproj.io/v1alpha1 CustomResourceDefinitions", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve ends with ErrServerClosed when stopped; any other end makes
		// the probes fail, and the kubelet then decides.
		_ = srv.Serve(ln)
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
