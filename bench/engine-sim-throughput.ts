// Benchmark (not a test): requests per second the engine simulator itself sustains, so router
// benchmarks know their upstream is not the bottleneck.
//
//   node bench/engine-sim-throughput.ts [--seconds 5] [--concurrency 64] [--max-requests 200000]
//
// A `loraplex engine-sim` process with every latency off (--time-scale 0) is pinned to CPU 0
// with taskset when available (so "on one core" is literal); this process drives it over
// loopback with an undici Pool, keeping `concurrency` requests in flight, for a bounded time
// and request count per scenario. Each scenario asks for 16 generated tokens (ignore_eos).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { writeAdapter } from "../core/peft.ts";
import { freePort } from "../test/support/process.ts";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "64" },
    "max-requests": { type: "string", default: "200000" },
  },
});
const SECONDS = Number(flags.seconds);
const CONCURRENCY = Number(flags.concurrency);
const MAX_REQUESTS = Number(flags["max-requests"]);
const MODEL = "bench-base-8b";
const ROOT = resolve(import.meta.dirname, "..");

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const pinned = spawnSync("taskset", ["--version"]).status === 0;
const simArgs = [
  resolve(ROOT, "bin/loraplex.js"),
  "engine-sim",
  "--port",
  String(port),
  "--model",
  MODEL,
  "--time-scale",
  "0",
  "--max-num-seqs",
  "1024",
];
const sim: ChildProcess = pinned
  ? spawn("taskset", ["-c", "0", process.execPath, ...simArgs], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    })
  : spawn(process.execPath, simArgs, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    });
const adapterRoot = await mkdtemp(join(tmpdir(), "bench-engine-sim-"));

try {
  await waitReady(`${url}/health`);
  await writeAdapter(join(adapterRoot, "tuned"), { baseModel: MODEL, seed: "bench" });
  const load = await fetch(`${url}/v1/load_lora_adapter`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ lora_name: "tuned", lora_path: join(adapterRoot, "tuned") }),
  });
  if (!load.ok) throw new Error(`adapter load failed: ${load.status} ${await load.text()}`);

  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  const chat = (model: string, stream: boolean) =>
    JSON.stringify({
      model,
      messages: [{ role: "user", content: "Summarise the plot of a short story about a lighthouse keeper." }],
      max_tokens: 16,
      ignore_eos: true,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    });
  const scenarios = [
    { name: "chat, non-streaming, base model", path: "/v1/chat/completions", body: chat(MODEL, false) },
    { name: "chat, streaming (SSE), base model", path: "/v1/chat/completions", body: chat(MODEL, true) },
    { name: "chat, non-streaming, LoRA adapter", path: "/v1/chat/completions", body: chat("tuned", false) },
    { name: "chat, streaming (SSE), LoRA adapter", path: "/v1/chat/completions", body: chat("tuned", true) },
  ];
  console.log(
    `engine simulator throughput: ${pinned ? "simulator pinned to CPU 0" : "simulator not pinned (no taskset)"}, ` +
      `${CONCURRENCY} requests in flight, ${SECONDS}s per scenario (at most ${MAX_REQUESTS} requests), 16 output tokens each\n`,
  );
  for (const s of scenarios) {
    await drive(pool, s.path, s.body, 1, 2_000); // warm-up: JIT, connections
    const r = await drive(pool, s.path, s.body, SECONDS, MAX_REQUESTS);
    console.log(
      `${s.name.padEnd(38)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   ` +
        `(${r.count} requests, ${r.errors} errors)`,
    );
  }
  await pool.close();
  console.log("\nreproduce: node bench/engine-sim-throughput.ts");
} finally {
  const exited = new Promise((r) => sim.once("exit", r));
  sim.kill("SIGTERM");
  await exited;
  await rm(adapterRoot, { recursive: true, force: true });
}

/** Keeps `CONCURRENCY` requests in flight until `seconds` pass or `maxRequests` are sent. */
async function drive(pool: Pool, path: string, body: string, seconds: number, maxRequests: number) {
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (sent < maxRequests && performance.now() < deadline) {
      sent++;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          path,
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200 || !text.length) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { count: latencies.length, errors, rps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

async function waitReady(health: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (sim.exitCode !== null) throw new Error("engine-sim exited before it was ready");
    if (
      await fetch(health).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error("engine-sim was not ready in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
