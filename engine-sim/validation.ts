// Request bodies of /v1/chat/completions, /v1/completions and /v1/embeddings: type checks and
// vLLM's range rules, turned into plain objects. Unknown fields are ignored, as vLLM does.
import { EngineError, invalidParam } from "./errors.ts";
import { tokenize } from "./tokenizer.ts";

type Body = Record<string, unknown>;

/** A prompt as text (for the output hash) and tokens (for usage and the prefix cache). */
export type Prompt = { text: string; tokens: string[] };

export type SamplingRequest = {
  model: string | undefined;
  prompt: Prompt;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  maxTokens: number | undefined;
  stop: string[];
  seed: number | undefined;
  temperature: number;
  cacheSalt: string | undefined;
  /** vLLM's request priority (lower first under --scheduling-policy priority); default 0. */
  priority: number;
  ignoreEos: boolean;
  /** /v1/completions only: return the prompt before the completion. */
  echo: boolean;
};

export type EmbeddingRequest = {
  model: string | undefined;
  inputs: Prompt[];
  encodingFormat: "float" | "base64";
  dimensions: number | undefined;
};

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

export function asObject(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new EngineError(400, "The request body must be a JSON object.");
  }
  return body as Body;
}

export function parseChatRequest(raw: unknown): SamplingRequest {
  const b = asObject(raw);
  const messages = b.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidParam("messages", "Field required: a non-empty list of messages", messages);
  }
  // A fixed chat template, so the rendered prompt (and so usage and output) is deterministic.
  let text = "";
  messages.forEach((m, i) => {
    const msg = asMessage(m, i);
    text += `<|${msg.role}|>\n${msg.content}\n`;
  });
  text += "<|assistant|>\n";
  for (const key of ["logprobs", "top_logprobs"]) rejectLogprobs(b, key);
  const maxTokens = optInt(b, "max_completion_tokens") ?? optInt(b, "max_tokens");
  return sampling(b, { text, tokens: tokenize(text) }, maxTokens, false);
}

export function parseCompletionRequest(raw: unknown): SamplingRequest {
  const b = asObject(raw);
  rejectLogprobs(b, "logprobs");
  return sampling(b, completionPrompt(b.prompt), optInt(b, "max_tokens"), optBool(b, "echo") ?? false);
}

export function parseEmbeddingRequest(raw: unknown): EmbeddingRequest {
  const b = asObject(raw);
  const input = b.input;
  let inputs: Prompt[];
  if (typeof input === "string") inputs = [textPrompt(input)];
  else if (isTokenIds(input) && input.length > 0) inputs = [idsPrompt(input)];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === "string")) {
    inputs = input.map((x) => textPrompt(x as string));
  } else if (Array.isArray(input) && input.length > 0 && input.every((x) => isTokenIds(x))) {
    inputs = input.map((x) => idsPrompt(x as number[]));
  } else {
    throw invalidParam("input", "Input should be a string, a list of strings or a list of token ids", input);
  }
  const format = b.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") {
    throw invalidParam("encoding_format", "Input should be 'float' or 'base64'", format);
  }
  const dimensions = optInt(b, "dimensions");
  if (dimensions !== undefined && dimensions < 1) {
    throw invalidParam("dimensions", `dimensions must be at least 1, got ${dimensions}.`, dimensions);
  }
  optString(b, "user");
  return { model: optString(b, "model"), inputs, encodingFormat: format, dimensions };
}

