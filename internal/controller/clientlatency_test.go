package controller

import "testing"

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/ns/pods/p":                                 "pods",
		"/api/v1/namespaces/ns/services":                               "services",
		"/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/status":   "rollouts/status",
		"/apis/networking.k8s.io/v1/namespaces/ns/ingresses/canary":    "ingresses",
		"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x": "leases",
		"/apis/apiextensions.k8s.io/v1/customresourcedefinitions":      "customresourcedefinitions",
		"/api/v1/nodes/n1": "nodes",
		"/version":         "other",
	} {
		if got := resourceOf(path); got != want {
			t.Errorf("resourceOf(%q) = %q, want %q", path, got, want)
		}
	}
}
