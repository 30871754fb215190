// The request path shared by the three inference endpoints, along the lifecycle declared in
// core/request-context.ts: authenticate → read body (413) → parse (400) → validate + policy →
// resolve model → admit → forward (pick replica, ensure adapter, send, relay) → settle, exactly
// once per admitted request; or rejected on the way. The Responses API takes the same path with
// a Translate (router/responses/handler.ts): its body becomes a chat body before the policy, and
// its answer is reshaped on the way back, so it passes every gate here once.
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, invalidRequest, sendError } from "../../core/errors.ts";
import type {
  Authenticated,
  Endpoint,
  EngineEndpoint,
  Outcome,
  RequestContext,
} from "../../core/request-context.ts";
import type { AnswerShaper } from "../forward/job.ts";
import { forward } from "../forward/proxy.ts";
import { NO_TENANT } from "../metrics.ts";
import { parseJsonObject, readBody } from "./body.ts";
import type { RouterDeps } from "./deps.ts";
import type { PreparedBody } from "./prepare-body.ts";

export type EndpointSpec = {
  endpoint: Endpoint;
  /** Path on the engine (vLLM serves the same OpenAI paths). */
  path: string;
  streamable: boolean;
};

/**
 * Turns a parsed client body into the engine body (validated, tenant policy applied), for an
 * endpoint whose client API differs from the engine's (the Responses API: router/responses/).
 * `shaper` then turns the engine's answer back into the client's API.
 */
export type Translate = (
  auth: Authenticated,
  parsed: Record<string, unknown>,
  requestId: string,
) => Promise<PreparedBody & { shaper: AnswerShaper }>;

const FEATURE = /^[A-Za-z0-9._:/-]{1,64}$/;

export async function handleInference(
  deps: RouterDeps,
  spec: EndpointSpec,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
  translate?: Translate,
): Promise<void> {
  let tenant = NO_TENANT;
  let model = NO_TENANT;
  let ctx: RequestContext | undefined;
  let auth: Authenticated | undefined;
  let clientModel: unknown;
  let admitting = false;
  let outcome: Outcome;
  let overheadMs: number;
  try {
    auth = await deps.authenticate(req.headers.authorization, req.socket.remoteAddress);
    tenant = auth.tenant.metadata.name;
    const raw = await readBody(req, deps.maxBodyBytes);
    const parsed = parseJsonObject(raw);
    clientModel = parsed.model;
    const prepared: PreparedBody & { shaper?: AnswerShaper } = translate
      ? await translate(auth, parsed, requestId)
      : deps.prepareBody(spec.endpoint as EngineEndpoint, auth.tenant, parsed);
    const { body, maxOutputTokens, shaper } = prepared;
    const resolved = deps.resolveModel(auth.tenant, body.model as string);
    model = resolved.requested;
    const stream = spec.streamable && body.stream === true;
    const clientOptions = isObject(body.stream_options) ? body.stream_options : undefined;
    const upstreamModel = resolved.adapter?.loraName ?? resolved.baseModel;
    // The engine sees only router-derived identity and plan: its lora name, the tenant's salt and
    // its plan's priority (a client's own `priority` was refused by allowEngineParams).
    body.model = upstreamModel;
    body.cache_salt = deps.cacheSalt(auth.tenant);
    const priority = auth.tenant.spec.limits?.priority;
    if (priority !== undefined) body.priority = priority;
    if (stream) body.stream_options = { ...clientOptions, include_usage: true };
    const payload = serialize(body);
    ctx = {
      requestId,
      receivedAt,
      endpoint: spec.endpoint,
      tenant: auth.tenant,
      keyId: auth.keyId,
      model: resolved,
      stream,
      endUser: typeof body.user === "string" ? body.user.slice(0, 256) : undefined,
      feature: featureOf(req),
      // A translated body may carry more than the client sent (retrieved excerpts, the stored
      // conversation): its estimate comes from what goes upstream.
      promptTokensEstimate: Math.ceil((translate ? payload.length : raw.length) / 4),
      maxOutputTokens,
      stage: "authenticated",
      audit: undefined,
    };
    admitting = true;
    await deps.hooks.admit(ctx);
    const admitted = ctx;
    admitted.stage = "admitted";
    const { hooks } = deps;
    const wantsText = hooks.wantsPayload?.(admitted) === true;
    let text: string | undefined;
    try {
      const job = {
        ctx: admitted,
        poolRef: deps.poolRefFor(auth.tenant),
        path: spec.path,
        payload,
        upstreamModel,
        // A shaper reads the usage chunk itself (the client never sees the engine's chunks).
        keepUsage: shaper !== undefined || clientOptions?.include_usage === true,
        headers: hooks.responseHeaders?.(admitted) ?? {},
        collectText: wantsText,
        shaper,
      };
      admitted.stage = "forwarded";
      ({ outcome, overheadMs, text } = await forward(deps, job, res));
    } catch (err) {
      // forward() answers every upstream failure itself; reaching here is a router bug, and the
      // admitted request must still be settled.
      deps.logger.error({ err, reqId: requestId, tenant }, "forwarding failed unexpectedly");
      sendError(res, err);
      const durationMs = performance.now() - receivedAt;
      outcome = {
        status: "upstream_error",
        httpStatus: 500,
        promptTokens: 0,
        completionTokens: 0,
        durationMs,
      };
      overheadMs = durationMs;
    }
    if (wantsText) admitted.audit = { prompt: promptOf(body), response: text };
    guard(deps, requestId, () => hooks.settle(admitted, outcome));
    admitted.stage = "settled";
  } catch (err) {
    // Rejected before admission, or by admit itself: nothing to settle.
    if (ctx) ctx.stage = "rejected";
    overheadMs = performance.now() - receivedAt;
    sendError(res, err, { "x-loraplex-overhead-ms": overheadMs.toFixed(3) });
    const status = err instanceof ApiError ? err.status : 500;
    if (!(err instanceof ApiError)) deps.logger.error({ err, reqId: requestId, tenant }, "request failed");
    const reason = err instanceof Error ? err.message : String(err);
    outcome = {
      status: status === 499 ? "client_disconnect" : "rejected",
      httpStatus: status,
      promptTokens: 0,
      completionTokens: 0,
      durationMs: overheadMs,
      reason,
    };
    // A refusal by admit() is the hooks' own decision and already known to them.
    const known = auth;
    if (known && !admitting && deps.hooks.rejected) {
      const r = {
        requestId,
        receivedAt,
        endpoint: spec.endpoint,
        tenant: known.tenant,
        keyId: known.keyId,
        model: typeof clientModel === "string" ? clientModel : undefined,
        httpStatus: status,
        reason: (err instanceof ApiError && err.code) || "rejected",
      };
      guard(deps, requestId, () => deps.hooks.rejected?.(r));
    }
  }
  record(deps, spec, requestId, tenant, model, ctx, outcome, overheadMs);
}

