// Relaying an engine's answer to the client once its headers have arrived: JSON bodies whole
// (with the model name put back and usage read), event streams event by event, and engine
// errors translated into OpenAI's error shape without the engine-side lora name.
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import { ApiError, sendError } from "../../core/errors.ts";
import type { Outcome, RequestContext } from "../../core/request-context.ts";
import type { ForwardJob } from "./job.ts";
import { createSseRewriter } from "./sse.ts";

export type Relayed = Omit<Outcome, "durationMs" | "replica"> & { text?: string };

/** Milliseconds spent waiting on engines and agents, and in the fair queue: the overhead figure excludes both. */
export type Clock = { upstreamMs: number; queuedMs: number };

export function overheadHeader(ctx: RequestContext, clock: Clock): Record<string, string> {
  const ms = performance.now() - ctx.receivedAt - clock.upstreamMs - clock.queuedMs;
  return { "x-loraplex-overhead-ms": ms.toFixed(3) };
}

export function upstreamError(status: 502 | 504, message: string): ApiError {
  return new ApiError(status, message, {
    type: "server_error",
    code: status === 504 ? "upstream_timeout" : "upstream_error",
  });
}

export async function relayJson(
  job: ForwardJob,
  up: Dispatcher.ResponseData,
  res: ServerResponse,
  clock: Clock,
): Promise<Relayed> {
  const t = performance.now();
  let text: string;
  try {
    text = await up.body.text();
  } finally {
    clock.upstreamMs += performance.now() - t;
  }
  if (up.statusCode !== 200) return relayEngineError(job, up.statusCode, text, res, clock);
  const { ctx } = job;
  const body = job.shaper ? await job.shaper.json(rename(text, job)) : rename(text, job);
  const usage = extractUsage(text);
  const completion = job.collectText ? completionText(text) : undefined;
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...job.headers,
    ...overheadHeader(ctx, clock),
  });
  res.end(body);
  return {
    status: "ok",
    httpStatus: 200,
    promptTokens: usage.prompt_tokens ?? ctx.promptTokensEstimate,
    completionTokens: usage.completion_tokens ?? 0,
    text: completion,
  };
}

export async function relayStream(
  job: ForwardJob,
  up: Dispatcher.ResponseData,
  res: ServerResponse,
  clock: Clock,
  signal: AbortSignal,
): Promise<Relayed> {
  const { ctx } = job;
  if (up.statusCode !== 200) {
    const t = performance.now();
    const text = await up.body.text();
    clock.upstreamMs += performance.now() - t;
    return relayEngineError(job, up.statusCode, text, res, clock);
  }
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    ...job.headers,
    ...overheadHeader(ctx, clock),
  });
  const { shaper } = job;
  if (shaper) res.write(shaper.streamStart());
  const sse = createSseRewriter({
    upstreamModel: job.upstreamModel,
    clientModel: ctx.model.requested,
    keepUsage: job.keepUsage,
    collectText: job.collectText,
  });
  const counts = () => ({
    text: job.collectText ? sse.stats.text : undefined,
    promptTokens: sse.stats.promptTokens ?? ctx.promptTokensEstimate,
    completionTokens: sse.stats.completionTokens ?? sse.stats.choiceEvents,
    ttftMs: sse.stats.firstTokenAt === undefined ? undefined : sse.stats.firstTokenAt - ctx.receivedAt,
  });
  let failure: { status: "upstream_error" | "timeout"; httpStatus: number; reason: string } | undefined;
  const fair = job.fair;
  try {
    for await (const chunk of up.body as AsyncIterable<Buffer>) {
      const out = shaper ? shaper.streamPush(sse.push(chunk)) : sse.push(chunk);
      // Output is charged to the fair-share counter as it streams, not only at the end.
      if (fair !== undefined) {
        const streamed = sse.stats.choiceEvents;
        const charged = job.outputCharged ?? 0;
        if (streamed > charged) {
          fair.chargeOutput(streamed - charged);
          job.outputCharged = streamed;
        }
      }
      if (out.length > 0 && !res.write(out)) await once(res, "drain", { signal });
    }
    const tail = shaper ? shaper.streamPush(sse.end()) : sse.end();
    if (tail.length > 0) res.write(tail);
    if (sse.stats.upstreamError !== undefined) {
      failure = { status: "upstream_error", httpStatus: 502, reason: sse.stats.upstreamError };
    } else if (!sse.stats.sawDone) {
      failure = { status: "upstream_error", httpStatus: 502, reason: "engine stream ended without [DONE]" };
      const e = upstreamError(502, "The engine stream ended early.");
      res.write(shaper ? shaper.streamError(e) : errorEvent(e));
    } else if (shaper) {
      res.write(await shaper.streamEnd(sse.stats));
    }
  } catch (err) {
    if (signal.aborted) return { status: "client_disconnect", httpStatus: 499, ...counts() };
    const code = (err as { code?: string }).code;
    const timeout = code === "UND_ERR_BODY_TIMEOUT";
    const e = timeout
      ? upstreamError(504, "The engine stopped sending tokens and timed out mid-stream.")
      : upstreamError(502, "The engine replica failed mid-stream.");
    failure = {
      status: timeout ? "timeout" : "upstream_error",
      httpStatus: e.status,
      reason: (err as Error).message,
    };
    if (!res.destroyed) res.write(shaper ? shaper.streamError(e) : errorEvent(e));
  }
  res.end();
  return failure ? { ...failure, ...counts() } : { status: "ok", httpStatus: 200, ...counts() };
}

