// Metering of retrieval: every search and every embedding batch of an ingestion is one usage
// event through the metering spool (so it lands in usage_events, usage_daily and audit_log like
// any request). A search is billed its query's embedding tokens at the embedding model's price
// plus the per-search price; an embedding batch its tokens. Storage (per GB-day) is billed from
// vector_store_bytes_daily by the costs API, not per event.
import type { Tenant } from "../core/tenant.ts";
import { policyHash } from "../metering/audit-record.ts";
import { costOf, findPrice, notPriced, type PriceTable } from "../metering/prices.ts";
import type { Spool } from "../metering/spool.ts";
import { type UsageEvent, uuidv7 } from "../metering/usage-events.ts";

export const SEARCH_ENDPOINT = "vector_stores.search";
export const EMBEDDINGS_ENDPOINT = "vector_stores.embeddings";

export type RetrievalCall = {
  tenant: Tenant;
  /** The API key of a search; "" for ingestion (no caller is waiting). */
  keyId: string;
  requestId: string;
  model: string;
  tokens: number;
  startedAt: number;
  durationMs: number;
  ok: boolean;
  httpStatus: number;
  reason?: string;
};

export type RetrievalMeter = {
  /** Throws the 403 model_not_priced when metering is on and the model has no price. */
  checkPriced(tenant: Tenant, model: string): void;
  searched(call: RetrievalCall): void;
  embedded(call: RetrievalCall): void;
};

export const unmetered: RetrievalMeter = { checkPriced() {}, searched() {}, embedded() {} };

export function createRetrievalMeter(d: { spool: Spool; prices: PriceTable }): RetrievalMeter {
  const priceOf = (tenant: Tenant, model: string) => {
    const m = { tenant: tenant.metadata.name, baseModel: model };
    const p = findPrice(d.prices, m);
    if (!p) throw notPriced(m);
    return p;
  };
  const record = (endpoint: UsageEvent["endpoint"], call: RetrievalCall, extraMicro: number) => {
    const p = findPrice(d.prices, { tenant: call.tenant.metadata.name, baseModel: call.model });
    const tokens = call.ok ? call.tokens : 0;
    const input = (p ? costOf(p, tokens, 0).inputMicro : 0) + (call.ok ? extraMicro : 0);
    const event: UsageEvent = {
      id: uuidv7(call.startedAt),
      ts: new Date(call.startedAt).toISOString(),
      requestId: call.requestId,
      tenant: call.tenant.metadata.name,
      keyId: call.keyId,
      endUser: "",
      feature: "",
      endpoint,
      model: call.model,
      baseModel: call.model,
      adapter: "",
      adapterVersion: 0,
      replica: "",
      promptTokens: tokens,
      completionTokens: 0,
      inputCostMicro: input,
      outputCostMicro: 0,
      ttftMs: null,
      durationMs: call.durationMs,
      status: call.ok ? "ok" : "upstream_error",
      httpStatus: call.httpStatus,
      reason: call.reason ?? "",
      stream: false,
    };
    d.spool.append({
      ...event,
      audit: {
        policyHash: policyHash(call.tenant),
        mode: "none",
        prompt: null,
        response: null,
        promptSha256: null,
        responseSha256: null,
      },
    });
  };
  const searchMicro = Math.ceil((d.prices.retrieval?.per1kSearches ?? 0) * 1000 - 1e-9);
  return {
    checkPriced(tenant, model) {
      priceOf(tenant, model);
    },
    searched: (call) => record(SEARCH_ENDPOINT, call, Math.max(0, searchMicro)),
    embedded: (call) => record(EMBEDDINGS_ENDPOINT, call, 0),
  };
}
