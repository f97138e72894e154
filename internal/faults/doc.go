// Package faults is `kanaria bench faults`: a fault suite that releases
// canary and blue-green Rollouts on a local cluster while it SIGKILLs the
// controller (alone, or the leader of two replicas), restarts the API
// server and makes the analyses' metrics backend error or hang, and a
// watcher that replays the cluster's changes in write order to check that
// no release loses capacity or sends traffic to Pods that are not there,
// that no ReplicaSet or AnalysisRun is created twice, and that every
// release ends as scripted.
//
// The checker is pure and table-tested; the runner needs a cluster, a
// kanaria binary to run as the controller and, for API server restarts, a
// local cluster this process started (see devcluster.Cluster).
package faults
