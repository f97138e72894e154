// Package crd embeds the generated CustomResourceDefinitions so that the
// kanaria binary can install them (the demo does) without the source tree.
package crd

import "embed"

// Bases holds bases/*.yaml, one CRD per file.
//
//go:embed bases/*.yaml
var Bases embed.FS
