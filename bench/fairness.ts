// Benchmark (not a test): noisy-neighbour protection on a shared pool, first come first served
// (router --flow-control off) against fair queuing (VTC, the default), side by side in one run.
//
//   node bench/fairness.ts [--seconds 60] [--steady-rate 2] [--noisy-factor 10] [--max-num-seqs 8]
//
// Two `loraplex engine-sim` replicas with realistic timing (--time-scale 1: 20 ms to the first
// token, 10 ms per output token, --max-num-seqs 8), two `loraplex router` processes in front of
// them (one per mode, the same tenants and keys), all on this machine with this load generator.
// Every request streams a chat completion of 64 tokens (ignore_eos) from a ~120-token prompt;
// arrivals are Poisson (seeded), open loop. Phases, one after another:
//   solo   5 steady tenants at --steady-rate req/s each, nobody else (fair router): the baseline;
//   fair   the same steady tenants plus 1 noisy tenant at --noisy-factor × a steady tenant's rate;
//   fcfs   the same offered load through the router with flow control off;
//   weight 3 tenants that each offer more than the pool can serve, one with weight 2 (fair router).
// Service is counted from the client's side as VTC counts it: input tokens once the first token
// arrives, 2 units per output token as it streams, divided by the tenant's weight. Jain's index is
// taken per 10 s window over the tenants backlogged in it (a request sent and not yet answered
// with a first token during at least 90 % of the window's samples).
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { jainIndex } from "../router/fairness/vtc.ts";
import { freePort } from "../test/support/process.ts";
import { percentile } from "./load-gen.ts";
import { launch, seededRandom, stopAll, waitOk } from "./processes.ts";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    "steady-rate": { type: "string", default: "2" },
    "noisy-factor": { type: "string", default: "10" },
    "max-num-seqs": { type: "string", default: "8" },
  },
});
const SECONDS = Number(flags.seconds);
const STEADY_RATE = Number(flags["steady-rate"]);
const NOISY_FACTOR = Number(flags["noisy-factor"]);
const MAX_NUM_SEQS = flags["max-num-seqs"];
const ROOT = resolve(import.meta.dirname, "..");
const MODEL = "bench-llama-8b";
const ADMIN = `bench-admin-token-${"x".repeat(24)}`;
const OUTPUT_TOKENS = 64;
const WINDOW_MS = 10_000;
const STEADY = ["steady-1", "steady-2", "steady-3", "steady-4", "steady-5"];
const WEIGHTS: Record<string, number> = { heavy: 2, "light-a": 1, "light-b": 1 };
const PROMPT = "Please summarise the following support ticket in two sentences. ".repeat(8);

type Result = {
  tenant: string;
  sentAt: number;
  firstAt?: number;
  endAt: number;
  status: number;
  output: number;
};
/** Per-tenant service events on the bench clock: [time, units]. */
type Service = Map<string, [number, number][]>;

class Run {
  readonly results: Result[] = [];
  readonly service: Service = new Map();
  /** Requests sent and not yet answered with a first token, per tenant. */
  readonly waiting = new Map<string, number>();
  readonly samples: { at: number; waiting: Map<string, number> }[] = [];
  readonly start = performance.now();

  credit(tenant: string, units: number): void {
    let s = this.service.get(tenant);
    if (!s) {
      s = [];
      this.service.set(tenant, s);
    }
    s.push([performance.now() - this.start, units / (WEIGHTS[tenant] ?? 1)]);
  }
}

async function send(pool: Pool, key: string, tenant: string, run: Run): Promise<void> {
  const sentAt = performance.now();
  run.waiting.set(tenant, (run.waiting.get(tenant) ?? 0) + 1);
  let firstAt: number | undefined;
  let output = 0;
  let status = 0;
  const first = () => {
    if (firstAt !== undefined) return;
    firstAt = performance.now();
    run.waiting.set(tenant, run.waiting.get(tenant)! - 1);
  };
  try {
    const body = JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: PROMPT }],
      max_tokens: OUTPUT_TOKENS,
      ignore_eos: true,
      stream: true,
    });
    const r = await pool.request({
      method: "POST",
      path: "/v1/chat/completions",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    });
    status = r.statusCode;
    let buf = "";
    for await (const chunk of r.body) {
      buf += chunk.toString();
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const event = buf.slice(0, i);
        buf = buf.slice(i + 2);
        i = buf.indexOf("\n\n");
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const v = JSON.parse(event.slice(6)) as {
          choices?: { delta?: { content?: string } }[];
          usage?: { prompt_tokens?: number } | null;
        };
        if (v.choices?.[0]?.delta?.content !== undefined) {
          if (firstAt === undefined) {
            first();
            run.credit(tenant, 120); // the prompt (about 120 tokens) is served with the first token
          }
          output++;
          run.credit(tenant, 2);
        }
      }
    }
  } catch {
    status = status || 599;
  }
  if (firstAt === undefined) run.waiting.set(tenant, run.waiting.get(tenant)! - 1);
  run.results.push({
    tenant,
    sentAt: sentAt - run.start,
    firstAt: firstAt && firstAt - run.start,
    endAt: performance.now() - run.start,
    status,
    output,
  });
}

