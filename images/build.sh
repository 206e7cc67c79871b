#!/usr/bin/env bash
# Builds the operator and agent images with buildah into OCI archives:
#   <out>/volume-clone-operator.oci.tar   ghcr.io/volume-clone/volume-clone-operator:<tag>
#   <out>/volume-clone.oci.tar            ghcr.io/volume-clone/volume-clone:<tag>
# from the Maven outputs (run `./mvnw -B -pl operator,node-agent -am package -DskipTests` first).
#
#   images/build.sh [--base upstream|debootstrap] [--out DIR] [--tag TAG]
#
# --base upstream (default) builds on the digests the Dockerfiles pin (Docker Hub's
#   debian:trixie-slim, distroless java21); it needs those registries.
# --base debootstrap builds on Debian trixie bootstrapped from the Debian archive, for machines that
#   reach no registry (this project's CI): a minbase for the agent, the same plus
#   openjdk-21-jre-headless for the operator (in place of distroless java21). Each base is an OCI
#   layout cached under ~/.cache/volume-clone/images/ keyed by its inputs, and is handed to the
#   Dockerfile as BASE_IMAGE by its content digest, as the upstream bases are.
#
# buildah runs with --isolation chroot and the vfs driver, which work without a daemon, user
# namespaces or overlay mounts (inside a container, as root). Its storage lives under <out>, not in
# /var/lib/containers, so that builds in different checkouts never share or lock one store.
# The last line printed is the output directory.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
base=upstream
out="$root/images/target"
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/volume-clone/Chart.yaml")"
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "images/build.sh: unknown argument '$1' (use --base, --out, --tag)" >&2; exit 2 ;;
  esac
done
if [ -z "$tag" ]; then
  echo "images/build.sh: no --tag given and no appVersion in helm/volume-clone/Chart.yaml" >&2
  exit 2
fi
case "$base" in
  upstream | debootstrap) ;;
  *) echo "images/build.sh: --base is 'upstream' or 'debootstrap', not '$base'" >&2; exit 2 ;;
esac
for jar in node-agent/target/volume-clone.jar operator/target/volume-clone-operator.jar; do
  if [ ! -f "$root/$jar" ]; then
    echo "images/build.sh: $jar is missing; run ./mvnw -B -pl operator,node-agent -am package -DskipTests" >&2
    exit 1
  fi
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
buildah_() {
  buildah --root "$out/buildah/storage" --runroot "$out/buildah/run" --storage-driver vfs "$@"
}
# vfs keeps a full copy of the file system per layer: a store kept between builds grows by the
# images' size each time. The archives are the output; the store lives for one build.
discard_store() {
  rm -rf --one-file-system "$out/buildah"
}
discard_store

# Writes an OCI image layout of one uncompressed layer (the rootfs) and prints its manifest digest.
# Device nodes, apt's lists and caches are left out, as Debian's -slim images leave them out.
oci_layout() {
  local rootfs="$1" layout="$2" history="$3" layer config manifest
  mkdir -p "$layout/blobs/sha256"
  tar --create --file "$layout/layer.tar" --numeric-owner --xattrs --sort=name -C "$rootfs" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
    --exclude='./tmp/*' --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' .
  layer="$(blob "$layout" "$layout/layer.tar")"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"%s"}]}' \
    "${layer%% *}" "$history" >"$layout/config.json"
  config="$(blob "$layout" "$layout/config.json")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "${config%% *}" "${config##* }" "${layer%% *}" "${layer##* }" >"$layout/manifest.json"
  manifest="$(blob "$layout" "$layout/manifest.json")"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"base"}}]}' \
    "${manifest%% *}" "${manifest##* }" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  echo "sha256:${manifest%% *}"
}

# Moves a file into the layout's blobs under its digest; prints "<hex digest> <size>".
blob() {
  local layout="$1" file="$2" digest size
  digest="$(sha256sum "$file" | cut -d' ' -f1)"
  size="$(stat -c %s "$file")"
  mv "$file" "$layout/blobs/sha256/$digest"
  echo "$digest $size"
}

