package devcluster

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes an admin kubeconfig whose cluster, user and
// context are named after the cluster, so that several local clusters can
// be merged into one KUBECONFIG without clashing.
func writeKubeconfig(path, name, server string, caData []byte, token string) error {
	user := name + "-admin"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// restConfigFromKubeconfig loads the current context of a kubeconfig file
// with raised client limits.
func restConfigFromKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	return cfg, nil
}

// Attach returns a Cluster for an existing cluster reached through the
// current context of a kubeconfig file, for running tests against a cluster
// started elsewhere. Its Stop does nothing, and Binaries and Dir are empty.
func Attach(kubeconfigPath string) (*Cluster, error) {
	cfg, err := restConfigFromKubeconfig(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	raw, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfigPath, err)
	}
	return &Cluster{
		name:       raw.CurrentContext,
		kubeconfig: kubeconfigPath,
		config:     cfg,
		done:       make(chan struct{}),
	}, nil
}
