#!/usr/bin/env bash
# Writes the generated code of the API types into the tree rooted at $2:
# deepcopy functions beside the types and CRDs under config/crd/bases, and
# the Helm chart's copies of the CRDs and of the controller's ClusterRole, so
# the chart and the kustomize install never drift apart.
set -euo pipefail
controller_gen=$1
out=$2
cd "$(dirname "$0")/.."
"$controller_gen" object paths=./api/... output:object:dir="$out/api/v1alpha1"
"$controller_gen" crd:crdVersions=v1 paths=./api/... output:crd:dir="$out/config/crd/bases"
# The API server does not hold an int32 field to its range by its format
# alone; a number beyond it would be stored and then fail to decode in every
# client. Bounds on every int32 make the API server refuse it, naming the field.
for f in "$out"/config/crd/bases/*.yaml; do
  sed -E -i 's/^( *)format: int32$/\1format: int32\n\1maximum: 2147483647\n\1minimum: -2147483648/' "$f"
done
mkdir -p "$out/charts/kanaria/crds" "$out/charts/kanaria/files"
rm -f "$out"/charts/kanaria/crds/*.yaml
cp "$out"/config/crd/bases/*.yaml "$out/charts/kanaria/crds/"
cp config/install/clusterrole.yaml "$out/charts/kanaria/files/clusterrole.yaml"
