// Benchmark (not a test): what one Kubernetes API call costs through kube/'s client, next to
// @kubernetes/client-node's own typed API in the same run against the same control plane.
//
//   node bench/kube-client.ts [--requests 2000] [--concurrency 16]
//
// Three clients read the "default" Namespace `requests` times, `concurrency` at a time:
//   kube/ client, pooled    createKubeClient(loadKubeConfig(...)): one TLS dispatcher per process
//   kube/ client, unpooled  createKubeClient on a plain KubeConfig: client-node 2.0.1 builds a new
//                           undici Agent (a new TLS connection) for every request it authenticates
//   client-node CoreV1Api   kc.makeApiClient(CoreV1Api).readNamespace on a plain KubeConfig
// Real parts: its own test control plane (scripts/cluster.sh binaries) on ports apart from a test run's.
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { createKubeClient } from "../kube/client.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { R } from "../kube/types.ts";
import { startTestCluster } from "../test/setup/cluster.ts";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "16" },
  },
});
const REQUESTS = Number(flags.requests);
const CONCURRENCY = Number(flags.concurrency);

async function timed(call: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await call();
    }),
  );
  return REQUESTS / ((performance.now() - started) / 1000);
}

const loadAtStart = loadavg()
  .map((l) => l.toFixed(1))
  .join(" ");
const cluster = await startTestCluster({
  dataDir: mkdtempSync(join(tmpdir(), "loraplex-bench-kube-")),
  port: 58543,
  etcdPort: 58479,
});
try {
  const plain = new KubeConfig();
  plain.loadFromFile(cluster.kubeconfigPath);
  const pooled = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
  const unpooled = createKubeClient(plain);
  const typed = plain.makeApiClient(CoreV1Api);
  const clients: [string, () => Promise<unknown>][] = [
    ["kube/ client, pooled", () => pooled.get(R.namespaces, "default")],
    ["kube/ client, unpooled", () => unpooled.get(R.namespaces, "default")],
    ["client-node CoreV1Api", () => typed.readNamespace({ name: "default" })],
  ];
  for (const [, call] of clients) await call(); // discovery and connections, outside the clock
  const results: [string, number][] = [];
  // Two rounds, interleaved, so a load change on the machine hits every client alike.
  for (let round = 0; round < 2; round++) {
    for (const [name, call] of clients) {
      const rate = await timed(call);
      const prev = results.find((r) => r[0] === name);
      if (prev) prev[1] = Math.max(prev[1], rate);
      else results.push([name, rate]);
    }
  }
  const peer = results.find((r) => r[0] === "client-node CoreV1Api")![1];
  console.log(`\nKubernetes client benchmark (${cpus().length} CPUs; load average at start ${loadAtStart})`);
  console.log(`  ${REQUESTS} GETs of one Namespace, ${CONCURRENCY} at a time; best of 2 rounds`);
  for (const [name, rate] of results) {
    console.log(
      `  ${name.padEnd(24)} ${rate.toFixed(0).padStart(6)} req/s  (${(rate / peer).toFixed(2)}x client-node)`,
    );
  }
  console.log(`  reproduce: node bench/kube-client.ts --requests ${REQUESTS} --concurrency ${CONCURRENCY}`);
} finally {
  await cluster.stop();
}
