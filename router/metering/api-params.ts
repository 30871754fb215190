// Query parameters of the tenant usage, costs and audit APIs, validated into a clear 400 in
// OpenAI's error shape: unknown group_by values, inverted or oversized ranges, limits beyond the
// maximum and cursors that were not ours all say what is wrong and which parameter.
import { invalidRequest } from "../../core/errors.ts";

export type Query = Record<string, unknown>;

export const BUCKET_SECONDS = { "1m": 60, "1h": 3_600, "1d": 86_400 } as const;
export type BucketWidth = keyof typeof BUCKET_SECONDS;
// OpenAI's defaults and maxima for `limit` (buckets per page) per bucket width.
const LIMITS: Record<BucketWidth, { def: number; max: number }> = {
  "1m": { def: 60, max: 1_440 },
  "1h": { def: 24, max: 168 },
  "1d": { def: 7, max: 31 },
};
// The widest span one query may cover, so a 1-minute query cannot ask for ten years of buckets.
const MAX_SPAN: Record<BucketWidth, number> = { "1m": 7 * 86_400, "1h": 93 * 86_400, "1d": 3 * 366 * 86_400 };
const EARLIEST = Date.UTC(2015, 0, 1) / 1000;

/** A single string value; arrays, objects or repeats of a scalar parameter are refused. */
function scalar(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidRequest(`'${name}' must be given once, as a single value.`, name);
  return v;
}

/** Values of a list parameter: repeated (`a=x&a=y`), bracketed (`a[]=x`) or comma-separated. */
export function list(q: Query, name: string): string[] {
  const raw = [q[name], q[`${name}[]`]].flat().filter((v) => v !== undefined);
  const out: string[] = [];
  for (const v of raw) {
    if (typeof v !== "string") throw invalidRequest(`'${name}' must be a list of strings.`, name);
    for (const part of v.split(",")) if (part.trim()) out.push(part.trim());
  }
  if (out.length > 100) throw invalidRequest(`'${name}' accepts at most 100 values.`, name);
  return out;
}

export function unixTime(q: Query, name: string, required: boolean): number | undefined {
  const v = scalar(q, name);
  if (v === undefined || v === "") {
    if (required) throw invalidRequest(`'${name}' is required: a Unix time in seconds.`, name);
    return undefined;
  }
  if (!/^\d{1,12}$/.test(v))
    throw invalidRequest(`'${name}' must be a Unix time in whole seconds, got '${v.slice(0, 40)}'.`, name);
  const n = Number(v);
  const latest = Date.now() / 1000 + 366 * 86_400;
  if (n < EARLIEST || n > latest) throw invalidRequest(`'${name}' is out of range: ${n}.`, name);
  return n;
}

export function integer(q: Query, name: string, def: number, max: number): number {
  const v = scalar(q, name);
  if (v === undefined || v === "") return def;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1)
    throw invalidRequest(`'${name}' must be a positive integer.`, name);
  const n = Number(v);
  if (n > max) throw invalidRequest(`'${name}' may be at most ${max}, got ${n}.`, name);
  return n;
}

export function oneOf<T extends string>(q: Query, name: string, allowed: readonly T[], def: T): T {
  const v = scalar(q, name);
  if (v === undefined || v === "") return def;
  if (!(allowed as readonly string[]).includes(v)) {
    throw invalidRequest(`'${name}' must be one of ${allowed.join(", ")}; got '${v.slice(0, 40)}'.`, name);
  }
  return v as T;
}

export function groupBy<T extends string>(q: Query, allowed: readonly T[]): T[] {
  const values = list(q, "group_by");
  for (const v of values) {
    if (!(allowed as readonly string[]).includes(v)) {
      throw invalidRequest(
        `Unknown group_by value '${v.slice(0, 40)}'; allowed: ${allowed.join(", ")}.`,
        "group_by",
      );
    }
  }
  return [...new Set(values)] as T[];
}

/** Opaque page cursors: base64url JSON with a kind tag, so one endpoint's cursor fails on another. */
export function encodeCursor(kind: string, value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ k: kind, ...value })).toString("base64url");
}

export function decodeCursor(q: Query, name: string, kind: string): Record<string, unknown> | undefined {
  const v = scalar(q, name);
  if (v === undefined || v === "") return undefined;
  const fail = () => invalidRequest(`'${name}' is not a cursor this endpoint returned.`, name);
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(v)) throw fail();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(v, "base64url").toString("utf8"));
  } catch {
    throw fail();
  }
  if (typeof parsed !== "object" || parsed === null || (parsed as { k?: unknown }).k !== kind) throw fail();
  return parsed as Record<string, unknown>;
}

export type BucketWindow = { width: BucketWidth; seconds: number; start: number; end: number; limit: number };

/**
 * start_time (required), end_time (default: now, or start + limit buckets), bucket_width and
 * limit of the usage and costs APIs. Buckets are aligned to UTC boundaries of their width.
 */
export function bucketWindow(
  q: Query,
  widths: readonly BucketWidth[],
  limits: Partial<Record<BucketWidth, { def: number; max: number }>> = {},
): BucketWindow {
  const width = oneOf(q, "bucket_width", widths, "1d");
  const seconds = BUCKET_SECONDS[width];
  const { def, max } = limits[width] ?? LIMITS[width];
  const limit = integer(q, "limit", def, max);
  const rawStart = unixTime(q, "start_time", true)!;
  const start = Math.floor(rawStart / seconds) * seconds;
  const rawEnd = unixTime(q, "end_time", false);
  if (rawEnd !== undefined && rawEnd <= rawStart) {
    throw invalidRequest("'end_time' must be after 'start_time'.", "end_time");
  }
  const end = rawEnd ?? Math.max(start + seconds, Math.ceil(Date.now() / 1000 / seconds) * seconds);
  if (end - start > MAX_SPAN[width]) {
    throw invalidRequest(
      `The range is too large for bucket_width=${width}: at most ${MAX_SPAN[width] / 86_400} days.`,
      "end_time",
    );
  }
  return { width, seconds, start, end, limit };
}
