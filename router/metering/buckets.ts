// Paging and bucketing shared by the usage, costs and vector store usage routes: a page of
// time buckets from the query's window and `page` cursor, and rows grouped into those buckets.
import { invalidRequest } from "../../core/errors.ts";
import { type bucketWindow, decodeCursor, encodeCursor, type Query } from "./api-params.ts";
import type { UsageRow } from "./usage-queries.ts";

export type Page = { from: number; to: number; next?: string };

export function page(q: Query, kind: string, w: ReturnType<typeof bucketWindow>): Page {
  const cursor = decodeCursor(q, "page", kind);
  let from = w.start;
  if (cursor) {
    const s = cursor.s;
    if (typeof s !== "number" || s < w.start || s >= w.end || (s - w.start) % w.seconds !== 0) {
      throw invalidRequest("'page' does not belong to this query's time range.", "page");
    }
    from = s;
  }
  const to = Math.min(w.end, from + w.limit * w.seconds);
  return { from, to, next: to < w.end ? encodeCursor(kind, { s: to }) : undefined };
}

export function buckets<T>(p: Page, seconds: number, rows: UsageRow[], toResults: (r: UsageRow) => T[]) {
  const byStart = new Map<number, UsageRow[]>();
  for (const r of rows) byStart.set(r.bucket, [...(byStart.get(r.bucket) ?? []), r]);
  const data = [];
  for (let s = p.from; s < p.to; s += seconds) {
    data.push({
      object: "bucket",
      start_time: s,
      end_time: s + seconds,
      results: (byStart.get(s) ?? []).flatMap(toResults),
    });
  }
  return { object: "page", data, has_more: p.next !== undefined, next_page: p.next ?? null };
}
