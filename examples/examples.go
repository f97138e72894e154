// Package examples embeds the example manifests so the kanaria binary can
// apply them in the demo.
package examples

import _ "embed"

// CanaryDemo is canary-demo.yaml: two Services and a canary Rollout.
//
//go:embed canary-demo.yaml
var CanaryDemo []byte
