// POST /v1/chat/completions and /v1/completions, whole or streamed as vLLM does it: SSE
// `data: {chunk}` events (chat: a role chunk first), finish_reason on the last token's chunk,
// a usage chunk with empty choices when stream_options.include_usage, then `data: [DONE]`.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sleep } from "../core/sleep.ts";
import type { Engine, Started } from "./engine.ts";
import { EngineError } from "./errors.ts";
import { type Generation, generate } from "./generation.ts";
import { parseChatRequest, parseCompletionRequest, type SamplingRequest } from "./validation.ts";

type Kind = "chat" | "completion";
type Usage = {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  prompt_tokens_details: null;
};

export async function handleCompletion(
  engine: Engine,
  kind: Kind,
  body: unknown,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const r = kind === "chat" ? parseChatRequest(body) : parseCompletionRequest(body);
  const { served, adapter } = engine.resolveModel(r.model);
  engine.metrics.received(r.priority);
  const promptTokens = r.prompt.tokens.length;
  engine.checkContext(promptTokens, r.maxTokens);
  engine.faults.maybeFail();
  const header = req.headers["x-request-id"];
  const base = typeof header === "string" && header ? header : randomUUID().replaceAll("-", "");
  const meta = {
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${base}`,
    created: Math.floor(Date.now() / 1000),
    model: served,
  };

  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  if (r.stream) {
    // vLLM answers 200 and opens the event stream before the request is scheduled.
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  }
  let started: Started | undefined;
  try {
    started = await engine.begin(adapter, r.prompt, r.cacheSalt, abort.signal);
  } catch (e) {
    if (!r.stream || !(e instanceof EngineError)) throw e;
    // Once streaming, errors travel as an event, as vLLM sends them.
    res.end(`data: ${JSON.stringify(e.toJSON())}\n\ndata: [DONE]\n\n`);
    return;
  }
  if (!started) return;
  const gen = generate({
    identity: started.identity,
    prompt: r.prompt.text,
    seedKey: r.temperature === 0 ? "greedy" : String(r.seed ?? "none"),
    maxTokens: r.maxTokens ?? engine.opts.maxModelLen - promptTokens,
    stop: r.stop,
    ignoreEos: r.ignoreEos,
  });
  const out = { engine, kind, r, meta, started, gen, res, disconnect: engine.faults.shouldDisconnect() };
  try {
    const complete = r.stream ? await streamOut(out) : await wholeOut(out);
    engine.finish(started, complete ? gen.finishReason : "abort");
  } catch (e) {
    engine.finish(started, "abort");
    throw e;
  }
}

type Out = {
  engine: Engine;
  kind: Kind;
  r: SamplingRequest;
  meta: { id: string; created: number; model: string };
  started: Started;
  gen: Generation;
  res: ServerResponse;
  disconnect: boolean;
};

function usage(o: Out, completionTokens: number): Usage {
  const p = o.r.prompt.tokens.length;
  return {
    prompt_tokens: p,
    total_tokens: p + completionTokens,
    completion_tokens: completionTokens,
    prompt_tokens_details: null,
  };
}

/** Non-streaming: wait out the decode time, then answer at once. Returns false if cut off. */
async function wholeOut(o: Out): Promise<boolean> {
  const { engine, started, gen, res, meta } = o;
  engine.emitted(started, 1);
  await sleep(engine.latency.interTokenMs() * (gen.completionTokens - 1), started.signal);
  if (started.signal.aborted) return false;
  engine.emitted(started, gen.completionTokens - 1);
  if (o.disconnect) {
    res.destroy();
    return false;
  }
  const text = (o.r.echo ? o.r.prompt.text : "") + gen.text;
  const choice =
    o.kind === "chat"
      ? {
          index: 0,
          message: { role: "assistant", content: text, reasoning_content: null, tool_calls: [] },
          logprobs: null,
          finish_reason: gen.finishReason,
          stop_reason: gen.stopReason,
        }
      : {
          index: 0,
          text,
          logprobs: null,
          finish_reason: gen.finishReason,
          stop_reason: gen.stopReason,
          prompt_logprobs: null,
        };
  const body = JSON.stringify({
    id: meta.id,
    object: o.kind === "chat" ? "chat.completion" : "text_completion",
    created: meta.created,
    model: meta.model,
    choices: [choice],
    usage: usage(o, gen.completionTokens),
    prompt_logprobs: null,
    kv_transfer_params: null,
  });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
  return true;
}

/**
 * Streaming: one event per generated token, paced by the inter-token latency. Without pacing
 * (--time-scale 0) the events are gathered and written at once: same bytes, far fewer writes.
 */
async function streamOut(o: Out): Promise<boolean> {
  const { engine, started, gen, res, meta, r } = o;
  const object = o.kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const paced = engine.latency.interTokenMs() > 0;
  const cutAt = o.disconnect ? Math.floor(gen.pieces.length / 2) : Number.POSITIVE_INFINITY;
  let pending = "";
  const write = (s: string) => {
    if (paced) res.write(s);
    else pending += s;
  };
  const send = (choice: Record<string, unknown>, emitted: number) => {
    const chunk: Record<string, unknown> = {
      id: meta.id,
      object,
      created: meta.created,
      model: meta.model,
      choices: [choice],
    };
    if (r.includeUsage && r.continuousUsage) chunk.usage = usage(o, emitted);
    write(`data: ${JSON.stringify(chunk)}\n\n`);
  };
  if (o.kind === "chat") {
    send({ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }, 0);
  }
  for (let i = 0; i < gen.pieces.length; i++) {
    if (i > 0 && paced) await sleep(engine.latency.interTokenMs(), started.signal);
    if (started.signal.aborted) return false;
    if (i >= cutAt) {
      // Flush what was sent so far, so the client sees a stream that started and then broke.
      await new Promise<void>((flushed) => res.write(`${pending}: cut\n\n`, () => flushed()));
      res.destroy();
      return false;
    }
    engine.emitted(started, 1);
    const last = i === gen.pieces.length - 1;
    const text = (i === 0 && r.echo ? r.prompt.text : "") + gen.pieces[i];
    const finish = last ? gen.finishReason : null;
    const choice =
      o.kind === "chat"
        ? {
            index: 0,
            delta: { content: text },
            logprobs: null,
            finish_reason: finish,
            ...(last ? { stop_reason: gen.stopReason } : {}),
          }
        : {
            index: 0,
            text,
            logprobs: null,
            finish_reason: finish,
            stop_reason: last ? gen.stopReason : null,
          };
    send(choice, i + 1);
  }
  if (r.includeUsage) {
    const chunk = {
      id: meta.id,
      object,
      created: meta.created,
      model: meta.model,
      choices: [],
      usage: usage(o, gen.completionTokens),
    };
    write(`data: ${JSON.stringify(chunk)}\n\n`);
  }
  res.end(`${pending}data: [DONE]\n\n`);
  return true;
}
