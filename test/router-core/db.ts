// A Postgres schema of its own for one test file, migrated like a router would on start.
import type pg from "pg";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { migrate } from "../../core/migrate.ts";
import { uniqueName } from "../support/unique.ts";

export async function testSchema(
  label: string,
): Promise<{ pool: pg.Pool; schema: string; drop(): Promise<void> }> {
  const schema = uniqueName(label).replace(/-/g, "_");
  const pool = createPgPool(loadServiceConfig(), { schema, max: 4 });
  await migrate(pool, { schema });
  return {
    pool,
    schema,
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}
