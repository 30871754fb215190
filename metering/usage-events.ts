// The usage event: one per request, on every path (served, upstream error, timeout, client
// disconnect, rejection). It is what billing, the usage API, the dashboard and the admin cost
// report are computed from, so it carries everything needed to attribute a request.
import { randomBytes } from "node:crypto";
import type { Endpoint, Outcome, RequestContext } from "../core/request-context.ts";
import { clipText, type Repairs, storableText } from "../core/safe-text.ts";
import type { Cost } from "./prices.ts";

/** Fine-tunes (trainer/metering.ts) add their own ending: failed or cancelled. */
export type UsageStatus = Outcome["status"] | "failed" | "cancelled";

export type UsageEvent = {
  /** UUIDv7: time-ordered, so inserts append to the primary-key index. */
  id: string;
  /** ISO time the request arrived. */
  ts: string;
  requestId: string;
  tenant: string;
  keyId: string;
  endUser: string;
  feature: string;
  /**
   * "fine_tuning.jobs" for a fine-tune's event (trainer/metering.ts); "vector_stores.search"
   * and "vector_stores.embeddings" for retrieval (retrieval/usage.ts).
   */
  endpoint: Endpoint | "fine_tuning.jobs" | "vector_stores.search" | "vector_stores.embeddings";
  /** What the client asked for. */
  model: string;
  baseModel: string;
  adapter: string;
  adapterVersion: number;
  replica: string;
  promptTokens: number;
  completionTokens: number;
  inputCostMicro: number;
  outputCostMicro: number;
  ttftMs: number | null;
  durationMs: number;
  /** Time waited in the router's fair queue; null when the request did not queue. */
  queueMs?: number | null;
  status: UsageStatus;
  httpStatus: number;
  reason: string;
  stream: boolean;
  /** Fine-tunes only: Job wall time × GPUs per Job. */
  gpuSeconds?: number;
  /**
   * Client text repaired to be storable (see core/safe-text.ts): field → SHA-256 of the original.
   * Kept on the request's audit row; absent when nothing needed repair.
   */
  repaired?: Repairs;
};

/** RFC 9562 UUID version 7: 48-bit Unix ms, version, 74 random bits, variant. */
export function uuidv7(nowMs = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(nowMs, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** ctx.receivedAt is performance.now(); events need wall-clock time. */
function arrivalTime(ctx: RequestContext): number {
  return Math.round(Date.now() - (performance.now() - ctx.receivedAt));
}

const clip = (s: string | undefined, n: number) => (s ? (s.length > n ? s.slice(0, n) : s) : "");
/** Client-controlled text: bounded, and storable whatever the client sent. */
const text = (s: string | undefined, n: number, field: string, repairs: Repairs) =>
  s ? storableText(clipText(s, n), field, repairs) : "";
const whole = (n: number) => (Number.isFinite(n) && n > 0 ? Math.round(n) : 0);

export function buildUsageEvent(ctx: RequestContext, outcome: Outcome, cost: Cost): UsageEvent {
  const at = arrivalTime(ctx);
  const repairs: Repairs = {};
  const event: UsageEvent = {
    id: uuidv7(at),
    ts: new Date(at).toISOString(),
    requestId: clip(ctx.requestId, 200),
    tenant: ctx.tenant.metadata.name,
    keyId: clip(ctx.keyId, 200),
    // Client-supplied: bounded so one caller cannot bloat rows or rollup keys.
    endUser: text(ctx.endUser, 256, "end_user", repairs),
    feature: text(ctx.feature, 128, "feature", repairs),
    endpoint: ctx.endpoint,
    model: text(ctx.model.requested, 256, "model", repairs),
    baseModel: ctx.model.baseModel,
    adapter: ctx.model.adapter?.name ?? "",
    adapterVersion: ctx.model.adapter?.version ?? 0,
    replica: clip(outcome.replica, 256),
    promptTokens: whole(outcome.promptTokens),
    completionTokens: whole(outcome.completionTokens),
    inputCostMicro: cost.inputMicro,
    outputCostMicro: cost.outputMicro,
    ttftMs: outcome.ttftMs !== undefined && Number.isFinite(outcome.ttftMs) ? outcome.ttftMs : null,
    durationMs: Number.isFinite(outcome.durationMs) ? Math.max(0, outcome.durationMs) : 0,
    queueMs: outcome.queueMs !== undefined && Number.isFinite(outcome.queueMs) ? outcome.queueMs : null,
    status: outcome.status,
    httpStatus: outcome.httpStatus,
    // Error messages may quote what the client sent (an unknown model's name).
    reason: text(outcome.reason, 500, "reason", repairs),
    stream: ctx.stream,
  };
  for (const _ in repairs) {
    event.repaired = repairs;
    break;
  }
  return event;
}
