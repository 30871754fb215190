// Profiling aid (not a benchmark table): one router with every gate on (the stack of
// overhead-stack.ts) under closed-loop load, with V8's CPU profiler on. Prints CPU ms per request
// of the router and of its Redis, and of the bare proxy under the same load right after (the
// ratio is what to compare between runs on a shared machine), then the profile's self time by
// file and by function, taken from the load window only (start-up and shutdown left out).
// `--no-profile` measures CPU per request without the profiler's own cost.
//
//   node bench/router-profile.ts [--seconds 10] [--concurrency 32] [--stream] [--gates on|off]
//        [--no-profile] [--top 30]
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printSummary, summarize } from "./cpu-profile-summary.ts";
import { closedLoop, closeTarget, makeTarget, once } from "./load-gen.ts";
import { cpuMs, startOverheadStack } from "./overhead-stack.ts";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "32" },
    stream: { type: "boolean", default: false },
    gates: { type: "string", default: "on" },
    top: { type: "string", default: "30" },
    "no-profile": { type: "boolean", default: false },
  },
});
const SECONDS = Number(flags.seconds);
const gatesOn = flags.gates !== "off";
const profDir = await mkdtemp(join(tmpdir(), "router-prof-"));
if (!flags["no-profile"]) process.env.BENCH_ROUTER_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${profDir}`;
const stack = await startOverheadStack({ routersOn: gatesOn ? 1 : 0, gatesOff: !gatesOn, vllmRouter: false });
const url = gatesOn ? stack.routersOn[0]! : stack.routerOff!;
const body = {
  model: stack.adapter,
  messages: [{ role: "user", content: "Summarise our refund policy in one sentence, please." }],
  max_tokens: 16,
  ignore_eos: true,
  user: "bench-user",
  ...(flags.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
};
const t = makeTarget("router", url, "/v1/chat/completions", { authorization: `Bearer ${stack.key}` }, body);
const bare = makeTarget("bare", stack.bare, "/v1/chat/completions", {}, { ...body, model: stack.lora });
let loadStarted: number | undefined;
try {
  /** Closed-loop load on one target: req/s and CPU ms per request of the given processes. */
  const measure = async (target: typeof t, pids: (number | undefined)[]) => {
    for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 100 }, () => once(target)));
    const before = pids.map(cpuMs);
    const c = await closedLoop(target, Number(flags.concurrency), SECONDS);
    const n = Math.max(1, c.rps * SECONDS);
    return { ...c, cpu: pids.map((p, i) => (cpuMs(p) - before[i]!) / n) };
  };
  loadStarted = performance.now();
  const r = await measure(t, [stack.pids.get(url), stack.redisPid]);
  await closeTarget(t);
  const b = await measure(bare, [stack.pids.get(stack.bare)]);
  await closeTarget(bare);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  console.log(
    `${flags.stream ? "stream" : "json"}, gates ${gatesOn ? "on" : "off"}, c=${flags.concurrency}, ${SECONDS}s, load average ${load}\n` +
      `  router: ${r.rps.toFixed(0)} req/s (${r.errors} errors), CPU ms/request ${r.cpu[0]!.toFixed(3)} (its redis ${r.cpu[1]!.toFixed(3)})\n` +
      `  bare proxy: ${b.rps.toFixed(0)} req/s, CPU ms/request ${b.cpu[0]!.toFixed(3)}; router/bare CPU per request ${(r.cpu[0]! / b.cpu[0]!).toFixed(2)}`,
  );
} finally {
  await stack.stop();
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (file && loadStarted !== undefined) {
    const tailMs = performance.now() - loadStarted;
    const p = JSON.parse(readFileSync(join(profDir, file), "utf8"));
    // Keep the samples from the router's load onwards (the bare proxy's turn leaves it idle).
    const cut = p.endTime - tailMs * 1000;
    let at = p.startTime;
    const keep = p.timeDeltas.map((d: number) => {
      at += d;
      return at >= cut;
    });
    p.samples = p.samples.filter((_: number, i: number) => keep[i]);
    p.timeDeltas = p.timeDeltas.filter((_: number, i: number) => keep[i]);
    console.log(`profile: ${join(profDir, file)}`);
    printSummary(summarize(p), Number(flags.top));
  }
}
