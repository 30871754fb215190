// The processes router-overhead.ts measures, all real and all on this machine: one engine
// simulator with every latency at zero and its adapter agent; the Loraplex router with every gate
// on (a tenant with rate limits, per-key/per-user limits and spend caps, metering with a price
// table, audit `hashes`, info logs to a file), optionally a second one like it (scale-out) and one
// with the gates off (no metering, no limits, same logging); the bare Node proxy of bare-proxy.ts;
// and vllm-router from PyPI when `make vllm-router` installed it.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import pg from "pg";
import { loadServiceConfig } from "../core/config.ts";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE } from "../core/peft.ts";
import { createS3Client } from "../core/s3.ts";
import { adapterPrefix, loraName } from "../core/storage-layout.ts";
import { freePort } from "../test/support/process.ts";
import { startDedicatedRedis } from "../test/support/throwaway-servers.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const MODEL = "bench-llama-8b";
export const VLLM_ROUTER_BIN = join(ROOT, ".tools/vllm-router/bin/vllm-router");
const ADMIN = `bench-admin-token-${"x".repeat(24)}`;
/** USD per 1k tokens; caps below are set so the benchmark never reaches them. */
const PRICES = { models: { [MODEL]: { input: 0.0002, output: 0.0006 } } };

export type OverheadStack = {
  sim: string;
  bare: string;
  vllmRouter?: string;
  /** Every gate on; two of them when started with `routersOn: 2` (shared Redis and Postgres). */
  routersOn: string[];
  routerOff?: string;
  /** The adapter: the engine-side name (direct, bare, vllm-router) and the client's name (routers). */
  lora: string;
  adapter: string;
  key: string;
  logFiles: string[];
  /** Process id behind each origin (for its CPU time). */
  pids: Map<string, number>;
  /** The routers' own Redis (its CPU time is the gates' Lua scripts and the spool). */
  redisPid?: number;
  stop(): Promise<void>;
};

