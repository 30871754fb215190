// The one place integration tests and benchmarks start the data path as real processes: an
// engine simulator (`loraplex engine-sim`, the GPU simulator), an engine replica (simulator plus
// a real `loraplex agent` beside it), a `loraplex router`, and adapters generated with core/peft
// and uploaded to the real S3 server. Feature harnesses (test/<feature>/harness.ts) build on it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE } from "../../core/peft.ts";
import type { ResolvedAdapter } from "../../core/request-context.ts";
import { adapterPrefix, loraName } from "../../core/storage-layout.ts";
import { freePort, type Proc, startLoraplex } from "./process.ts";

export const MODEL = "sim-llama-8b";
// Generous: tests run beside others on 2 cores, and a start under load can take a while.
const READY_MS = 90_000;

export type FleetReplica = {
  engineUrl: string;
  agentUrl: string;
  /** "<engineUrl>|<agentUrl>", one entry of the router's --engines flag. */
  flag: string;
  stopEngine(): Promise<void>;
  startEngine(): Promise<void>;
  stop(): Promise<void>;
};

export type ReplicaOptions = {
  maxLoras?: number;
  timeScale?: number;
  engineArgs?: string[];
  /** Listen address of both processes (default 127.0.0.1). */
  host?: string;
};

export type EngineSim = { proc: Proc; url: string; port: number };

/** One engine simulator on loopback; `args` add flags such as --model or --time-scale. */
export async function startEngineSim(args: string[], port?: number): Promise<EngineSim> {
  const p = port ?? (await freePort());
  const url = `http://127.0.0.1:${p}`;
  const proc = await startLoraplex(["engine-sim", "--port", String(p), ...args], {
    readyUrl: `${url}/health`,
    name: "engine-sim",
    timeoutMs: READY_MS,
  });
  return { proc, url, port: p };
}

export type RouterProc = { proc: Proc; url: string; metricsUrl: string };

/** A `loraplex router` process over a Tenant YAML directory and a static --engines map. */
export async function startRouterProcess(opts: {
  tenantsDir: string;
  engines: string;
  dbSchema: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  name?: string;
}): Promise<RouterProc> {
  const port = await freePort();
  const metricsPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ["router", "--port", String(port), "--metrics-port", String(metricsPort)];
  args.push("--tenants-dir", opts.tenantsDir);
  args.push("--engines", opts.engines, "--db-schema", opts.dbSchema, "--health-interval-ms", "200");
  const proc = await startLoraplex([...args, ...(opts.args ?? [])], {
    readyUrl: `${url}/readyz`,
    env: opts.env,
    name: opts.name ?? "router",
  });
  return { proc, url, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

export async function startReplica(opts: ReplicaOptions = {}): Promise<FleetReplica> {
  const [enginePort, agentPort] = [await freePort(), await freePort()];
  const host = opts.host ?? "127.0.0.1";
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const engineUrl = `http://${urlHost}:${enginePort}`;
  const agentUrl = `http://${urlHost}:${agentPort}`;
  const cacheDir = await mkdtemp(join(tmpdir(), "loraplex-sched-agent-"));
  const engineArgs = [
    "engine-sim",
    "--host",
    host,
    "--port",
    String(enginePort),
    "--model",
    MODEL,
    "--max-loras",
    String(opts.maxLoras ?? 4),
    "--time-scale",
    String(opts.timeScale ?? 0.01),
    ...(opts.engineArgs ?? []),
  ];
  let engine: Proc | undefined;
  const startEngine = async () => {
    engine = await startLoraplex(engineArgs, {
      readyUrl: `${engineUrl}/health`,
      name: "engine-sim",
      timeoutMs: READY_MS,
    });
  };
  await startEngine();
  let agent: Proc;
  try {
    agent = await startLoraplex(
      [
        "agent",
        "--host",
        host,
        "--port",
        String(agentPort),
        "--engine-url",
        engineUrl,
        "--cache-dir",
        cacheDir,
        "--base-model",
        MODEL,
      ],
      { readyUrl: `${agentUrl}/health`, name: "agent", timeoutMs: READY_MS },
    );
  } catch (err) {
    await engine?.stop();
    throw err;
  }
  return {
    engineUrl,
    agentUrl,
    flag: `${engineUrl}|${agentUrl}`,
    stopEngine: async () => {
      await engine?.stop();
    },
    startEngine,
    async stop() {
      await Promise.all([agent.stop(), engine?.stop()]);
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Starts `count` replicas at once; if any fails to start, stops the others before throwing. */
export async function startReplicas(count: number, opts: ReplicaOptions = {}): Promise<FleetReplica[]> {
  const settled = await Promise.allSettled(Array.from({ length: count }, () => startReplica(opts)));
  const started = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(started.map((r) => r.stop()));
    throw failed.reason;
  }
  return started;
}

/** Generates a valid LoRA adapter and uploads it under tenants/<tenant>/adapters/<name>/<version>/. */
export async function uploadAdapter(
  s3: S3Client,
  bucket: string,
  tenant: string,
  name: string,
  version = 1,
  sizeBytes = 16 * 1024,
): Promise<ResolvedAdapter> {
  const { config, weights } = generateAdapter({
    baseModel: MODEL,
    sizeBytes,
    seed: `${tenant}/${name}/${version}`,
  });
  const prefix = adapterPrefix(tenant, name, version);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: `${prefix}${CONFIG_FILE}`,
      Body: `${JSON.stringify(config)}\n`,
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${WEIGHTS_FILE}`, Body: weights }));
  return { name, version, source: `s3://${bucket}/${prefix}`, loraName: loraName(tenant, name, version) };
}

/** Sums a Prometheus counter (all label sets, or those whose labels contain `match`). */
export async function scrapeCounter(url: string, metric: string, match = ""): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(metric) || (line[metric.length] !== "{" && line[metric.length] !== " ")) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** Load calls the agent received (every result: downloaded, disk hit, already loaded, errors). */
export const agentLoadCalls = (agentUrl: string) => scrapeCounter(agentUrl, "loraplex_agent_loads_total");

/** Polls until `check` returns true, or throws naming `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
