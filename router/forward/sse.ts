// Server-sent events from the engine, relayed event by event as they arrive (never buffered
// whole). On the way through, each event gets the engine-side model name replaced by the name
// the client used (so lora names never leak), the usage chunk that the router asked for is read
// for metering and dropped unless the client asked for it too, and TTFT/token counts are taken.
import { StringDecoder } from "node:string_decoder";

export type StreamStats = {
  /** performance.now() when the first event carrying choices arrived. */
  firstTokenAt?: number;
  /** Events with at least one choice: a floor for completion tokens when usage never comes. */
  choiceEvents: number;
  promptTokens?: number;
  completionTokens?: number;
  sawDone: boolean;
  /** The engine reported an error inside the stream. */
  upstreamError?: string;
  /** The streamed completion text, when collectText was asked for. */
  text: string;
};

export type SseRewriter = {
  /** Feeds raw upstream bytes; returns the text to send to the client now (may be ""). */
  push(chunk: Buffer): string;
  /** Flushes a trailing event that the engine did not terminate with a blank line. */
  end(): string;
  stats: StreamStats;
};

const USAGE_OBJECT = /"usage"\s*:\s*\{/;

export function createSseRewriter(opts: {
  upstreamModel: string;
  clientModel: string;
  /** The client asked for stream_options.include_usage itself. */
  keepUsage: boolean;
  /** Accumulate the generated text (costs a JSON.parse per event; only for audited tenants). */
  collectText?: boolean;
}): SseRewriter {
  const decoder = new StringDecoder("utf8");
  const rename = opts.upstreamModel !== opts.clientModel;
  const stats: StreamStats = { choiceEvents: 0, sawDone: false, text: "" };
  let pending = "";

  const rewriteEvent = (event: string): string | undefined => {
    if (event.length === 0) return undefined;
    const data = dataOf(event);
    if (data === undefined) return event; // comments / keep-alives pass through untouched
    if (data === "[DONE]") {
      stats.sawDone = true;
      return event;
    }
    if (data.includes('"choices":[{') || /"choices"\s*:\s*\[\s*\{/.test(data)) {
      stats.choiceEvents++;
      stats.firstTokenAt ??= performance.now();
      if (opts.collectText) stats.text += deltaText(data);
    }
    let drop = false;
    if (data.includes('"usage"') && USAGE_OBJECT.test(data)) drop = readUsage(data, stats) && !opts.keepUsage;
    else if (data.includes('"error"')) stats.upstreamError = errorMessage(data);
    if (drop) return undefined;
    return rename ? event.replaceAll(opts.upstreamModel, opts.clientModel) : event;
  };

  const drain = (final: boolean): string => {
    if (pending.includes("\r")) pending = pending.replace(/\r\n?/g, "\n");
    let out = "";
    let start = 0;
    for (;;) {
      const end = pending.indexOf("\n\n", start);
      if (end < 0) break;
      const ev = rewriteEvent(pending.slice(start, end));
      if (ev !== undefined) out += `${ev}\n\n`;
      start = end + 2;
    }
    pending = start === 0 ? pending : pending.slice(start);
    if (final && pending.trim().length > 0) {
      const ev = rewriteEvent(pending.trimEnd());
      if (ev !== undefined) out += `${ev}\n\n`;
      pending = "";
    }
    return out;
  };

  return {
    push(chunk) {
      pending += decoder.write(chunk);
      return drain(false);
    },
    end() {
      pending += decoder.end();
      return drain(true);
    },
    stats,
  };
}

/** The payload of an event's data line(s); undefined when it has none. */
function dataOf(event: string): string | undefined {
  if (event.startsWith("data: ") && !event.includes("\n")) return event.slice(6);
  let data: string | undefined;
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const value = line.slice(line[5] === " " ? 6 : 5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

/** The text a chunk adds: chat `delta.content` or completions `text`, over all its choices. */
function deltaText(data: string): string {
  try {
    const chunk = JSON.parse(data) as { choices?: { delta?: { content?: unknown }; text?: unknown }[] };
    let out = "";
    for (const c of chunk.choices ?? []) {
      if (typeof c.delta?.content === "string") out += c.delta.content;
      else if (typeof c.text === "string") out += c.text;
    }
    return out;
  } catch {
    return "";
  }
}

/** Reads usage from a chunk; returns true when it is the usage-only chunk (no choices). */
function readUsage(data: string, stats: StreamStats): boolean {
  let chunk: { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown }; choices?: unknown[] };
  try {
    chunk = JSON.parse(data);
  } catch {
    return false;
  }
  const u = chunk.usage;
  if (u && typeof u === "object") {
    if (typeof u.prompt_tokens === "number") stats.promptTokens = u.prompt_tokens;
    if (typeof u.completion_tokens === "number") stats.completionTokens = u.completion_tokens;
  }
  return !Array.isArray(chunk.choices) || chunk.choices.length === 0;
}

function errorMessage(data: string): string | undefined {
  try {
    const v = JSON.parse(data) as { error?: { message?: unknown }; message?: unknown; object?: unknown };
    if (v.error && typeof v.error === "object") return String(v.error.message ?? "engine error");
    if (v.object === "error") return String(v.message ?? "engine error");
  } catch {}
  return undefined;
}