/** CPU time (user + system) a process has used so far, in ms; 0 when it cannot be read. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100;

export async function startOverheadStack(opts: {
  routersOn: number;
  gatesOff: boolean;
  vllmRouter: boolean;
}): Promise<OverheadStack> {
  const children: ChildProcess[] = [];
  const pids = new Map<string, number>();
  const tenant = `bench-${process.pid}`;
  const schema = `bench_overhead_${process.pid}`;
  const dir = await mkdtemp(join(tmpdir(), "bench-router-"));
  // The routers watch their tenants directory and reload it on any change: logs live elsewhere.
  const tenantsDir = join(dir, "tenants");
  await mkdir(tenantsDir);
  // A Redis of its own, as a deployment has: other users of the shared one must not skew the
  // gates' round trips. Postgres (off the request path: the usage writer) is the shared one.
  const redisServer = await startDedicatedRedis();
  const cfg = loadServiceConfig({ ...process.env, REDIS_URL: redisServer.url });
  const stop = async () => {
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await new Promise((r) => c.once("exit", r));
    }
    const admin = new pg.Pool({ connectionString: cfg.DATABASE_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
    await redisServer.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const spawnIn = (cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile?: string) => {
    const out = logFile ? openSync(logFile, "w") : "ignore";
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", out, "inherit"],
    });
    children.push(child);
    return child;
  };
  const loraplex = (args: string[], env: NodeJS.ProcessEnv = {}, logFile?: string) =>
    spawnIn(process.execPath, [join(ROOT, "bin/loraplex.js"), ...args], env, logFile);

  try {
    execFileSync("bash", ["scripts/services.sh", "up"], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit"],
    });
    await uploadAdapter(cfg, tenant);
    const prefix = adapterPrefix(tenant, "support-bot", 1);
    // Every gate: tenant RPM/TPM/concurrency, per-key and per-user limits, daily and monthly
    // caps with alert thresholds, audit in `hashes` mode; all far above what the benchmark uses.
    await writeFile(
      join(tenantsDir, "tenant.yaml"),
      `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${tenant}}
spec:
  models: [${MODEL}]
  adapters: [{name: support-bot, baseModel: ${MODEL}, version: 1, source: "s3://${cfg.S3_BUCKET}/${prefix}"}]
  limits:
    requestsPerMinute: 100000000
    tokensPerMinute: 2000000000
    maxConcurrent: 100000
    dailySpendUSD: 1000000
    monthlySpendUSD: 10000000
    alertThresholds: [50, 80, 100]
    perKey: {requestsPerMinute: 100000000, tokensPerMinute: 2000000000}
    perUser: {requestsPerMinute: 100000000, maxConcurrent: 100000}
  audit: {mode: hashes}
`,
    );
    const [simPort, agentPort, barePort] = [await freePort(), await freePort(), await freePort()];
    const sim = `http://127.0.0.1:${simPort}`;
    const agent = `http://127.0.0.1:${agentPort}`;
    const simArgs = ["--port", String(simPort), "--model", MODEL, "--time-scale", "0"];
    pids.set(sim, loraplex(["engine-sim", ...simArgs, "--max-num-seqs", "4096"]).pid!);
    await waitOk(`${sim}/health`);
    const agentArgs = ["--port", String(agentPort), "--engine-url", sim, "--base-model", MODEL];
    loraplex(["agent", ...agentArgs, "--cache-dir", join(dir, "cache")]);
    await waitOk(`${agent}/health`);

    const router = async (name: string, gates: boolean) => {
      const port = await freePort();
      const args = ["router", "--port", String(port), "--metrics-port", "0", "--tenants-dir", tenantsDir];
      args.push("--engines", `loraplex-system/shared=${sim}|${agent}`, "--db-schema", schema);
      const env: NodeJS.ProcessEnv = {
        REDIS_URL: redisServer.url,
        LORAPLEX_DEV_SECRETS: "1",
        LORAPLEX_ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: "info",
        // e.g. BENCH_ROUTER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the routers
        NODE_OPTIONS: process.env.BENCH_ROUTER_NODE_OPTIONS ?? "",
      };
      if (gates) env.LORAPLEX_PRICES = JSON.stringify(PRICES);
      const logFile = join(dir, `${name}.log`);
      const child = loraplex(args, env, logFile);
      const url = `http://127.0.0.1:${port}`;
      pids.set(url, child.pid!);
      await waitOk(`${url}/readyz`, child);
      return { url, logFile };
    };
    // One after another: the first one migrates the shared schema.
    const on = [];
    for (let i = 0; i < opts.routersOn; i++) on.push(await router(`router-on-${i}`, true));
    const off = opts.gatesOff ? await router("router-off", false) : undefined;

    const bareArgs = [join(ROOT, "bench/bare-proxy.ts"), "--port", String(barePort), "--upstream", sim];
    const bare = `http://127.0.0.1:${barePort}`;
    pids.set(bare, spawnIn(process.execPath, bareArgs, {}).pid!);
    await waitOk(`${bare}/health`);

    let vllmRouter: string | undefined;
    if (opts.vllmRouter) {
      if (existsSync(VLLM_ROUTER_BIN)) {
        const [port, promPort] = [await freePort(), await freePort()];
        const args = ["--host", "127.0.0.1", "--port", String(port), "--worker-urls", sim];
        args.push("--policy", "round_robin", "--log-level", "warning");
        // Its metrics listener defaults to port 29000, which the local S3 server holds.
        args.push("--prometheus-host", "127.0.0.1", "--prometheus-port", String(promPort));
        vllmRouter = `http://127.0.0.1:${port}`;
        pids.set(vllmRouter, spawnIn(VLLM_ROUTER_BIN, args, {}).pid!);
        await waitOk(`${vllmRouter}/health`);
      } else {
        console.log(`vllm-router: SKIPPED, ${VLLM_ROUTER_BIN} is not installed (run \`make vllm-router\`)`);
      }
    }

    const keyRes = await fetch(`${on[0]?.url ?? off!.url}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant }),
    });
    const { key } = (await keyRes.json()) as { key: string };
    return {
      sim,
      bare,
      vllmRouter,
      routersOn: on.map((r) => r.url),
      routerOff: off?.url,
      lora: loraName(tenant, "support-bot", 1),
      adapter: "support-bot",
      key,
      logFiles: [...on, ...(off ? [off] : [])].map((r) => r.logFile),
      pids,
      redisPid: redisServer.pid,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function uploadAdapter(cfg: ReturnType<typeof loadServiceConfig>, tenant: string): Promise<void> {
  const s3 = createS3Client(cfg);
  const prefix = adapterPrefix(tenant, "support-bot", 1);
  const { config, weights } = generateAdapter({ baseModel: MODEL, seed: tenant });
  const put = (key: string, body: string | Uint8Array) =>
    s3.send(new PutObjectCommand({ Bucket: cfg.S3_BUCKET, Key: `${prefix}${key}`, Body: body }));
  await put(CONFIG_FILE, JSON.stringify(config));
  await put(WEIGHTS_FILE, weights);
  s3.destroy();
}

/** Waits for `url` to answer 2xx; gives up at once if the process that should serve it exited. */
async function waitOk(url: string, child?: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the process behind ${url} exited (${child.exitCode ?? child.signalCode})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready`);
}