# Removes a half-made base. debootstrap mounts /proc and /sys inside the rootfs while it configures
# packages and leaves them mounted when it is interrupted: unmount first, and never let rm cross
# into another file system.
work=""
discard_work() {
  [ -n "$work" ] || return 0
  local mounted
  mounted="$(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)"
  [ -z "$mounted" ] || umount --lazy $mounted
  rm -rf --one-file-system "$work"
  work=""
}

# Bootstraps (or finds in the cache) Debian trixie with the given extra packages, loads it into
# the build's storage and prints its reference by digest.
debootstrap_base() {
  local name="$1" include="$2" suite=trixie variant=minbase mirror=http://deb.debian.org/debian
  local key cache digest
  # Everything that decides the layout's content, the code that writes it included (comments not):
  # a change to any of it is a new base.
  key="$(printf '%s\n' "$suite" "$variant" "$include" "$mirror" "$(declare -f oci_layout blob)" \
    | sha256sum | cut -c1-16)"
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/volume-clone/images/$name-$key"
  if [ ! -f "$cache/digest" ]; then
    local started=$SECONDS
    mkdir -p "${cache%/*}"
    work="$(mktemp -d "${cache%/*}/.$name.XXXXXX")"
    trap discard_work EXIT # this runs in a $(...) subshell, which has no EXIT trap of its own
    if ! debootstrap --variant="$variant" ${include:+--include="$include"} "$suite" "$work/rootfs" "$mirror" \
      >"$work/debootstrap.log" 2>&1; then
      tail -n 20 "$work/debootstrap.log" >&2
      echo "images/build.sh: debootstrap of $name failed (log: $work/debootstrap.log)" >&2
      exit 1
    fi
    digest="$(oci_layout "$work/rootfs" "$work/layout" \
      "debootstrap --variant=$variant${include:+ --include=$include} $suite $mirror")"
    echo "$digest" >"$work/layout/digest"
    rm -rf "$cache"
    mv "$work/layout" "$cache"
    discard_work
    # Bases of earlier inputs are never used again.
    find "${cache%/*}" -mindepth 1 -maxdepth 1 -name "$name-*" ! -name "${cache##*/}" \
      -exec rm -rf --one-file-system {} +
    echo "images/build.sh: bootstrapped $name ($digest) in $((SECONDS - started)) s, cached in $cache" >&2
  fi
  digest="$(cat "$cache/digest")"
  # A relative path: buildah names the pulled image after it, and an absolute one through
  # ~/.cache is no valid image name.
  buildah_ tag "$(cd "${cache%/*}" && buildah_ pull --quiet "oci:${cache##*/}:base")" \
    "localhost/volume-clone-ci/$name"
  echo "localhost/volume-clone-ci/$name@$digest"
}

build() {
  local dockerfile="$1" image="$2" archive="$3" base_image="$4" started=$SECONDS
  buildah_ bud --isolation chroot \
    ${base_image:+--build-arg BASE_IMAGE="$base_image"} \
    -f "$root/$dockerfile" -t "$image" "$root" >"$out/${archive%.oci.tar}.build.log" 2>&1 \
    || {
      tail -n 30 "$out/${archive%.oci.tar}.build.log" >&2
      echo "images/build.sh: building $image from $dockerfile failed (log: $out/${archive%.oci.tar}.build.log)" >&2
      exit 1
    }
  rm -f "$out/$archive"
  buildah_ push --quiet "$image" "oci-archive:$out/$archive:$image" >/dev/null
  echo "images/build.sh: $image -> $out/$archive in $((SECONDS - started)) s" >&2
}

trap discard_store EXIT
agent_base="" operator_base=""
if [ "$base" = debootstrap ]; then
  agent_base="$(debootstrap_base debian-trixie "")"
  operator_base="$(debootstrap_base debian-trixie-java21 openjdk-21-jre-headless)"
fi
build images/agent/Dockerfile "ghcr.io/volume-clone/volume-clone:$tag" volume-clone.oci.tar "$agent_base"
build images/operator/Dockerfile "ghcr.io/volume-clone/volume-clone-operator:$tag" volume-clone-operator.oci.tar "$operator_base"
echo "$out"
