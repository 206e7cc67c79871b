#!/usr/bin/env bash
# Builds the control plane the end-to-end tests and the demo run on (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm,
# kstatus) from this Go module, once per machine: the binaries go to
#   ${VOLUME_CLONE_CACHE:-~/.cache/volume-clone}/control-plane/<hash>/bin
# where <hash> covers go.mod, go.sum, the main packages and this script, so a
# second run only prints the directory. Go's module and build caches stay
# where Go keeps them. Prints the bin directory on stdout (last line); progress
# goes to stderr.
#
#   e2e/control-plane/build.sh [--print]   (--print: the directory only, no build)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

KUBERNETES_VERSION=v1.37.2
hash="$( (cat go.mod go.sum build.sh; find cmd -name '*.go' | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16)"
cache="${VOLUME_CLONE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/volume-clone}/control-plane"
bin="$cache/$hash/bin"
tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl helm kstatus)

complete() {
  local tool
  for tool in "${tools[@]}"; do [ -x "$bin/$tool" ] || return 1; done
}

if [ "${1:-}" = "--print" ]; then
  echo "$bin"
  exit 0
fi
if complete; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "build.sh: 'go' (1.26 or newer) is not on PATH; it builds the Kubernetes control plane from source" >&2
  exit 1
fi

major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# helm reports the version of its module (helm version, and the kubeVersion checks of charts).
helm_version="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' go.mod)"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"

mkdir -p "$cache"
staging="$(mktemp -d "$cache/.build-$hash.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "build.sh: building Kubernetes $KUBERNETES_VERSION, etcd, helm and kstatus from source into $bin (a first build takes 10-25 minutes on 2 cores)" >&2
start=$SECONDS
go build -trimpath -ldflags "$ldflags" -o "$staging/" ./cmd/... helm.sh/helm/v3/cmd/helm
mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
chmod 755 "$bin"
echo "build.sh: the control plane was built in $((SECONDS - start)) s" >&2
echo "$bin"
