#!/usr/bin/env bash
# Fails when the generated files checked into the tree differ from what
# `make generate` would write now, so stale CRDs or deepcopy never land.
set -euo pipefail
controller_gen=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/api/v1alpha1" "$tmp/config/crd/bases" "$tmp/charts/kanaria"
hack/generate.sh "$controller_gen" "$tmp"
status=0
diff -u api/v1alpha1/zz_generated.deepcopy.go "$tmp/api/v1alpha1/zz_generated.deepcopy.go" || status=1
diff -ru config/crd/bases "$tmp/config/crd/bases" || status=1
diff -ru charts/kanaria/crds "$tmp/charts/kanaria/crds" || status=1
diff -ru charts/kanaria/files "$tmp/charts/kanaria/files" || status=1
if [ "$status" -ne 0 ]; then
  echo "generated code is stale: run 'make generate' and commit the result" >&2
fi
exit "$status"
