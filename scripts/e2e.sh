#!/usr/bin/env bash
# Loraplex installed by its Helm chart on the local test cluster (control plane + one node):
#   e2e.sh up     cluster, images, `helm install` with test/e2e/values.yaml, the sample Tenants
#                 and a simulator shared pool; waits until both Tenants are Ready with their Pods
#                 Running, creates an API key per tenant and prints the router URL and the keys
#                 (also in .loraplex/e2e.json). Leaves everything running (`make e2e-up`).
#   e2e.sh test   up, then the end-to-end tests (test/e2e/, vitest.e2e.config.ts); stops the
#                 cluster afterwards unless it was already running (`make e2e`).
# Pods reach the machine's PostgreSQL, Redis and S3 server (scripts/services.sh, on loopback)
# through the node's forwarders on the bridge address 10.244.0.1 (scripts/node.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
NS=loraplex-system
ROUTER_URL="http://127.0.0.1:${LORAPLEX_ROUTER_NODE_PORT:-30080}"
WAIT=${LORAPLEX_E2E_TIMEOUT:-600}s
out="$root/.loraplex/e2e"

die() { echo "e2e: $*" >&2; exit 1; }
note() { echo "e2e: $*" >&2; }
bin=$(bash scripts/cluster.sh bin-dir)
export KUBECONFIG="$root/.loraplex/kubeconfig"
kubectl() { "$bin/kubectl" "$@"; }
helm() { "$bin/helm" "$@"; }

secret() { # namespace name key=value...
  local ns=$1 name=$2; shift 2
  local args=() kv
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$ns" create secret generic "$name" "${args[@]}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}

training_secret() { # namespace tenant: the S3 credentials a tenant's fine-tune Job reads (envFrom)
  secret "$1" "loraplex-s3-$2" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
    AWS_REGION=us-east-1 S3_ENDPOINT=http://10.244.0.1:29000
}

diagnose() { # what a person needs to see when a wait fails
  echo "--- pods ---" >&2; kubectl get pods -A -o wide >&2 || true
  echo "--- tenants / pools ---" >&2; kubectl get tenants,modelpools -A >&2 || true
  echo "--- recent events ---" >&2
  kubectl get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 25 >&2 || true
}

