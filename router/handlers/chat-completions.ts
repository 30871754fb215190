// POST /v1/chat/completions: the tenant's system prompt goes first and max_tokens is capped
// (router/policy.ts, through deps.prepareBody); streams are relayed event by event.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouterDeps } from "./deps.ts";
import { type EndpointSpec, handleInference } from "./inference.ts";

const spec: EndpointSpec = { endpoint: "chat.completions", path: "/v1/chat/completions", streamable: true };

export function handleChatCompletions(
  deps: RouterDeps,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
): Promise<void> {
  return handleInference(deps, spec, req, res, receivedAt, requestId);
}