/** Offers each tenant's rate (req/s) for `seconds`; resolves when every request has ended. */
async function phase(
  url: string,
  keys: Record<string, string>,
  rates: Record<string, number>,
  seconds: number,
) {
  const pool = new Pool(url, { connections: 2048, keepAliveTimeout: 60_000 });
  const run = new Run();
  const pending: Promise<void>[] = [];
  const sampler = setInterval(
    () => run.samples.push({ at: performance.now() - run.start, waiting: new Map(run.waiting) }),
    100,
  );
  await Promise.all(
    Object.entries(rates).map(async ([tenant, rate], i) => {
      const next = seededRandom(1000 + i);
      let t = 0;
      for (;;) {
        t += (-Math.log(1 - next()) / rate) * 1000;
        if (t >= seconds * 1000) break;
        const wait = t - (performance.now() - run.start);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(send(pool, keys[tenant]!, tenant, run));
      }
    }),
  );
  const offeredMs = performance.now() - run.start;
  await Promise.all(pending);
  clearInterval(sampler);
  await pool.close();
  return { run, offeredMs };
}

type Summary = { p50: number; p99: number; ok: number; refused: number };
function ttft(run: Run, tenant: string): Summary {
  const mine = run.results.filter((r) => r.tenant === tenant);
  const ms = mine
    .flatMap((r) => (r.firstAt === undefined ? [] : [r.firstAt - r.sentAt]))
    .sort((a, b) => a - b);
  return {
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    ok: ms.length,
    refused: mine.filter((r) => r.status === 429).length,
  };
}

/** Output tokens per second delivered while load was offered. */
function throughput(run: Run, offeredMs: number): number {
  let tokens = 0;
  for (const s of run.service.values())
    for (const [at, units] of s) if (at <= offeredMs && units > 0) tokens++;
  // Every credit event is one output token except the one prompt credit per request.
  const prompts = run.results.filter((r) => r.firstAt !== undefined && r.firstAt <= offeredMs).length;
  return (tokens - prompts) / (offeredMs / 1000);
}

/** Jain's index per window over the tenants backlogged in it, and the weighted service of each. */
function windows(run: Run, offeredMs: number, tenants: string[]) {
  const out: { jain: number | undefined; backlogged: string[]; service: Map<string, number> }[] = [];
  for (let w = 0; w + WINDOW_MS <= offeredMs + 1; w += WINDOW_MS) {
    const inWindow = run.samples.filter((s) => s.at >= w && s.at < w + WINDOW_MS);
    const backlogged = tenants.filter(
      (t) => inWindow.filter((s) => (s.waiting.get(t) ?? 0) > 0).length >= 0.9 * inWindow.length,
    );
    const service = new Map<string, number>();
    for (const t of tenants) {
      let sum = 0;
      for (const [at, units] of run.service.get(t) ?? []) if (at >= w && at < w + WINDOW_MS) sum += units;
      service.set(t, sum);
    }
    const xs = backlogged.map((t) => service.get(t)!);
    out.push({ jain: xs.length >= 2 ? jainIndex(xs) : undefined, backlogged, service });
  }
  return out;
}

const f = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(d));
function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join("  ");
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

