#!/usr/bin/env bash
# Prints the replace block that pins every k8s.io staging module of
# k8s.io/kubernetes $1 (e.g. v1.37.2) to its published v0.X.Y: the upstream
# go.mod points them at ./staging/src/k8s.io/*, which a dependent module lacks.
set -euo pipefail
version="${1:?usage: gen-replaces.sh v1.37.2}"
staging="v0.${version#v1.}"
echo "replace ("
curl -fsS "${GOPROXY_BASE:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$version.mod" |
  sed -nE 's#^[[:space:]]*(k8s\.io/[^[:space:]]+) => \./staging/src/k8s\.io/.*#\1#p' |
  sort | while read -r module; do
    printf '\t%s => %s %s\n' "$module" "$module" "$staging"
  done
echo ")"
