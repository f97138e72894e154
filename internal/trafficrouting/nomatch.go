package trafficrouting

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
)

// IsNoKind reports whether err says the API server does not serve the kind
// asked for: the REST mapper finds no resource for it, or discovery has no
// such group. Routers that look for an object in several API versions use
// it to move on to the next one.
func IsNoKind(err error) bool {
	if meta.IsNoMatchError(err) {
		return true
	}
	var gd *discovery.ErrGroupDiscoveryFailed
	return errors.As(err, &gd)
}
