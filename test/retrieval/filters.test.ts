// Attribute filters compiled to SQL and evaluated by PostgreSQL itself against jsonb attributes.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { checkFilterSize, type Filter, filterSql } from "../../retrieval/filters.ts";

let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: loadServiceConfig().DATABASE_URL, max: 1 });
});
afterAll(async () => {
  await pool?.end();
});

const ATTRS = { region: "eu", year: 2024, draft: false, tag: "b" };

async function matches(f: Filter, attrs: object = ATTRS): Promise<boolean> {
  const params: unknown[] = [JSON.stringify(attrs)];
  const sql = filterSql(f, "a.attributes", params);
  const { rows } = await pool.query(`SELECT (${sql}) AS ok FROM (SELECT $1::jsonb AS attributes) a`, params);
  return rows[0].ok === true;
}

describe("attribute filters", () => {
  it("compares by type, like OpenAI's comparison filters", async () => {
    expect(await matches({ type: "eq", key: "region", value: "eu" })).toBe(true);
    expect(await matches({ type: "eq", key: "year", value: "2024" })).toBe(false);
    expect(await matches({ type: "eq", key: "draft", value: false })).toBe(true);
    expect(await matches({ type: "ne", key: "region", value: "us" })).toBe(true);
    expect(await matches({ type: "ne", key: "missing", value: "x" })).toBe(true);
    expect(await matches({ type: "gt", key: "year", value: 2023 })).toBe(true);
    expect(await matches({ type: "lte", key: "year", value: 2023 })).toBe(false);
    expect(await matches({ type: "gt", key: "region", value: 5 })).toBe(false);
    expect(await matches({ type: "gte", key: "tag", value: "a" })).toBe(true);
    expect(await matches({ type: "lt", key: "missing", value: 1 })).toBe(false);
    expect(await matches({ type: "in", key: "region", value: ["us", "eu"] })).toBe(true);
    expect(await matches({ type: "nin", key: "region", value: ["us", "eu"] })).toBe(false);
    expect(await matches({ type: "nin", key: "missing", value: ["x"] })).toBe(true);
  });

  it("combines with and/or and keeps values out of the SQL text", async () => {
    const f: Filter = {
      type: "or",
      filters: [
        { type: "eq", key: "region", value: "us" },
        {
          type: "and",
          filters: [
            { type: "gte", key: "year", value: 2024 },
            { type: "eq", key: "x'--", value: "';" },
          ],
        },
      ],
    };
    expect(await matches(f)).toBe(false);
    expect(await matches(f, { ...ATTRS, "x'--": "';" })).toBe(true);
    const params: unknown[] = [];
    expect(filterSql(f, "a.attributes", params)).not.toContain("'--");
  });

  it("bounds depth and size and checks array values", () => {
    let deep: Filter = { type: "eq", key: "k", value: 1 };
    for (let i = 0; i < 6; i++) deep = { type: "and", filters: [deep] };
    expect(checkFilterSize(deep)).toMatch(/nest/);
    const wide: Filter = {
      type: "or",
      filters: Array.from({ length: 50 }, () => ({ type: "eq", key: "k", value: 1 }) as Filter),
    };
    expect(checkFilterSize(wide)).toMatch(/at most 50/);
    expect(checkFilterSize({ type: "in", key: "k", value: "x" })).toMatch(/array/);
    expect(checkFilterSize({ type: "eq", key: "k", value: ["x"] })).toMatch(/single/);
    expect(checkFilterSize({ type: "in", key: "k", value: ["x"] })).toBeUndefined();
  });
});