engines_ready() { # the shared pool's replica and globex's two, all Ready, none terminating
  local states
  # Pods that ended (Failed/Succeeded) are no replica of any rollout: left out.
  states=$(kubectl get pods -A -l app.kubernetes.io/name=loraplex-engine \
    --field-selector=status.phase!=Failed,status.phase!=Succeeded -o \
    jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [ "$(grep -c '^|True$' <<<"$states")" -ge 3 ] && ! grep -q '^|False$\|^|$' <<<"$states"
}

up() {
  local start=$SECONDS t
  bash scripts/services.sh up >/dev/null
  bash scripts/cluster.sh up >/dev/null
  # globex's dedicated pool asks for nodes labelled gpu-pool=globex (manifests/samples/globex.yaml).
  # The kubelet registers with the label, so Pods kept from an earlier run are not refused
  # (NodeAffinity) in the moment between registration and a later `kubectl label`.
  LORAPLEX_NODE_LABELS=gpu-pool=globex bash scripts/node.sh up
  # Pods of an earlier run that the kubelet refused or that ended stay until deleted (the test
  # control plane's Pod garbage collector only acts above thousands of them).
  kubectl delete pods -A --field-selector=status.phase=Failed --wait=false >/dev/null 2>&1 || true
  t=$SECONDS
  local ref; ref=$(bash scripts/images.sh all)
  note "images ready in $((SECONDS - t))s: $ref"

  mkdir -p "$out"
  [ -f "$out/admin-token" ] || head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$out/admin-token"
  [ -f "$out/key-secret" ] || head -c 32 /dev/urandom | base64 | tr '+/' '-_' >"$out/key-secret"
  kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  secret "$NS" loraplex-postgres url=postgres://loraplex:loraplex@10.244.0.1:25432/loraplex
  secret "$NS" loraplex-redis url=redis://10.244.0.1:26379
  secret "$NS" loraplex-s3 S3_ACCESS_KEY_ID=S3RVER S3_SECRET_ACCESS_KEY=S3RVER
  secret "$NS" loraplex-router "key-secret=$(cat "$out/key-secret")" "admin-token=$(cat "$out/admin-token")"
  # Shared-tier tenants' fine-tune Jobs run in the training namespace; each Job reads its
  # tenant's S3 credentials from loraplex-s3-<tenant> there (a dedicated tenant's from its own
  # namespace, below). The simulator's Pods meet `restricted`, so the namespace enforces it.
  kubectl create namespace loraplex-training --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace loraplex-training --overwrite >/dev/null \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted
  training_secret loraplex-training acme

  # The router is Ready only once it sees a healthy engine, so the Tenants and pools go in before
  # `helm install --wait`: its CRDs first (the chart's crds/ are the same files; helm skips
  # CRDs that exist), then the samples and the simulator pool for the chart's controller.
  kubectl apply --server-side --field-manager=loraplex-install --force-conflicts -f manifests/crds/ >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f manifests/crds/ >/dev/null
  kubectl label node loraplex-node gpu-pool=globex --overwrite >/dev/null # when the node was already up
  node scripts/e2e-setup.ts adapters
  # --force-conflicts: the tests change fields of the samples (pool replicas, tenant limits) and
  # put the values back; the samples' manager takes the fields back here.
  # The sample shared pool (2 replicas of 8 CPUs) is never applied here, not even for a moment:
  # on a running cluster its Deployment would start a rollout to a Pod this node cannot schedule,
  # and the small pool applied a second later leaves the Deployment controller stuck (the
  # ReplicaSet keeps desired-replicas=2 while the Deployment wants 1, every sync is taken for a
  # scaling event, and the rollout to the small template never starts; seen on a re-run).
  kubectl apply --server-side --field-manager=loraplex-samples --force-conflicts \
    -f manifests/samples/acme.yaml -f manifests/samples/globex.yaml -f test/e2e/modelpool-shared.yaml >/dev/null

  t=$SECONDS
  helm upgrade --install loraplex charts/loraplex -n "$NS" -f test/e2e/values.yaml \
    --set "image.tag=${ref##*:}" --wait --timeout "$WAIT" >/dev/null || { diagnose; die "helm install did not become ready"; }
  note "helm install --wait done in $((SECONDS - t))s"

  # The dedicated pool's agent reads S3 credentials from its own namespace, as in production.
  t=$SECONDS
  until kubectl get namespace tenant-globex >/dev/null 2>&1; do
    ((SECONDS - t < 120)) || { diagnose; die "the controller did not create namespace tenant-globex"; }
    sleep 1
  done
  secret tenant-globex loraplex-s3 S3_ACCESS_KEY_ID=S3RVER S3_SECRET_ACCESS_KEY=S3RVER
  training_secret tenant-globex globex

  t=$SECONDS
  kubectl wait --for=condition=Ready --timeout="$WAIT" tenant/acme tenant/globex >/dev/null \
    || { diagnose; die "Tenants acme and globex did not become Ready"; }
  # Polled rather than `kubectl wait`, which keeps waiting on a Pod that a rollout deletes.
  until engines_ready; do
    ((SECONDS - t < ${WAIT%s})) || { diagnose; die "engine Pods did not become Ready"; }
    sleep 2
  done
  note "Tenants Ready and engine Pods Running in $((SECONDS - t))s"

  ROUTER_URL=$ROUTER_URL ADMIN_TOKEN=$(cat "$out/admin-token") node scripts/e2e-setup.ts keys >"$root/.loraplex/e2e.json"
  note "up in $((SECONDS - start))s"
}

print_info() {
  node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`router: ${s.routerUrl}/v1  (admin token: ${s.adminToken})`);
    for (const [t, k] of Object.entries(s.keys)) console.log(`  ${t.padEnd(8)} key ${k}`);
    console.log(`kubectl: KUBECONFIG=${s.kubeconfig} kubectl get tenants,modelpools,pods -A`);
    console.log("stop everything with: make cluster-down");
  ' "$root/.loraplex/e2e.json"
}

case "${1:-}" in
  up)
    up
    print_info
    ;;
  test)
    was_up=false
    bash scripts/cluster.sh status >/dev/null 2>&1 && bash scripts/node.sh status >/dev/null 2>&1 && was_up=true
    start=$SECONDS
    rc=0
    # up in a subshell: its `die` must not skip the teardown below. Not inside `&&`/`||`, where
    # bash would ignore `set -e` in it and go on after a failed step.
    set +e
    (
      set -e
      up
    )
    rc=$?
    if ((rc == 0)); then vitest run --config vitest.e2e.config.ts; rc=$?; fi
    set -e
    note "e2e finished in $((SECONDS - start))s (rc $rc)"
    if ! $was_up; then bash scripts/node.sh down && bash scripts/cluster.sh down; fi
    exit $rc
    ;;
  *) die "usage: e2e.sh up|test" ;;
esac
