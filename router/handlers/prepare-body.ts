// Validation (400 naming the field) and tenant policy for each inference endpoint, in the order
// the request path needs them: only allowed fields (engine-params.ts), well-formed, before the
// policy rewrites the body.

import type { Endpoint } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
import { allowEngineParams } from "../engine-params.ts";
import {
  applyChatPolicy,
  applyCompletionPolicy,
  validateChatBody,
  validateCompletionBody,
  validateEmbeddingBody,
} from "../policy.ts";

export function prepareBody(
  endpoint: Endpoint,
  tenant: Tenant,
  body: Record<string, unknown>,
): Record<string, unknown> {
  allowEngineParams(endpoint, body);
  switch (endpoint) {
    case "chat.completions":
      return applyChatPolicy(tenant, validateChatBody(body)).body;
    case "completions":
      return applyCompletionPolicy(tenant, validateCompletionBody(body)).body;
    case "embeddings":
      return validateEmbeddingBody(body);
  }
}
