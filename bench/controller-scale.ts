// Benchmark (not a test): 1,000 Tenants of mixed tiers to Ready on the test control plane, then
// a steady-state minute, counting the controller's API writes in both phases.
//
//   node bench/controller-scale.ts [--tenants 1000] [--dedicated-percent 25] [--workers 16] [--steady-seconds 60]
//
// Real parts: its own Kubernetes test control plane (etcd + kube-apiserver +
// kube-controller-manager from scripts/cluster.sh, on ports apart from a test run's) and a
// `loraplex controller` process with leader election on. Dedicated tenants get the full stack
// (namespace, quota, limits, 3 NetworkPolicies, ServiceAccount, RoleBinding, ModelPool →
// Deployment + Service + PDB); Pods stay Pending (no scheduler), so "Ready" means configured.
// Writes come from the controller's own counter (loraplex_controller_kube_writes_total); Lease
// renewals are reported apart, as leader election renews by design.
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLogger } from "../core/log.ts";
import type { TenantStatus } from "../core/tenant-status.ts";
import { KubeApiError } from "../kube/client.ts";
import { startInformer } from "../kube/informer.ts";
import { type KubeObject, R } from "../kube/types.ts";
import { adminClient, installCrdsAndRoles } from "../test/controller/harness-cluster.ts";
import { startTestCluster } from "../test/setup/cluster.ts";
import { freePort, startLoraplex } from "../test/support/process.ts";

const { values: flags } = parseArgs({
  options: {
    tenants: { type: "string", default: "1000" },
    "dedicated-percent": { type: "string", default: "25" },
    workers: { type: "string", default: "16" },
    "steady-seconds": { type: "string", default: "60" },
    "timeout-seconds": { type: "string", default: "600" },
  },
});
const N = Number(flags.tenants);
const DEDICATED_EVERY = Math.max(1, Math.round(100 / Math.max(1, Number(flags["dedicated-percent"]))));
const STEADY_S = Number(flags["steady-seconds"]);
const TIMEOUT_MS = Number(flags["timeout-seconds"]) * 1000;
const MODEL = "llama-3.1-8b-instruct";
const SYSTEM_NS = "loraplex-system";

type Tenant = KubeObject & { status?: TenantStatus };

function writes(metrics: string): { leases: number; others: Record<string, number> } {
  const others: Record<string, number> = {};
  let leases = 0;
  for (const m of metrics.matchAll(/^loraplex_controller_kube_writes_total\{([^}]*)\} (\S+)$/gm)) {
    const resource = /resource="([^"]*)"/.exec(m[1]!)?.[1] ?? "?";
    if (resource === "leases") leases += Number(m[2]);
    else others[resource] = (others[resource] ?? 0) + Number(m[2]);
  }
  return { leases, others };
}
const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, v - (a[k] ?? 0)])
      .filter(([, v]) => v !== 0),
  );

async function inBatches<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const loadAtStart = loadavg()
  .map((l) => l.toFixed(1))
  .join(" ");
