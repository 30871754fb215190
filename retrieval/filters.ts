// Attribute filters of vectorStores.search (OpenAI's comparison and compound filters), parsed
// with bounds (depth, count) and compiled to SQL over the file's `attributes` jsonb. Values
// always travel as bind parameters; keys too. A comparison with a value of another type than the
// attribute's is simply false (eq/ne compare jsonb values, so "1" never equals 1).
import { z } from "zod";

const MAX_DEPTH = 5;
const MAX_FILTERS = 50;

// PostgreSQL text cannot hold NUL: refused here, so it is a 400 and never a database error.
const Str = (max: number) =>
  z
    .string()
    .max(max)
    .refine((x) => !x.includes("\u0000"), "must not contain NUL");
const Scalar = z.union([Str(512), z.number().finite(), z.boolean()]);

export const ComparisonFilter = z
  .object({
    key: Str(64).min(1),
    type: z.enum(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]),
    value: z.union([Scalar, z.array(z.union([Str(512), z.number().finite()])).max(100)]),
  })
  .strict();
export type ComparisonFilter = z.infer<typeof ComparisonFilter>;

export type CompoundFilter = { type: "and" | "or"; filters: Filter[] };
export type Filter = ComparisonFilter | CompoundFilter;

export const Filter: z.ZodType<Filter> = z.lazy(() =>
  z.union([
    ComparisonFilter,
    z.object({ type: z.enum(["and", "or"]), filters: z.array(Filter).min(1).max(MAX_FILTERS) }).strict(),
  ]),
);

/** Depth and total size, which the recursive schema alone does not bound. */
export function checkFilterSize(f: Filter): string | undefined {
  let count = 0;
  const walk = (x: Filter, depth: number): string | undefined => {
    if (++count > MAX_FILTERS) return `filters may hold at most ${MAX_FILTERS} comparisons`;
    if (depth > MAX_DEPTH) return `filters may nest at most ${MAX_DEPTH} levels`;
    if ("filters" in x) {
      for (const c of x.filters) {
        const e = walk(c, depth + 1);
        if (e) return e;
      }
    } else if (Array.isArray(x.value) !== (x.type === "in" || x.type === "nin")) {
      return `'${x.type}' takes ${x.type === "in" || x.type === "nin" ? "an array" : "a single value"}`;
    }
    return undefined;
  };
  return walk(f, 1);
}

const ORDER: Record<string, string> = { gt: ">", gte: ">=", lt: "<", lte: "<=" };

/**
 * SQL for a filter on `${column}` (a jsonb attributes column); pushes its values to `params`
 * and refers to them by position.
 */
export function filterSql(f: Filter, column: string, params: unknown[]): string {
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if ("filters" in f) {
    const parts = f.filters.map((c) => `(${filterSql(c, column, params)})`);
    return parts.join(f.type === "and" ? " AND " : " OR ");
  }
  const attr = `${column} -> ${bind(f.key)}::text`;
  switch (f.type) {
    case "eq":
      return `${attr} = ${bind(JSON.stringify(f.value))}::jsonb`;
    case "ne":
      return `${attr} IS DISTINCT FROM ${bind(JSON.stringify(f.value))}::jsonb`;
    case "in":
    case "nin": {
      const values = (f.value as (string | number)[]).map((v) => JSON.stringify(v));
      const test = `${attr} = ANY(${bind(values)}::jsonb[])`;
      return f.type === "in" ? `coalesce(${test}, false)` : `NOT coalesce(${test}, false)`;
    }
    default: {
      const op = ORDER[f.type]!;
      // CASE, not AND: Postgres may evaluate AND operands in any order, and the cast must only
      // ever see a value of the right type.
      if (typeof f.value === "number") {
        return `CASE WHEN jsonb_typeof(${attr}) = 'number' THEN (${attr})::numeric ${op} ${bind(f.value)}::numeric ELSE false END`;
      }
      if (typeof f.value === "string") {
        return `CASE WHEN jsonb_typeof(${attr}) = 'string' THEN (${attr} #>> '{}') COLLATE "C" ${op} ${bind(f.value)}::text ELSE false END`;
      }
      return "false";
    }
  }
}
