// Package devcluster runs a real Kubernetes control plane as local processes:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, which
// plays the kubelet of a few fake nodes. It backs `kanaria dev`, the end-to-end
// tests (one cluster per test package, see RunTests) and the benchmarks.
// Fault tests restart single components of a running cluster
// (RestartAPIServer, RestartComponent).
//
// No container engine is needed: the binaries are built once from the Go
// modules under hack/tools (see EnsureBinaries) and cached per version, so
// only the first run on a machine pays for the build.
//
// Pods never run anything. kwok moves them through their lifecycle according
// to a fixed set of stages written by this package (see the Simulate*
// constants): ordinary Pods become Running and Ready, Job Pods succeed, and
// labels or an image marker make a Pod fail or never become ready.
package devcluster
