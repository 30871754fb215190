// The tenant's audit trail over HTTP: GET /v1/audit pages through it newest-last with a keyset
// cursor (ts, id); GET /v1/audit/export streams it as JSON Lines. Both read under row-level
// security as the caller's tenant, in batches, so an export of millions of rows never sits in
// memory and never holds one transaction open for long.
import type { Response, Router } from "express";
import type pg from "pg";
import { invalidRequest } from "../../core/errors.ts";
import { withTenant } from "../../metering/tenant-db.ts";
import { decodeCursor, encodeCursor, integer, type Query, unixTime } from "./api-params.ts";
import { type Handler, route, type UsageApiDeps } from "./api-route.ts";

type AuditRow = Record<string, unknown> & { ts: Date; id: string; ts_exact: string };

// ts_exact keeps Postgres's microseconds for the cursor; a JS Date would round them away.
const COLUMNS = `id, ts, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_exact, request_id, key_id, end_user, model, base_model, adapter, adapter_version,
  policy_hash, decision, reason, mode, prompt, response, prompt_sha256, response_sha256`;

const MAX_EXPORT_SPAN_DAYS = 3_660;

function present(r: AuditRow) {
  return {
    object: "audit.entry",
    id: r.id,
    created_at: Math.floor(r.ts.getTime() / 1000),
    time: r.ts.toISOString(),
    request_id: r.request_id,
    api_key_id: r.key_id || null,
    user_id: r.end_user || null,
    model: r.model,
    base_model: r.base_model,
    adapter: r.adapter ? { name: r.adapter, version: r.adapter_version } : null,
    policy_hash: r.policy_hash,
    decision: r.decision,
    reason: r.reason || null,
    content_mode: r.mode,
    prompt: r.prompt ?? null,
    response: r.response ?? null,
    prompt_sha256: r.prompt_sha256 ?? null,
    response_sha256: r.response_sha256 ?? null,
  };
}

type Range = { from: Date; to: Date };

function range(q: Query): Range {
  const start = unixTime(q, "start_time", false) ?? 0;
  const end = unixTime(q, "end_time", false);
  if (end !== undefined && end <= start) {
    throw invalidRequest("'end_time' must be after 'start_time'.", "end_time");
  }
  const to = end ?? Date.now() / 1000 + 86_400;
  if (start > 0 && to - start > MAX_EXPORT_SPAN_DAYS * 86_400) {
    throw invalidRequest(`The range may span at most ${MAX_EXPORT_SPAN_DAYS} days.`, "end_time");
  }
  return { from: new Date(start * 1000), to: new Date(to * 1000) };
}

type After = { ts: string; id: string } | undefined;

async function readBatch(
  pool: pg.Pool,
  tenant: string,
  r: Range,
  after: After,
  limit: number,
): Promise<AuditRow[]> {
  return withTenant(pool, tenant, async (c) => {
    const { rows } = await c.query<AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log
       WHERE tenant = $1 AND ts >= $2 AND ts < $3
         AND ($4::timestamptz IS NULL OR (ts, id) > ($4::timestamptz, $5::uuid))
       ORDER BY ts, id LIMIT $6`,
      [tenant, r.from, r.to, after?.ts ?? null, after?.id ?? null, limit],
    );
    return rows;
  });
}

const cursorOf = (row: AuditRow) => encodeCursor("audit", { t: row.ts_exact, i: row.id });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TS_EXACT = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * Exactly the ts_exact shape, of a real instant: JavaScript reads '2024-02-30' as 1 March, while
 * PostgreSQL refuses it, so the date must survive a round trip through Date unchanged.
 */
function exactTime(t: string): boolean {
  const m = TS_EXACT.exec(t);
  if (!m || Number(m[1]) < 1970) return false;
  const d = new Date(`${t.slice(0, 23)}Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 19) === t.slice(0, 19);
}

function listRoute(deps: UsageApiDeps): Handler {
  return async (caller, q, res) => {
    const r = range(q);
    const limit = integer(q, "limit", 100, 1_000);
    const c = decodeCursor(q, "cursor", "audit");
    let after: After;
    if (c) {
      if (typeof c.t !== "string" || !exactTime(c.t) || typeof c.i !== "string" || !UUID.test(c.i)) {
        throw invalidRequest("'cursor' is not a cursor this endpoint returned.", "cursor");
      }
      after = { ts: c.t, id: c.i };
    }
    const rows = await readBatch(deps.pool, caller.tenant.metadata.name, r, after, limit + 1);
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    res.json({
      object: "list",
      data: page.map(present),
      has_more: more,
      next_cursor: more ? cursorOf(page.at(-1)!) : null,
    });
  };
}

function exportRoute(deps: UsageApiDeps): Handler {
  return async (caller, q, res: Response) => {
    const r = range(q);
    const tenant = caller.tenant.metadata.name;
    let after: After;
    let first = await readBatch(deps.pool, tenant, r, after, 1_000);
    res.writeHead(200, {
      "content-type": "application/x-ndjson",
      "content-disposition": `attachment; filename="audit-${tenant}.jsonl"`,
    });
    let closed = false;
    res.once("close", () => {
      closed = true;
    });
    while (first.length > 0 && !closed) {
      const chunk = `${first.map((row) => JSON.stringify(present(row))).join("\n")}\n`;
      if (!res.write(chunk)) await new Promise((ok) => res.once("drain", ok));
      const last = first.at(-1)!;
      after = { ts: last.ts_exact, id: last.id };
      first = first.length < 1_000 ? [] : await readBatch(deps.pool, tenant, r, after, 1_000);
    }
    res.end();
  };
}

export function mountAuditRoutes(router: Router, deps: UsageApiDeps): void {
  router.get("/v1/audit", route(deps, listRoute(deps)));
  router.get("/v1/audit/export", route(deps, exportRoute(deps)));
}
