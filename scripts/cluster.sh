#!/usr/bin/env bash
# Kubernetes test control plane (etcd + kube-apiserver + kube-controller-manager in one
# process, see test/cluster/main.go), plus kubectl and helm, all built from Go modules.
#   cluster.sh build    build the three binaries into a per-user cache (no-op when cached)
#   cluster.sh bin-dir  print the cached bin directory, building first if needed
#   cluster.sh up       start the control plane on loopback; kubeconfig in .loraplex/kubeconfig
#   cluster.sh down     stop it
#   cluster.sh status   say whether it runs and answers
# Binaries live in ${XDG_CACHE_HOME:-~/.cache}/loraplex/cluster-<key>/bin, where <key> hashes
# everything that decides their content, so checkouts and worktrees share one build.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/test/cluster"
state="$root/.loraplex/cluster"
kubeconfig="$root/.loraplex/kubeconfig"
pidfile="$state/cluster.pid"
log="$state/cluster.log"
PORT=${LORAPLEX_CLUSTER_PORT:-56443}
ETCD_PORT=${LORAPLEX_ETCD_PORT:-52379}
ETCD_PEER_PORT=${LORAPLEX_ETCD_PEER_PORT:-52380}
START_TIMEOUT=${LORAPLEX_CLUSTER_TIMEOUT:-180}
# Bump when the build recipe below changes in a way the hashed files do not show.
RECIPE=1

die() { echo "cluster: $*" >&2; exit 1; }
note() { echo "cluster: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_go() {
  command -v go >/dev/null 2>&1 || die "go not found: install Go >= 1.26"
  local v; v=$(go env GOVERSION)
  [[ $v =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] >= 26)) || die "$v is too old: install Go >= 1.26"
}

# Version of a required module, read from a go.mod (the first "path vX" match).
mod_version() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$1"; }

cache_dir() {
  local key
  key=$(
    cd "$src"
    echo "recipe $RECIPE" $(go env GOVERSION GOOS GOARCH)
    for f in go.mod go.sum $(ls -- *.go | LC_ALL=C sort) tools/helm/go.mod tools/helm/go.sum; do
      echo "== $f"; cat "$f"
    done
  )
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/loraplex/cluster-$(sha256sum <<<"$key" | cut -c1-16)"
}

built() { [ -x "$1/bin/loraplex-cluster" ] && [ -x "$1/bin/kubectl" ] && [ -x "$1/bin/helm" ]; }

