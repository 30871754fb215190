import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { loadMigrations, migrate } from "../../core/migrate.ts";
import { uniqueName } from "../support/unique.ts";

describe("migrations (real Postgres)", () => {
  const schema = uniqueName("rc_migrate").replace(/-/g, "_");
  const pools: pg.Pool[] = [];
  let dir: string;
  const pool = () => {
    const p = createPgPool(loadServiceConfig(), { max: 2 });
    pools.push(p);
    return p;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lpx-migrations-"));
    await writeFile(join(dir, "001_first.sql"), "CREATE TABLE first (id int PRIMARY KEY);");
    await writeFile(
      join(dir, "002_second.sql"),
      "ALTER TABLE first ADD COLUMN note text; CREATE TABLE second (x int);",
    );
  });
  afterAll(async () => {
    await pools[0]?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await Promise.all(pools.map((p) => p.end()));
    await rm(dir, { recursive: true, force: true });
  });

  it("applies each file once, in order, even when several runners start together", async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(pool(), { schema, dir })));
    expect(results.flatMap((r) => r.applied).sort()).toEqual(["001_first.sql", "002_second.sql"]);
    const { rows } = await pools[0]!.query(
      `SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`,
    );
    expect(rows).toEqual([
      { version: 1, name: "001_first.sql" },
      { version: 2, name: "002_second.sql" },
    ]);
    const again = await migrate(pool(), { schema, dir });
    expect(again).toEqual({ applied: [], changed: [] });
  });

  it("applies a new file later, and reports (without re-running) an edited one", async () => {
    await writeFile(join(dir, "003_third.sql"), "INSERT INTO second VALUES (3);");
    await writeFile(join(dir, "001_first.sql"), "CREATE TABLE first (id bigint PRIMARY KEY);");
    const r = await migrate(pool(), { schema, dir });
    expect(r).toEqual({ applied: ["003_third.sql"], changed: ["001_first.sql"] });
  });

  it("rolls a failing file back entirely and says which file failed", async () => {
    await writeFile(join(dir, "004_broken.sql"), "CREATE TABLE fourth (x int); SELECT no_such_function();");
    await expect(migrate(pool(), { schema, dir })).rejects.toThrow(/migration 004_broken\.sql failed/);
    const { rows } = await pools[0]!.query("SELECT to_regclass($1) AS t", [`${schema}.fourth`]);
    expect(rows[0].t).toBeNull();
    await rm(join(dir, "004_broken.sql"));
  });

  it("refuses badly named files, duplicate versions and unsafe schema names", async () => {
    await writeFile(join(dir, "5_bad.sql"), "");
    await expect(loadMigrations(dir)).rejects.toThrow(/NNN_lowercase_name/);
    await rm(join(dir, "5_bad.sql"));
    await writeFile(join(dir, "003_dupe.sql"), "");
    await expect(loadMigrations(dir)).rejects.toThrow(/share version 3/);
    await rm(join(dir, "003_dupe.sql"));
    await expect(migrate(pool(), { schema: 'x"; DROP TABLE y; --', dir })).rejects.toThrow(
      /invalid schema name/,
    );
  });

  it("ships an api_keys table with a unique prefix index", async () => {
    const own = uniqueName("rc_migrate_keys").replace(/-/g, "_");
    const p = pool();
    try {
      expect((await migrate(p, { schema: own })).applied).toContain("001_api_keys.sql");
      const { rows } = await p.query(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'api_keys'",
        [own],
      );
      expect(rows.map((r) => r.indexdef).join("\n")).toMatch(/UNIQUE INDEX api_keys_prefix_idx .*\(prefix\)/);
    } finally {
      await p.query(`DROP SCHEMA IF EXISTS ${own} CASCADE`);
    }
  });
});