/** Hooks must not throw; if one does anyway, the request path carries on. */
function guard(deps: RouterDeps, requestId: string, call: () => void): void {
  try {
    call();
  } catch (err) {
    deps.logger.error({ err, reqId: requestId }, "a request hook threw");
  }
}

/** The prompt as it goes upstream, after the tenant's policy: messages, prompt or input. */
function promptOf(body: Record<string, unknown>): unknown {
  return body.messages ?? body.prompt ?? body.input;
}

function record(
  deps: RouterDeps,
  spec: EndpointSpec,
  requestId: string,
  tenant: string,
  model: string,
  ctx: RequestContext | undefined,
  o: Outcome,
  overheadMs: number,
): void {
  const stream = ctx?.stream ?? false;
  deps.metrics.request(tenant, model, o.httpStatus, o.durationMs, stream);
  if (ctx && o.status !== "rejected") {
    deps.metrics.overhead(overheadMs);
    deps.metrics.tokens(tenant, o.promptTokens, o.completionTokens);
    if (o.ttftMs !== undefined && stream) deps.metrics.ttft(tenant, model, o.ttftMs);
  }
  // Never the prompt or the completion: identifiers, sizes and timings only.
  deps.logger.info(
    {
      reqId: requestId,
      tenant,
      keyId: ctx?.keyId,
      endpoint: spec.endpoint,
      model,
      stream,
      status: o.httpStatus,
      outcome: o.status,
      replica: o.replica,
      promptTokens: o.promptTokens,
      completionTokens: o.completionTokens,
      ttftMs: o.ttftMs === undefined ? undefined : round(o.ttftMs),
      durationMs: round(o.durationMs),
      overheadMs: round(overheadMs),
      reason: o.httpStatus >= 400 ? o.reason : undefined,
    },
    "request",
  );
}

/** JSON.parse accepts nesting that JSON.stringify cannot recurse through; that is the client's 400. */
function serialize(body: Record<string, unknown>): string {
  try {
    return JSON.stringify(body);
  } catch {
    throw invalidRequest("The request body nests too deeply.");
  }
}

function featureOf(req: IncomingMessage): string | undefined {
  const f = req.headers["x-loraplex-feature"];
  return typeof f === "string" && FEATURE.test(f) ? f : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
