package analysis

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretReader reads Secret keys straight from the API server, so the
// controller never caches (or needs to list) Secrets.
type SecretReader struct {
	// Reader is an uncached reader, e.g. the manager's APIReader.
	Reader client.Reader
}

// SecretValue returns the value of key in Secret name. Its errors name the
// Secret and key, never a value.
func (s SecretReader) SecretValue(ctx context.Context, namespace, name, key string) (string, error) {
	var sec corev1.Secret
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("Secret %s/%s does not exist", namespace, name)
		}
		return "", fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	v, ok := sec.Data[key]
	if !ok {
		if sv, ok := sec.StringData[key]; ok {
			return sv, nil
		}
		return "", fmt.Errorf("Secret %s/%s has no key %q", namespace, name, key)
	}
	return string(v), nil
}