build() { # prints the bin directory on stdout
  need_go
  local dir; dir=$(cache_dir)
  if built "$dir"; then echo "$dir/bin"; return 0; fi
  mkdir -p "$dir"
  # One builder per key: a second caller (another terminal, a test run) waits, then finds the result.
  exec 9>"$dir/.lock"
  if command -v flock >/dev/null; then flock 9; fi
  if built "$dir"; then exec 9>&-; echo "$dir/bin"; return 0; fi

  local kube helm clientgo jobs tmp start
  kube=$(mod_version "$src/go.mod" k8s.io/kubernetes)
  helm=$(mod_version "$src/tools/helm/go.mod" helm.sh/helm/v3)
  clientgo=$(mod_version "$src/tools/helm/go.mod" k8s.io/client-go) # v0.34.2 -> helm's default kube 1.34
  [ -n "$kube" ] && [ -n "$helm" ] && [ -n "$clientgo" ] || die "cannot read pinned versions from test/cluster go.mod files"
  jobs=${LORAPLEX_BUILD_JOBS:-$(nproc)}
  note "building the test control plane (Kubernetes $kube), kubectl and helm $helm into $dir"
  note "a cold build compiles Kubernetes from source: 10-30 minutes on 2 cores; with a warm Go build cache, about a minute"
  start=$SECONDS
  tmp=$(mktemp -d "$dir/bin.tmp.XXXXXX") && chmod 755 "$tmp"

  # The kubernetes version normally comes from git at release time; set it so /version,
  # `kubectl version` and chart kubeVersion checks see v1.34.x and not v0.0.0-master.
  local kminor=${kube#v1.}; kminor=${kminor%%.*}
  local kx="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1"
  kx+=" -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/component-base/version.gitTreeState=clean"
  kx+=" ${kx//component-base/client-go\/pkg}"
  local hminor=${clientgo#v0.}; hminor=${hminor%%.*}
  local hx="-X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local p
  for p in pkg/chartutil pkg/lint/rules; do
    hx+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$hminor"
  done

  # -trimpath: paths of this checkout stay out of the binaries; -s -w: no symbol/debug tables.
  # GOTOOLCHAIN=local: build with the Go we checked, never download another one.
  # GOFLAGS cleared: a developer's own settings (e.g. -mod=mod) must not change what is built.
  # CGO_ENABLED=0: static binaries that need no C toolchain and run on any Linux.
  local common=(-p "$jobs" -trimpath -buildvcs=false)
  export GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0
  (cd "$src" && go build "${common[@]}" -ldflags "-s -w $kx" -o "$tmp/" . k8s.io/kubernetes/cmd/kubectl) \
    || { rm -rf "$tmp"; die "building the control plane and kubectl failed (see the compiler output above)"; }
  mv "$tmp/testcluster" "$tmp/loraplex-cluster"
  (cd "$src/tools/helm" && go build "${common[@]}" -ldflags "-s -w $hx" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm) \
    || { rm -rf "$tmp"; die "building helm failed (see the compiler output above)"; }
  rm -rf "$dir/bin"
  mv "$tmp" "$dir/bin"
  exec 9>&-
  note "built in $((SECONDS - start))s: $(cd "$dir/bin" && du -sh -- * | tr '\t\n' '= ' )"
  # Each change to the Go sources makes a new ~230 MB folder; keep only the two newest builds.
  (cd "$(dirname "$dir")" && ls -1dt -- cluster-*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf --)
  echo "$dir/bin"
}

# pid of our running control plane, if any (the pid file alone could name a reused pid).
running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "loraplex-cluster" || return 1
  echo "$pid"
}

healthy() { # $1 = bin dir
  [ -f "$kubeconfig" ] && [ "$("$1/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /readyz 2>/dev/null)" = ok ]
}

up() {
  local bin pid
  bin=$(build)
  if pid=$(running_pid); then
    healthy "$bin" || die "running (pid $pid) but /readyz does not answer ok; see $log, or run: bash scripts/cluster.sh down"
    echo "$kubeconfig"; return 0
  fi
  rm -f "$pidfile"
  local p
  for p in "$PORT:LORAPLEX_CLUSTER_PORT" "$ETCD_PORT:LORAPLEX_ETCD_PORT" "$ETCD_PEER_PORT:LORAPLEX_ETCD_PEER_PORT"; do
    port_open "${p%%:*}" && die "port ${p%%:*} is in use by another program; free it or set ${p#*:}"
  done
  mkdir -p "$state/data"
  rm -f "$kubeconfig"
  : >"$log" # emptied here, not by the child's redirect, so no READY from a previous run is seen
  # setsid: its own session, so Ctrl-C in the terminal that ran `make cluster-up` does not stop it.
  setsid "$bin/loraplex-cluster" --data-dir "$state/data" --kubeconfig "$kubeconfig" \
    --port "$PORT" --etcd-port "$ETCD_PORT" --etcd-peer-port "$ETCD_PEER_PORT" \
    </dev/null >"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$pidfile"
  local start=$SECONDS
  until grep -q '^READY ' "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      die "control plane exited during start-up: $(grep -m1 '^loraplex-cluster: ' "$log" || tail -n 1 "$log"); full log: $log"
    fi
    if ((SECONDS - start >= START_TIMEOUT)); then
      stop_pid "$pid"
      die "control plane not ready after ${START_TIMEOUT}s; see $log"
    fi
    sleep 0.2
  done
  note "ready in $((SECONDS - start))s: https://127.0.0.1:$PORT (log: $log)"
  echo "$kubeconfig"
}

stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    note "pid $pid did not stop within 30s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

down() {
  local pid
  if pid=$(running_pid); then
    stop_pid "$pid"
    note "stopped (pid $pid)"
  else
    rm -f "$pidfile"
    note "not running"
  fi
}

status() {
  local pid dir
  pid=$(running_pid) || { echo "cluster: not running"; return 3; }
  need_go
  dir=$(cache_dir) # no build here: status must stay instant
  if ! built "$dir"; then
    echo "cluster: running (pid $pid) at https://127.0.0.1:$PORT, kubeconfig $kubeconfig (not health-checked: binaries not built for this source)"
  elif healthy "$dir/bin"; then
    echo "cluster: running (pid $pid) at https://127.0.0.1:$PORT, kubeconfig $kubeconfig"
  else
    echo "cluster: running (pid $pid) but /readyz does not answer ok; see $log"; return 1
  fi
}

case "${1:-}" in
  build | bin-dir) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: cluster.sh build|bin-dir|up|down|status" ;;
esac
