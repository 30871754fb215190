// Benchmark (not a test): adapter routing quality of the router's scorer vs round-robin.
//
//   node bench/adapter-routing.ts [--requests 1000] [--adapters 100] [--replicas 4]
//        [--max-loras 4] [--zipf 1.1] [--concurrency 16] [--time-scale 0.1] [--seed 42]
//
// Real parts: 4 replicas, each a `loraplex engine-sim` process (the GPU simulator, --max-loras 4)
// plus a real `loraplex agent`; 100 generated adapters in the local S3 server; Zipf popularity.
// Each policy gets a fresh fleet and the same request sequence, run twice: "cold" (the first
// N requests from empty replicas) and "steady" (the next N). Each request picks a replica (the
// scorer, or round-robin), makes the adapter resident through Pools.ensureAdapter (the same
// single-flight loader for both), then sends a completion straight to that engine with undici —
// this measures the scheduling policy, not the router's forwarding path. Loopback only.
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { loadServiceConfig } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import type { ResolvedAdapter } from "../core/request-context.ts";
import { createS3Client } from "../core/s3.ts";
import { createPools, type Pools, type Replica } from "../router/scheduling/pools.ts";
import { type FleetReplica, scrapeCounter, startReplica, uploadAdapter } from "../test/support/stack.ts";
import { uniqueName } from "../test/support/unique.ts";
import { seededRandom } from "./processes.ts";

const POOL = "bench/shared";
const DEADLINE_MS = 240_000; // per policy; the run stops early (and says so) past it

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    adapters: { type: "string", default: "100" },
    replicas: { type: "string", default: "4" },
    "max-loras": { type: "string", default: "4" },
    zipf: { type: "string", default: "1.1" },
    concurrency: { type: "string", default: "16" },
    "time-scale": { type: "string", default: "0.1" },
    seed: { type: "string", default: "42" },
  },
});
const N = Number(flags.requests);
const ADAPTERS = Number(flags.adapters);
const REPLICAS = Number(flags.replicas);
const MAX_LORAS = Number(flags["max-loras"]);
const S = Number(flags.zipf);
const CONCURRENCY = Number(flags.concurrency);
const TIME_SCALE = Number(flags["time-scale"]);
const SEED = Number(flags.seed);

function zipfSequence(count: number, n: number, s: number, seed: number): number[] {
  const cdf: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) {
    total += k ** -s;
    cdf.push(total);
  }
  const rnd = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const u = rnd() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  });
}

type Counters = { agentLoads: number; swapIns: number; diskReads: number };

async function counters(fleet: FleetReplica[]): Promise<Counters> {
  const per = await Promise.all(
    fleet.map(async (f) => ({
      agentLoads:
        (await scrapeCounter(f.agentUrl, "loraplex_agent_loads_total", 'result="downloaded"')) +
        (await scrapeCounter(f.agentUrl, "loraplex_agent_loads_total", 'result="disk_hit"')),
      swapIns: await scrapeCounter(f.engineUrl, "loraplex_sim_lora_swap_ins_total"),
      diskReads: await scrapeCounter(f.engineUrl, "loraplex_sim_lora_disk_loads_total"),
    })),
  );
  return per.reduce((a, b) => ({
    agentLoads: a.agentLoads + b.agentLoads,
    swapIns: a.swapIns + b.swapIns,
    diskReads: a.diskReads + b.diskReads,
  }));
}

type PhaseResult = {
  policy: string;
  phase: string;
  done: number;
  errors: number;
  loads: Counters;
  p50: number;
  p99: number;
  replicasPerAdapter: number;
};

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : Number.NaN;

async function runPhase(
  policy: "scorer" | "round-robin",
  phase: string,
  sequence: number[],
  adapters: ResolvedAdapter[],
  tenant: string,
  pools: Pools,
  fleet: FleetReplica[],
  http: Agent,
  deadline: number,
): Promise<PhaseResult> {
  const before = await counters(fleet);
  const latencies: number[] = [];
  let next = 0;
  let rr = 0;
  let errors = 0;
  const all = pools.replicas();
  const worker = async () => {
    while (next < sequence.length && Date.now() < deadline) {
      const adapter = adapters[sequence[next++]!]!;
      const started = performance.now();
      const replica: Replica | undefined =
        policy === "scorer" ? pools.pick(POOL, adapter.loraName) : all[rr++ % all.length];
      if (!replica) {
        errors++;
        continue;
      }
      pools.requestStarted(replica);
      let ok = false;
      try {
        await pools.ensureAdapter(replica, tenant, adapter);
        const res = await request(`${replica.engineUrl}/v1/completions`, {
          method: "POST",
          dispatcher: http,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: adapter.loraName, prompt: "Summarize the ticket.", max_tokens: 16 }),
        });
        await res.body.text();
        ok = res.statusCode === 200;
      } catch {}
      pools.requestFinished(replica, ok);
      if (ok) latencies.push(performance.now() - started);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const after = await counters(fleet);
  latencies.sort((a, b) => a - b);
  const holders = adapters
    .map((a) => all.filter((r) => r.resident.has(a.loraName)).length)
    .filter((n) => n > 0);
  return {
    policy,
    phase,
    done: latencies.length + errors,
    errors,
    loads: {
      agentLoads: after.agentLoads - before.agentLoads,
      swapIns: after.swapIns - before.swapIns,
      diskReads: after.diskReads - before.diskReads,
    },
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    replicasPerAdapter: holders.reduce((a, b) => a + b, 0) / Math.max(1, holders.length),
  };
}

