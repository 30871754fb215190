// Benchmark (not a test): the latency the Loraplex router adds over calling the engine directly,
// with every gate a real deployment runs, beside its peers, and the most requests per second
// each target sustains — all from one run, so the ratios mean something on a shared machine.
//
//   node bench/router-overhead.ts [--seconds 10] [--rates 200,500] [--concurrency 64]
//        [--gates on,off] [--scale-out] [--no-vllm-router] [--out bench/results/router-overhead.json]
//
// Targets (see overhead-stack.ts): `direct` (the engine simulator, --time-scale 0), `bare-proxy`
// (bench/bare-proxy.ts), `vllm-router` (Rust, from PyPI via `make vllm-router`; skipped with a
// line when not installed), `router` (every gate on: API key, policy, tenant/key/user RPM, TPM
// and concurrency limits, daily and monthly caps, metering with a price table, audit `hashes`,
// info logs to a file, an adapter model) and `router-gates-off` (metering off, same logging).
// `--gates on` or `--gates off` measures only that router. `--scale-out` adds `router-x2`: two
// gates-on routers sharing Redis and Postgres, requests alternating between them (round-robin).
// For each mode (whole JSON, SSE stream; 16 generated tokens) and offered rate, each target gets
// open-loop load for --seconds; latency runs from dispatch to the last byte, and "added" is the
// target's percentile minus the direct one's at the same rate. Then each target is driven
// closed-loop at --concurrency for its max throughput.
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { closedLoop, closeTarget, makeTarget, once, openLoop, summarize, type Target } from "./load-gen.ts";
import { cpuMs, ROOT, startOverheadStack } from "./overhead-stack.ts";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rates: { type: "string", default: "200,500" },
    concurrency: { type: "string", default: "64" },
    gates: { type: "string", default: "on,off" },
    "scale-out": { type: "boolean", default: false },
    "no-vllm-router": { type: "boolean", default: false },
    out: { type: "string", default: "bench/results/router-overhead.json" },
  },
});
const SECONDS = Number(flags.seconds);
const RATES = flags.rates.split(",").map(Number);
const CONCURRENCY = Number(flags.concurrency);
const GATES = new Set(flags.gates.split(","));
const round2 = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : null);

type Latency = { ok: number; err: number; p50: number; p99: number; addedP50: number; addedP99: number };
type ModeResult = {
  latency: Record<string, Record<string, Latency>>; // rate → target → figures
  /** Closed-loop: requests per second, errors, and CPU ms the target's process(es) used per request. */
  maxRps: Record<string, { rps: number; errors: number; cpuMsPerRequest: number }>;
};

