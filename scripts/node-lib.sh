# Shared settings and helpers of scripts/node.sh and scripts/images.sh (sourced, not run).
# The node is one per machine: it owns a bridge, iptables chains and cgroups that are global.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/loraplex"
state="$root/.loraplex/node"     # configs, logs, pid files of this checkout's node
run=/run/loraplex-node           # sockets, containerd state (container mounts), CNI IPAM
varlib=/var/lib/loraplex-node    # kubelet root dir (volume mounts)
ctrd_root="$cache/containerd"    # images and snapshots: kept by `down`, so a warm `up` imports nothing
cluster_data="$root/.loraplex/cluster/data"

NODE_NAME=loraplex-node # the name test/cluster/pki.go issues the kubelet's identity for
BRIDGE=lpx0
POD_CIDR=10.244.0.0/24
GW=10.244.0.1 # the node's InternalIP, the Pods' gateway, DNS and forwarders to loopback services
SERVICE_CIDR=10.0.0.0/24 # the control plane's --service-cluster-ip-range
APISERVER_PORT=${LORAPLEX_CLUSTER_PORT:-56443}
APISERVER_POD_PORT=6443 # where Pods reach the apiserver (GW:6443 -> 127.0.0.1:$APISERVER_PORT)
ROUTER_NODE_PORT=${LORAPLEX_ROUTER_NODE_PORT:-30080}
CTRD_SOCK="$run/containerd.sock"
IMAGE_PREFIX=loraplex.local

die() { echo "node: $*" >&2; exit 1; }
note() { echo "node: $*" >&2; }

need_root() {
  [ "$(id -u)" = 0 ] || die "a node needs root (bridge, iptables, cgroups, containerd): run as root or with sudo"
}

apt_install() {
  need_root
  note "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 # RUNLEVEL=1: Debian's init scripts start no system-wide containerd
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || die "apt-get install $* failed; run it by hand to see why"
}

# Debian packages the node uses; installed when a command is missing.
ensure_packages() {
  local missing=() pair
  for pair in containerd:containerd runc:runc ctr:containerd iptables:iptables ipset:ipset \
    conntrack:conntrack socat:socat /usr/lib/cni/bridge:containernetworking-plugins \
    mmdebstrap:mmdebstrap; do
    local cmd=${pair%%:*} pkg=${pair#*:}
    if [[ $cmd == /* ]]; then [ -x "$cmd" ] && continue; else command -v "$cmd" >/dev/null 2>&1 && continue; fi
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

ctr_() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# Go binaries, cached per module by content (like scripts/cluster.sh does for the control plane):
# a change to CoreDNS's module does not rebuild the kubelet.
go_cache_dir() { # name dir recipe -> cache folder keyed by the module's files, the build flags and Go
  local name=$1 dir=$2 recipe=$3 key
  key=$(
    cd "$dir"
    echo "recipe 1 $name $recipe" $(go env GOVERSION GOOS GOARCH)
    for f in $(find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort); do
      echo "== $f"; cat "$f"
    done
  )
  echo "$cache/$name-$(sha256sum <<<"$key" | cut -c1-16)"
}
