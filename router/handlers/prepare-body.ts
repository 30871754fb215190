// Validation (400 naming the field) and tenant policy for each inference endpoint, in the order
// the request path needs them: the body must be well-formed before the policy rewrites it.

import type { Endpoint } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
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
  switch (endpoint) {
    case "chat.completions":
      return applyChatPolicy(tenant, validateChatBody(body)).body;
    case "completions":
      return applyCompletionPolicy(tenant, validateCompletionBody(body)).body;
    case "embeddings":
      return validateEmbeddingBody(body);
  }
}
