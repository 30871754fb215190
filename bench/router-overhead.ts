// Benchmark (not a test): the latency the router adds over calling the engine directly, and the
// most requests per second each sustains, side by side in one run.
//
//   node bench/router-overhead.ts [--seconds 10] [--rates 200,500,1000] [--concurrency 64]
//
// One `loraplex engine-sim` with every latency at zero (--time-scale 0) and its adapter agent,
// and one `loraplex router` in local mode (LOG_LEVEL=info, one JSON log line per request, to
// /dev/null), all real processes on this machine alongside this load generator. A tenant with
// one adapter is created and the adapter warmed before measuring. For each mode (whole JSON,
// SSE stream; 16 generated tokens each) and each offered rate, requests go open-loop for
// --seconds to the engine directly (model = the adapter's engine-side lora name) and then
// through the router (model = the adapter's client name); latency runs from dispatch to the
// last byte. Then each target is driven closed-loop at --concurrency for max throughput.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { loadServiceConfig } from "../core/config.ts";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE } from "../core/peft.ts";
import { createS3Client } from "../core/s3.ts";
import { adapterPrefix, loraName } from "../core/storage-layout.ts";
import { freePort } from "../test/support/process.ts";
import { closedLoop, makeTarget, once, openLoop, summarize, type Target } from "./load-gen.ts";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rates: { type: "string", default: "200,500,1000" },
    concurrency: { type: "string", default: "64" },
  },
});
const SECONDS = Number(flags.seconds);
const RATES = flags.rates.split(",").map(Number);
const CONCURRENCY = Number(flags.concurrency);
const ROOT = resolve(import.meta.dirname, "..");
const MODEL = "bench-llama-8b";
const TENANT = `bench-${process.pid}`;
const ADMIN = `bench-admin-token-${"x".repeat(24)}`;