/** The generated text of a whole chat or text completion (all choices, in order). */
function completionText(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { choices?: { message?: { content?: unknown }; text?: unknown }[] };
    if (!Array.isArray(v.choices)) return undefined;
    return v.choices
      .map((c) =>
        typeof c.message?.content === "string" ? c.message.content : typeof c.text === "string" ? c.text : "",
      )
      .join("");
  } catch {
    return undefined;
  }
}

/** An OpenAI-style error event: the SDKs raise it as an APIError from the stream iterator. */
function errorEvent(e: ApiError): string {
  return `data: ${JSON.stringify(e.toJSON())}\n\n`;
}

/** An engine 4xx passes through with its status; anything else becomes a 502. */
function relayEngineError(
  job: ForwardJob,
  status: number,
  text: string,
  res: ServerResponse,
  clock: Clock,
): Relayed {
  let message = `The engine rejected the request (HTTP ${status}).`;
  let param: string | undefined;
  try {
    const v = JSON.parse(text) as { error?: { message?: unknown; param?: unknown }; message?: unknown };
    const m = v.error?.message ?? v.message;
    if (typeof m === "string" && m.length > 0) message = m;
    if (typeof v.error?.param === "string") param = v.error.param;
  } catch {}
  message = rename(message, job);
  const e =
    status >= 400 && status < 500
      ? new ApiError(status, message, { param, code: "engine_rejected" })
      : upstreamError(502, `The engine replica failed: ${message}`);
  sendError(res, e, { ...job.headers, ...overheadHeader(job.ctx, clock) });
  return {
    status: "upstream_error",
    httpStatus: e.status,
    promptTokens: 0,
    completionTokens: 0,
    reason: message,
  };
}

/** Puts the client's model name back wherever the engine echoed its own lora name. */
function rename(text: string, job: ForwardJob): string {
  const client = job.ctx.model.requested;
  if (job.upstreamModel === client || !text.includes(job.upstreamModel)) return text;
  return text.replaceAll(job.upstreamModel, JSON.stringify(client).slice(1, -1));
}

type Usage = { prompt_tokens?: number; completion_tokens?: number };

/**
 * Reads the top-level usage object without parsing the whole body (embedding responses run to
 * megabytes of floats): usage is a small flat object, so a brace scan from its key finds it.
 */
export function extractUsage(text: string): Usage {
  const key = text.lastIndexOf('"usage"');
  if (key < 0) return {};
  const open = text.indexOf("{", key);
  if (open < 0 || !/^"usage"\s*:\s*$/.test(text.slice(key, open))) return {};
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) {
      try {
        const u = JSON.parse(text.slice(open, i + 1)) as Record<string, unknown>;
        return {
          prompt_tokens: typeof u.prompt_tokens === "number" ? u.prompt_tokens : undefined,
          completion_tokens: typeof u.completion_tokens === "number" ? u.completion_tokens : undefined,
        };
      } catch {
        return {};
      }
    }
  }
  return {};
}
