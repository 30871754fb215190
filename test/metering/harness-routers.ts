// Real `loraplex router` processes with metering on (a price table in the environment), sharing
// one Postgres schema and one Redis, in front of an engine simulator replica (real process).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { loadServiceConfig } from "../../core/config.ts";
import { createRedis, deleteKeysMatching } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import type { Proc } from "../support/process.ts";
import { type FleetReplica, MODEL, startReplica, startRouterProcess } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

export { MODEL };

export const ADMIN_TOKEN = "metering-admin-token-0123456789abcdefghijklmnop";
/** USD per 1k tokens for the simulator's model. */
export const PRICE = { input: 1, output: 2 };

export type MeteredStack = {
  urls: string[];
  /** Each router's metrics listener, in the order of urls. */
  metricsUrls: string[];
  schema: string;
  dir: string;
  replica: FleetReplica;
  createKey(tenant: string): Promise<string>;
  logs(): string;
  stop(): Promise<void>;
};

export async function startMeteredStack(opts: {
  routers: number;
  tenantsYaml: string;
  timeScale?: number;
  engineArgs?: string[];
  /** Extra `loraplex router` flags and environment for every router. */
  routerArgs?: string[];
  routerEnv?: NodeJS.ProcessEnv;
  /** The price table (default: PRICE for MODEL). */
  prices?: object;
}): Promise<MeteredStack> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), "loraplex-metering-tenants-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "tenants.yaml"), opts.tenantsYaml);
    const replica = await startReplica({ timeScale: opts.timeScale ?? 0, engineArgs: opts.engineArgs });
    cleanup.push(() => replica.stop());
    const schema = uniqueName("metering_rt").replaceAll("-", "_");
    // Runs last: the schema and the Redis keys the routers made (prefix loraplex:<schema>:).
    cleanup.push(async () => {
      const cfg = loadServiceConfig();
      const admin = new pg.Pool({ connectionString: cfg.DATABASE_URL, max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
      const redis = createRedis(cfg);
      await deleteKeysMatching(redis, `${createKeySpace({ schema }).prefix}*`).finally(() =>
        redis.disconnect(),
      );
    });
    const env = {
      LORAPLEX_DEV_SECRETS: "1",
      LORAPLEX_ADMIN_TOKEN: ADMIN_TOKEN,
      LORAPLEX_PRICES: JSON.stringify(opts.prices ?? { models: { [MODEL]: PRICE } }),
      LOG_LEVEL: "warn",
      ...opts.routerEnv,
    };
    const procs: Proc[] = [];
    const urls: string[] = [];
    const metricsUrls: string[] = [];
    for (let i = 0; i < opts.routers; i++) {
      const { proc, url, metricsUrl } = await startRouterProcess({
        tenantsDir: dir,
        engines: `loraplex-system/shared=${replica.flag}`,
        dbSchema: schema,
        args: opts.routerArgs,
        env,
        name: `router-${i}`,
      });
      cleanup.push(() => proc.stop());
      procs.push(proc);
      urls.push(url);
      metricsUrls.push(metricsUrl);
    }
    return {
      urls,
      metricsUrls,
      schema,
      dir,
      replica,
      async createKey(tenant) {
        const r = await fetch(`${urls[0]}/admin/v1/keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ tenant, name: "metering-test" }),
        });
        if (r.status !== 201) throw new Error(`creating a key for ${tenant}: ${r.status} ${await r.text()}`);
        return ((await r.json()) as { key: string }).key;
      },
      logs: () => procs.map((p) => p.output()).join("\n"),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function tenantYaml(name: string, limits: string, extra = ""): string {
  return `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${name}}
spec:
  tier: shared
  models: [${MODEL}]
  limits: ${limits}
${extra}`;
}
