// Which request fields reach the engine: an allowlist per endpoint, checked on the body's own
// keys before anything else reads them. vLLM accepts many extensions meant for its operator,
// not for a tenant: `chat_template` can drop the tenant's system prompt, `priority` jumps the
// engine's queue, `kv_transfer_params` steers disaggregated prefill. Any field not listed here
// is refused with a 400 naming it (OpenAI's own wording for unknown arguments); OpenAI fields
// that mean nothing to the engine are accepted and not forwarded.
import { invalidRequest } from "../core/errors.ts";
import type { EngineEndpoint } from "../core/request-context.ts";

/** OpenAI sampling/output fields plus vLLM's documented sampling extras, per endpoint. */
const SAMPLING = [
  "model",
  "stream",
  "stream_options",
  "max_tokens",
  "temperature",
  "top_p",
  "n",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "stop",
  "user",
  "logit_bias",
  // The router overwrites it with the tenant's own salt.
  "cache_salt",
  // vLLM sampling parameters: they shape this request's output only.
  "top_k",
  "min_p",
  "repetition_penalty",
  "min_tokens",
  "ignore_eos",
];
const FORWARDED: Record<EngineEndpoint, ReadonlySet<string>> = {
  "chat.completions": new Set([
    ...SAMPLING,
    "messages",
    "max_completion_tokens",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
  ]),
  completions: new Set([...SAMPLING, "prompt", "echo", "suffix", "best_of", "logprobs"]),
  embeddings: new Set(["model", "input", "encoding_format", "dimensions", "user"]),
};

/** OpenAI fields about the OpenAI platform (storage, billing tier, its own caching): dropped. */
const DROPPED: ReadonlySet<string> = new Set([
  "metadata",
  "store",
  "service_tier",
  "prompt_cache_key",
  "safety_identifier",
]);

/** Engine fields the platform owns; named in the refusal so the client knows why. */
const PLATFORM_OWNED: ReadonlySet<string> = new Set([
  "chat_template",
  "chat_template_kwargs",
  "add_generation_prompt",
  "continue_final_message",
  "add_special_tokens",
  "priority",
  "kv_transfer_params",
  "request_id",
  "vllm_xargs",
]);

/**
 * Refuses any field the endpoint does not forward (400 naming it) and removes the dropped
 * OpenAI-only fields, in place. One pass over the body's own keys.
 */
export function allowEngineParams(endpoint: EngineEndpoint, body: Record<string, unknown>): void {
  const allowed = FORWARDED[endpoint];
  for (const key of Object.keys(body)) {
    if (allowed.has(key)) continue;
    if (DROPPED.has(key) && endpoint !== "embeddings") {
      delete body[key];
      continue;
    }
    const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
    if (PLATFORM_OWNED.has(key)) {
      throw invalidRequest(
        `'${name}' is set by the platform, not by clients; remove it from the request.`,
        name,
      );
    }
    throw invalidRequest(`Unrecognized request argument supplied: ${name}`, name);
  }
}