const loadBefore = loadavg();
const stack = await startOverheadStack({
  routersOn: GATES.has("on") ? (flags["scale-out"] ? 2 : 1) : 0,
  gatesOff: GATES.has("off"),
  vllmRouter: !flags["no-vllm-router"],
});
const results: Record<string, ModeResult> = {};
let requestsThroughRouter = 0;
try {
  const messages = [{ role: "user", content: "Summarise our refund policy in one sentence, please." }];
  const body = (model: string, stream: boolean) => ({
    model,
    messages,
    max_tokens: 16,
    ignore_eos: true,
    user: "bench-user",
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
  const auth = { authorization: `Bearer ${stack.key}` };
  const originOf = new Map<Target, string[]>();
  const origins = (t: Target) => originOf.get(t) ?? [];
  const targetsFor = (stream: boolean): { latency: Target[]; throughputOnly: Target[] } => {
    const engine = (name: string, url: string) => {
      const t = makeTarget(name, url, "/v1/chat/completions", {}, body(stack.lora, stream));
      originOf.set(t, [url]);
      return t;
    };
    const routed = (name: string, url: string | string[]) => {
      const t = makeTarget(name, url, "/v1/chat/completions", auth, body(stack.adapter, stream));
      originOf.set(t, Array.isArray(url) ? url : [url]);
      return t;
    };
    const latency = [engine("direct", stack.sim), engine("bare-proxy", stack.bare)];
    if (stack.vllmRouter) latency.push(engine("vllm-router", stack.vllmRouter));
    if (stack.routersOn[0]) latency.push(routed("router", stack.routersOn[0]));
    if (stack.routerOff) latency.push(routed("router-gates-off", stack.routerOff));
    const throughputOnly = stack.routersOn.length > 1 ? [routed("router-x2", stack.routersOn)] : [];
    return { latency, throughputOnly };
  };

  console.log(
    `router overhead benchmark: ${SECONDS}s per run, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ` +
      `load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} before starting`,
  );
  for (const stream of [false, true]) {
    const mode = stream ? "stream" : "json";
    const { latency, throughputOnly } = targetsFor(stream);
    const all = [...latency, ...throughputOnly];
    // Warm: connections, JIT, key cache, the adapter (loaded once through the agent).
    for (const t of all) {
      for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: 100 }, () => once(t)));
    }
    const r: ModeResult = { latency: {}, maxRps: {} };
    for (const rate of RATES) {
      const byTarget: Record<string, Latency> = {};
      for (const t of latency) {
        const s = summarize((await openLoop(t, rate, SECONDS)).samples);
        const d = byTarget.direct;
        byTarget[t.name] = {
          ok: s.ok,
          err: s.err,
          p50: s.p50,
          p99: s.p99,
          addedP50: d ? s.p50 - d.p50 : 0,
          addedP99: d ? s.p99 - d.p99 : 0,
        };
        if (t.name.startsWith("router")) requestsThroughRouter += s.ok + s.err;
      }
      r.latency[String(rate)] = byTarget;
    }
    for (const t of all) {
      const pids = origins(t).map((o) => stack.pids.get(o));
      const cpu0 = pids.reduce((n: number, p) => n + cpuMs(p), 0);
      const c = await closedLoop(t, CONCURRENCY, SECONDS);
      const cpu = pids.reduce((n: number, p) => n + cpuMs(p), 0) - cpu0;
      r.maxRps[t.name] = {
        rps: c.rps,
        errors: c.errors,
        cpuMsPerRequest: cpu / Math.max(1, c.rps * SECONDS),
      };
      if (t.name.startsWith("router")) requestsThroughRouter += c.rps * SECONDS;
    }
    await Promise.all(all.map(closeTarget));
    results[mode] = r;
    printMode(mode, r);
  }
  const loadAfter = loadavg();
  const logBytes = stack.logFiles.reduce((n, f) => n + statSync(f).size, 0);
  const ratios = ratiosOf(results);
  printTargets(ratios);
  printMarkdown(results);
  const command = `node bench/router-overhead.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  console.log(
    `\nrouter info logs: ${(logBytes / Math.max(1, requestsThroughRouter)).toFixed(0)} bytes per request, to files` +
      `\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(" ")}\nreproduce: ${command}`,
  );
  const out = resolve(ROOT, flags.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify(
      {
        command,
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          model: cpus()[0]?.model.trim(),
          node: process.version,
          loadBefore: loadBefore.map(round2),
          loadAfter: loadAfter.map(round2),
        },
        seconds: SECONDS,
        concurrency: CONCURRENCY,
        results: roundAll(results),
        ratios,
        commit: gitHead(),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`figures written to ${flags.out}`);
} finally {
  await stack.stop();
}

function printMode(mode: string, r: ModeResult): void {
  const names = Object.keys(r.maxRps);
  const head = ["target"];
  for (const rate of RATES) head.push(`@${rate}/s ok/err`, `p50`, `p99`, `added p50`, `added p99`);
  head.push(`max req/s (c=${CONCURRENCY})`, "CPU ms/req");
  const rows = names.map((n) => {
    const row = [n];
    for (const rate of RATES) {
      const l = r.latency[String(rate)]?.[n];
      if (!l) row.push("-", "-", "-", "-", "-");
      else row.push(`${l.ok}/${l.err}`, f(l.p50), f(l.p99), f(l.addedP50), f(l.addedP99));
    }
    const m = r.maxRps[n]!;
    row.push(m.rps.toFixed(0) + (m.errors ? ` (${m.errors} err)` : ""), m.cpuMsPerRequest.toFixed(3));
    return row;
  });
  console.log(`\n${mode} (latency in ms, dispatch to last byte; added = target minus direct at that rate)`);
  table(head, rows);
}

type Ratios = Record<string, Record<string, number | null>>;

/** router / bare-proxy (added latency, throughput), gates on / off, and router vs vllm-router. */
function ratiosOf(res: Record<string, ModeResult>): Ratios {
  const out: Ratios = {};
  for (const [mode, r] of Object.entries(res)) {
    const o: Record<string, number | null> = {};
    const rps = (n: string) => r.maxRps[n]?.rps;
    const div = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined || b <= 0 ? null : Math.round((a / b) * 100) / 100;
    for (const rate of RATES) {
      const l = r.latency[String(rate)]!;
      o[`addedP50@${rate} router/bare`] = div(l.router?.addedP50, l["bare-proxy"]?.addedP50);
      o[`addedP99@${rate} router/bare`] = div(l.router?.addedP99, l["bare-proxy"]?.addedP99);
      o[`addedP50@${rate} router/vllm-router`] = div(l.router?.addedP50, l["vllm-router"]?.addedP50);
    }
    const cpu = (n: string) => r.maxRps[n]?.cpuMsPerRequest;
    o["maxRps router/bare"] = div(rps("router"), rps("bare-proxy"));
    o["cpuPerRequest router/bare"] = div(cpu("router"), cpu("bare-proxy"));
    o["cpuPerRequest gates-on/gates-off"] = div(cpu("router"), cpu("router-gates-off"));
    o["maxRps gates-on/gates-off"] = div(rps("router"), rps("router-gates-off"));
    o["maxRps router-x2/router"] = div(rps("router-x2"), rps("router"));
    out[mode] = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
  }
  return out;
}

function printTargets(ratios: Ratios): void {
  const top = Math.max(...RATES);
  console.log(
    `\nratios (issue 14 targets: added p50/p99 @${top}/s ≤ 1.5× bare, max req/s ≥ 0.6× bare, gates-on ≥ 0.85× gates-off)`,
  );
  for (const [mode, o] of Object.entries(ratios)) {
    console.log(
      `  ${mode}: ${Object.entries(o)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  }
}

