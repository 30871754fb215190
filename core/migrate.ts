// Versioned schema migrations, applied on start by every component that uses Postgres.
// Files in core/migrations are named NNN_name.sql and applied once each, in order, every one in
// its own transaction. pg_advisory_xact_lock serialises runners (two router replicas starting at
// once, or a router and the CLI): the loser waits, then sees the migration recorded and skips it.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import type { Logger } from "./log.ts";

const MIGRATIONS_DIR = join(import.meta.dirname, "migrations");
const FILE_NAME = /^(\d{3,})_([a-z0-9_]+)\.sql$/;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export type Migration = { version: number; name: string; sql: string; checksum: string };

export type MigrateOptions = {
  /** Schema to migrate (created when missing); default: the connection's search_path. */
  schema?: string;
  dir?: string;
  log?: Logger;
};

export type MigrateResult = { applied: string[]; changed: string[] };

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = FILE_NAME.exec(file);
    if (!m) throw new Error(`migration file '${file}' must be named NNN_lowercase_name.sql`);
    const sql = await readFile(join(dir, file), "utf8");
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`two migrations share version ${version}`);
    out.push({ version, name: file, sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return out.sort((a, b) => a.version - b.version);
}

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid schema name '${schema}': use lowercase letters, digits and '_'`);
  }
  return schema;
}

/** Applies every pending migration; returns the files applied now and those edited after applying. */
export async function migrate(pool: pg.Pool, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = opts.schema === undefined ? undefined : checkSchemaName(opts.schema);
  const migrations = await loadMigrations(opts.dir);
  const result: MigrateResult = { applied: [], changed: [] };
  const client = await pool.connect();
  try {
    for (const m of migrations) {
      await client.query("BEGIN");
      try {
        const done = await lockAndRead(client, schema, m.version);
        if (done === undefined) {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
            m.version,
            m.name,
            m.checksum,
          ]);
          result.applied.push(m.name);
        } else if (done !== m.checksum) {
          result.changed.push(m.name);
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    client.release();
  }
  for (const name of result.applied) opts.log?.info({ migration: name, schema }, "migration applied");
  // An edited migration is not re-run (that would be unsafe); add a new file instead.
  for (const name of result.changed) {
    opts.log?.warn({ migration: name, schema }, "migration file changed after it was applied; not re-run");
  }
  return result;
}

/** Inside an open transaction: takes the lock, ensures the bookkeeping table, returns the stored checksum. */
async function lockAndRead(
  client: pg.PoolClient,
  schema: string | undefined,
  version: number,
): Promise<string | undefined> {
  // One lock per schema, so test suites in their own schemas do not wait on each other.
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
    `loraplex:migrate:${schema ?? "(search_path)"}`,
  ]);
  if (schema !== undefined) {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(`SET LOCAL search_path TO "${schema}", public`);
  }
  await client.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version    integer PRIMARY KEY,
       name       text NOT NULL,
       checksum   text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const { rows } = await client.query<{ checksum: string }>(
    "SELECT checksum FROM schema_migrations WHERE version = $1",
    [version],
  );
  return rows[0]?.checksum;
}
