// The tenant's policy, applied to a validated body before it goes upstream:
// - the tenant's system prompt always comes first (chat: a leading system message; completions:
//   the prompt text is prefixed with it and a blank line, as raw completions have no roles);
// - with allowClientSystemPrompt: false, any client 'system' or 'developer' message is refused
//   with a 400 that says so (param 'messages') instead of being dropped silently; so is a message
//   whose text holds a chat-template control sequence (CONTROL_SEQUENCE below), which the engine
//   would render as a turn of its own; and /v1/completions is refused (403) unless the tenant
//   also sets allowRawPrompts, since a raw prompt can imitate any turn;
// - max_tokens / max_completion_tokens are capped at maxOutputTokens, and set to it when absent
//   (completions: to min(16, cap), keeping the API's default of 16, and always sent upstream);
// - cache_salt is always the tenant's own (see cacheSaltFor); a client's value is overwritten.
import { createHmac } from "node:crypto";
import { deriveKey } from "../api-keys/secrets.ts";
import { ApiError, invalidRequest } from "../core/errors.ts";
import type { Tenant } from "../core/tenant.ts";
import type { ChatBody, CompletionBody } from "./validate-body.ts";

export {
  type ChatBody,
  type CompletionBody,
  validateChatBody,
  validateCompletionBody,
  validateEmbeddingBody,
} from "./validate-body.ts";

/** OpenAI's (and vLLM's) default max_tokens for /v1/completions. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export type PolicyResult<T> = {
  /** The same object, changed in place. */
  body: T;
  /** The output cap sent upstream; undefined when neither client nor tenant set one (chat). */
  maxOutputTokens: number | undefined;
};

/**
 * Chat-template markers of the common open model families: ChatML and Llama 3 style `<|...|>`
 * tokens, Llama 2's [INST] and <<SYS>>, Gemma's turn markers, and BOS/EOS spelled as text.
 * Tokenizers read these as special tokens even inside message text, so they could open a turn.
 */
const CONTROL_SEQUENCE = /<\|[^|<>\s]{1,64}\|>|\[\/?INST\]|<<\/?SYS>>|<(?:start|end)_of_turn>|<\/?s>/;

export function applyChatPolicy(tenant: Tenant, body: ChatBody, cacheSalt?: string): PolicyResult<ChatBody> {
  const { systemPrompt, allowClientSystemPrompt, maxOutputTokens: cap } = tenant.spec.policy;
  if (!allowClientSystemPrompt) {
    const i = body.messages.findIndex((m) => m.role === "system" || m.role === "developer");
    if (i >= 0) {
      throw invalidRequest(
        `This tenant does not allow client system prompts: messages[${i}] has role '${body.messages[i]!.role}'. ` +
          "The tenant's own system prompt is applied by the platform; send user and assistant messages only.",
        "messages",
      );
    }
    refuseControlSequences(body.messages);
  }
  if (systemPrompt) body.messages.unshift({ role: "system", content: systemPrompt });
  if (cap !== undefined) {
    let present = false;
    if (body.max_tokens != null) {
      body.max_tokens = Math.min(body.max_tokens, cap);
      present = true;
    }
    if (body.max_completion_tokens != null) {
      body.max_completion_tokens = Math.min(body.max_completion_tokens, cap);
      present = true;
    }
    if (!present) body.max_tokens = cap;
  }
  if (cacheSalt !== undefined) body.cache_salt = cacheSalt;
  // vLLM reads max_completion_tokens first, then max_tokens.
  return { body, maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined };
}

export function applyCompletionPolicy(
  tenant: Tenant,
  body: CompletionBody,
  cacheSalt?: string,
): PolicyResult<CompletionBody> & { maxOutputTokens: number } {
  const { systemPrompt, maxOutputTokens: cap, allowClientSystemPrompt, allowRawPrompts } = tenant.spec.policy;
  if (!allowClientSystemPrompt && !allowRawPrompts) {
    throw new ApiError(
      403,
      "This tenant does not allow client system prompts, so raw /v1/completions prompts (which can imitate " +
        "any turn) are refused; use /v1/chat/completions, or ask the operator to set policy.allowRawPrompts.",
      { code: "raw_prompts_not_allowed" },
    );
  }
  if (systemPrompt) body.prompt = prefixPrompt(body.prompt, `${systemPrompt}\n\n`);
  const asked = body.max_tokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS;
  const effective = cap === undefined ? asked : Math.min(asked, cap);
  // Always explicit: what is reserved against limits and caps is then what the engine may
  // generate, whatever its own default (vLLM's is 16; an engine that defaults to the context
  // length would otherwise generate far more than was reserved).
  body.max_tokens = effective;
  if (cacheSalt !== undefined) body.cache_salt = cacheSalt;
  return { body, maxOutputTokens: effective };
}

function refuseControlSequences(messages: ChatBody["messages"]): void {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const where = controlSequenceIn(m.content);
    const param = where === undefined ? undefined : `messages[${i}].content${where}`;
    const found =
      param ?? (m.name !== undefined && CONTROL_SEQUENCE.test(m.name) ? `messages[${i}].name` : undefined);
    if (found) {
      throw invalidRequest(
        `'${found}' contains a chat-template control sequence (such as <|im_start|> or [INST]), which this tenant ` +
          "does not accept in client messages.",
        found,
      );
    }
  }
}

/** '' when the string content holds a control sequence, '[j].text' for a text part, else undefined. */
function controlSequenceIn(content: ChatBody["messages"][number]["content"]): string | undefined {
  if (typeof content === "string") return CONTROL_SEQUENCE.test(content) ? "" : undefined;
  if (!Array.isArray(content)) return undefined;
  for (let j = 0; j < content.length; j++) {
    const text = content[j]!.text;
    if (typeof text === "string" && CONTROL_SEQUENCE.test(text)) return `[${j}].text`;
  }
  return undefined;
}

function prefixPrompt(prompt: CompletionBody["prompt"], prefix: string): CompletionBody["prompt"] {
  if (typeof prompt === "string") return prefix + prompt;
  if (prompt.every((p) => typeof p === "string")) return prompt.map((p) => prefix + p);
  // Token ids cannot be prefixed with text without the engine's tokenizer.
  throw invalidRequest(
    "This tenant has a system prompt, so the prompt must be text; token-id prompts are not accepted.",
    "prompt",
  );
}

/**
 * The tenant's vLLM cache_salt: HMAC-SHA256 of the tenant name under a key derived from the
 * server secret, 256 bits as base64url. Stable, so a tenant's requests share prefix-cache
 * blocks; unguessable and distinct per tenant, so tenants never share (or probe) each other's.
 */
export function cacheSaltFor(tenantName: string, secret: Buffer | string): string {
  return createHmac("sha256", deriveKey(secret, "cache-salt")).update(tenantName).digest("base64url");
}

/** cacheSaltFor with the derived key and each tenant's salt computed once. */
export function createCacheSalter(secret: Buffer | string): (tenantName: string) => string {
  const key = deriveKey(secret, "cache-salt");
  const memo = new Map<string, string>();
  return (tenantName) => {
    let salt = memo.get(tenantName);
    if (salt === undefined) {
      salt = createHmac("sha256", key).update(tenantName).digest("base64url");
      memo.set(tenantName, salt);
    }
    return salt;
  };
}
