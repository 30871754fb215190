// Benchmark (not a test): usage events per second from the Redis spool into Postgres.
//
//   node bench/metering-throughput.ts [--events 200000] [--batch 5000] [--writers 1] [--tenants 50]
//
// Real parts on loopback (scripts/services.sh): events are appended to the spool stream with
// XADD (pipelined, as routers do), then the usage writer(s) drain the stream exactly as in the
// router — consumer group, multi-row INSERT from arrays with ON CONFLICT, daily rollup upsert and
// audit rows in the same transaction, XACK + XDEL after COMMIT (synchronous_commit on). A fresh
// schema is migrated first and dropped at the end. Target: >= 20,000 events/s sustained.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadServiceConfig } from "../core/config.ts";
import { createLogger } from "../core/log.ts";
import { migrate } from "../core/migrate.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import { entryFields, type SpoolEntry, type SpooledRow } from "../metering/spool.ts";
import { uuidv7 } from "../metering/usage-events.ts";
import { createUsageStore } from "../metering/usage-store.ts";
import { createUsageWriter } from "../metering/usage-writer.ts";
import { uniqueName } from "../test/support/unique.ts";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    batch: { type: "string", default: "5000" },
    writers: { type: "string", default: "1" },
    tenants: { type: "string", default: "50" },
  },
});
const EVENTS = Number(flags.events);
const BATCH = Number(flags.batch);
const WRITERS = Number(flags.writers);
const TENANTS = Number(flags.tenants);

execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
const cfg = loadServiceConfig();
const schema = uniqueName("bench_metering").replaceAll("-", "_");
const pool = new pg.Pool({
  connectionString: cfg.DATABASE_URL,
  options: `-c search_path=${schema}`,
  max: WRITERS + 2,
  idleTimeoutMillis: 0, // keep the backends whose CPU time is measured
});
const redis = createRedis(cfg);
const log = createLogger("bench", "warn");
const keys = createKeySpace({ prefix: `${schema}:` });
const stream = keys.spool();

function entry(i: number): SpoolEntry {
  const now = Date.now() - (i % 3600) * 1000;
  const rejected = i % 50 === 0;
  return {
    id: uuidv7(now),
    ts: new Date(now).toISOString(),
    requestId: `req-${i}`,
    tenant: `tenant-${i % TENANTS}`,
    keyId: `key_${i % (TENANTS * 3)}`,
    endUser: `user-${i % 500}`,
    feature: ["chat", "search", "summarize"][i % 3]!,
    endpoint: "chat.completions",
    model: "llama-3.1-8b-instruct",
    baseModel: "llama-3.1-8b-instruct",
    adapter: i % 4 === 0 ? "support-bot" : "",
    adapterVersion: i % 4 === 0 ? 3 : 0,
    replica: `engine-${i % 8}`,
    promptTokens: 200 + (i % 300),
    completionTokens: 50 + (i % 200),
    inputCostMicro: 100,
    outputCostMicro: 150,
    ttftMs: 40,
    durationMs: 900,
    status: rejected ? "rejected" : "ok",
    httpStatus: rejected ? 429 : 200,
    reason: rejected ? "requests_limit_tenant" : "",
    stream: true,
    audit: {
      policyHash: "a".repeat(64),
      mode: "hashes",
      prompt: null,
      response: null,
      promptSha256: "b".repeat(64),
      responseSha256: "c".repeat(64),
    },
  };
}

/** User + system CPU seconds of a process, from /proc (Linux; 100 ticks per second). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
const redisCpu = async () => {
  const info = await redis.info("cpu");
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get("used_cpu_sys") + get("used_cpu_user");
};

try {
  await migrate(pool, { schema });
  // Open every connection now and learn its backend's pid, to account for its CPU time.
  const clients = await Promise.all(Array.from({ length: WRITERS + 2 }, () => pool.connect()));
  const pids = await Promise.all(
    clients.map(async (c) => (await c.query("SELECT pg_backend_pid() AS p")).rows[0].p as number),
  );
  for (const c of clients) c.release();
  let t0 = performance.now();
  for (let i = 0; i < EVENTS; i += 5000) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(EVENTS, i + 5000); j++) {
      const e = entry(j);
      pipe.xadd(stream, "*", ...entryFields(e));
    }
    await pipe.exec();
  }
  const appendSec = (performance.now() - t0) / 1000;

  const store = createUsageStore(pool);
  const batches: number[] = [];
  const timedStore = {
    async write(rows: SpooledRow[]) {
      const s = performance.now();
      const n = await store.write(rows);
      batches.push(performance.now() - s);
      return n;
    },
  };
  const writers = Array.from({ length: WRITERS }, (_, i) =>
    createUsageWriter({ redis, stream, store: timedStore, log, batchSize: BATCH, consumer: `bench-${i}` }),
  );
  const pgCpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const redisCpu0 = await redisCpu();
  const nodeCpu0 = process.cpuUsage();
  t0 = performance.now();
  const drained = await Promise.all(writers.map((w) => w.drain()));
  const writeSec = (performance.now() - t0) / 1000;
  const load = loadavg()[0]!;
  const nodeUsage = process.cpuUsage(nodeCpu0);
  const nodeCpu = (nodeUsage.user + nodeUsage.system) / 1e6;
  const pgCpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - pgCpu0;
  const rCpu = (await redisCpu()) - redisCpu0;
  const cpu = nodeCpu + pgCpu + rCpu;
  await Promise.all(writers.map((w) => w.stop()));

  const { rows } = await pool.query(
    "SELECT (SELECT count(*) FROM usage_events)::int AS events, (SELECT count(*) FROM audit_log)::int AS audit, (SELECT sum(requests) FROM usage_daily)::int AS rolled",
  );
  batches.sort((a, b) => a - b);
  const pct = (p: number) =>
    batches[Math.min(batches.length - 1, Math.floor((p / 100) * batches.length))]!.toFixed(1);
  const rate = Math.round(EVENTS / writeSec);
  console.log(
    `metering throughput — ${cpus().length} CPUs, ${WRITERS} writer(s), batch ${BATCH}, ${TENANTS} tenants`,
  );
  console.log(
    `  spool append (XADD, pipelined):  ${EVENTS} events in ${appendSec.toFixed(2)} s = ${Math.round(EVENTS / appendSec)} events/s`,
  );
  console.log(
    `  spool -> Postgres (writer):      ${drained.reduce((a, b) => a + b, 0)} events in ${writeSec.toFixed(2)} s = ${rate} events/s  (target >= 20000: ${rate >= 20_000 ? "met" : "NOT met"})`,
  );
  console.log(
    `  CPU spent draining:              writer ${nodeCpu.toFixed(2)} s + its Postgres backends ${pgCpu.toFixed(2)} s + Redis ${rCpu.toFixed(2)} s (whole server) = ${Math.round(EVENTS / cpu)} events per CPU-second`,
  );
  console.log(
    `  1-minute load average:           ${load.toFixed(2)} on ${cpus().length} CPUs (other work on the machine slows the wall clock)`,
  );
  console.log(
    `  batch commit latency:            p50 ${pct(50)} ms, p99 ${pct(99)} ms over ${batches.length} batches`,
  );
  console.log(
    `  rows: usage_events ${rows[0].events}, audit_log ${rows[0].audit}, rollup requests ${rows[0].rolled}`,
  );
  console.log(
    `  reproduce: node bench/metering-throughput.ts --events ${EVENTS} --batch ${BATCH} --writers ${WRITERS} --tenants ${TENANTS}`,
  );
} finally {
  await redis.del(stream);
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
  redis.disconnect();
}
