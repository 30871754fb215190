// Fine-tune dispatch benchmark: 20 tenants × 50 jobs against a global capacity of 4, through the
// real dispatcher (Postgres queue of record + BullMQ on Redis). Tenants submit one after another,
// the worst order for first-come-first-served. A simulated executor finishes every dispatched
// job at once, so the figure is the dispatcher's own throughput; fairness is Jain's index over
// the jobs each tenant got in the first K dispatches (1.0 = perfectly even), next to what
// first-come-first-served would have given for the same submission order.
//   node bench/trainer-dispatch.ts [--tenants 20] [--jobs 50] [--capacity 4]

import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { migrate } from "../core/migrate.ts";
import { parseTenant, type Tenant } from "../core/tenant.ts";
import { createJobsStore, type NewJob } from "../fine-tuning/jobs-store.ts";
import { createDispatcher } from "../trainer/queue.ts";

const { values } = parseArgs({
  options: {
    tenants: { type: "string", default: "20" },
    jobs: { type: "string", default: "50" },
    capacity: { type: "string", default: "4" },
  },
});
const nTenants = Number(values.tenants);
const perTenant = Number(values.jobs);
const capacity = Number(values.capacity);

execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
const cfg = loadServiceConfig();
const schema = `bench_dispatch_${process.pid}`;
const pool = createPgPool(cfg, { schema, max: 4 });
await migrate(pool, { schema });
const jobs = createJobsStore(pool);

const names = Array.from({ length: nTenants }, (_, i) => `bench-t${String(i).padStart(2, "0")}`);
const tenants = new Map<string, Tenant>();
for (const name of names) {
  const r = parseTenant({
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { tier: "shared", models: ["base-model"] },
  });
  if (!r.ok) throw new Error(r.error);
  tenants.set(name, r.tenant);
}
const dispatcher = createDispatcher({
  pool,
  redisUrl: cfg.REDIS_URL,
  prefix: `bench-dispatch-${process.pid}`,
  capacity,
  tenant: (n) => tenants.get(n),
});

const job: NewJob = {
  model: "base-model",
  training_file: "file-bench",
  validation_file: null,
  suffix: null,
  seed: 1,
  hyperparameters: { n_epochs: 1, batch_size: 1, learning_rate_multiplier: 1, lora_rank: 8, lora_alpha: 16 },
};
const owner = new Map<string, string>();
for (const name of names) {
  for (let i = 0; i < perTenant; i++) owner.set((await jobs.createJob(name, job)).id, name);
}

const order: string[] = [];
const started = performance.now();
for (;;) {
  const ids = await dispatcher.dispatchOnce();
  if (ids.length === 0) break;
  for (const id of ids) {
    const tenant = owner.get(id)!;
    order.push(tenant);
    await jobs.markRunning(tenant, id);
    await jobs.finishJob(tenant, id, {
      status: "succeeded",
      fineTunedModel: `ft:base-model:${tenant}::${id}`,
    });
  }
}
const seconds = (performance.now() - started) / 1000;

const jain = (counts: number[]) => {
  const sum = counts.reduce((a, b) => a + b, 0);
  const squares = counts.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (counts.length * squares);
};
const served = (sequence: string[], k: number) =>
  names.map((n) => sequence.slice(0, k).filter((t) => t === n).length);
const fifo = names.flatMap((n) => Array<string>(perTenant).fill(n));

console.log(
  `fine-tune dispatch: ${nTenants} tenants × ${perTenant} jobs, capacity ${capacity}, submitted tenant by tenant`,
);
console.log(
  `  dispatched ${order.length} jobs in ${seconds.toFixed(2)} s = ${(order.length / seconds).toFixed(0)} jobs/s (executor finishes each at once)`,
);
console.log("  first K dispatches   Jain's index (fair dispatcher)   Jain's index (first-come-first-served)");
for (const k of [capacity * 5, 100, 200, 500]) {
  if (k > order.length) continue;
  console.log(
    `  ${String(k).padStart(17)}   ${jain(served(order, k)).toFixed(3).padStart(30)}   ${jain(served(fifo, k)).toFixed(3).padStart(38)}`,
  );
}
console.log(
  `  reproduce: node bench/trainer-dispatch.ts --tenants ${nTenants} --jobs ${perTenant} --capacity ${capacity}`,
);

await dispatcher.queue.obliterate({ force: true }).catch(() => {});
await dispatcher.close();
await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await pool.end();
