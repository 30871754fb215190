// Metering for the local stack behind `make demo` and `make dev`: a price table for the sample
// tenants' models and adapters (the router refuses anything unpriced, so every model they use gets
// one), a copy of the sample tenants with optional demo-only limit overrides (the samples
// themselves stay as they are: tests read them), and a reset of the metering state a previous run
// left in Postgres and Redis, so a run starts with nothing spent.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { parseAllDocuments, stringify } from "yaml";
import { loadServiceConfig } from "../core/config.ts";
import { createRedis, deleteKeysMatching } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import type { Tenant } from "../core/tenant.ts";

/** USD per 1,000 tokens. Demo figures, in the range of hosted 8B models; adapters cost more. */
const MODEL_PRICE = { input: 0.0005, output: 0.0015 };
const ADAPTER_PRICE = { input: 0.001, output: 0.003 };

export type LimitOverrides = Record<string, { dailySpendUSD?: number; monthlySpendUSD?: number }>;

/** The price table: every base model and (for any tenant) every adapter name the tenants use. */
export function demoPrices(tenants: Tenant[]) {
  const models = new Set(tenants.flatMap((t) => t.spec.models));
  const adapters = new Set(tenants.flatMap((t) => t.spec.adapters.map((a) => a.name)));
  return {
    models: Object.fromEntries([...models].map((m) => [m, MODEL_PRICE])),
    adapters: Object.fromEntries([...adapters].map((a) => [`*/${a}`, ADAPTER_PRICE])),
  };
}

/** Writes the metering config (prices, and plan prices for the admin margin report); returns its path. */
export async function writeMeteringConfig(dir: string, tenants: Tenant[]): Promise<string> {
  const file = join(dir, "metering.yaml");
  const config = {
    prices: demoPrices(tenants),
    engineCost: { perGpuHourUSD: 2.5, avgConcurrency: 16 },
    plans: Object.fromEntries(tenants.map((t) => [t.metadata.name, { monthlyUSD: 2000 }])),
  };
  await writeFile(
    file,
    `# Written by scripts/demo-metering.ts for make demo / make dev.\n${stringify(config)}`,
  );
  return file;
}

/**
 * Copies every YAML file of `from` into `to` (emptied first), applying `overrides` to the
 * spec.limits of the named Tenants. Comments and everything else are kept as they are.
 */
export async function writeTenantsDir(from: string, to: string, overrides: LimitOverrides): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true });
  for (const file of (await readdir(from)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = parseAllDocuments(await readFile(join(from, file), "utf8"));
    for (const doc of docs) {
      const limits = overrides[String(doc.getIn(["metadata", "name"]))];
      if (doc.get("kind") !== "Tenant" || !limits) continue;
      for (const [key, value] of Object.entries(limits)) doc.setIn(["spec", "limits", key], value);
    }
    const texts = docs.map((d, i) => {
      const text = d.toString();
      return i === 0 || text.startsWith("---") ? text : `---\n${text}`;
    });
    await writeFile(join(to, file), texts.join(""));
  }
}

/** Drops the Postgres schema and the Redis keys (the schema's key space) of a previous run. */
export async function resetMeteringState(schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`unexpected schema name '${schema}'`);
  const cfg = loadServiceConfig();
  const pool = new pg.Pool({ connectionString: cfg.DATABASE_URL, max: 1 });
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => pool.end());
  const redis = createRedis(cfg);
  await deleteKeysMatching(redis, `${createKeySpace({ schema }).prefix}*`).finally(() => redis.disconnect());
}
