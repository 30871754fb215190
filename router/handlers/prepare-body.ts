// Validation (400 naming the field) and tenant policy for each inference endpoint, in the order
// the request path needs them: only allowed fields (engine-params.ts), well-formed, before the
// policy rewrites the body.

import type { EngineEndpoint } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
import { allowEngineParams } from "../engine-params.ts";
import {
  applyChatPolicy,
  applyCompletionPolicy,
  validateChatBody,
  validateCompletionBody,
  validateEmbeddingBody,
} from "../policy.ts";

/**
 * What a chat request reserves against limits and spend caps when neither the client nor the
 * tenant caps its output: the engine then stops only at the model's context length.
 */
const UNCAPPED_CHAT_RESERVATION = 4096;

export type PreparedBody = {
  body: Record<string, unknown>;
  /**
   * The output tokens the engine will be allowed to generate, reserved at admission: the cap the
   * policy sent upstream (completions: the API's default of 16 when none was set), 0 for
   * embeddings.
   */
  maxOutputTokens: number;
};

export function prepareBody(
  endpoint: EngineEndpoint,
  tenant: Tenant,
  body: Record<string, unknown>,
): PreparedBody {
  allowEngineParams(endpoint, body);
  switch (endpoint) {
    case "chat.completions": {
      const r = applyChatPolicy(tenant, validateChatBody(body));
      return { body: r.body, maxOutputTokens: r.maxOutputTokens ?? UNCAPPED_CHAT_RESERVATION };
    }
    case "completions":
      return applyCompletionPolicy(tenant, validateCompletionBody(body));
    case "embeddings":
      return { body: validateEmbeddingBody(body), maxOutputTokens: 0 };
  }
}
