// POST /v1/embeddings: never streamed; the response's vectors pass through untouched (only the
// model name is put back), since parsing megabytes of floats would cost more than the request.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouterDeps } from "./deps.ts";
import { type EndpointSpec, handleInference } from "./inference.ts";

const spec: EndpointSpec = { endpoint: "embeddings", path: "/v1/embeddings", streamable: false };

export function handleEmbeddings(
  deps: RouterDeps,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
): Promise<void> {
  return handleInference(deps, spec, req, res, receivedAt, requestId);
}