const children: ChildProcess[] = [];
function launch(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, "bin/loraplex.js"), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  return child;
}
async function waitOk(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready`);
}

const dir = await mkdtemp(join(tmpdir(), "bench-router-"));
try {
  execFileSync("bash", ["scripts/services.sh", "up"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const cfg = loadServiceConfig();
  const s3 = createS3Client(cfg);
  const prefix = adapterPrefix(TENANT, "support-bot", 1);
  const { config, weights } = generateAdapter({ baseModel: MODEL, seed: TENANT });
  await s3.send(
    new PutObjectCommand({
      Bucket: cfg.S3_BUCKET,
      Key: `${prefix}${CONFIG_FILE}`,
      Body: JSON.stringify(config),
    }),
  );
  await s3.send(
    new PutObjectCommand({ Bucket: cfg.S3_BUCKET, Key: `${prefix}${WEIGHTS_FILE}`, Body: weights }),
  );
  s3.destroy();
  await writeFile(
    join(dir, "tenant.yaml"),
    `apiVersion: loraplex.io/v1alpha1\nkind: Tenant\nmetadata: {name: ${TENANT}}\nspec:\n  models: [${MODEL}]\n` +
      `  adapters: [{name: support-bot, baseModel: ${MODEL}, version: 1, source: "s3://${cfg.S3_BUCKET}/${prefix}"}]\n`,
  );

  const [simPort, agentPort, routerPort] = [await freePort(), await freePort(), await freePort()];
  const sim = `http://127.0.0.1:${simPort}`;
  const agent = `http://127.0.0.1:${agentPort}`;
  const router = `http://127.0.0.1:${routerPort}`;
  launch([
    "engine-sim",
    "--port",
    String(simPort),
    "--model",
    MODEL,
    "--time-scale",
    "0",
    "--max-num-seqs",
    "4096",
  ]);
  await waitOk(`${sim}/health`);
  launch([
    "agent",
    "--port",
    String(agentPort),
    "--engine-url",
    sim,
    "--cache-dir",
    join(dir, "cache"),
    "--base-model",
    MODEL,
  ]);
  await waitOk(`${agent}/health`);
  launch(
    [
      "router",
      "--port",
      String(routerPort),
      "--metrics-port",
      "0",
      "--tenants-dir",
      dir,
      "--engines",
      `loraplex-system/shared=${sim}|${agent}`,
    ],
    {
      LORAPLEX_DEV_SECRETS: "1",
      LORAPLEX_ADMIN_TOKEN: ADMIN,
      DATABASE_SCHEMA: "loraplex_bench",
      LOG_LEVEL: "info",
      // e.g. BENCH_ROUTER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the router
      NODE_OPTIONS: process.env.BENCH_ROUTER_NODE_OPTIONS ?? "",
    },
  );
  await waitOk(`${router}/readyz`);
  const keyRes = await fetch(`${router}/admin/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant: TENANT }),
  });
  const { key } = (await keyRes.json()) as { key: string };

  const messages = [{ role: "user", content: "Summarise our refund policy in one sentence, please." }];
  const body = (model: string, stream: boolean) => ({
    model,
    messages,
    max_tokens: 16,
    ignore_eos: true,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const lora = loraName(TENANT, "support-bot", 1);
  const targets = (stream: boolean): [Target, Target] => [
    makeTarget("direct", sim, "/v1/chat/completions", {}, body(lora, stream)),
    makeTarget(
      "router",
      router,
      "/v1/chat/completions",
      { authorization: `Bearer ${key}` },
      body("support-bot", stream),
    ),
  ];

  console.log(
    `router overhead benchmark: ${SECONDS}s per run, machine with ${cpus()} CPUs, load avg ${loadavg()[0]!.toFixed(1)}`,
  );
  const rows: string[][] = [];
  const tput: string[][] = [];
  for (const stream of [false, true]) {
    const [direct, routed] = targets(stream);
    for (const t of [direct, routed]) {
      // Warm: connections, JIT, the key cache and the adapter (loaded once through the agent).
      for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: 100 }, () => once(t)));
    }
    const mode = stream ? "stream" : "json";
    for (const rate of RATES) {
      const d = summarize((await openLoop(direct, rate, SECONDS)).samples);
      const r = summarize((await openLoop(routed, rate, SECONDS)).samples);
      rows.push([
        mode,
        String(rate),
        `${d.ok}/${d.err}`,
        `${r.ok}/${r.err}`,
        f(d.p50),
        f(r.p50),
        f(r.p50 - d.p50),
        f(d.p99),
        f(r.p99),
        f(r.p99 - d.p99),
        `${f(r.ohP50)}/${f(r.ohP99)}`,
      ]);
    }
    const dt = await closedLoop(direct, CONCURRENCY, SECONDS);
    const rt = await closedLoop(routed, CONCURRENCY, SECONDS);
    tput.push([mode, String(CONCURRENCY), dt.rps.toFixed(0), rt.rps.toFixed(0), `${dt.errors}/${rt.errors}`]);
    await Promise.all([direct.pool.close(), routed.pool.close()]);
  }
  table(
    [
      "mode",
      "rate/s",
      "direct ok/err",
      "router ok/err",
      "direct p50",
      "router p50",
      "added p50",
      "direct p99",
      "router p99",
      "added p99",
      "x-overhead p50/p99",
    ],
    rows,
  );
  console.log(
    "(latencies in ms, dispatch to last byte; x-overhead = the router's own x-loraplex-overhead-ms header)\n",
  );
  table(["mode", "concurrency", "direct req/s", "router req/s", "errors d/r"], tput);
  console.log(
    "\nreproduce: node bench/router-overhead.ts" +
      (process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""),
  );
} finally {
  for (const c of children.reverse()) {
    c.kill("SIGTERM");
    await new Promise((r) => (c.exitCode === null ? c.once("exit", r) : r(null)));
  }
  await rm(dir, { recursive: true, force: true });
}

function f(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(2) : "-";
}
function cpus(): number {
  return Number(execFileSync("nproc").toString().trim());
}
function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(w[i]!)).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
