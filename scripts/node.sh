#!/usr/bin/env bash
# The test cluster's one node, on this machine, for the control plane of scripts/cluster.sh:
# containerd + runc (Debian), CNI bridge/host-local/portmap/loopback on a private bridge, kubelet
# and kube-proxy (iptables) built from the control plane's Kubernetes version, CoreDNS for Service
# names and kube-router's network-policy controller (iptables + ipset) as NetworkPolicy enforcer.
#   node.sh build    build the node's Go binaries into the per-user cache (no-op when cached)
#   node.sh up       start the node against the running control plane; wait until it is Ready
#                    (LORAPLEX_NODE_LABELS=k=v,... : labels the kubelet registers the node with)
#   node.sh down     stop it and remove what it made: processes, mounts, network namespaces,
#                    veths, the bridge, iptables chains and ipsets, cgroups
#   node.sh status   say whether it runs
# Pods get addresses from 10.244.0.0/24 on the bridge lpx0 (gateway 10.244.0.1, the node's
# InternalIP). Everything the node serves listens on that bridge address or on loopback; Pods
# reach the apiserver and the local PostgreSQL, Redis and S3 server through forwarders on it.
set -euo pipefail
# shellcheck source=scripts/node-lib.sh
. "$(dirname "$0")/node-lib.sh"

KUBELET_TIMEOUT=${LORAPLEX_NODE_TIMEOUT:-180}
KUBE_PROXY_HEALTHZ_PORT=${LORAPLEX_KUBE_PROXY_HEALTHZ_PORT:-10256}
KUBE_PROXY_METRICS_PORT=${LORAPLEX_KUBE_PROXY_METRICS_PORT:-10249}
# Ports forwarded from the bridge address to the same service on loopback (pod-port:host-port).
FORWARDS=("$APISERVER_POD_PORT:$APISERVER_PORT" "${LORAPLEX_PG_PORT:-25432}:${LORAPLEX_PG_PORT:-25432}"
  "${LORAPLEX_REDIS_PORT:-26379}:${LORAPLEX_REDIS_PORT:-26379}" "${LORAPLEX_S3_PORT:-29000}:${LORAPLEX_S3_PORT:-29000}")

# ---------- build ----------

build_module() { # name module-dir ldflags package... -> prints the bin folder
  local name=$1 dir=$2 ldflags=$3; shift 3
  local out; out=$(go_cache_dir "$name" "$dir" "$ldflags $*")
  if [ -f "$out/bin/.complete" ]; then echo "$out/bin"; return 0; fi
  mkdir -p "$out"
  exec 8>"$out/.lock"
  flock 8
  if [ -f "$out/bin/.complete" ]; then exec 8>&-; echo "$out/bin"; return 0; fi
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$out/bin.tmp.XXXXXX") && chmod 755 "$tmp"
  note "building $name ($*) into $out"
  (cd "$dir" && GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 go build -p "${LORAPLEX_BUILD_JOBS:-$(nproc)}" \
    -trimpath -buildvcs=false -ldflags "-s -w $ldflags" -o "$tmp/" "$@") \
    || { rm -rf "$tmp"; die "building $name failed (see the compiler output above)"; }
  touch "$tmp/.complete"
  rm -rf "$out/bin" && mv "$tmp" "$out/bin"
  exec 8>&-
  note "built $name in $((SECONDS - start))s"
  # Keep the two newest builds of each module.
  (cd "$cache" && ls -1dt -- "$name"-*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf --)
  echo "$out/bin"
}