const cluster = await startTestCluster({
  dataDir: mkdtempSync(join(tmpdir(), "loraplex-bench-cluster-")),
  port: 58443,
  etcdPort: 58379,
});
const admin = adminClient(cluster.kubeconfigPath);
let controller: Awaited<ReturnType<typeof startLoraplex>> | undefined;
try {
  await installCrdsAndRoles(admin);
  await admin.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: SYSTEM_NS } });
  await admin.create(R.modelPools, {
    apiVersion: "loraplex.io/v1alpha1",
    kind: "ModelPool",
    metadata: { name: "shared", namespace: SYSTEM_NS },
    spec: { model: MODEL, replicas: 1 },
  });
  const port = await freePort();
  controller = await startLoraplex(
    [
      "controller",
      "--kubeconfig",
      cluster.kubeconfigPath,
      "--system-namespace",
      SYSTEM_NS,
      "--health-host",
      "127.0.0.1",
      "--health-port",
      String(port),
      "--workers",
      String(flags.workers),
    ],
    { readyUrl: `http://127.0.0.1:${port}/readyz`, env: { LOG_LEVEL: "error" }, timeoutMs: 60_000 },
  );
  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const before = writes(await metrics());

  const names = Array.from({ length: N }, (_, i) => `bench-${String(i).padStart(4, "0")}`);
  const start = Date.now();
  await inBatches(names, 32, async (name) => {
    const dedicated = Number(name.slice(6)) % DEDICATED_EVERY === 0;
    await admin.create(R.tenants, {
      apiVersion: "loraplex.io/v1alpha1",
      kind: "Tenant",
      metadata: { name },
      spec: dedicated
        ? {
            tier: "dedicated",
            models: [MODEL],
            owners: [{ kind: "Group", name: `${name}-admins` }],
            dedicated: { replicas: 1 },
          }
        : { tier: "shared", models: [MODEL] },
    });
  });
  const created = Date.now();

  // Readiness is followed through a watch (not by polling lists, which would load the API server).
  const watchStop = new AbortController();
  const tenants = startInformer<Tenant>({
    client: admin,
    resource: R.tenants,
    onEvent: () => {},
    log: createLogger("bench", "warn"),
    signal: watchStop.signal,
  });
  await tenants.synced;
  const isReady = (t: Tenant) =>
    t.status?.observedGeneration === t.metadata.generation &&
    t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  let ready = 0;
  let lastLog = Date.now();
  for (;;) {
    ready = tenants.list().filter(isReady).length;
    if (ready === N) break;
    if (Date.now() - start > TIMEOUT_MS)
      throw new Error(`only ${ready}/${N} Ready after ${TIMEOUT_MS / 1000}s`);
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      const m = await metrics();
      const depth = /^loraplex_controller_queue_depth (\S+)$/m.exec(m)?.[1];
      console.log(
        `  t=${((lastLog - start) / 1000).toFixed(0)}s ready=${ready} queue=${depth} writes=${total(writes(m).others)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const dedicatedCount = tenants
    .list()
    .filter((t) => (t.spec as { tier?: string }).tier === "dedicated").length;
  watchStop.abort();
  const converged = Date.now();
  const atConverge = writes(await metrics());
  const convergenceWrites = diff(before.others, atConverge.others);

  // The control plane keeps working after the Tenants are Ready (ReplicaSets and Pods for the
  // engine Deployments, whose status the ModelPools then mirror): wait until the controller has
  // written nothing for 10 s before the steady-state window opens.
  let settledAt = Date.now();
  let lastTotal = total(atConverge.others);
  while (Date.now() - settledAt < 10_000 && Date.now() - converged < 180_000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = total(writes(await metrics()).others);
    if (now !== lastTotal) {
      lastTotal = now;
      settledAt = Date.now();
    }
  }
  const atSettle = writes(await metrics());
  const settleWrites = diff(atConverge.others, atSettle.others);
  await new Promise((r) => setTimeout(r, STEADY_S * 1000));
  const atEnd = writes(await metrics());
  const steadyWrites = diff(atSettle.others, atEnd.others);

  console.log(
    `\ncontroller scale benchmark (${cpus().length} CPUs, ${cpus()[0]?.model ?? "?"}; load average at start ${loadAtStart})`,
  );
  console.log(`  tenants:                 ${N} (${dedicatedCount} dedicated, ${N - dedicatedCount} shared)`);
  console.log(`  workers:                 ${flags.workers}`);
  console.log(`  create calls took:       ${((created - start) / 1000).toFixed(1)} s`);
  console.log(`  all Ready after:         ${((converged - start) / 1000).toFixed(1)} s (target <= 60 s)`);
  console.log(`  writes to converge:      ${total(convergenceWrites)}  ${JSON.stringify(convergenceWrites)}`);
  console.log(
    `  settling writes:         ${total(settleWrites)}  ${JSON.stringify(settleWrites)} (engine Deployment status mirrored into ModelPools, ${((settledAt - converged) / 1000).toFixed(0)} s)`,
  );
  console.log(
    `  writes in ${STEADY_S} s steady:    ${total(steadyWrites)}  ${JSON.stringify(steadyWrites)} (target 0; Lease renewals apart: ${atEnd.leases - atSettle.leases})`,
  );
  console.log(
    `  reproduce:               node bench/controller-scale.ts --tenants ${N} --dedicated-percent ${flags["dedicated-percent"]} --workers ${flags.workers} --steady-seconds ${STEADY_S}`,
  );
  if (process.env.BENCH_DUMP_METRICS) {
    for (const line of (await metrics()).split("\n")) {
      if (
        /^loraplex_controller_(kube_request_duration_seconds_(sum|count)|reconcile_duration_seconds_(sum|count)|reconcile_total|kube_requests_total)/.test(
          line,
        )
      )
        console.log(`    ${line}`);
    }
  }
  process.exitCode = total(steadyWrites) === 0 ? 0 : 1;
} catch (err) {
  console.error(err instanceof KubeApiError ? `${err.message}` : err);
  process.exitCode = 1;
} finally {
  await controller?.stop();
  await cluster.stop();
}