/** The README's table: one row per target and mode, added latency at each rate, max req/s. */
function printMarkdown(res: Record<string, ModeResult>): void {
  const head = ["target", "mode"];
  for (const rate of RATES) head.push(`added p50 / p99 ms @${rate}/s`);
  head.push(`max req/s (c=${CONCURRENCY})`, "CPU ms/req", "max req/s vs bare proxy");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const [mode, r] of Object.entries(res)) {
    const bare = r.maxRps["bare-proxy"]?.rps;
    for (const [name, m] of Object.entries(r.maxRps)) {
      const cells = [name, mode];
      for (const rate of RATES) {
        const l = r.latency[String(rate)]?.[name];
        cells.push(
          !l
            ? "–"
            : name === "direct"
              ? `(${f(l.p50)} / ${f(l.p99)} total)`
              : `${f(l.addedP50)} / ${f(l.addedP99)}`,
        );
      }
      cells.push(
        m.rps.toFixed(0),
        m.cpuMsPerRequest.toFixed(2),
        bare ? `${((100 * m.rps) / bare).toFixed(0)} %` : "–",
      );
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  console.log(`\nmarkdown:\n${lines.join("\n")}`);
}

function roundAll(v: unknown): unknown {
  if (typeof v === "number") return round2(v);
  if (Array.isArray(v)) return v.map(roundAll);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundAll(x)]));
  return v;
}

function gitHead(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();
  } catch {
    return undefined;
  }
}

function f(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(2) : "-";
}
function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