build() { # prints the folder holding every node binary (links into the per-module caches)
  command -v go >/dev/null 2>&1 || die "go not found: install Go >= 1.26"
  local src="$root/test/cluster" kube kminor kx k8s kr dns bin
  kube=$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$src/node/go.mod")
  [ -n "$kube" ] || die "cannot read the k8s.io/kubernetes version from $src/node/go.mod"
  kminor=${kube#v1.}; kminor=${kminor%%.*}
  kx="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1"
  kx+=" -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/component-base/version.gitTreeState=clean"
  k8s=$(build_module node-k8s "$src/node" "$kx" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy ./pause)
  kr=$(build_module node-kube-router "$src/tools/kube-router" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  dns=$(build_module node-coredns "$src/tools/coredns" "" .)
  bin="$cache/node-bin"
  mkdir -p "$bin"
  ln -sfn "$k8s/kubelet" "$bin/kubelet"
  ln -sfn "$k8s/kube-proxy" "$bin/kube-proxy"
  ln -sfn "$k8s/pause" "$bin/pause"
  ln -sfn "$kr/kube-router" "$bin/kube-router"
  ln -sfn "$dns/coredns" "$bin/coredns"
  echo "$bin"
}

# ---------- helpers ----------

kubectl_() { "$CLUSTER_BIN/kubectl" --kubeconfig "$root/.loraplex/kubeconfig" "$@"; }

pid_alive() { # name -> pid of our running process of that name
  local f="$state/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_bg() { # name command... ; its own session, log in $state/name.log
  local name=$1; shift
  setsid "$@" </dev/null >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

stop_named() { # name [signal-wait-seconds]
  local pid
  pid=$(pid_alive "$1") || { rm -f "$state/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((${2:-15} * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/$1.pid"
}

fail_with_log() { # name message
  local last; last=$(grep -v '^\s*$' "$state/$1.log" 2>/dev/null | tail -n 1 | cut -c1-300)
  die "$2: ${last:-no output}; full log: $state/$1.log"
}

# ---------- preflight ----------

preflight() {
  need_root
  ensure_packages
  # Kernel features the node needs: a missing one fails here with its fix, not deep in a log.
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null \
    || die "kernel lacks br_netfilter (bridged Pod traffic would bypass Service rules): load it with 'modprobe br_netfilter' or use a kernel with CONFIG_BRIDGE_NETFILTER"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null \
    || die "kernel lacks overlayfs (containerd's snapshotter): load it with 'modprobe overlay' or use a kernel with CONFIG_OVERLAY_FS"
  iptables -t nat -S >/dev/null 2>&1 || die "iptables cannot use the nat table: load iptable_nat/nf_nat or use a kernel with CONFIG_NF_NAT"
  ipset list -n >/dev/null 2>&1 || die "ipset does not work: use a kernel with CONFIG_IP_SET (and ip_set_hash_ip/net)"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] \
    || die "no cgroup hierarchy with the memory controller under /sys/fs/cgroup: mount cgroups (v1 or v2)"
  if ip link show "$BRIDGE" >/dev/null 2>&1 && ! [ -f "$run/owner" ]; then
    die "bridge $BRIDGE exists but no Loraplex node owns it: remove it with 'ip link del $BRIDGE'"
  fi
  if [ -f "$run/owner" ] && [ "$(cat "$run/owner")" != "$root" ]; then
    die "another checkout runs the Loraplex node on this machine ($(cat "$run/owner")): run 'make cluster-down' there first"
  fi
  local p
  for p in "$KUBE_PROXY_HEALTHZ_PORT:LORAPLEX_KUBE_PROXY_HEALTHZ_PORT" "$KUBE_PROXY_METRICS_PORT:LORAPLEX_KUBE_PROXY_METRICS_PORT"; do
    (exec 3<>"/dev/tcp/127.0.0.1/${p%%:*}") 2>/dev/null \
      && die "port ${p%%:*} on 127.0.0.1 (kube-proxy) is in use by another program; free it or set ${p#*:}"
  done
  if ip route show | grep -v "dev $BRIDGE" | grep -q "^10\.244\.0\."; then
    die "10.244.0.0/24 is already routed on this machine ($(ip route show | grep '^10\.244\.0\.' | head -n 1)); the node's Pod network would clash with it"
  fi
}

# ---------- configuration files ----------

write_configs() {
  local pki="$cluster_data/pki"
  mkdir -p "$state/cni" "$run" "$varlib"
  cat >"$state/containerd.toml" <<EOF
# Written by scripts/node.sh.
version = 2
root = "$ctrd_root"
state = "$run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE_PREFIX/pause:$(cat "$state/pause-image-tag")"
  # These machines lack CAP_SYS_RESOURCE: lowering a sandbox's oom_score_adj would make runc
  # fail with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni"
EOF
  cat >"$state/cni/10-loraplex.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "loraplex",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$run/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  : >"$state/resolv.conf" # no upstream resolvers: Pods resolve cluster names only
  # kind's kubelet settings for a node inside a container, on cgroup v1 with the cgroupfs driver.
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GW
port: 10250
readOnlyPort: 0
healthzPort: 0
cgroupDriver: cgroupfs
cgroupRoot: /kubelet
failCgroupV1: false
failSwapOn: false
localStorageCapacityIsolation: false
evictionHard: {memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDNS: [$GW]
clusterDomain: cluster.local
resolvConf: $state/resolv.conf
containerRuntimeEndpoint: unix://$CTRD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
serializeImagePulls: false
rotateCertificates: false
shutdownGracePeriod: 0s
EOF
  cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $cluster_data/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: $GW
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
# NodePorts answer on loopback only (the router's URL for the e2e tests and a person).
nodePortAddresses: [127.0.0.0/8]
iptables: {localhostNodePorts: true, syncPeriod: 30s, minSyncPeriod: 1s}
# Leave the machine's conntrack sysctls alone (kind does the same inside containers).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  cat >"$state/Corefile" <<EOF
.:53 {
  bind $GW
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $root/.loraplex/kubeconfig loraplex-test
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  cache 30
}
EOF
}

# ---------- up ----------

make_cgroups() {
  # kubelet (cgroupRoot /kubelet) refuses to start unless the cgroup exists in every hierarchy.
  local h
  for h in /sys/fs/cgroup/*/; do
    mountpoint -q "$h" || continue
    mkdir -p "$h/kubelet"
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h/kubelet/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/kubelet/cpuset.mems"
    fi
  done
}

make_network() {
  # Saved so `down` puts the machine's sysctls back as they were.
  [ -f "$run/sysctl.saved" ] || {
    echo "net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward)"
    echo "net.ipv4.conf.all.route_localnet=$(sysctl -n net.ipv4.conf.all.route_localnet)"
    echo "net.bridge.bridge-nf-call-iptables=$(sysctl -n net.bridge.bridge-nf-call-iptables)"
  } >"$run/sysctl.saved"
  ip link add "$BRIDGE" type bridge
  ip addr add "$GW/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # Forwarding is on for Pod <-> Service traffic on the bridge; nothing from a Pod may leave
  # through another interface (Pods talk to each other, Services and the node only).
  iptables -I FORWARD -s "$POD_CIDR" ! -o "$BRIDGE" -m comment --comment loraplex-node -j DROP
  iptables -I FORWARD -d "$POD_CIDR" ! -i "$BRIDGE" -m comment --comment loraplex-node -j DROP
}

start_forwarders() {
  local f
  for f in "${FORWARDS[@]}"; do
    start_bg "forward-${f%%:*}" socat "TCP-LISTEN:${f%%:*},bind=$GW,fork,reuseaddr" "TCP:127.0.0.1:${f#*:}"
  done
}

# Pods find the apiserver through the "kubernetes" Service (10.0.0.1:443); the control plane
# runs without an endpoint reconciler, so the node publishes the slice: the forwarder on GW.
publish_apiserver_endpoints() {
  kubectl_ apply --server-side --field-manager=loraplex-node -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: loraplex-node}
addressType: IPv4
endpoints: [{addresses: ["$GW"], conditions: {ready: true}}]
ports: [{name: https, port: $APISERVER_POD_PORT, protocol: TCP}]
EOF
}

wait_for() { # seconds name message check...
  local secs=$1 name=$2 msg=$3 start=$SECONDS; shift 3
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && ! pid_alive "$name" >/dev/null; then fail_with_log "$name" "$name exited: $msg"; fi
    ((SECONDS - start < secs)) || fail_with_log "${name:-kubelet}" "$msg within ${secs}s"
    sleep 0.5
  done
}

up() {
  local start=$SECONDS bin
  [ -f "$root/.loraplex/kubeconfig" ] && [ -f "$cluster_data/node.kubeconfig" ] \
    || die "the control plane is not running: start it with 'make cluster-up' (or bash scripts/cluster.sh up)"
  CLUSTER_BIN=$(bash "$root/scripts/cluster.sh" bin-dir)
  if pid_alive kubelet >/dev/null && kubectl_ get node "$NODE_NAME" >/dev/null 2>&1; then
    note "already running"; return 0
  fi
  preflight
  down_quiet
  bin=$(build)
  mkdir -p "$state" "$run" && echo "$root" >"$run/owner"
  bash "$root/scripts/images.sh" pause >"$state/pause-image-tag"
  write_configs
  make_cgroups
  make_network

  start_bg containerd containerd --config "$state/containerd.toml"
  wait_for 30 containerd "containerd did not come up" ctr_ version
  bash "$root/scripts/images.sh" import-pause

  start_forwarders
  # A Node object left from an earlier run still says Ready: let the kubelet register afresh, so
  # the wait below sees this kubelet's status (Pods bound to the node are taken over as usual).
  kubectl_ delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  start_bg kubelet "$bin/kubelet" --config "$state/kubelet.yaml" \
    --kubeconfig "$cluster_data/node.kubeconfig" --hostname-override "$NODE_NAME" --node-ip "$GW" \
    --root-dir "$varlib/kubelet" --cert-dir "$varlib/pki" ${LORAPLEX_NODE_LABELS:+--node-labels "$LORAPLEX_NODE_LABELS"}
  wait_for "$KUBELET_TIMEOUT" kubelet "the kubelet did not register node $NODE_NAME" kubectl_ get node "$NODE_NAME"
  # What the node-ipam controller would do: the Pod range, for kube-proxy and kube-router.
  kubectl_ patch node "$NODE_NAME" --type merge \
    -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null 2>&1 || true
  publish_apiserver_endpoints

  start_bg kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml"
  start_bg kube-router "$bin/kube-router" --kubeconfig "$root/.loraplex/kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-cni=false --enable-ipv6=false --service-cluster-ip-range "$SERVICE_CIDR" \
    --health-port 0 --metrics-port 0
  start_bg coredns "$bin/coredns" -conf "$state/Corefile"
  wait_for "$KUBELET_TIMEOUT" kubelet "node $NODE_NAME did not become Ready" \
    kubectl_ wait --for=condition=Ready --timeout=2s node "$NODE_NAME"
  # The kubelet registers the node tainted not-ready; the node-lifecycle controller, which the
  # test control plane does not run, would lift the taint once the node is Ready.
  kubectl_ taint node "$NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  local p; for p in kube-proxy kube-router coredns; do pid_alive "$p" >/dev/null || fail_with_log "$p" "$p exited"; done
  note "node $NODE_NAME Ready in $((SECONDS - start))s (Pods on $POD_CIDR via $BRIDGE; logs in $state)"
}

# ---------- down ----------

kill_cgroup_tree() { # every process still in the kubelet's cgroups (the Pods' containers)
  local procs
  procs=$(find /sys/fs/cgroup/pids/kubelet /sys/fs/cgroup/memory/kubelet -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u || true)
  [ -n "$procs" ] && kill -KILL $procs 2>/dev/null || true
}

remove_containers() {
  [ -S "$CTRD_SOCK" ] && pid_alive containerd >/dev/null || return 0
  local id
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 0.5
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
}

remove_netns() { # the Pods' network namespaces: those holding an address of our Pod range
  local ns
  for ns in $(ls /run/netns 2>/dev/null); do
    [[ $ns == cni-* ]] || continue
    ip -n "$ns" -4 addr 2>/dev/null | grep -q "inet 10\.244\.0\." || continue
    umount "/run/netns/$ns" 2>/dev/null || umount -l "/run/netns/$ns" 2>/dev/null || true
    rm -f "/run/netns/$ns"
  done
}

unmount_under() { # every mount below these folders, deepest first
  local d m
  for d in "$@"; do
    awk -v d="$d/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
}

remove_iptables() {
  local bin="$cache/node-bin"
  [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  [ -x "$bin/kube-router" ] && "$bin/kube-router" --cleanup-config >/dev/null 2>&1 || true
  local table rule chain
  # Whatever is left of ours: rules that jump to or are tagged for our chains, then the chains.
  for table in filter nat mangle raw; do
    iptables -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*(-j (KUBE-|CNI-)|loraplex-node)' \
      | while read -r rule; do eval "iptables -t $table ${rule/-A/-D}" 2>/dev/null || true; done || true
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ { print $2 }'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ { print $2 }'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-|TMP-)'); do ipset destroy "$set" 2>/dev/null || true; done
}

remove_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubelet; do
    [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

restore_sysctls() {
  [ -f "$run/sysctl.saved" ] || return 0
  local line
  while read -r line; do sysctl -qw "$line" 2>/dev/null || true; done <"$run/sysctl.saved"
}

down_quiet() {
  mkdir -p "$state"
  local p
  for p in coredns kube-router kube-proxy kubelet; do stop_named "$p"; done
  kill_cgroup_tree
  remove_containers
  stop_named containerd 20
  # Shims of our containerd that outlived it (each names our socket on its command line).
  local pid
  for pid in $(pgrep -f "containerd-shim.*-address $CTRD_SOCK" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  kill_cgroup_tree
  for p in "$state"/forward-*.pid; do
    if [ -f "$p" ]; then stop_named "$(basename "$p" .pid)" 2; fi
  done
  remove_netns
  unmount_under "$varlib" "$run"
  ip link del "$BRIDGE" 2>/dev/null || true
  remove_iptables
  remove_cgroups
  restore_sysctls
  rm -rf "$run" "$varlib"
}

down() {
  need_root
  down_quiet
  note "stopped; no node processes, mounts, bridge, iptables chains or cgroups left"
}

status() {
  local pid
  pid=$(pid_alive kubelet) || { echo "node: not running"; return 3; }
  echo "node: $NODE_NAME running (kubelet pid $pid, Pods on $POD_CIDR via $BRIDGE)"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: node.sh build|up|down|status" ;;
esac
