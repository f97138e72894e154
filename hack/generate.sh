#!/usr/bin/env bash
# Writes the generated code of the API types into the tree rooted at $2:
# deepcopy functions beside the types and CRDs under config/crd/bases.
set -euo pipefail
controller_gen=$1
out=$2
cd "$(dirname "$0")/.."
"$controller_gen" object paths=./api/... output:object:dir="$out/api/v1alpha1"
"$controller_gen" crd:crdVersions=v1 paths=./api/... output:crd:dir="$out/config/crd/bases"