async function runPolicy(
  policy: "scorer" | "round-robin",
  sequence: number[],
  adapters: ResolvedAdapter[],
  tenant: string,
): Promise<PhaseResult[]> {
  const fleet: FleetReplica[] = [];
  let pools: Pools | undefined;
  const http = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 30_000 });
  try {
    for (let i = 0; i < REPLICAS; i++)
      fleet.push(await startReplica({ maxLoras: MAX_LORAS, timeScale: TIME_SCALE }));
    pools = await createPools({
      static: `${POOL}=${fleet.map((f) => f.flag).join(",")}`,
      systemNamespace: "bench",
      healthIntervalMs: 500,
      logger: createLogger("bench", "warn"),
    });
    const deadline = Date.now() + DEADLINE_MS;
    const out: PhaseResult[] = [];
    out.push(
      await runPhase(policy, "cold", sequence.slice(0, N), adapters, tenant, pools, fleet, http, deadline),
    );
    out.push(
      await runPhase(policy, "steady", sequence.slice(N), adapters, tenant, pools, fleet, http, deadline),
    );
    return out;
  } finally {
    await pools?.close();
    await http.close();
    await Promise.all(fleet.map((f) => f.stop()));
  }
}

async function main(): Promise<void> {
  execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
  const cfg = loadServiceConfig();
  const s3 = createS3Client(cfg);
  const tenant = uniqueName("bench");
  const adapters: ResolvedAdapter[] = [];
  try {
    for (let i = 0; i < ADAPTERS; i++) adapters.push(await uploadAdapter(s3, cfg.S3_BUCKET, tenant, `a${i}`));
  } finally {
    s3.destroy();
  }
  const sequence = zipfSequence(2 * N, ADAPTERS, S, SEED);
  console.log(
    `adapter routing: ${ADAPTERS} adapters, Zipf s=${S}, ${REPLICAS} replicas (engine simulator, max-loras ${MAX_LORAS}, ` +
      `time-scale ${TIME_SCALE}), ${N} cold + ${N} steady requests, concurrency ${CONCURRENCY}, seed ${SEED}`,
  );
  const results = [
    ...(await runPolicy("scorer", sequence, adapters, tenant)),
    ...(await runPolicy("round-robin", sequence, adapters, tenant)),
  ];
  const per1k = (n: number, r: PhaseResult) => ((n * 1000) / Math.max(1, r.done)).toFixed(1);
  console.log(
    "\npolicy       phase   requests errors  loads/1k  gpu-swap-ins/1k  disk-reads/1k  replicas/adapter  p50 ms  p99 ms",
  );
  for (const r of results) {
    console.log(
      [
        r.policy.padEnd(12),
        r.phase.padEnd(7),
        String(r.done).padStart(8),
        String(r.errors).padStart(6),
        per1k(r.loads.agentLoads, r).padStart(9),
        per1k(r.loads.swapIns, r).padStart(16),
        per1k(r.loads.diskReads, r).padStart(14),
        r.replicasPerAdapter.toFixed(2).padStart(17),
        r.p50.toFixed(1).padStart(7),
        r.p99.toFixed(1).padStart(7),
      ].join(" "),
    );
  }
  if (results.some((r) => r.done < N)) {
    console.log(`\nnote: a phase hit the ${DEADLINE_MS / 1000}s deadline; its figures cover fewer requests`);
  }
  // No policy can load fewer adapters than it is asked for: each distinct adapter costs one load.
  const distinct = new Set(sequence.slice(0, N)).size;
  console.log(`\ncold: ${distinct} distinct adapters requested = the fewest loads any policy can make`);
  for (const phase of ["cold", "steady"]) {
    const s = results.find((r) => r.policy === "scorer" && r.phase === phase)!;
    const rr = results.find((r) => r.policy === "round-robin" && r.phase === phase)!;
    const ratio = (a: number, b: number) => (a === 0 ? "∞" : (b / a).toFixed(1));
    console.log(
      `${phase}: round-robin/scorer — agent loads ${ratio(s.loads.agentLoads, rr.loads.agentLoads)}×, ` +
        `GPU swap-ins ${ratio(s.loads.swapIns, rr.loads.swapIns)}×, p99 ${(rr.p99 / s.p99).toFixed(2)}×`,
    );
  }
  console.log(
    "\nloads = agent load calls that downloaded or read from disk; gpu-swap-ins = the simulator moving an adapter" +
      "\ninto a --max-loras slot; disk-reads = the simulator reading weights (loads + CPU-cache reloads)." +
      "\nreproduce: node bench/adapter-routing.ts",
  );
}

await main();