function sampling(b: Body, prompt: Prompt, maxTokens: number | undefined, echo: boolean): SamplingRequest {
  if (maxTokens !== undefined && maxTokens < 1) {
    throw invalidParam("max_tokens", `max_tokens must be at least 1, got ${maxTokens}.`, maxTokens);
  }
  const n = optInt(b, "n");
  if (n !== undefined && n < 1) throw invalidParam("n", `n must be at least 1, got ${n}.`, n);
  if (n !== undefined && n > 1) {
    throw invalidParam("n", `n must be 1: the engine simulator returns one choice per request, got ${n}.`, n);
  }
  const stream = optBool(b, "stream") ?? false;
  const so = b.stream_options;
  if (so !== undefined && so !== null) {
    if (!stream)
      throw invalidParam("stream_options", "Stream options can only be defined when `stream=True`.");
    if (typeof so !== "object" || Array.isArray(so))
      throw invalidParam("stream_options", "Input should be an object", so);
  }
  const streamOptions = (so ?? {}) as Body;
  const temperature = optNumber(b, "temperature") ?? 1;
  if (temperature < 0 || temperature > 2) {
    throw invalidParam(
      "temperature",
      `temperature must be between 0 and 2, got ${temperature}.`,
      temperature,
    );
  }
  const topP = optNumber(b, "top_p");
  if (topP !== undefined && (topP <= 0 || topP > 1)) {
    throw invalidParam("top_p", `top_p must be in (0, 1], got ${topP}.`, topP);
  }
  const cacheSalt = b.cache_salt;
  if (cacheSalt !== undefined && cacheSalt !== null && (typeof cacheSalt !== "string" || cacheSalt === "")) {
    throw invalidParam(
      "cache_salt",
      "Parameter 'cache_salt' must be a non-empty string if provided.",
      cacheSalt,
    );
  }
  optString(b, "user");
  return {
    model: optString(b, "model"),
    prompt,
    stream,
    includeUsage: optBool(streamOptions, "include_usage", "stream_options.include_usage") ?? false,
    continuousUsage:
      optBool(streamOptions, "continuous_usage_stats", "stream_options.continuous_usage_stats") ?? false,
    maxTokens,
    stop: stopStrings(b.stop),
    seed: optInt(b, "seed"),
    temperature,
    cacheSalt: (cacheSalt as string | null | undefined) ?? undefined,
    priority: optInt(b, "priority") ?? 0,
    ignoreEos: optBool(b, "ignore_eos") ?? false,
    echo,
  };
}

function asMessage(m: unknown, i: number): { role: string; content: string } {
  const param = `messages[${i}]`;
  if (typeof m !== "object" || m === null || Array.isArray(m))
    throw invalidParam(param, "Input should be an object", m);
  const msg = m as Body;
  if (typeof msg.role !== "string" || !ROLES.has(msg.role)) {
    throw invalidParam(`${param}.role`, `role should be one of ${[...ROLES].join(", ")}`, msg.role);
  }
  const c = msg.content;
  if (typeof c === "string") return { role: msg.role, content: c };
  if (c === null || c === undefined) {
    if (msg.role === "assistant") return { role: msg.role, content: "" };
    throw invalidParam(`${param}.content`, "Field required", c);
  }
  if (!Array.isArray(c))
    throw invalidParam(`${param}.content`, "Input should be a string or a list of parts", c);
  const texts = c.map((part, j) => {
    const p = part as Body | null;
    if (typeof p !== "object" || p === null || p.type !== "text" || typeof p.text !== "string") {
      throw invalidParam(
        `${param}.content[${j}]`,
        "Only text content parts ({type: 'text', text}) are supported by the engine simulator",
        part,
      );
    }
    return p.text;
  });
  return { role: msg.role, content: texts.join("\n") };
}

function completionPrompt(p: unknown): Prompt {
  if (typeof p === "string") return textPrompt(p);
  if (isTokenIds(p) && p.length > 0) return idsPrompt(p);
  if (Array.isArray(p) && p.length === 1) return completionPrompt(p[0]);
  if (Array.isArray(p) && p.length > 1) {
    throw invalidParam(
      "prompt",
      "The engine simulator accepts one prompt per request",
      `${p.length} prompts`,
    );
  }
  throw invalidParam("prompt", "Input should be a non-empty string or a list of token ids", p);
}

function textPrompt(text: string): Prompt {
  return { text, tokens: tokenize(text) };
}

function idsPrompt(ids: number[]): Prompt {
  const tokens = ids.map(String);
  return { text: `ids:${tokens.join(",")}`, tokens };
}

function isTokenIds(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
}

function stopStrings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return v ? [v] : [];
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return (v as string[]).filter(Boolean);
  throw invalidParam("stop", "Input should be a string or a list of strings", v);
}

function rejectLogprobs(b: Body, key: string): void {
  const v = b[key];
  if (v === undefined || v === null || v === false || v === 0) return;
  throw invalidParam(key, "The engine simulator does not produce logprobs", v);
}

function optInt(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v))
    throw invalidParam(key, "Input should be a valid integer", v);
  return v;
}

function optNumber(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw invalidParam(key, "Input should be a valid number", v);
  return v;
}

function optBool(b: Body, key: string, param = key): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalidParam(param, "Input should be a valid boolean", v);
  return v;
}

function optString(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalidParam(key, "Input should be a valid string", v);
  return v;
}
