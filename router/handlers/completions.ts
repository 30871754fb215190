// POST /v1/completions (legacy text completions): the tenant's system prompt is prefixed to the
// prompt and max_tokens is capped (router/policy.ts, through deps.prepareBody).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouterDeps } from "./deps.ts";
import { type EndpointSpec, handleInference } from "./inference.ts";

const spec: EndpointSpec = { endpoint: "completions", path: "/v1/completions", streamable: true };

export function handleCompletions(
  deps: RouterDeps,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
): Promise<void> {
  return handleInference(deps, spec, req, res, receivedAt, requestId);
}
