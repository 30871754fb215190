import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { uniqueName } from "../support/unique.ts";

describe("PostgreSQL (real server through pg)", () => {
  const schema = uniqueName("smoke_pg").replace(/-/g, "_");
  let pool: pg.Pool;

  beforeAll(async () => {
    pool = createPgPool(loadServiceConfig(), { schema });
    await pool.query(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it("round-trips rows in a schema of its own", async () => {
    await pool.query(
      "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, at timestamptz DEFAULT now())",
    );
    await pool.query("INSERT INTO notes (body) VALUES ($1), ($2)", ["first", "zweite ✓"]);
    const { rows } = await pool.query<{ body: string }>("SELECT body FROM notes ORDER BY id");
    expect(rows.map((r) => r.body)).toEqual(["first", "zweite ✓"]);
    const version = await pool.query<{ server_version_num: string }>("SHOW server_version_num");
    expect(Number(version.rows[0]!.server_version_num)).toBeGreaterThanOrEqual(150000);
  });
});