const dir = await mkdtemp(join(tmpdir(), "bench-fairness-"));
try {
  execFileSync("bash", ["scripts/services.sh", "up"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const tenants = [...STEADY, "noisy", ...Object.keys(WEIGHTS)];
  await writeFile(
    join(dir, "tenants.yaml"),
    tenants
      .map(
        (t) =>
          `apiVersion: loraplex.io/v1alpha1\nkind: Tenant\nmetadata: {name: ${t}}\nspec:\n  models: [${MODEL}]\n` +
          `  fairness: {weight: ${WEIGHTS[t] ?? 1}}\n`,
      )
      .join("---\n"),
  );
  const engines: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    launch([
      "engine-sim",
      "--port",
      String(port),
      "--model",
      MODEL,
      "--time-scale",
      "1",
      "--max-num-seqs",
      MAX_NUM_SEQS,
    ]);
    await waitOk(`${url}/health`);
    // Base model only: no adapter is loaded, so the agent URL is never called for requests.
    engines.push(`${url}|http://127.0.0.1:${await freePort()}`);
  }
  const routers: Record<"fair" | "fcfs", string> = { fair: "", fcfs: "" };
  for (const mode of ["fair", "fcfs"] as const) {
    const port = await freePort();
    routers[mode] = `http://127.0.0.1:${port}`;
    launch(
      [
        "router",
        "--port",
        String(port),
        "--tenants-dir",
        dir,
        "--engines",
        `loraplex-system/shared=${engines.join(",")}`,
        "--flow-control",
        mode === "fair" ? "on" : "off",
      ],
      { LORAPLEX_DEV_SECRETS: "1", LORAPLEX_ADMIN_TOKEN: ADMIN, DATABASE_SCHEMA: "loraplex_bench_fair" },
    );
  }
  for (const url of Object.values(routers)) await waitOk(`${url}/readyz`);
  const keys: Record<string, string> = {};
  for (const t of tenants) {
    const r = await fetch(`${routers.fair}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant: t }),
    });
    keys[t] = ((await r.json()) as { key: string }).key;
  }

  const steadyRates = Object.fromEntries(STEADY.map((t) => [t, STEADY_RATE]));
  const mixed = { ...steadyRates, noisy: STEADY_RATE * NOISY_FACTOR };
  const load0 = loadavg()[0]!;
  console.log(
    `fairness benchmark: ${SECONDS}s per phase, 2 replicas × --max-num-seqs ${MAX_NUM_SEQS}, time scale 1, ` +
      `${OUTPUT_TOKENS} output tokens per request; ${STEADY.length} steady tenants at ${STEADY_RATE} req/s, ` +
      `noisy at ${STEADY_RATE * NOISY_FACTOR} req/s; ${cpus().length} CPUs, load avg ${load0.toFixed(1)} at start`,
  );
  const solo = await phase(routers.fair, keys, steadyRates, SECONDS / 2);
  const fair = await phase(routers.fair, keys, mixed, SECONDS);
  const fcfs = await phase(routers.fcfs, keys, mixed, SECONDS);
  // Each offers ~2/3 of the pool's capacity (16 slots / ~0.7 s ≈ 23 req/s): all three backlogged.
  const weight = await phase(routers.fair, keys, { heavy: 16, "light-a": 16, "light-b": 16 }, SECONDS / 2);
  const loadEnd = loadavg()[0]!;

  console.log("\ntime to first token (ms), per tenant; × solo = p99 / the tenant's solo p99");
  const rows: string[][] = [];
  for (const t of [...STEADY, "noisy"]) {
    const s = ttft(solo.run, t);
    const a = ttft(fcfs.run, t);
    const b = ttft(fair.run, t);
    rows.push([
      t,
      f(s.p50),
      f(s.p99),
      f(a.p50),
      f(a.p99),
      t === "noisy" ? "" : f(a.p99 / s.p99, 2),
      f(b.p50),
      f(b.p99),
      t === "noisy" ? "" : f(b.p99 / s.p99, 2),
      `${a.refused}/${b.refused}`,
    ]);
  }
  table(
    [
      "tenant",
      "solo p50",
      "solo p99",
      "fcfs p50",
      "fcfs p99",
      "× solo",
      "fair p50",
      "fair p99",
      "× solo",
      "429 fcfs/fair",
    ],
    rows,
  );

  const tpFcfs = throughput(fcfs.run, fcfs.offeredMs);
  const tpFair = throughput(fair.run, fair.offeredMs);
  console.log(
    `\ntotal output tokens/s while offered: fcfs ${tpFcfs.toFixed(0)}, fair ${tpFair.toFixed(0)} (fair/fcfs ${(tpFair / tpFcfs).toFixed(3)})`,
  );

  const show = (name: string, run: { run: Run; offeredMs: number }, who: string[]) => {
    const ws = windows(run.run, run.offeredMs, who);
    const cells = ws.map((w) => `${f(w.jain, 3)}(${w.backlogged.length})`);
    console.log(`Jain's index per 10 s window, ${name} (backlogged tenants in brackets): ${cells.join(" ")}`);
    return ws;
  };
  console.log("");
  show("fcfs", fcfs, [...STEADY, "noisy"]);
  show("fair", fair, [...STEADY, "noisy"]);
  const ww = show("weight phase (fair)", weight, Object.keys(WEIGHTS));
  const ratios = ww
    .filter((w) => w.backlogged.length === 3)
    .map(
      (w) => (w.service.get("heavy")! * 2) / ((w.service.get("light-a")! + w.service.get("light-b")!) / 2),
    );
  console.log(
    `weight-2 / weight-1 service per window while all backlogged: ${ratios.map((r) => r.toFixed(2)).join(" ")}` +
      ` (target 2 ± 0.2)`,
  );
  console.log(`\nload average: ${load0.toFixed(1)} at start, ${loadEnd.toFixed(1)} at end`);
  console.log(
    `command: node bench/fairness.ts --seconds ${SECONDS} --steady-rate ${STEADY_RATE} --noisy-factor ${NOISY_FACTOR} --max-num-seqs ${MAX_NUM_SEQS}`,
  );
} finally {
  stopAll();
  await rm(dir, { recursive: true, force: true });
}
