// A Postgres schema of its own for one test file (or benchmark), migrated like a router would on
// start, and dropped again by cleanup().
import type pg from "pg";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { migrate } from "../../core/migrate.ts";
import { uniqueName } from "./unique.ts";

export type TestDb = { pool: pg.Pool; schema: string; cleanup(): Promise<void> };

/** `url` points at another server than the shared one (a throwaway server an outage test stops). */
export async function testDb(name: string, url?: string): Promise<TestDb> {
  const schema = uniqueName(name).replace(/-/g, "_");
  const cfg = loadServiceConfig(url ? { ...process.env, DATABASE_URL: url } : process.env);
  const pool = createPgPool(cfg, { schema, max: 8 });
  // An outage test stops the server under an idle client: that must not crash the test process.
  pool.on("error", () => {});
  await migrate(pool, { schema });
  return {
    pool,
    schema,
    async cleanup() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await pool.end();
    },
  };
}
